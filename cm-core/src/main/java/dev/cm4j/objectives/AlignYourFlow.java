package dev.cm4j.objectives;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.ForwardAD;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import java.util.List;

/**
 * Align Your Flow (Sabour, Fidler, Kreis 2025, arXiv 2506.14603; docs/algorithms/ayf.md): continuous-time distillation
 * of a flow/diffusion teacher into a <b>flow map</b> f_θ(x_t, t, s) that jumps from time t to any time s of the
 * teacher's probability-flow ODE dx_t/dt = v_φ(x_t, t), on the flow path x_t = (1 − t)·x_0 + t·ε (t = 1 noise, t = 0
 * data). The map has the paper's Euler parameterisation (§3, c_skip = 1, c_out = s − t)
 * <pre>f_θ(x_t, t, s) = x_t + (s − t)·F_θ(x_t, t, s)</pre>
 * with F_θ a {@link TwoTimeNetwork} fed (t, t − s), so f_θ(x, t, t) = x by construction.
 *
 * <p>Two losses, each the limit of a discrete one whose gradient the paper derives (Theorems 3.1, 3.2):
 * <ul>
 *   <li><b>AYF-EMD</b> (Eulerian): ∇_θ E[w'·sign(t − s)·f_θᵀ·df_θ⁻/dt], the total derivative along the teacher's ODE
 *   df/dt = (v_φ − F) + (s − t)·dF/dt by one JVP along (v_φ, 1) in (x_t, t) at fixed s. In F: the gradient of
 *   ‖F_θ − sg(F_θ − g)‖² with g = (F − v_φ) + (t − s)·dF/dt = −df/dt (s → t: flow matching; s = 0: continuous CM).
 *   <li><b>AYF-LMD</b> (Lagrangian): ∇_θ E[w'·sign(s − t)·f_θᵀ·(df_θ⁻/ds − v_φ(f_θ⁻(x_t, t, s), s))], with
 *   df/ds = F + (s − t)·∂F/∂s by one JVP along s. In F: g = F + (s − t)·∂F/∂s − v_φ(f_θ⁻, s).
 * </ul>
 * Both with the paper's stabilisers (§3.4): tangent normalisation g/(‖g‖ + c) (from sCM) and the regularised tangent
 * warm-up, which scales the JVP term of g by r = min(r_max, iteration/H). Autoguidance (§3.3) is the teacher's
 * velocity v = v_weak + λ·(v_strong − v_weak) ({@link #autoguided}); with guidance-scale conditioning (an option) λ
 * is drawn per sample, w ~ U[w_min, w_max], and fed to the student as a further input (docs/algorithms/ayf.md §2.1).
 * Sampler: the multi-step chain x ← f_θ(x, t_i, t_{i+1}) from t_0 = 1 down to 0, γ-free or with CTM's γ-sampling
 * carried over to this path ({@link #sample(TwoTimeNetwork, Tensor, double[], Tensor, Tensor, double, Generator)},
 * docs/algorithms/ayf.md §3).
 *
 * <p>What of this is transcribed and what is assumed (the (t, s) distribution, r_max, the weighting) is listed in
 * docs/algorithms/ayf.md §1.
 */
public final class AlignYourFlow {
  /** The loss. */
  public enum Loss {
    /** AYF-EMD: the flow map stays constant along the teacher's ODE in its start point (x_t, t). */
    EMD,
    /** AYF-LMD: the flow map's end point moves with the teacher's velocity as s changes. */
    LMD
  }

  /** How (t, s) with s ≤ t are drawn. */
  public enum TimeSampler {
    /**
     * The interval first: d = sigmoid(P_mean + P_std·n) is t − s, then s uniform on [0, 1 − d] and t = s + d
     * (docs/algorithms/ayf.md §1: the unofficial transcriptions' reading of Algorithm 1, line 4).
     */
    INTERVAL,
    /** Two logit-normal draws ordered, t = max, s = min (MeanFlow's "v0" without r = t). */
    SORTED
  }

  /**
   * The teacher's velocity field v(x_t, t) = dx_t/dt of the flow x_t = (1 − t)·x_0 + t·ε (evaluated without
   * gradients by the objective).
   */
  @FunctionalInterface
  public interface Velocity {
    /**
     * @param x the state [N, ...]
     * @param t the times [N] in [0, 1]
     * @param classLabels one-hot labels [N, L] or null
     */
    Tensor at(Tensor x, Tensor t, Tensor classLabels);
  }

  /**
   * The teacher's velocity at per-sample guidance scales: v(x_t, t; w) with w [N] (guidance-scale conditioning).
   */
  @FunctionalInterface
  public interface GuidedVelocity {
    /**
     * @param x the state [N, ...]
     * @param t the times [N]
     * @param classLabels one-hot labels [N, L] or null
     * @param w the guidance scales [N]
     */
    Tensor at(Tensor x, Tensor t, Tensor classLabels, Tensor w);
  }

  /**
   * @param loss EMD or LMD
   * @param sampler how (t, s) are drawn
   * @param pMean P_mean of the logit-normal (t − s for INTERVAL; t and s for SORTED)
   * @param pStd P_std of the logit-normal
   * @param tangentNormC c of the tangent normalisation g/(‖g‖ + c) (0: none)
   * @param warmupIterations H of the regularised tangent warm-up r = min(r_max, iteration/H) (0: r = r_max at once)
   * @param warmupMax r_max, the warm-up's final scale of the JVP term
   * @param guidanceCond guidance-scale conditioning: draw w ~ U[guidanceMin, guidanceMax] per sample, distil the
   *     teacher guided at w and feed w to the student (docs/algorithms/ayf.md §2.1); the loss then takes a
   *     {@link GuidedVelocity}
   * @param guidanceMin w_min (with guidanceCond)
   * @param guidanceMax w_max ≥ w_min (with guidanceCond)
   */
  public record Config(
      @JsonProperty("loss") Loss loss,
      @JsonProperty("tr_sampler") TimeSampler sampler,
      @JsonProperty("P_mean") double pMean,
      @JsonProperty("P_std") double pStd,
      @JsonProperty("tangent_norm_c") double tangentNormC,
      @JsonProperty("warmup_iterations") long warmupIterations,
      @JsonProperty("warmup_max") double warmupMax,
      @JsonProperty("guidance_cond") boolean guidanceCond,
      @JsonProperty("guidance_min") double guidanceMin,
      @JsonProperty("guidance_max") double guidanceMax) {
    /** Without guidance-scale conditioning. */
    public Config(Loss loss, TimeSampler sampler, double pMean, double pStd, double tangentNormC, long warmupIterations,
        double warmupMax) {
      this(loss, sampler, pMean, pStd, tangentNormC, warmupIterations, warmupMax, false, 1, 1);
    }

    public Config {
      if (loss == null || sampler == null) throw new IllegalArgumentException("loss and tr_sampler are required");
      if (!Double.isFinite(pMean)) throw new IllegalArgumentException("P_mean must be finite, got " + pMean);
      if (!(pStd > 0) || Double.isInfinite(pStd)) throw new IllegalArgumentException("P_std must be positive, got " + pStd);
      if (!(tangentNormC >= 0) || Double.isInfinite(tangentNormC)) {
        throw new IllegalArgumentException("tangent_norm_c must be ≥ 0, got " + tangentNormC);
      }
      if (warmupIterations < 0) throw new IllegalArgumentException("warmup_iterations must be ≥ 0, got " + warmupIterations);
      if (!(warmupMax > 0 && warmupMax <= 1)) throw new IllegalArgumentException("warmup_max must be in (0, 1], got " + warmupMax);
      if (!Double.isFinite(guidanceMin) || !Double.isFinite(guidanceMax) || guidanceMax < guidanceMin) {
        throw new IllegalArgumentException("the guidance range must be finite with guidance_min ≤ guidance_max, got ["
            + guidanceMin + ", " + guidanceMax + "]");
      }
    }

    /**
     * The defaults (docs/algorithms/ayf.md §1): AYF-EMD, the interval sampler with logit-normal (−0.8, 1.0), c = 0.1,
     * warm-up over 10,000 iterations to r_max = 0.99 — the values both unofficial transcriptions give for the paper's
     * Algorithm 1 / Appendix F.1; the paper's text itself was not available to check them against.
     */
    public static Config defaults() {
      return new Config(Loss.EMD, TimeSampler.INTERVAL, -0.8, 1.0, 0.1, 10_000, 0.99);
    }

    public Config withLoss(Loss l) {
      return new Config(l, sampler, pMean, pStd, tangentNormC, warmupIterations, warmupMax, guidanceCond, guidanceMin,
          guidanceMax);
    }

    public Config withWarmup(long h, double max) {
      return new Config(loss, sampler, pMean, pStd, tangentNormC, h, max, guidanceCond, guidanceMin, guidanceMax);
    }

    /** With guidance-scale conditioning on, w ~ U[wMin, wMax]. */
    public Config withGuidanceRange(double wMin, double wMax) {
      return new Config(loss, sampler, pMean, pStd, tangentNormC, warmupIterations, warmupMax, true, wMin, wMax);
    }

    /** r = min(r_max, iteration/H): the scale of the JVP term of the tangent at this iteration. */
    public double warmup(long iteration) {
      if (warmupIterations == 0) return warmupMax;
      return Math.min(warmupMax, iteration / (double) warmupIterations);
    }
  }

  /**
   * The random draws of one batch (all [N] unless noted).
   *
   * @param nA standard normal: the logit-normal draw of t − s (INTERVAL) or of the first time (SORTED)
   * @param nB standard normal: the second time's draw (SORTED; unused by INTERVAL)
   * @param u uniform [0, 1): where s lies in [0, 1 − d] (INTERVAL; unused by SORTED)
   * @param eps the noise ε, shaped like x
   * @param w the guidance scales (guidance-scale conditioning; null without)
   */
  public record Draws(Tensor nA, Tensor nB, Tensor u, Tensor eps, Tensor w) {
    /** Draws without guidance scales. */
    public Draws(Tensor nA, Tensor nB, Tensor u, Tensor eps) {
      this(nA, nB, u, eps, null);
    }
  }

  /**
   * Per-sample loss and its parts (all [N] unless noted).
   *
   * @param loss ‖F − sg(F − g/(‖g‖ + c))‖² summed over the elements (its gradient is the paper's)
   * @param tangent g before normalisation [like x] (detached): −df/dt (EMD) or df/ds − v_φ(f, s) (LMD), in F's units
   * @param tangentNorm ‖g‖ (detached)
   * @param F the network's output F_θ(x_t, t, s) [like x] (with gradients)
   * @param jvp dF/dt (EMD, along (v_φ, 1)) or ∂F/∂s (LMD) [like x] (detached)
   * @param t the start times
   * @param s the end times
   */
  public record Result(Tensor loss, Tensor tangent, Tensor tangentNorm, Tensor F, Tensor jvp, Tensor t, Tensor s) {}

  private final Config cfg;

  public AlignYourFlow(Config cfg) {
    this.cfg = cfg;
  }

  public Config config() {
    return cfg;
  }

  /**
   * Draws for a batch like x from gen (order: n_a, n_b, u, ε, then with guidance-scale conditioning a uniform u_w and
   * w = w_min + (w_max − w_min)·u_w).
   */
  public Draws draw(Tensor x, Generator gen) {
    Device dev = x.device();
    long[] n = {x.size(0)};
    Tensor nA = Tensor.randn(n, DType.FLOAT32, dev, gen);
    Tensor nB = Tensor.randn(n, DType.FLOAT32, dev, gen);
    Tensor u = Tensor.rand(n, DType.FLOAT32, dev, gen);
    Tensor eps = Tensor.randn(x.shape(), x.dtype(), dev, gen);
    Tensor w = cfg.guidanceCond() ? guidanceScales(Tensor.rand(n, DType.FLOAT32, dev, gen)) : null;
    return new Draws(nA, nB, u, eps, w);
  }

  /** w = w_min + (w_max − w_min)·u for uniform u [N]: the per-sample guidance scales U[w_min, w_max]. */
  public Tensor guidanceScales(Tensor u) {
    if (!cfg.guidanceCond()) throw new IllegalStateException("guidance-scale conditioning is off (Config.guidanceCond)");
    return u.mul(cfg.guidanceMax() - cfg.guidanceMin()).add(cfg.guidanceMin());
  }

  /** (t, s) from the draws, s ≤ t in [0, 1]. Returns {t, s}, each [N]. */
  public Tensor[] times(Draws d) {
    if (cfg.sampler() == TimeSampler.INTERVAL) {
      Tensor gap = d.nA().mul(cfg.pStd()).add(cfg.pMean()).sigmoid(); // d = t − s
      Tensor s = d.u().mul(gap.neg().add(1.0));                         // s ~ U[0, 1 − d]
      return new Tensor[] {s.add(gap), s};
    }
    Tensor a = d.nA().mul(cfg.pStd()).add(cfg.pMean()).sigmoid();
    Tensor b = d.nB().mul(cfg.pStd()).add(cfg.pMean()).sigmoid();
    return new Tensor[] {a.maximum(b), a.minimum(b)};
  }

  /** The per-sample loss with fresh draws from gen. */
  public Result loss(TwoTimeNetwork net, Velocity teacher, Tensor x, Tensor labels, long iteration, Generator gen,
      Generator dropoutGen) {
    return loss(net, teacher, x, labels, iteration, draw(x, gen), dropoutGen);
  }

  /** The per-sample loss of guidance-scale conditioning with fresh draws from gen (w among them). */
  public Result guidedLoss(TwoTimeNetwork net, GuidedVelocity teacher, Tensor x, Tensor labels, long iteration,
      Generator gen, Generator dropoutGen) {
    return guidedLoss(net, teacher, x, labels, iteration, draw(x, gen), dropoutGen);
  }

  /**
   * The per-sample loss of guidance-scale conditioning for explicit draws: the teacher is evaluated at the draws'
   * guidance scales w (v(x_t, t; w), and for LMD v(f_θ⁻, s; w)), and the student gets w as its further input,
   * F_θ(x_t, t, s; w). Otherwise as {@link #loss(TwoTimeNetwork, Velocity, Tensor, Tensor, long, Draws, Generator)}.
   */
  public Result guidedLoss(TwoTimeNetwork net, GuidedVelocity teacher, Tensor x, Tensor labels, long iteration, Draws d,
      Generator dropoutGen) {
    if (teacher == null) throw new IllegalArgumentException("AYF distils a teacher: give its velocity");
    if (d.w() == null) {
      throw new IllegalArgumentException("guidance-scale conditioning needs the draws' guidance scales w "
          + "(Config.guidanceCond, or Draws with w)");
    }
    Tensor w = d.w();
    return lossOf(net, (xx, tt, ll) -> teacher.at(xx, tt, ll, w), x, labels, iteration, d, dropoutGen);
  }

  /**
   * The per-sample loss for explicit draws.
   *
   * @param teacher the (possibly autoguided) teacher velocity
   * @param x data [N, ...]
   * @param labels one-hot class labels [N, L] for a conditional student and teacher (null: unconditional)
   * @param iteration the training iteration (for the tangent warm-up)
   * @param dropoutGen the generator of the network's dropout (the F pass and the JVP pass share masks)
   */
  public Result loss(TwoTimeNetwork net, Velocity teacher, Tensor x, Tensor labels, long iteration, Draws d,
      Generator dropoutGen) {
    if (d.w() != null) {
      throw new IllegalArgumentException("the draws carry guidance scales: give the teacher as a GuidedVelocity "
          + "(guidance-scale conditioning)");
    }
    return lossOf(net, teacher, x, labels, iteration, d, dropoutGen);
  }

  private Result lossOf(TwoTimeNetwork net, Velocity teacher, Tensor x, Tensor labels, long iteration, Draws d,
      Generator dropoutGen) {
    if (x.dim() < 2) throw new IllegalArgumentException("x must be [N, ...], got " + java.util.Arrays.toString(x.shape()));
    if (teacher == null) throw new IllegalArgumentException("AYF distils a teacher: give its velocity");
    boolean conditional = net.labelDim() > 0;
    if (conditional && labels == null) throw new IllegalArgumentException("the network is class-conditional: give labels");
    if (!conditional && labels != null) throw new IllegalArgumentException("the network is unconditional: labels must be null");
    Tensor w = d.w();
    if (net.hasGuidance() != (w != null)) {
      throw new IllegalArgumentException(net.hasGuidance()
          ? "the student takes a guidance scale: train it with guidance-scale conditioning (guidance scales in the draws)"
          : "guidance-scale conditioning needs a student with the guidance embedding (CTMNetwork.addGuidanceEmbedding)");
    }
    if (w != null) {
      if (w.dim() != 1 || w.size(0) != x.size(0)) {
        throw new IllegalArgumentException("the guidance scales must be [" + x.size(0) + "], got "
            + java.util.Arrays.toString(w.shape()));
      }
    }
    Tensor[] ts = times(d);
    Tensor t = ts[0];
    Tensor s = ts[1];
    Tensor tb = bcast(t, x);
    Tensor sb = bcast(s, x);
    Tensor xt = tb.neg().add(1.0).mul(x).add(tb.mul(d.eps())); // x_t = (1 − t)·x_0 + t·ε
    double r = cfg.warmup(iteration);
    long n = x.size(0);

    Tensor F;
    Tensor jvp;
    Tensor g;
    if (cfg.loss() == Loss.EMD) {
      Tensor v;
      try (GradMode ng = GradMode.noGrad()) {
        v = teacher.at(xt, t, labels).detach(); // dx_t/dt = v_φ(x_t, t)
      }
      // F with gradients, then dF/dt along (v_φ, 1) in (x_t, t) at fixed s, same dropout masks, without gradients.
      var passes = SharedDropout.run(dropoutGen, x.device(),
          () -> net.forward(xt, s, t, labels, w),
          () -> {
            try (GradMode ng = GradMode.noGrad()) {
              return ForwardAD.jvp(in -> List.of(net.forward(in.get(0), s, in.get(1), labels, w)),
                  List.of(xt, t), List.of(v, t.onesLike())).tangents().get(0);
            }
          });
      F = passes.first();
      jvp = passes.second().detach();
      // g = −df/dt = (F − v_φ) + r·(t − s)·dF/dt (Theorem 3.1 in F; r: the regularised tangent warm-up)
      g = F.detach().sub(v).add(tb.sub(sb).mul(jvp).mul(r));
    } else {
      // F with gradients, then ∂F/∂s along s at fixed (x_t, t), same dropout masks, without gradients.
      var passes = SharedDropout.run(dropoutGen, x.device(),
          () -> net.forward(xt, s, t, labels, w),
          () -> {
            try (GradMode ng = GradMode.noGrad()) {
              return ForwardAD.jvp(in -> List.of(net.forward(xt, in.get(0), t, labels, w)),
                  List.of(s), List.of(s.onesLike())).tangents().get(0);
            }
          });
      F = passes.first();
      jvp = passes.second().detach();
      Tensor Fd = F.detach();
      Tensor vEnd;
      try (GradMode ng = GradMode.noGrad()) {
        Tensor fEnd = xt.add(sb.sub(tb).mul(Fd));         // f_θ⁻(x_t, t, s)
        vEnd = teacher.at(fEnd, s, labels).detach();      // v_φ(f_θ⁻, s)
      }
      // g = df/ds − v_φ(f, s) = F + r·(s − t)·∂F/∂s − v_φ(f_θ⁻, s) (Theorem 3.2 in F)
      g = Fd.add(sb.sub(tb).mul(jvp).mul(r)).sub(vEnd);
    }
    Tensor norm = g.reshape(n, -1).norm(2, false, 1);
    Tensor gn = cfg.tangentNormC() > 0 ? g.div(bcast(norm.add(cfg.tangentNormC()), g)) : g;
    Tensor loss = F.sub(F.detach().sub(gn)).square().reshape(n, -1).sum(false, 1); // ‖F − sg(F − ĝ)‖²
    return new Result(loss, g, norm, F, jvp, t, s);
  }

  // ---------------------------------------------------------------------------------------------------- teachers

  /**
   * The flow velocity of an EDM denoiser D(x; σ) (x = x_0 + σ·ε): the flow state x_t = (1 − t)·x_0 + t·ε is the EDM
   * state x_t/(1 − t) at σ = t/(1 − t), and v = E[ε − x_0 | x_t] = (x_t − E[x_0 | x_t])/t, so
   * <pre>v(x_t, t) = (x_t − D(x_t/(1 − t); t/(1 − t)))/t.</pre>
   * σ is capped at sigmaMax (t ≤ σ_max/(1 + σ_max)): a time beyond it is evaluated as if at σ_max, the noisiest level
   * the denoiser was trained on (EDM's samplers start there); and t at tMin from below (v is (x − D)/t).
   *
   * @param sigmaMax the largest σ the denoiser is evaluated at (EDM: 80)
   */
  public static Velocity fromDenoiser(Denoiser d, double sigmaMax) {
    if (!(sigmaMax > 0) || Double.isInfinite(sigmaMax)) throw new IllegalArgumentException("sigma_max must be positive");
    double tMax = sigmaMax / (1 + sigmaMax);
    double tMin = 1e-6;
    return (x, t, labels) -> {
      Tensor tc = t.clamp(tMin, tMax);
      Tensor tcb = bcast(tc, x);
      Tensor oneMinus = tcb.neg().add(1.0);
      Tensor sigma = tc.div(tc.neg().add(1.0));
      Tensor x0 = d.denoise(x.div(oneMinus), sigma, labels);
      return x.sub(x0).div(bcast(t.clampMin(tMin), x));
    };
  }

  /**
   * The instantaneous velocity of a flow-map or average-velocity network: u(x, t, t) = F(x, t, h = 0) — a MeanFlow
   * model (its identity at r = t is flow matching) or an AYF flow map at s = t.
   */
  public static Velocity fromFlowNetwork(TwoTimeNetwork net) {
    return (x, t, labels) -> net.forwardH(x, t, t.zerosLike(), labels);
  }

  /**
   * Autoguidance (§3.3, Karras et al. 2024): the teacher guided by a weaker version of itself,
   * v = v_weak + λ·(v_strong − v_weak) (λ = 1: the strong teacher alone).
   */
  public static Velocity autoguided(Velocity strong, Velocity weak, double lambda) {
    if (!Double.isFinite(lambda)) throw new IllegalArgumentException("guidance weight must be finite, got " + lambda);
    if (lambda == 1.0) return strong;
    return (x, t, labels) -> {
      Tensor vw = weak.at(x, t, labels);
      return vw.add(strong.at(x, t, labels).sub(vw).mul(lambda));
    };
  }

  /**
   * Autoguidance at a per-sample scale (guidance-scale conditioning): v(x, t; w) = v_weak + w·(v_strong − v_weak),
   * w [N] broadcast over each sample.
   */
  public static GuidedVelocity autoguided(Velocity strong, Velocity weak) {
    if (strong == null || weak == null) throw new IllegalArgumentException("autoguidance needs both teachers");
    return (x, t, labels, w) -> {
      Tensor vw = weak.at(x, t, labels);
      return vw.add(strong.at(x, t, labels).sub(vw).mul(bcast(w.to(vw.dtype()), vw)));
    };
  }

  // ---------------------------------------------------------------------------------------------------- sampling

  /** One jump of the flow map: f_θ(x, t, s) = x + (s − t)·F_θ(x, t, s), t and s [N]. */
  public static Tensor flowMap(TwoTimeNetwork net, Tensor x, Tensor t, Tensor s, Tensor labels) {
    return flowMap(net, x, t, s, labels, null);
  }

  /** One jump of a guidance-conditioned flow map at scales w [N] (null: a network without the guidance input). */
  public static Tensor flowMap(TwoTimeNetwork net, Tensor x, Tensor t, Tensor s, Tensor labels, Tensor w) {
    return x.add(bcast(s.sub(t), x).mul(net.forward(x, s, t, labels, w)));
  }

  /**
   * The γ-free multi-step sampler: x ← f_θ(x, t_i, t_{i+1}) along times (decreasing from t_0 to the last, within
   * [0, 1]); {1, 0} is the 1-step sampler, {1, t_1, …, 0} the N-step one.
   *
   * @param x1 standard-normal latents (the flow at t = 1)
   * @param labels one-hot labels or null
   */
  public static Tensor sample(TwoTimeNetwork net, Tensor x1, double[] times, Tensor labels) {
    return sample(net, x1, times, labels, null, 0, null);
  }

  /**
   * γ-sampling's intermediate time s̃ for a step that ends at s (docs/algorithms/ayf.md §3): CTM's
   * σ̃ = √(1 − γ²)·σ_s (Kim et al. 2024, Alg. 2, with σ_min = 0) in this path's noise-to-signal ratio λ = t/(1 − t),
   * the σ of the EDM state x_t/(1 − t) = x_0 + λ·ε: λ̃ = √(1 − γ²)·λ_s, s̃ = λ̃/(1 + λ̃). γ = 0 gives s itself (the
   * deterministic flow map), γ = 1 gives 0 (consistency-model style: to the data, then re-noised to s).
   */
  public static double gammaTime(double s, double gamma) {
    if (!(gamma >= 0 && gamma <= 1)) throw new IllegalArgumentException("γ must be in [0, 1], got " + gamma);
    if (!(s >= 0 && s < 1)) throw new IllegalArgumentException("s must be in [0, 1), got " + s);
    if (gamma == 0 || s == 0) return s;
    if (gamma == 1) return 0;
    double lambda = Math.sqrt(1 - gamma * gamma) * (s / (1 - s));
    return lambda / (1 + lambda);
  }

  /**
   * The re-noising from s̃ back to s ≥ s̃ with fresh noise z: {a, b} of x_s = a·x_s̃ + b·z, a = (1 − s)/(1 − s̃),
   * b = √(s² − ((1 − s)·s̃/(1 − s̃))²). If x_s̃ = (1 − s̃)·x_0 + s̃·ε then x_s = (1 − s)·x_0 + ((1 − s)·s̃/(1 − s̃))·ε + b·z
   * has the path's marginal at s given x_0: mean (1 − s)·x_0 and variance s² (in λ: the EDM state's variance
   * λ̃² + (λ_s² − λ̃²) = λ_s²). With s̃ = {@link #gammaTime}(s, γ), b = γ·s.
   */
  public static double[] renoise(double sTilde, double s) {
    if (!(sTilde >= 0 && sTilde <= s && s < 1)) {
      throw new IllegalArgumentException("need 0 ≤ s̃ ≤ s < 1, got s̃ = " + sTilde + ", s = " + s);
    }
    double a = (1 - s) / (1 - sTilde);
    double m = (1 - s) * sTilde / (1 - sTilde);
    return new double[] {a, Math.sqrt(Math.max(s * s - m * m, 0))};
  }

  /**
   * The multi-step sampler with CTM's γ-sampling carried over to flow maps (docs/algorithms/ayf.md §3): at each step
   * from t_i to t_{i+1}, x̃ = f_θ(x, t_i, s̃) with s̃ = {@link #gammaTime}(t_{i+1}, γ), then x = a·x̃ + b·z
   * ({@link #renoise}) with z standard normal drawn from gen, like x. γ = 0 is the γ-free sampler (no draw, the same
   * operations as {@link #sample(TwoTimeNetwork, Tensor, double[], Tensor)}); the last step ends at 0 and draws
   * nothing. Runs in x1's dtype and device, without host reads.
   *
   * @param w guidance scales [N] for a guidance-conditioned flow map ({@link TwoTimeNetwork#hasGuidance()}), else null
   * @param gamma γ ∈ [0, 1]
   * @param gen the generator of the re-noising (per-image generators: {@link Generator#stacked}); null: the default
   */
  public static Tensor sample(TwoTimeNetwork net, Tensor x1, double[] times, Tensor labels, Tensor w, double gamma,
      Generator gen) {
    if (times.length < 2) throw new IllegalArgumentException("need at least two times (e.g. {1, 0})");
    for (int i = 0; i + 1 < times.length; i++) {
      if (!(times[i] > times[i + 1]) || times[i] > 1 || times[i + 1] < 0) {
        throw new IllegalArgumentException("times must decrease within [0, 1]: " + java.util.Arrays.toString(times));
      }
    }
    if (!(gamma >= 0 && gamma <= 1)) throw new IllegalArgumentException("γ must be in [0, 1], got " + gamma);
    if (net.hasGuidance() != (w != null)) {
      throw new IllegalArgumentException(net.hasGuidance()
          ? "this flow map is guidance-conditioned: give the guidance scale to sample at"
          : "this flow map has no guidance-scale input: sample it without one");
    }
    if (w != null && (w.dim() != 1 || w.size(0) != x1.size(0))) {
      throw new IllegalArgumentException("the guidance scales must be [" + x1.size(0) + "], got "
          + java.util.Arrays.toString(w.shape()));
    }
    try (GradMode g = GradMode.noGrad()) {
      Tensor x = x1;
      long n = x1.size(0);
      for (int i = 0; i + 1 < times.length; i++) {
        double sNext = times[i + 1];
        double sTilde = gammaTime(sNext, gamma);
        Tensor t = Tensor.full(new long[] {n}, times[i], x.dtype(), x.device());
        Tensor s = Tensor.full(new long[] {n}, sTilde, x.dtype(), x.device());
        x = flowMap(net, x, t, s, labels, w);
        if (sTilde != sNext) { // γ > 0 and t_{i+1} > 0: back to the path's marginal at t_{i+1}
          double[] ab = renoise(sTilde, sNext);
          Tensor z = Tensor.randn(x.shape(), x.dtype(), x.device(), gen);
          x = x.mul(ab[0]).add(z.mul(ab[1]));
        }
      }
      return x;
    }
  }

  /** N equal steps from 1 to 0 (N = 1: f_θ(x_1, 1, 0)). */
  public static Tensor sample(TwoTimeNetwork net, Tensor x1, int steps, Tensor labels) {
    if (steps < 1) throw new IllegalArgumentException("steps must be ≥ 1, got " + steps);
    double[] times = new double[steps + 1];
    for (int i = 0; i <= steps; i++) times[i] = 1.0 - i / (double) steps;
    times[steps] = 0;
    return sample(net, x1, times, labels);
  }

  /** t [N] viewed as [N, 1, ...] to broadcast against x. */
  static Tensor bcast(Tensor t, Tensor x) {
    long[] shape = new long[x.dim()];
    java.util.Arrays.fill(shape, 1);
    shape[0] = t.size(0);
    return t.reshape(shape);
  }
}
