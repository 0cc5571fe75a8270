package dev.cm4j.objectives;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.precond.IMMPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.InferenceMode;
import dev.cm4j.tensor.Tensor;
import java.util.Arrays;

/**
 * Inductive Moment Matching (Zhou, Ermon, Song 2025, arXiv 2503.07565; docs/algorithms/imm.md): from scratch, no
 * teacher, no JVP. A batch of B samples is split into B/M groups of M particles; each group shares one (s, r, t) with
 * t ~ U(ε, T), s ~ U(ε, t) and r = r(s, t) ∈ [s, t) (the mapping function, Appendix C.6–C.7). From the same data x
 * and noise ε ~ N(0, σ_d²I) the interpolants x_t = α_t·x + σ_t·ε and x_r = DDIM(x_t, x, r, t) = α_r·x + σ_r·ε are
 * pushed to s by the model, y_t = f^θ_{s,t}(x_t) (with gradients) and y_r = f^{θ⁻}_{s,r}(x_r) (stop-gradient: the same
 * network, or a target copy), and each group's loss is the weighted V-statistic MMD² of the two particle sets (Eq. 67)
 *
 * <pre>  w(s,t)·(1/M²)·Σ_j Σ_k [k(y_t^j, y_t^k) + k(y_r^j, y_r^k) − 2·k(y_t^j, y_r^k)]</pre>
 *
 * with the Laplace kernel k(x, y) = exp(−w̃(s,t)·max(‖x − y‖₂, ε_k)/D), w̃ = 1/|c_out(s,t)| (§4.2, Appendix C.8) and
 * the weighting w(s,t) = ½·σ(b − λ_t)·(−dλ_t/dt)·α_t^a/(α_t² + σ_t²) (Eq. 13, Appendix C.9). Times, interpolants,
 * the map's combination and the kernel are computed in float64 (the raw network in float32), as the official
 * preconditioner does with float64 times (lumalabs/imm training/preconds.py): near T the gap t − r is ~1e-7, below
 * float32's resolution of the kernel's cancellation. Samplers: the pushforward sampler x ← f_{t_{i−1}, t_i}(x) from
 * x_N ~ N(0, σ_d²I) at T down to ε (Algorithm 2/4) with the official code's step schedules.
 */
public final class IMM {
  /** The mapping function r(s, t) (Appendix C.6): a constant decrement δ = (range)/2^k in one of four spaces. */
  public enum Mapping {
    /** r = max(s, η⁻¹(η_t − δ)), δ = (η_max − η_min)/2^k — the paper's choice for every published run. */
    ETA,
    /** r = max(s, t − δ), δ = (T − ε)/2^k. */
    T,
    /** r = max(s, λ⁻¹(λ_t + δ)), δ = (λ_max − λ_min)/2^k (needs ε &gt; 0). */
    LAMBDA,
    /** r = max(s, η⁻¹(1/(1/η_t + δ))), δ = (1/η_min − 1/η_max)/2^k (needs ε &gt; 0). */
    INV_ETA
  }

  /** The kernel of the MMD (Appendix C.8). */
  public enum Kernel {
    /** exp(−w̃·max(‖x − y‖₂, ε_k)/D) — every published run. */
    LAPLACE,
    /** exp(−½·w̃·‖x − y‖²/D) — the alternative C.8 compares against (Eq. 68). */
    RBF
  }

  /**
   * @param groupSize M, particles per group (4 in every published run)
   * @param mapping the mapping function r(s, t)
   * @param k the decrement exponent: δ = range/2^k (CIFAR-10 15, ImageNet 12)
   * @param minGap Δ of r = max(s, min(t − Δ, r(s, t))) (Appendix I.6; 0: off)
   * @param a exponent of α_t in w(s, t) (CIFAR-10 1)
   * @param b the sigmoid's shift in w(s, t) (CIFAR-10 5, ImageNet 4)
   * @param kernelEps ε_k of max(‖x − y‖₂, ε_k) (Appendix C.8: 1e-8)
   * @param kernel the MMD's kernel (Laplace in every published run)
   */
  public record Config(
      @JsonProperty("group_size") int groupSize,
      @JsonProperty("mapping") Mapping mapping,
      @JsonProperty("k") int k,
      @JsonProperty("min_tr_gap") double minGap,
      @JsonProperty("a") double a,
      @JsonProperty("b") double b,
      @JsonProperty("kernel_eps") double kernelEps,
      @JsonProperty("kernel") Kernel kernel) {
    public Config {
      if (kernel == null) throw new IllegalArgumentException("kernel is required");
      if (groupSize < 1) throw new IllegalArgumentException("group_size (M) must be ≥ 1, got " + groupSize);
      if (mapping == null) throw new IllegalArgumentException("mapping is required");
      if (k < 0 || k > 60) throw new IllegalArgumentException("k must be in [0, 60], got " + k);
      if (!(minGap >= 0 && minGap < 1)) throw new IllegalArgumentException("min_tr_gap must be in [0, 1), got " + minGap);
      if (!Double.isFinite(a) || !Double.isFinite(b)) throw new IllegalArgumentException("a and b must be finite");
      if (!(kernelEps > 0) || Double.isInfinite(kernelEps)) {
        throw new IllegalArgumentException("kernel_eps must be positive, got " + kernelEps);
      }
    }

    /** A configuration with the Laplace kernel. */
    public Config(int groupSize, Mapping mapping, int k, double minGap, double a, double b, double kernelEps) {
      this(groupSize, mapping, k, minGap, a, b, kernelEps, Kernel.LAPLACE);
    }

    /** CIFAR-10 (paper Table 5): M 4, constant decrement in η with k 15, a 1, b 5, Laplace kernel, ε_k 1e-8. */
    public static Config cifar10() {
      return new Config(4, Mapping.ETA, 15, 0, 1, 5, 1e-8, Kernel.LAPLACE);
    }
  }

  /**
   * The random draws of one batch of B = G·M samples.
   *
   * @param uT uniform [0, 1) per group [G] (float64): t = ε + uT·(T − ε)
   * @param uS uniform [0, 1) per group [G] (float64): s = ε + uS·(t − ε)
   * @param eps standard normal noise shaped like x (scaled by σ_d here)
   */
  public record Draws(Tensor uT, Tensor uS, Tensor eps) {}

  /**
   * Per-group loss and its parts (all [G] float64 unless noted).
   *
   * @param loss w(s,t)·MMD² (with gradients)
   * @param mmd the unweighted MMD² (detached)
   * @param weight w(s, t)
   * @param t the start times
   * @param s the end times
   * @param r the intermediate times r(s, t)
   * @param yT f_{s,t}(x_t) [B, ...] (with gradients)
   * @param yR f_{s,r}(x_r) [B, ...] (detached)
   */
  public record Result(Tensor loss, Tensor mmd, Tensor weight, Tensor t, Tensor s, Tensor r, Tensor yT, Tensor yR) {}

  private final Config cfg;

  public IMM(Config cfg) {
    this.cfg = cfg;
  }

  public Config config() {
    return cfg;
  }

  /** Draws for a batch like x from gen (order: u_t, u_s, ε). */
  public Draws draw(Tensor x, Generator gen) {
    long g = groups(x.size(0));
    Device dev = x.device();
    Tensor uT = Tensor.rand(new long[] {g}, DType.FLOAT64, dev, gen);
    Tensor uS = Tensor.rand(new long[] {g}, DType.FLOAT64, dev, gen);
    return new Draws(uT, uS, Tensor.randn(x.shape(), x.dtype(), dev, gen));
  }

  /** Number of groups B/M; B must be a multiple of M. */
  public long groups(long batch) {
    if (batch % cfg.groupSize() != 0 || batch == 0) {
      throw new IllegalArgumentException("the batch (" + batch + ") must be a positive multiple of the group size M = "
          + cfg.groupSize() + " (objective.group_size; with batch_gpu, each micro-batch)");
    }
    return batch / cfg.groupSize();
  }

  /** (t, s, r) [G] in float64 from the uniform draws (p(t) = U(ε, T), p(s|t) = U(ε, t), r = r(s, t)). */
  public Tensor[] times(IMMPrecond p, Tensor uT, Tensor uS) {
    IMMPrecond.Config pc = p.config();
    Tensor t = uT.to(DType.FLOAT64).mul(pc.tMax() - pc.eps()).add(pc.eps());
    Tensor s = uS.to(DType.FLOAT64).mul(t.sub(pc.eps())).add(pc.eps());
    return new Tensor[] {t, s, r(p, s, t)};
  }

  /** The mapping function r(s, t) of {@link Config#mapping()} (with the minimum gap), for float64 s ≤ t. */
  public Tensor r(IMMPrecond p, Tensor s, Tensor t) {
    IMMPrecond.Config pc = p.config();
    IMMPrecond.Schedule sch = pc.schedule();
    double div = Math.pow(2, cfg.k());
    Tensor r = switch (cfg.mapping()) {
      case ETA -> {
        // η_r = max(η_t − δ, η_min): the clamp keeps η⁻¹ in range for small k; where it acts, r = ε ≤ s anyway.
        double delta = (pc.etaMax() - pc.etaMin()) / div;
        yield p.etaInverse(p.eta(t).sub(delta).clampMin(pc.etaMin()));
      }
      case T -> t.sub((pc.tMax() - pc.eps()) / div);
      case LAMBDA -> {
        requireEps(pc);
        double lamMax = -2 * Math.log(pc.etaMin());  // λ(ε)
        double lamMin = -2 * Math.log(pc.etaMax());  // λ(T)
        double delta = (lamMax - lamMin) / div;
        // λ decreases in t: r < t is λ_r = λ_t + δ (the appendix writes λ_t − ε, which would give r > t)
        Tensor lam = p.logSnr(t).add(delta).clamp(Double.NEGATIVE_INFINITY, lamMax);
        yield p.etaInverse(lam.mul(-0.5).exp());
      }
      case INV_ETA -> {
        requireEps(pc);
        double delta = (1 / pc.etaMin() - 1 / pc.etaMax()) / div;
        Tensor inv = p.eta(t).reciprocal().add(delta).clamp(Double.NEGATIVE_INFINITY, 1 / pc.etaMin());
        yield p.etaInverse(inv.reciprocal());
      }
    };
    if (cfg.minGap() > 0) r = r.minimum(t.sub(cfg.minGap()));
    return r.maximum(s);
  }

  private void requireEps(IMMPrecond.Config pc) {
    if (!(pc.eps() > 0)) {
      throw new IllegalArgumentException("mapping " + cfg.mapping() + " needs eps > 0 (its range is infinite at t = 0)");
    }
  }

  /** w(s, t) = ½·σ(b − λ_t)·(−dλ_t/dt)·α_t^a/(α_t² + σ_t²) (Eq. 13) for float64 t [G]. */
  public Tensor weight(IMMPrecond p, Tensor t) {
    Tensor[] as = p.alphaSigma(t);
    Tensor lam = p.logSnr(t);
    Tensor sig = lam.neg().add(cfg.b()).sigmoid();
    Tensor alphaA = cfg.a() == 1 ? as[0] : as[0].pow(cfg.a());
    return sig.mul(p.logSnrPrime(t).neg()).mul(alphaA).div(as[0].square().add(as[1].square())).mul(0.5);
  }

  /**
   * Laplace kernel matrices k(x^j, y^k) = exp(−w̃·max(‖x^j − y^k‖₂, ε_k)/D) for particle sets x, y [G, M, D] and
   * bandwidth factors w̃ [G]: [G, M, M]. The max is taken on the squared norm (‖·‖² ≥ ε_k²), so the gradient is 0,
   * not NaN, where a particle meets itself.
   */
  public static Tensor laplace(Tensor x, Tensor y, Tensor wTilde, double kernelEps) {
    long d = x.size(2);
    Tensor dist = x.unsqueeze(2).sub(y.unsqueeze(1)).square().sum(false, 3).clampMin(kernelEps * kernelEps).sqrt();
    return dist.mul(wTilde.view(-1, 1, 1)).div(-(double) d).exp();
  }

  /** RBF kernel matrices k(x^j, y^k) = exp(−½·w̃·‖x^j − y^k‖²/D) (Appendix C.8, Eq. 68), [G, M, M]. */
  public static Tensor rbf(Tensor x, Tensor y, Tensor wTilde) {
    long d = x.size(2);
    Tensor sq = x.unsqueeze(2).sub(y.unsqueeze(1)).square().sum(false, 3);
    return sq.mul(wTilde.view(-1, 1, 1)).div(-2.0 * d).exp();
  }

  /** The V-statistic MMD² per group (Eq. 67 without w) with the Laplace kernel, [G]. */
  public static Tensor mmd(Tensor x, Tensor y, Tensor wTilde, double kernelEps) {
    return mmd(x, y, wTilde, kernelEps, Kernel.LAPLACE);
  }

  /** The V-statistic MMD² per group (Eq. 67 without w): mean k(x,x) + mean k(y,y) − 2·mean k(x,y), [G]. */
  public static Tensor mmd(Tensor x, Tensor y, Tensor wTilde, double kernelEps, Kernel kernel) {
    java.util.function.BinaryOperator<Tensor> k = kernel == Kernel.LAPLACE
        ? (a, b) -> laplace(a, b, wTilde, kernelEps) : (a, b) -> rbf(a, b, wTilde);
    Tensor xx = k.apply(x, x).mean(false, 1, 2);
    Tensor yy = k.apply(y, y).mean(false, 1, 2);
    Tensor xy = k.apply(x, y).mean(false, 1, 2);
    return xx.add(yy).sub(xy.mul(2.0));
  }

  /** The per-group loss with fresh draws from gen (dropout masks from dropoutGen: null, the default generator). */
  public Result loss(IMMPrecond net, IMMPrecond target, Tensor x, Tensor labels, Generator gen, Generator dropoutGen) {
    return loss(net, target, x, labels, draw(x, gen), dropoutGen);
  }

  /**
   * The per-group loss for explicit draws (Algorithm 1 / 3, Eq. 67).
   *
   * @param net the model f^θ
   * @param target f^{θ⁻}: null for the stop-gradient of net itself (the paper's θ⁻), or a target copy (e.g. an EMA)
   * @param labels one-hot class labels [B, L] for a conditional network (null: unconditional)
   * @param dropoutGen the generator of the network's dropout (both passes draw the same masks)
   */
  public Result loss(IMMPrecond net, IMMPrecond target, Tensor x, Tensor labels, Draws d, Generator dropoutGen) {
    if (x.dim() < 2) throw new IllegalArgumentException("x must be [B, ...], got " + Arrays.toString(x.shape()));
    boolean conditional = net.labelDim() > 0;
    if (conditional && labels == null) throw new IllegalArgumentException("the network is class-conditional: give labels");
    if (!conditional && labels != null) throw new IllegalArgumentException("the network is unconditional: labels must be null");
    long b = x.size(0);
    long g = groups(b);
    int m = cfg.groupSize();
    if (d.uT().size(0) != g || d.uS().size(0) != g || !Arrays.equals(d.eps().shape(), x.shape())) {
      throw new IllegalArgumentException("draws do not fit a batch of " + b + " in groups of " + m);
    }
    IMMPrecond f = net;
    IMMPrecond fMinus = target == null ? net : target;
    double sd = net.config().sigmaData();
    Tensor[] tsr = times(net, d.uT(), d.uS());
    Tensor t = tsr[0];
    Tensor s = tsr[1];
    Tensor r = tsr[2];
    Tensor tB = perSample(t, m);
    Tensor sB = perSample(s, m);
    Tensor rB = perSample(r, m);
    // x_t = DDIM(ε, x, t, 1) = α_t·x + σ_t·ε and x_r = DDIM(x_t, x, r, t) = α_r·x + σ_r·ε (the same x and ε)
    Tensor noise = d.eps().mul(sd);
    Tensor x64 = x.to(DType.FLOAT64);
    Tensor[] at = net.alphaSigma(tB);
    Tensor[] ar = net.alphaSigma(rB);
    Tensor xt = IMMPrecond.bcast(at[0], x).mul(x64).add(IMMPrecond.bcast(at[1], x).mul(noise));
    Tensor xr = IMMPrecond.bcast(ar[0], x).mul(x64).add(IMMPrecond.bcast(ar[1], x).mul(noise));
    // The stop-gradient pass runs in inference mode rather than plain no-grad: libtorch then skips the autograd and
    // view/version-counter bookkeeping of every op of the network (the same kernels, the same values). Its output is
    // an inference tensor, which autograd may read but not save for backward, so it is cloned (outside inference
    // mode: a normal tensor, [B, ...] float64, a copy the size of the batch) before the kernel sees it.
    var passes = SharedDropout.run(dropoutGen, x.device(),
        () -> f.forward(xt, tB, sB, labels),
        () -> {
          try (InferenceMode off = InferenceMode.enter()) {
            return fMinus.forward(xr, rB, sB, labels);
          }
        });
    Tensor yT = passes.first();
    Tensor yR = passes.second().clone();
    Tensor wTilde = net.cSkipOut(s, t)[1].abs().reciprocal(); // w̃(s,t) = 1/|c_out(s,t)|
    Tensor mmd = mmd(yT.reshape(g, m, -1), yR.reshape(g, m, -1), wTilde, cfg.kernelEps(), cfg.kernel());
    Tensor w = weight(net, t);
    return new Result(w.mul(mmd), mmd.detach(), w, t, s, r, yT, yR);
  }

  /** [G] → [G·M], each group's value repeated for its M particles. */
  static Tensor perSample(Tensor v, int m) {
    long g = v.size(0);
    return v.unsqueeze(1).expand(g, m).reshape(g * m);
  }

  // ------------------------------------------------------------------------------------------------ sampling

  /**
   * The pushforward times of the official sampler's default discretisation (generate_images.py
   * pushforward_generator_fn lines 46-54): T, then η⁻¹ of each intermediate noise level η (CIFAR-10's 2 steps:
   * {1.4}), then ε.
   */
  public static double[] pushforwardTimes(IMMPrecond.Config c, double[] midEta) {
    double[] t = new double[midEta.length + 2];
    t[0] = c.tMax();
    for (int i = 0; i < midEta.length; i++) {
      if (!(midEta[i] > 0) || Double.isInfinite(midEta[i])) {
        throw new IllegalArgumentException("intermediate noise levels η must be positive, got " + midEta[i]);
      }
      t[i + 1] = IMMPrecond.etaInverse(c.schedule(), midEta[i]);
    }
    t[t.length - 1] = c.eps();
    return t;
  }

  /** Uniform decrement in t (Eq. 117; 'uniform' of pushforward_generator_fn): linspace(T, ε, N + 1). */
  public static double[] uniformTimes(IMMPrecond.Config c, int steps) {
    if (steps < 1) throw new IllegalArgumentException("steps must be ≥ 1, got " + steps);
    double[] t = new double[steps + 1];
    for (int i = 0; i <= steps; i++) t[i] = c.tMax() + (c.eps() - c.tMax()) * i / steps;
    t[steps] = c.eps();
    return t;
  }

  /** EDM's schedule in η (Eq. 118; 'edm' of pushforward_generator_fn), ρ = 7, mapped to t by η⁻¹. */
  public static double[] edmTimes(IMMPrecond.Config c, int steps, double rho) {
    if (steps < 1) throw new IllegalArgumentException("steps must be ≥ 1, got " + steps);
    double lo = Math.pow(c.etaMin(), 1 / rho);
    double hi = Math.pow(c.etaMax(), 1 / rho);
    double[] t = new double[steps + 1];
    for (int i = 0; i <= steps; i++) {
      t[i] = IMMPrecond.etaInverse(c.schedule(), Math.pow(hi + (double) i / steps * (lo - hi), rho));
    }
    return t;
  }

  /**
   * Pushforward sampling (Algorithm 2): x ← σ_d·z at times[0], then x ← f_{t_{i+1}, t_i}(x) along the decreasing
   * times, in float64 as the official sampler. Returns float64 samples.
   *
   * @param z standard-normal latents
   * @param labels one-hot labels or null
   */
  public static Tensor sample(IMMPrecond net, Tensor z, double[] times, Tensor labels) {
    checkTimes(times);
    try (GradMode g = GradMode.noGrad()) {
      long n = z.size(0);
      Tensor x = z.to(DType.FLOAT64).mul(net.config().sigmaData());
      for (int i = 0; i + 1 < times.length; i++) {
        Tensor t = Tensor.full(new long[] {n}, times[i], DType.FLOAT64, z.device());
        Tensor s = Tensor.full(new long[] {n}, times[i + 1], DType.FLOAT64, z.device());
        x = net.forward(x, t, s, labels);
      }
      return x;
    }
  }

  /** The samplers' times: at least two, strictly decreasing, within [0, 1). */
  private static void checkTimes(double[] times) {
    if (times.length < 2) throw new IllegalArgumentException("need at least two times (e.g. {T, ε})");
    for (int i = 0; i + 1 < times.length; i++) {
      if (!(times[i] > times[i + 1]) || times[i] >= 1 || times[i + 1] < 0) {
        throw new IllegalArgumentException("times must decrease within [0, 1): " + Arrays.toString(times));
      }
    }
  }

  /**
   * Restart sampling (Algorithm 5; generate_images.py restart_generator_fn lines 69-100): from each time of times but
   * the last, jump straight to the last (ε), x̃ = f_{ε, t_i}(x), then re-noise to the next time, x = α·x̃ + σ·σ_d·n with
   * n ~ N(0, I) from gen (float64, shaped like z); the last jump's x̃ is the sample. times as for {@link #sample}
   * (e.g. {@link #pushforwardTimes}). Returns float64 samples.
   */
  public static Tensor restartSample(IMMPrecond net, Tensor z, double[] times, Tensor labels, Generator gen) {
    checkTimes(times);
    try (GradMode g = GradMode.noGrad()) {
      long n = z.size(0);
      double end = times[times.length - 1];
      Tensor x = z.to(DType.FLOAT64).mul(net.config().sigmaData());
      Tensor s = Tensor.full(new long[] {n}, end, DType.FLOAT64, z.device());
      for (int i = 0; i + 1 < times.length; i++) {
        x = net.forward(x, Tensor.full(new long[] {n}, times[i], DType.FLOAT64, z.device()), s, labels);
        if (i + 2 < times.length) {
          Tensor next = Tensor.full(new long[] {1}, times[i + 1], DType.FLOAT64, z.device());
          Tensor[] as = net.alphaSigma(next);
          Tensor noise = Tensor.randn(x.shape(), DType.FLOAT64, z.device(), gen).mul(net.config().sigmaData());
          x = x.mul(as[0]).add(noise.mul(as[1]));
        }
      }
      return x;
    }
  }
}
