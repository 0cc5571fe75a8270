package dev.cm4j.objectives;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.sampling.Solvers;
import dev.cm4j.tensor.Autograd;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * Consistency Trajectory Models' generator objective (Kim et al. 2024; sony/ctm {@code ctm_losses},
 * docs/algorithms/ctm.md §2): on the Karras grid of N levels, k ~ P(k) ∝ k on {1..K} for the batch, per sample t =
 * σ(n), u = σ(n+k), s = σ(m) with n ~ U{0..N−1−k}, m ~ U{n+k..N−1}; x_t = x + t·z; the teacher's k Heun steps t → u
 * (or, self-learning, G_θ⁻(x_t,t,u)); estimate G_θ⁻(G_θ(x_t,t,s), s, σ_min) with gradients through θ⁻'s input; target
 * G_θ⁻(G_sg(θ)(x_u,u,s), s, σ_min); distance L2 or pseudo-Huber; plus the DSM term λ(σ)·‖g_θ(x+σz', σ, σ) − x‖² (EDM
 * weight, half-lognormal σ) balanced by λ_DSM = clamp(‖∇_W L_CTM‖/(‖∇_W L_DSM‖ + 1e-4), 0, 1e4) at a named last-layer
 * weight W (§2.6). The GAN stage is out of scope. LPIPS needs a user-supplied TorchScript file and is not available
 * yet.
 */
public final class CTM {
  /** Distances between estimate and target. */
  public enum Distance { L2, PSEUDO_HUBER, LPIPS }

  /**
   * @param numLevels N, the Karras grid size (CIFAR-10: 18)
   * @param maxHeunSteps K (CIFAR-10: 17)
   * @param sigmaMin σ_min (0.002)
   * @param sigmaMax σ_max (80)
   * @param rho ρ (7)
   * @param distance the CTM distance
   * @param huberC pseudo-Huber c
   * @param dsm whether the DSM term is added
   * @param dsmPMean P_mean of the log-normal half of the DSM σ draw (−1.2)
   * @param dsmPStd P_std of it (1.2)
   * @param dsmUniformMax v-range of the uniform half, σ = (σ_max^{1/ρ} + v(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ (0.7)
   * @param selfLearn no teacher: x_u = G_θ⁻(x_t, t, u)
   */
  public record Config(@JsonProperty("num_levels") int numLevels, @JsonProperty("max_heun_steps") int maxHeunSteps,
      @JsonProperty("sigma_min") double sigmaMin, @JsonProperty("sigma_max") double sigmaMax,
      @JsonProperty("rho") double rho, @JsonProperty("distance") Distance distance,
      @JsonProperty("huber_c") double huberC, @JsonProperty("dsm") boolean dsm,
      @JsonProperty("dsm_P_mean") double dsmPMean, @JsonProperty("dsm_P_std") double dsmPStd,
      @JsonProperty("dsm_uniform_max") double dsmUniformMax, @JsonProperty("self_learn") boolean selfLearn) {
    public Config {
      if (numLevels < 2 || maxHeunSteps < 1 || maxHeunSteps > numLevels - 1) {
        throw new IllegalArgumentException("CTM needs N >= 2 and 1 <= K <= N-1");
      }
    }

    /** CIFAR-10 (N 18, K 17, σ ∈ [0.002, 80], ρ 7, DSM on); the L2 distance stands in for LPIPS. */
    public static Config cifar10() {
      return new Config(18, 17, 0.002, 80, 7, Distance.L2, 0, true, -1.2, 1.2, 0.7, false);
    }
  }

  /** The draws of one iteration: k for the batch, grid indices n and m per sample, noise z. */
  public record Draw(int k, long[] n, long[] m, Tensor z) {}

  /**
   * Per-sample CTM and DSM losses and the balancing weight; {@link #total()} is the generator objective.
   *
   * @param ctm L_CTM per sample [N]
   * @param dsm L_DSM per sample [N] (null without DSM)
   * @param lambdaDsm λ_DSM, a float64 0-dim tensor on x's device (0 without DSM): computed from gradient norms on the
   *     device and kept there, so that the loss does not wait for the device
   * @param estimate the estimate G_θ⁻(G_θ(x_t,t,s), s, σ_min)
   * @param target the target G_θ⁻(G_sg(θ)(x_u,u,s), s, σ_min) (detached)
   */
  public record Result(Tensor ctm, Tensor dsm, Tensor lambdaDsm, Tensor estimate, Tensor target) {
    /** mean(L_CTM) + λ_DSM·mean(L_DSM). */
    public Tensor total() {
      return dsm == null ? ctm.mean() : ctm.mean().add(dsm.mean().mul(lambdaDsm));
    }
  }

  private final Config cfg;
  private final double[] grid;

  public CTM(Config cfg) {
    this.cfg = cfg;
    this.grid = Samplers.karras(cfg.numLevels(), cfg.sigmaMin(), cfg.sigmaMax(), cfg.rho());
  }

  public Config config() {
    return cfg;
  }

  /** The Karras grid σ(0) = σ_max > … > σ(N−1) = σ_min. */
  public double[] grid() {
    return grid.clone();
  }

  /** Draws k ~ P(k) ∝ k on {1..K}, n and m per sample, and z. */
  public Draw draw(Tensor x, RandomGenerator rnd, Generator gen) {
    int kMax = cfg.maxHeunSteps();
    double total = kMax * (kMax + 1) / 2.0;
    double u = rnd.nextDouble() * total; // P(k) ∝ k: invert the cumulative weights 1, 1+2, ...
    int k = 0;
    double acc = 0;
    while (k < kMax) {
      k++;
      acc += k;
      if (u < acc) break;
    }
    int bs = (int) x.size(0);
    long[] n = new long[bs];
    long[] m = new long[bs];
    for (int i = 0; i < bs; i++) {
      n[i] = rnd.nextInt(cfg.numLevels() - k);
      m[i] = n[i] + k + rnd.nextInt((int) (cfg.numLevels() - n[i] - k));
    }
    Tensor z = Tensor.randn(x.shape(), x.dtype(), x.device(), gen);
    return new Draw(k, n, m, z);
  }

  /** σ(idx) per sample, in x's dtype and device. */
  private Tensor sigmas(long[] idx, Tensor like) {
    double[] v = new double[idx.length];
    for (int i = 0; i < idx.length; i++) v[i] = grid[(int) idx[i]];
    return Tensor.of(v).to(like.device(), like.dtype().isFloatingPoint() ? like.dtype() : DType.FLOAT32);
  }

  /**
   * The teacher's k Heun steps along the grid from σ(n) to σ(n+k), per sample (EDM Heun, 2 calls per step, no Euler
   * special case; docs/algorithms/ctm.md §2.2).
   */
  public Tensor teacherHeun(Denoiser teacher, Tensor x, long[] n, int k, Tensor labels) {
    List<Tensor> levels = new java.util.ArrayList<>(k + 1);
    for (int j = 0; j <= k; j++) {
      long[] idx = new long[n.length];
      for (int i = 0; i < n.length; i++) idx[i] = n[i] + j;
      levels.add(sigmas(idx, x));
    }
    return Solvers.heun(teacher, x, levels, labels);
  }

  private Tensor distance(Tensor a, Tensor b) {
    return switch (cfg.distance()) {
      case PSEUDO_HUBER -> Distances.pseudoHuber(a, b, cfg.huberC());
      case L2 -> Distances.meanSquared(a, b);
      case LPIPS -> {
        if (lpips == null) throw new IllegalStateException("Distance.LPIPS needs an LPIPS network: call withLpips");
        // CTM: bilinear to 224 × 224, then [−1, 1] → [0, 1] for piq's VGG LPIPS (docs/algorithms/ctm.md §2.4)
        yield Distances.lpips(lpips, a.add(1.0).div(2.0), b.add(1.0).div(2.0), 224);
      }
    };
  }

  private dev.cm4j.jit.ScriptModule lpips;

  /**
   * The LPIPS network for {@link Distance#LPIPS}: a TorchScript file called as {@code lpips(a, b)} on 224 × 224
   * images in [0, 1], returning one distance per sample, as CTM's {@code piq.LPIPS(replace_pooling=True,
   * reduction="none")} (traced or scripted); frozen and in eval mode. Returns this.
   */
  public CTM withLpips(dev.cm4j.jit.ScriptModule net) {
    this.lpips = net.eval().requiresGrad(false);
    return this;
  }

  /** DSM's σ draw: first half log-normal(P_mean, P_std), second half uniform in ρ-space up to v_max. */
  public Tensor dsmSigmas(int batch, Device dev, Generator gen) {
    int half = batch / 2;
    Tensor ln = Tensor.randn(new long[] {batch - half}, DType.FLOAT32, dev, gen).mul(cfg.dsmPStd()).add(cfg.dsmPMean())
        .exp();
    Tensor v = Tensor.rand(new long[] {half}, DType.FLOAT32, dev, gen).mul(cfg.dsmUniformMax());
    double a = Math.pow(cfg.sigmaMax(), 1 / cfg.rho());
    double b = Math.pow(cfg.sigmaMin(), 1 / cfg.rho());
    Tensor un = v.mul(b - a).add(a).pow(cfg.rho());
    return Tensor.cat(List.of(ln, un), 0);
  }

  /**
   * One generator objective evaluation.
   *
   * @param student G_θ (online)
   * @param target G_θ⁻ (the target EMA; its parameters must not require grad)
   * @param teacher D_φ (null with self-learning)
   * @param lastLayer the weight W_L for λ_DSM (e.g. the final output conv's weight), or null for λ_DSM = 1
   */
  public Result loss(CTMPrecond student, CTMPrecond target, Denoiser teacher, Tensor x, Tensor labels, Draw d,
      Tensor lastLayer, Generator gen) {
    Device dev = x.device();
    long[] nk = new long[d.n().length];
    for (int i = 0; i < nk.length; i++) nk[i] = d.n()[i] + d.k();
    Tensor t = sigmas(d.n(), x);
    Tensor u = sigmas(nk, x);
    Tensor s = sigmas(d.m(), x);
    Tensor sMin = Tensor.full(new long[] {x.size(0)}, cfg.sigmaMin(), DType.FLOAT32, dev);
    Tensor xt = x.add(d.z().mul(TrigFlowPrecond.broadcast(t, x)));

    // Estimate: G_θ⁻(G_θ(x_t, t, s), s, σ_min); gradients flow through θ⁻'s input into θ.
    Tensor est = target.jump(student.jump(xt, t, s, labels), s, sMin, labels);
    Tensor tgt;
    try (GradMode g = GradMode.noGrad(); TensorScope sc = TensorScope.open()) {
      // the no-grad target passes in their own scope: their intermediates are freed before the DSM pass
      Tensor xu = cfg.selfLearn() || teacher == null ? target.jump(xt, t, u, labels)
          : teacherHeun(teacher, xt, d.n(), d.k(), labels);
      tgt = sc.escape(target.jump(student.jump(xu, u, s, labels), s, sMin, labels));
    }
    Tensor ctm = distance(est, tgt.detach());
    if (!cfg.dsm()) return new Result(ctm, null, Tensor.zeros(new long[0], DType.FLOAT64, dev), est, tgt);

    // DSM: λ(σ)·mean‖g_θ(x + σz', σ, σ) − x‖² with λ = (σ² + σ_d²)/(σ·σ_d)².
    Tensor sigma = dsmSigmas((int) x.size(0), dev, gen);
    Tensor sb = TrigFlowPrecond.broadcast(sigma, x);
    Tensor noisy = x.add(Tensor.randn(x.shape(), x.dtype(), dev, gen).mul(sb));
    double sd = student.sigmaData();
    Tensor lam = sigma.square().add(sd * sd).div(sigma.mul(sd).square());
    Tensor dsm = student.denoise(noisy, sigma, labels).sub(x).square().reshape(x.size(0), -1).mean(false, 1).mul(lam);
    Tensor lambda;
    if (lastLayer != null) {
      // λ = clamp(‖∇L_CTM‖ / (‖∇L_DSM‖ + 1e-4), 0, 1e4) in float64 from the float32 norms, all on the device
      Tensor gCtm = Autograd.grad(List.of(ctm.mean()), List.of(lastLayer), null, true, false, true).get(0);
      Tensor gDsm = Autograd.grad(List.of(dsm.mean()), List.of(lastLayer), null, true, false, true).get(0);
      Tensor zero = Tensor.zeros(new long[0], DType.FLOAT64, dev);
      Tensor nc = gCtm == null ? zero : gCtm.norm().to(DType.FLOAT64);
      Tensor nd = gDsm == null ? zero : gDsm.norm().to(DType.FLOAT64);
      lambda = nc.div(nd.add(1e-4)).clamp(0, 1e4);
    } else {
      lambda = Tensor.ones(new long[0], DType.FLOAT64, dev);
    }
    return new Result(ctm, dsm, lambda, est, tgt);
  }
}
