package dev.cm4j.objectives;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.sampling.Solvers;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import java.util.List;

/**
 * Discrete-time consistency models — CD, CT and iCT (Song et al. 2023; Song & Dhariwal 2023; docs/algorithms/ctm.md §5)
 * — as configurations of one loss: on the Karras grid of N(k) levels pick adjacent levels t > u (uniformly, or iCT's
 * discretised log-normal), x_t = x + t·z, x̂_u by the teacher's Heun step (CD) or the data (x + u·z with the same z:
 * CT, iCT), and the loss λ·d(f_θ(x_t, t), f_θ⁻(x̂_u, u)) with f_θ⁻ under stop-gradient and the same dropout masks.
 * The models use the consistency boundary ({@code EDMPrecond.cm}). θ⁻ is the caller's target network, updated with
 * {@link #targetEmaDecay} (CT's adaptive μ(k); iCT: 0, i.e. θ⁻ = θ).
 */
public final class ConsistencyTraining {
  /** How x̂_u is obtained. */
  public enum Solver { TEACHER_HEUN, DATA }

  /** The discretisation curriculum N(k). */
  public enum Schedule {
    /** N fixed at s1 levels (CD). */
    FIXED,
    /** CT's progressive N(k) = ⌈√(k/K·((s1+1)² − s0²) + s0²) − 1⌉ + 1. */
    PROGRESSIVE,
    /** iCT's doubling N(k) = min(s0·2^⌊k/K'⌋, s1) + 1, K' = ⌊K/(log2⌊s1/s0⌋ + 1)⌋. */
    DOUBLING
  }

  /** How the level pair is chosen. */
  public enum TimeSampling { UNIFORM, LOGNORMAL }

  /** The per-sample weight λ. */
  public enum Weighting { UNIFORM, INVERSE_GAP }

  /**
   * @param schedule the curriculum
   * @param s0 initial discretisation (CT 2, iCT 10); FIXED uses s1 as N
   * @param s1 final discretisation (CT 150, iCT 1280; CD: N = 18)
   * @param totalIterations K
   * @param timeSampling level-pair sampling
   * @param pMean P_mean of the log-normal pair sampling (−1.1)
   * @param pStd P_std of it (2.0)
   * @param solver teacher Heun (CD) or data (CT, iCT)
   * @param pseudoHuberC c of the pseudo-Huber distance, 0 for the mean-squared L2 distance
   * @param weighting λ
   * @param mu0 target EMA decay μ0 (CD: fixed μ; CT: μ0 of the adaptive rule; iCT: 0)
   * @param adaptiveEma CT's μ(k) = exp(s0·ln μ0 / (N(k) − 1))
   * @param sigmaMin σ_min (0.002)
   * @param sigmaMax σ_max (80)
   * @param rho ρ (7)
   */
  public record Config(@JsonProperty("schedule") Schedule schedule, @JsonProperty("s0") int s0,
      @JsonProperty("s1") int s1, @JsonProperty("total_iterations") long totalIterations,
      @JsonProperty("time_sampling") TimeSampling timeSampling, @JsonProperty("P_mean") double pMean,
      @JsonProperty("P_std") double pStd, @JsonProperty("solver") Solver solver,
      @JsonProperty("pseudo_huber_c") double pseudoHuberC, @JsonProperty("weighting") Weighting weighting,
      @JsonProperty("mu0") double mu0, @JsonProperty("adaptive_ema") boolean adaptiveEma,
      @JsonProperty("sigma_min") double sigmaMin, @JsonProperty("sigma_max") double sigmaMax,
      @JsonProperty("rho") double rho) {
    public Config {
      if (s1 < 2 || (schedule != Schedule.FIXED && (s0 < 1 || s0 > s1)) || totalIterations < 1 || pseudoHuberC < 0) {
        throw new IllegalArgumentException("bad consistency-training config");
      }
    }

    /** CD on CIFAR-10: N = 18, teacher Heun, L2 (LPIPS in the paper), λ = 1, μ = 0.95 fixed. */
    public static Config cd(long iterations) {
      return new Config(Schedule.FIXED, 18, 18, iterations, TimeSampling.UNIFORM, -1.1, 2, Solver.TEACHER_HEUN, 0,
          Weighting.UNIFORM, 0.95, false, 0.002, 80, 7);
    }

    /** CT on CIFAR-10: s0 2, s1 150, μ0 0.9, progressive N(k), data solver. */
    public static Config ct(long iterations) {
      return new Config(Schedule.PROGRESSIVE, 2, 150, iterations, TimeSampling.UNIFORM, -1.1, 2, Solver.DATA, 0,
          Weighting.UNIFORM, 0.9, true, 0.002, 80, 7);
    }

    /** iCT: doubling N(k) from 10 to 1280, log-normal pairs, pseudo-Huber c = 0.00054·√D, λ = 1/(t − u), θ⁻ = θ. */
    public static Config ict(long iterations, long dataDim) {
      return new Config(Schedule.DOUBLING, 10, 1280, iterations, TimeSampling.LOGNORMAL, -1.1, 2, Solver.DATA,
          0.00054 * Math.sqrt(dataDim), Weighting.INVERSE_GAP, 0, false, 0.002, 80, 7);
    }
  }

  private final Config cfg;

  public ConsistencyTraining(Config cfg) {
    this.cfg = cfg;
  }

  public Config config() {
    return cfg;
  }

  /** N(k): the number of grid levels at iteration k. */
  public int numLevels(long k) {
    double kk = Math.min(k, cfg.totalIterations());
    return switch (cfg.schedule()) {
      case FIXED -> cfg.s1();
      case PROGRESSIVE -> (int) Math.ceil(Math.sqrt(kk / cfg.totalIterations()
          * ((cfg.s1() + 1.0) * (cfg.s1() + 1.0) - (double) cfg.s0() * cfg.s0()) + (double) cfg.s0() * cfg.s0()) - 1) + 1;
      case DOUBLING -> {
        long kPrime = (long) Math.floor(cfg.totalIterations()
            / (Math.floor(Math.log(Math.floor((double) cfg.s1() / cfg.s0())) / Math.log(2)) + 1));
        long doublings = kPrime == 0 ? 0 : (long) Math.floor(kk / kPrime);
        yield (int) Math.min(cfg.s0() * Math.pow(2, Math.min(doublings, 30)), cfg.s1()) + 1;
      }
    };
  }

  /** The target EMA decay μ at iteration k: CT's adaptive exp(s0·ln μ0/(N(k) − 1)), else μ0 (0 for iCT). */
  public double targetEmaDecay(long k) {
    if (!cfg.adaptiveEma()) return cfg.mu0();
    return Math.exp(cfg.s0() * Math.log(cfg.mu0()) / (numLevels(k) - 1));
  }

  /** The Karras grid at iteration k, descending: σ(0) = σ_max … σ(N−1) = σ_min. */
  public double[] grid(long k) {
    return Samplers.karras(numLevels(k), cfg.sigmaMin(), cfg.sigmaMax(), cfg.rho());
  }

  /** Probabilities of the pair (σ(i), σ(i+1)), i = 0..N−2 (uniform, or iCT's discretised log-normal). */
  public double[] pairProbabilities(double[] grid) {
    int n = grid.length - 1;
    double[] p = new double[n];
    if (cfg.timeSampling() == TimeSampling.UNIFORM) {
      java.util.Arrays.fill(p, 1.0 / n);
      return p;
    }
    try (var s = dev.cm4j.tensor.TensorScope.open()) {
      double[] lg = new double[grid.length];
      for (int i = 0; i < grid.length; i++) lg[i] = (Math.log(grid[i]) - cfg.pMean()) / (Math.sqrt(2) * cfg.pStd());
      double[] erf = Tensor.of(lg).erf().toDoubleArray();
      double sum = 0;
      for (int i = 0; i < n; i++) {
        p[i] = erf[i] - erf[i + 1]; // grid descends: erf(ln σ_big) − erf(ln σ_small)
        sum += p[i];
      }
      for (int i = 0; i < n; i++) p[i] /= sum;
    }
    return p;
  }

  /** Draws pair indices i per sample from {@link #pairProbabilities}. */
  public long[] drawPairs(double[] grid, int batch, java.util.random.RandomGenerator rnd) {
    double[] p = pairProbabilities(grid);
    long[] idx = new long[batch];
    for (int b = 0; b < batch; b++) {
      double u = rnd.nextDouble();
      int i = 0;
      double acc = p[0];
      while (u >= acc && i < p.length - 1) acc += p[++i];
      idx[b] = i;
    }
    return idx;
  }

  /**
   * Per-sample loss for pair indices i (t = σ(i), u = σ(i+1)) and noise z.
   *
   * @param target f_θ⁻ (null: the student under stop-gradient, θ⁻ = θ)
   * @param teacher D_φ for CD (ignored by the data solver)
   */
  public Tensor loss(Denoiser student, Denoiser target, Denoiser teacher, Tensor x, Tensor labels, double[] grid,
      long[] pairs, Tensor z, Generator dropoutGen) {
    double[] tv = new double[pairs.length];
    double[] uv = new double[pairs.length];
    for (int b = 0; b < pairs.length; b++) {
      tv[b] = grid[(int) pairs[b]];
      uv[b] = grid[(int) pairs[b] + 1];
    }
    DType dt = x.dtype().isFloatingPoint() ? x.dtype() : DType.FLOAT32;
    Tensor t = Tensor.of(tv).to(x.device(), dt);
    Tensor u = Tensor.of(uv).to(x.device(), dt);
    Tensor xt = x.add(z.mul(TrigFlowPrecond.broadcast(t, x)));
    Tensor xu = cfg.solver() == Solver.DATA || teacher == null
        ? x.add(z.mul(TrigFlowPrecond.broadcast(u, x)))
        : Solvers.heun(teacher, xt, List.of(t, u), labels);
    Denoiser tgtNet = target != null ? target : student;
    var passes = SharedDropout.run(dropoutGen, x.device(),
        () -> student.denoise(xt, t, labels),
        () -> {
          try (GradMode g = GradMode.noGrad()) {
            return tgtNet.denoise(xu, u, labels);
          }
        });
    Tensor a = passes.first();
    Tensor b = passes.second().detach();
    Tensor d = cfg.pseudoHuberC() > 0 ? Distances.pseudoHuber(a, b, cfg.pseudoHuberC()) : Distances.meanSquared(a, b);
    return cfg.weighting() == Weighting.INVERSE_GAP ? d.div(t.sub(u)) : d;
  }

  /** Per-sample loss with draws from rnd (pairs) and gen (z) at iteration k. */
  public Tensor loss(Denoiser student, Denoiser target, Denoiser teacher, Tensor x, Tensor labels, long k,
      java.util.random.RandomGenerator rnd, Generator gen, Generator dropoutGen) {
    double[] grid = grid(k);
    long[] pairs = drawPairs(grid, (int) x.size(0), rnd);
    Tensor z = Tensor.randn(x.shape(), x.dtype(), x.device(), gen);
    return loss(student, target, teacher, x, labels, grid, pairs, z, dropoutGen);
  }
}
