package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.cm4j.nn.Module;
import dev.cm4j.optim.Adam;
import dev.cm4j.optim.AdamW;
import dev.cm4j.optim.Optimizer;
import dev.cm4j.optim.RAdam;
import dev.cm4j.optim.SGD;
import java.util.List;

/** The optimizer (options.optimizer), chosen by {@code kind}; defaults are torch.optim's, from the optim configs. */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.EXISTING_PROPERTY, property = "kind", visible = true)
@JsonSubTypes({
    @JsonSubTypes.Type(value = OptimizerOptions.Adam.class, names = {"adam", "adamw"}),
    @JsonSubTypes.Type(value = OptimizerOptions.RAdam.class, name = "radam"),
    @JsonSubTypes.Type(value = OptimizerOptions.Sgd.class, name = "sgd")})
public sealed interface OptimizerOptions {
  /** adam | adamw | radam | sgd. */
  String kind();

  /** The base learning rate (before the ramp-up). */
  double lr();

  /** The optimizer over a module's parameters. */
  Optimizer build(Module m);

  private static void checkBetas(double lr, double[] betas, double eps, double weightDecay) {
    OptionException.positive("lr", lr);
    if (betas.length != 2) throw new OptionException("betas", "expected 2 numbers, got " + betas.length);
    for (int i = 0; i < 2; i++) {
      if (!(betas[i] >= 0 && betas[i] < 1)) {
        throw new OptionException("betas." + i, "must be in [0, 1), got " + OptionException.show(betas[i]));
      }
    }
    OptionException.positive("eps", eps);
    OptionException.atLeast("weight_decay", weightDecay, 0);
  }

  /** Adam, or AdamW (decoupled weight decay, default 1e-2). */
  record Adam(
      @JsonProperty("kind") String kind,
      @JsonProperty("lr") double lr,
      @JsonProperty("betas") double[] betas,
      @JsonProperty("eps") double eps,
      @JsonProperty("weight_decay") double weightDecay,
      @JsonProperty("amsgrad") boolean amsgrad) implements OptimizerOptions {
    public Adam {
      OptionException.oneOf("kind", kind, List.of("adam", "adamw"));
      checkBetas(lr, betas, eps, weightDecay);
    }

    static Adam defaults(String kind) {
      dev.cm4j.optim.Adam.Config c = kind.equals("adamw") ? AdamW.defaults() : dev.cm4j.optim.Adam.Config.defaults();
      return new Adam(kind, c.lr(), new double[] {c.beta1(), c.beta2()}, c.eps(), c.weightDecay(), c.amsgrad());
    }

    @Override
    public Optimizer build(Module m) {
      dev.cm4j.optim.Adam.Config c = (kind.equals("adamw") ? AdamW.defaults() : dev.cm4j.optim.Adam.Config.defaults())
          .withLr(lr).withBetas(betas[0], betas[1]).withEps(eps).withWeightDecay(weightDecay).withAmsgrad(amsgrad);
      return kind.equals("adamw") ? new AdamW(m, c) : new dev.cm4j.optim.Adam(m, c);
    }
  }

  /** RAdam (ECT's and sCM's optimizer). */
  record RAdam(
      @JsonProperty("kind") String kind,
      @JsonProperty("lr") double lr,
      @JsonProperty("betas") double[] betas,
      @JsonProperty("eps") double eps,
      @JsonProperty("weight_decay") double weightDecay) implements OptimizerOptions {
    public RAdam {
      OptionException.oneOf("kind", kind, List.of("radam"));
      checkBetas(lr, betas, eps, weightDecay);
    }

    static RAdam defaults(String kind) {
      dev.cm4j.optim.RAdam.Config c = dev.cm4j.optim.RAdam.Config.defaults();
      return new RAdam("radam", c.lr(), new double[] {c.beta1(), c.beta2()}, c.eps(), c.weightDecay());
    }

    @Override
    public Optimizer build(Module m) {
      dev.cm4j.optim.RAdam.Config d = dev.cm4j.optim.RAdam.Config.defaults();
      return new dev.cm4j.optim.RAdam(m, new dev.cm4j.optim.RAdam.Config(lr, betas[0], betas[1], eps, weightDecay,
          d.decoupledWeightDecay(), d.impl()));
    }
  }

  /** SGD with optional (Nesterov) momentum. */
  record Sgd(
      @JsonProperty("kind") String kind,
      @JsonProperty("lr") double lr,
      @JsonProperty("momentum") double momentum,
      @JsonProperty("dampening") double dampening,
      @JsonProperty("weight_decay") double weightDecay,
      @JsonProperty("nesterov") boolean nesterov) implements OptimizerOptions {
    public Sgd {
      OptionException.oneOf("kind", kind, List.of("sgd"));
      OptionException.positive("lr", lr);
      OptionException.atLeast("momentum", momentum, 0);
      OptionException.atLeast("weight_decay", weightDecay, 0);
      if (nesterov && (momentum <= 0 || dampening != 0)) {
        throw new OptionException("nesterov", "needs momentum > 0 and dampening 0");
      }
    }

    static Sgd defaults(String kind) {
      SGD.Config c = SGD.Config.defaults();
      return new Sgd("sgd", c.lr(), c.momentum(), c.dampening(), c.weightDecay(), c.nesterov());
    }

    @Override
    public Optimizer build(Module m) {
      return new SGD(m, new SGD.Config(lr, momentum, dampening, weightDecay, nesterov, SGD.Config.defaults().impl()));
    }
  }
}
