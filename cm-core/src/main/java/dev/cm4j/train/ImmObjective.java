package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.Module;
import dev.cm4j.objectives.IMM;
import dev.cm4j.precond.IMMPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Inductive Moment Matching (docs/algorithms/imm.md): {@link IMMPrecond} around the raw network built with its second
 * time path, trained from scratch by the grouped MMD of {@link IMM}; samples by pushforward from T to ε, with
 * sample_steps as the intermediate noise levels η = σ_t/α_t (CIFAR-10's 2-step sampler: [1.4]).
 */
final class ImmObjective extends NoiseObjective {
  /**
   * objective.kind "imm": {@link IMM.Config} and {@link IMMPrecond.Config} (σ_d is precond.sigma_data); defaults: the
   * paper's CIFAR-10 run (Table 5).
   *
   * @param schedule "fm" (OT-FM) or "vp_cosine"
   * @param fType "simple_edm", "euler_fm" or "identity"
   * @param tembType "identity" (second time s) or "stride" (t − s)
   * @param tMax T
   * @param eps ε
   * @param timeScale c of c_noise(t) = c·t
   * @param groupSize M
   * @param mapping "eta", "t", "lambda" or "inv_eta"
   * @param k δ = range/2^k
   * @param minTrGap Δ (0: off)
   * @param a exponent of α_t in w(s, t)
   * @param b the sigmoid's shift in w(s, t)
   * @param kernelEps ε of the Laplace kernel's max(‖x − y‖, ε)
   * @param kernel "laplace" (the paper's) or "rbf" (Appendix C.8's alternative)
   * @param targetEma 0: θ⁻ is the stop-gradient of θ (the paper); μ &gt; 0: an EMA target θ⁻ ← μ·θ⁻ + (1 − μ)·θ
   */
  record Options(
      @JsonProperty("kind") String kind,
      @JsonProperty("schedule") String schedule,
      @JsonProperty("f_type") String fType,
      @JsonProperty("temb_type") String tembType,
      @JsonProperty("T") double tMax,
      @JsonProperty("eps") double eps,
      @JsonProperty("time_scale") double timeScale,
      @JsonProperty("group_size") int groupSize,
      @JsonProperty("mapping") String mapping,
      @JsonProperty("k") int k,
      @JsonProperty("min_tr_gap") double minTrGap,
      @JsonProperty("a") double a,
      @JsonProperty("b") double b,
      @JsonProperty("kernel_eps") double kernelEps,
      @JsonProperty("kernel") String kernel,
      @JsonProperty("target_ema") double targetEma) implements ObjectiveOptions {
    public Options {
      OptionException.oneOf("kind", kind, List.of("imm"));
      OptionException.oneOf("schedule", schedule, List.of("fm", "vp_cosine"));
      OptionException.oneOf("f_type", fType, List.of("simple_edm", "euler_fm", "identity"));
      if (fType.equals("euler_fm") && !schedule.equals("fm")) {
        throw new OptionException("f_type", "euler_fm needs schedule fm, got schedule " + schedule);
      }
      OptionException.oneOf("temb_type", tembType, List.of("identity", "stride"));
      OptionException.within("eps", eps, 0, 1);
      OptionException.within("T", tMax, 0, 1);
      if (!(eps < tMax && tMax < 1)) throw new OptionException("T", "need eps < T < 1, got eps " + eps + ", T " + tMax);
      OptionException.positive("time_scale", timeScale);
      OptionException.atLeast("group_size", groupSize, 1);
      OptionException.oneOf("mapping", mapping, List.of("eta", "t", "lambda", "inv_eta"));
      if ((mapping.equals("lambda") || mapping.equals("inv_eta")) && eps == 0) {
        throw new OptionException("eps", "mapping " + mapping + " needs eps > 0");
      }
      OptionException.within("k", k, 0, 60);
      OptionException.within("min_tr_gap", minTrGap, 0, 1);
      OptionException.finite("a", a);
      OptionException.finite("b", b);
      OptionException.positive("kernel_eps", kernelEps);
      OptionException.oneOf("kernel", kernel, List.of("laplace", "rbf"));
      OptionException.within("target_ema", targetEma, 0, 1);
      if (targetEma >= 1) throw new OptionException("target_ema", "must be below 1, got " + targetEma);
    }

    static Options defaults(String kind) {
      IMM.Config c = IMM.Config.cifar10();
      IMMPrecond.Config p = IMMPrecond.Config.cifar10();
      return new Options("imm", "fm", "simple_edm", "identity", p.tMax(), p.eps(), p.timeScale(), c.groupSize(),
          "eta", c.k(), c.minGap(), c.a(), c.b(), c.kernelEps(), "laplace", 0.0);
    }

    IMM.Config config() {
      return new IMM.Config(groupSize, IMM.Mapping.valueOf(mapping.toUpperCase(Locale.ROOT)), k, minTrGap, a, b,
          kernelEps, IMM.Kernel.valueOf(kernel.toUpperCase(Locale.ROOT)));
    }

    IMMPrecond.Config precondConfig(double sigmaData) {
      return new IMMPrecond.Config(IMMPrecond.Config.schedule(schedule),
          IMMPrecond.Param.valueOf(fType.toUpperCase(Locale.ROOT)),
          IMMPrecond.TimeEmbedding.valueOf(tembType.toUpperCase(Locale.ROOT)), sigmaData, tMax, eps, timeScale);
    }

    @Override
    public String precondition() {
      return "imm";
    }
  }

  final IMMPrecond net;
  final IMM imm;
  private final double mu;
  private final java.util.function.Supplier<IMMPrecond> newNet;
  private IMMPrecond target;

  ImmObjective(TrainingOptions o, NetFactory nets, long seed, dev.cm4j.tensor.Device device) {
    super(device, seed ^ 0x1aa0_5eedL);
    Options ob = (Options) o.objective();
    IMMPrecond.Config pc = ob.precondConfig(o.precond().sigmaData());
    newNet = () -> {
      Module raw = nets.build(o.network(), true);
      return new IMMPrecond(asTwoTime(raw, "network.arch " + o.network().arch(), " for IMM"), pc);
    };
    net = newNet.get();
    imm = new IMM(ob.config());
    mu = ob.targetEma();
  }


  @Override
  Module model() {
    return net;
  }

  /** θ⁻ as a separate EMA copy (objective.target_ema &gt; 0), or null for the stop-gradient of θ. */
  IMMPrecond target() {
    if (mu == 0) return null;
    if (target == null) {
      target = onDevice(newNet.get());
      target.copyFrom(net);
      target.requiresGrad_(false);
    }
    return target;
  }

  @Override
  Map<String, Module> extraState() {
    return mu == 0 ? Map.of() : Map.of("target", target());
  }

  @Override
  void afterStep(long iteration) {
    if (mu > 0) emaInto(target(), net, mu);
  }

  @Override
  Tensor loss(Tensor x, Tensor labels, long iteration, long images, StepStats stats) {
    boolean conditional = net.labelDim() > 0;
    long g = imm.groups(x.size(0));
    long[] n = {g};
    // uniforms as Φ of normal draws, so that the sharded draws (global batch, then this rank's rows) apply
    Tensor uT = draw(n, DType.FLOAT64, x.device(), gen).mul(0.7071067811865476).erf().add(1.0).mul(0.5);
    Tensor uS = draw(n, DType.FLOAT64, x.device(), gen).mul(0.7071067811865476).erf().add(1.0).mul(0.5);
    Tensor eps = noiseLike(x);
    dev.cm4j.data.AugmentPipe.Result aug = augmented(x, gen);
    IMM.Result r = imm.loss(net, target(), aug.images(), conditional ? labels : null, new IMM.Draws(uT, uS, eps), null);
    stats.put("mmd", r.mmd().mean().to(DType.FLOAT32));
    stats.put("t_r_gap", r.t().sub(r.r()).mean().to(DType.FLOAT32));
    return r.loss().to(DType.FLOAT32);
  }


  @Override
  Tensor sample(Module m, Tensor z, double[] mids, Tensor labels, double w, Module guide, Generator g) {
    if (guide != null || w != 1) {
      throw new IllegalArgumentException("imm: sampling-time guidance (--guidance, --guide) is not implemented for IMM");
    }
    IMMPrecond p = (IMMPrecond) m;
    return IMM.sample(p, z, IMM.pushforwardTimes(p.config(), mids), labelsOrNullClass(labels, z, p.labelDim()))
        .to(z.dtype());
  }
}
