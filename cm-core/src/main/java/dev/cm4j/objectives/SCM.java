package dev.cm4j.objectives;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.ForwardAD;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import java.util.List;

/**
 * Continuous-time consistency training and distillation, sCT and sCD (Lu & Song 2024, Alg. 1; docs/algorithms/scm.md
 * §2), in TrigFlow: τ ~ N(P_mean, P_std²), t = arctan(e^τ/σ_d), x_t = cos t·x0 + sin t·z with z ~ N(0, σ_d²I); the
 * PF-ODE velocity v = cos t·z − sin t·x0 (sCT) or σ_d·F_teacher(x_t/σ_d, t) (sCD); one forward-mode JVP of F_θ⁻ with
 * the rearranged tangents (cos t sin t·v, cos t sin t) under stop-gradient and the same dropout masks as F_θ; the
 * tangent g = −cos²t·(σ_d F⁻ − v) − r·(cos t sin t·x_t + σ_d·cos t sin t·dF⁻/dt) with warm-up r = min(1, it/H),
 * normalised g/(‖g‖ + c); the loss e^{w(t)}/D·‖F_θ − F⁻ − g‖² − w(t) with the learned weight w_φ.
 */
public final class SCM {
  /**
   * @param pMean P_mean of log σ (σ = σ_d tan t)
   * @param pStd P_std of log σ
   * @param warmupIterations H of the tangent warm-up r = min(1, it/H) (0: no warm-up)
   * @param tangentNormC c of the tangent normalisation g/(‖g‖ + c) (0: no normalisation)
   */
  public record Config(@JsonProperty("P_mean") double pMean, @JsonProperty("P_std") double pStd,
      @JsonProperty("warmup_iterations") long warmupIterations, @JsonProperty("tangent_norm_c") double tangentNormC) {
    public Config {
      if (!(pStd > 0) || warmupIterations < 0 || tangentNormC < 0) throw new IllegalArgumentException("bad sCM config");
    }

    /** CIFAR-10 sCT/sCD (paper App. G.2): P_mean −1.0, P_std 1.4, H = 10,000, c = 0.1. */
    public static Config cifar10() {
      return new Config(-1.0, 1.4, 10_000, 0.1);
    }
  }

  /**
   * Per-sample loss and its parts.
   *
   * @param loss e^{w}/D·‖F − F⁻ − g‖² − w [N]
   * @param logWeight w_φ(t) [N]
   * @param tangentNorm ‖g‖ before normalisation [N]
   * @param rawTangent g before normalisation (detached)
   * @param t the times [N]
   */
  public record Result(Tensor loss, Tensor logWeight, Tensor tangentNorm, Tensor rawTangent, Tensor t) {}

  private final Config cfg;

  public SCM(Config cfg) {
    this.cfg = cfg;
  }

  public Config config() {
    return cfg;
  }

  /** The tangent warm-up r = min(1, iteration / H). */
  public double warmup(long iteration) {
    return cfg.warmupIterations() == 0 ? 1.0 : Math.min(1.0, (double) iteration / cfg.warmupIterations());
  }

  /** t = arctan(exp(τ)/σ_d) for τ = P_mean + P_std·n. */
  public Tensor timeFromDraw(Tensor n, double sigmaData) {
    return n.mul(cfg.pStd()).add(cfg.pMean()).exp().div(sigmaData).atan();
  }

  /**
   * The per-sample loss with draws from gen. teacher null: sCT (v from the data); otherwise sCD (v from the teacher).
   */
  public Result loss(TrigFlowPrecond net, AdaptiveWeight w, Tensor x0, Tensor labels, long iteration,
      TrigFlowPrecond teacher, Generator gen, Generator dropoutGen) {
    Device dev = x0.device();
    Tensor n = Tensor.randn(new long[] {x0.size(0)}, DType.FLOAT32, dev, gen);
    Tensor z = Tensor.randn(x0.shape(), x0.dtype(), dev, gen);
    return loss(net, w, x0, labels, iteration, teacher, timeFromDraw(n, net.sigmaData()), z, dropoutGen);
  }

  /** The per-sample loss for explicit t [N] and unit-variance noise z (scaled by σ_d here). */
  public Result loss(TrigFlowPrecond net, AdaptiveWeight w, Tensor x0, Tensor labels, long iteration,
      TrigFlowPrecond teacher, Tensor t, Tensor zUnit, Generator dropoutGen) {
    double sd = net.sigmaData();
    Tensor tb = TrigFlowPrecond.broadcast(t, x0);
    Tensor cos = tb.cos();
    Tensor sin = tb.sin();
    Tensor z = zUnit.mul(sd);
    Tensor xt = cos.mul(x0).add(sin.mul(z));
    Tensor v;
    if (teacher == null) {
      v = cos.mul(z).sub(sin.mul(x0));
    } else {
      try (GradMode g = GradMode.noGrad()) {
        v = teacher.rawF(xt, t, labels).mul(sd);
      }
    }
    // F_θ with gradients, then one JVP pass of the same function with the same dropout masks (stop-gradient).
    var passes = SharedDropout.run(dropoutGen, x0.device(),
        () -> net.rawF(xt, t, labels),
        () -> {
          try (GradMode g = GradMode.noGrad()) {
            Tensor cs = cos.mul(sin);
            ForwardAD.Jvp j = ForwardAD.jvp(in -> List.of(net.rawF(in.get(0), in.get(1), labels)),
                List.of(xt, t), List.of(cs.mul(v), cs.flatten()));
            return j.tangents().get(0); // cos t sin t · dF⁻/dt
          }
        });
    Tensor f = passes.first();
    Tensor fMinus = f.detach();
    Tensor jvp = passes.second().detach();
    Tensor raw = tangent(fMinus, v, xt, jvp, cos, sin, sd, warmup(iteration));
    Tensor norm = raw.reshape(raw.size(0), -1).norm(2, false, 1);
    Tensor g = cfg.tangentNormC() > 0 ? raw.div(TrigFlowPrecond.broadcast(norm.add(cfg.tangentNormC()), raw)) : raw;
    long d = x0.numel() / x0.size(0);
    Tensor logw = w.forward(net.noiseLabels(t));
    Tensor mse = f.sub(fMinus).sub(g).square().reshape(f.size(0), -1).sum(false, 1);
    Tensor loss = logw.exp().div((double) d).mul(mse).sub(logw);
    return new Result(loss, logw, norm, raw, t);
  }

  /**
   * The raw tangent g = −cos²t·(σ_d F⁻ − v) − r·(cos t sin t·x_t + σ_d·J) with J = cos t sin t·dF⁻/dt (computed in
   * float64); at r = 1 it equals cos t·df⁻/dt.
   */
  public static Tensor tangent(Tensor fMinus, Tensor v, Tensor xt, Tensor jvp, Tensor cos, Tensor sin, double sd,
      double r) {
    DType dt = fMinus.dtype();
    Tensor c = cos.to(DType.FLOAT64);
    Tensor s = sin.to(DType.FLOAT64);
    Tensor first = c.square().mul(fMinus.to(DType.FLOAT64).mul(sd).sub(v.to(DType.FLOAT64))).neg();
    Tensor second = c.mul(s).mul(xt.to(DType.FLOAT64)).add(jvp.to(DType.FLOAT64).mul(sd));
    return first.sub(second.mul(r)).to(dt);
  }
}
