package dev.cm4j.sampling;

import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;

/**
 * Samplers as free functions (EDM style): consistency 1-step/multistep in σ (ECT, CD/CT/iCT) and in TrigFlow time (sCM),
 * CTM's γ-sampling, and EDM's Heun/Euler sampler with optional stochastic churn. They run under no-grad, keep the state
 * in float64 and return float32. Latents z are standard normal; each sampler scales them.
 */
public final class Samplers {
  private Samplers() {}

  /** Karras et al.'s ρ-schedule: n levels from σ_max down to σ_min, (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ. */
  public static double[] karras(int n, double sigmaMin, double sigmaMax, double rho) {
    if (n < 1) throw new IllegalArgumentException("need at least one level");
    double[] s = new double[n];
    double a = Math.pow(sigmaMax, 1 / rho);
    double b = Math.pow(sigmaMin, 1 / rho);
    for (int i = 0; i < n; i++) s[i] = n == 1 ? sigmaMax : Math.pow(a + (double) i / (n - 1) * (b - a), rho);
    return s;
  }

  private static Tensor full(Tensor like, double v) {
    return Tensor.full(new long[] {like.size(0)}, v, DType.FLOAT32, like.device());
  }

  /**
   * Consistency sampling in σ (Song et al. 2023, Alg. 1): x̂ = D(σ_0·z, σ_0), then for each further time τ:
   * x = x̂ + std·ε with std = τ (ECT: no correction) or √(τ² − σ_min²) (Song et al.), x̂ = D(x, τ).
   *
   * @param times σ_0 (e.g. 80) followed by the intermediate times (ECT 2-step: 80, 0.821)
   * @param sigmaMin σ_min for the noise correction, or 0 for none
   */
  public static Tensor consistency(Denoiser net, Tensor z, double[] times, Tensor labels, double sigmaMin,
      Generator gen) {
    try (GradMode g = GradMode.noGrad()) {
      Tensor x = z.to(DType.FLOAT64).mul(times[0]);
      Tensor xHat = net.denoise(x, full(z, times[0]), labels).to(DType.FLOAT64);
      for (int i = 1; i < times.length; i++) {
        double tau = times[i];
        double std = Math.sqrt(Math.max(tau * tau - sigmaMin * sigmaMin, 0));
        Tensor eps = Tensor.randn(z.shape(), DType.FLOAT64, z.device(), gen);
        x = xHat.add(eps.mul(std));
        xHat = net.denoise(x, full(z, tau), labels).to(DType.FLOAT64);
      }
      return xHat.to(DType.FLOAT32);
    }
  }

  /** sCM's start time t_max = arctan(σ_max/σ_d) (1.56455 for σ_max 80, σ_d 0.5). */
  public static double trigflowTMax(double sigmaMax, double sigmaData) {
    return Math.atan(sigmaMax / sigmaData);
  }

  /** A consistency function in TrigFlow time, f(x_t, t [N], class labels or null): {@link TrigFlowPrecond#f}. */
  @FunctionalInterface
  public interface TrigFlowFunction {
    Tensor f(Tensor xt, Tensor t, Tensor labels);
  }

  /** CTM's jump G(x, t [N], s [N], class labels or null): {@link CTMPrecond#jump}. */
  @FunctionalInterface
  public interface Jump {
    Tensor jump(Tensor x, Tensor t, Tensor s, Tensor labels);
  }

  /**
   * Consistency sampling in TrigFlow time (sCM §5.1): x̂ = f(σ_d z, t_0), then x = cos τ·x̂ + sin τ·σ_d ε, x̂ = f(x, τ).
   *
   * @param times t_0 (t_max) followed by the intermediate times (sCM 2-step: t_max, 1.1)
   */
  public static Tensor trigflow(TrigFlowPrecond net, Tensor z, double[] times, Tensor labels, Generator gen) {
    return trigflow(net::f, net.sigmaData(), z, times, labels, gen);
  }

  /** {@link #trigflow(TrigFlowPrecond, Tensor, double[], Tensor, Generator)} for any f (e.g. a guided one) and σ_d. */
  public static Tensor trigflow(TrigFlowFunction net, double sd, Tensor z, double[] times, Tensor labels,
      Generator gen) {
    try (GradMode g = GradMode.noGrad()) {
      Tensor x = z.to(DType.FLOAT64).mul(sd);
      Tensor xHat = net.f(x.to(DType.FLOAT32), full(z, times[0]), labels).to(DType.FLOAT64);
      for (int i = 1; i < times.length; i++) {
        double tau = times[i];
        Tensor eps = Tensor.randn(z.shape(), DType.FLOAT64, z.device(), gen);
        x = xHat.mul(Math.cos(tau)).add(eps.mul(Math.sin(tau) * sd));
        xHat = net.f(x.to(DType.FLOAT32), full(z, tau), labels).to(DType.FLOAT64);
      }
      return xHat.to(DType.FLOAT32);
    }
  }

  /**
   * CTM's γ-sampling (Kim et al. 2024, Alg. 2, as in cm/sample_util.py): on the grid t_0 > … > t_n = σ_min,
   * s_i = √(1−γ²)·(t_{i+1} − σ_min) + σ_min, x̃ = G(x, t_i, s_i), x = x̃ + √(t_{i+1}² − s_i²)·ε. γ = 0: deterministic
   * long jumps; γ = 1: CM-style multistep. The final output is clamped to [−1, 1] when clip.
   *
   * @param grid t_0 = σ_max … t_n = σ_min (e.g. {@code karras(n + 1, 0.002, 80, 7)})
   */
  public static Tensor ctmGamma(CTMPrecond net, Tensor z, double[] grid, double gamma, Tensor labels, boolean clip,
      Generator gen) {
    return ctmGamma((Jump) net::jump, z, grid, gamma, labels, clip, gen);
  }

  /** {@link #ctmGamma(CTMPrecond, Tensor, double[], double, Tensor, boolean, Generator)} for any jump G. */
  public static Tensor ctmGamma(Jump net, Tensor z, double[] grid, double gamma, Tensor labels, boolean clip,
      Generator gen) {
    if (gamma < 0 || gamma > 1) throw new IllegalArgumentException("γ must be in [0, 1]: " + gamma);
    double sigmaMin = grid[grid.length - 1];
    try (GradMode g = GradMode.noGrad()) {
      Tensor x = z.to(DType.FLOAT64).mul(grid[0]);
      for (int i = 0; i < grid.length - 1; i++) {
        double s = Math.sqrt(1 - gamma * gamma) * (grid[i + 1] - sigmaMin) + sigmaMin;
        x = net.jump(x.to(DType.FLOAT32), full(z, grid[i]), full(z, s), labels).to(DType.FLOAT64);
        double std = Math.sqrt(Math.max(grid[i + 1] * grid[i + 1] - s * s, 0));
        if (std > 0) x = x.add(Tensor.randn(z.shape(), DType.FLOAT64, z.device(), gen).mul(std));
      }
      Tensor out = x.to(DType.FLOAT32);
      return clip ? out.clamp(-1, 1) : out;
    }
  }

  /** EDM sampler settings (Karras et al. 2022, Alg. 2): steps, σ range, ρ, churn and its σ window, noise scale, Heun. */
  public record EDMSettings(int numSteps, double sigmaMin, double sigmaMax, double rho, double sChurn, double sMin,
      double sMax, double sNoise, boolean heun) {
    /** EDM's generate.py defaults: 18 steps, σ ∈ [0.002, 80], ρ = 7, deterministic Heun. */
    public static EDMSettings defaults() {
      return new EDMSettings(18, 0.002, 80, 7, 0, 0, Double.POSITIVE_INFINITY, 1, true);
    }

    public EDMSettings withSteps(int n) {
      return new EDMSettings(n, sigmaMin, sigmaMax, rho, sChurn, sMin, sMax, sNoise, heun);
    }
  }

  /** EDM's sampler (Alg. 2): Euler steps with Heun's 2nd-order correction (except the last), optional churn. */
  public static Tensor edm(Denoiser net, Tensor z, EDMSettings p, Tensor labels, Generator gen) {
    double[] t = karras(p.numSteps(), p.sigmaMin(), p.sigmaMax(), p.rho());
    double[] ts = java.util.Arrays.copyOf(t, t.length + 1); // t_N = 0
    try (GradMode g = GradMode.noGrad()) {
      Tensor x = z.to(DType.FLOAT64).mul(ts[0]);
      for (int i = 0; i < p.numSteps(); i++) {
        double tCur = ts[i];
        double tNext = ts[i + 1];
        double gamma = tCur >= p.sMin() && tCur <= p.sMax() ? Math.min(p.sChurn() / p.numSteps(), Math.sqrt(2) - 1) : 0;
        double tHat = tCur + gamma * tCur;
        Tensor xHat = x;
        if (gamma > 0) {
          Tensor eps = Tensor.randn(z.shape(), DType.FLOAT64, z.device(), gen);
          xHat = x.add(eps.mul(Math.sqrt(tHat * tHat - tCur * tCur) * p.sNoise()));
        }
        Tensor d = xHat.sub(net.denoise(xHat, full(z, tHat), labels).to(DType.FLOAT64)).div(tHat); // Euler step
        Tensor xNext = xHat.add(d.mul(tNext - tHat));
        if (p.heun() && i < p.numSteps() - 1) { // 2nd-order correction
          Tensor dPrime = xNext.sub(net.denoise(xNext, full(z, tNext), labels).to(DType.FLOAT64)).div(tNext);
          xNext = xHat.add(d.mul(0.5).add(dPrime.mul(0.5)).mul(tNext - tHat));
        }
        x = xNext;
      }
      return x.to(DType.FLOAT32);
    }
  }
}
