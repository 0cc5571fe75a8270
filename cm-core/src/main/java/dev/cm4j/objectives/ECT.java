package dev.cm4j.objectives;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;

/**
 * Easy Consistency Tuning (Geng et al. 2024; locuslab/ect {@code ECMLoss}, docs/algorithms/ect.md §2): t ~
 * LogNormal(P_mean, P_std), r = r(t, stage) from the "sigmoid" or "const" mapping, shared noise x_t = y + t·ε and x_r =
 * y + r·ε, student D(x_t, t) with gradients, stop-gradient target D(x_r, r) with the same dropout masks (y where r = 0,
 * NaN-safe), distance ‖Δ‖₂ or pseudo-Huber √(‖Δ‖² + c²) − c summed over all elements, weight 1/(t − r) (or EDM2's 1/t²
 * + 1/σ_d² of the ImageNet branch). Returns the unreduced per-sample loss.
 */
public final class ECT {
  /** The t → r mapping. */
  public enum Mapping { SIGMOID, CONST }

  /** The per-sample weight. */
  public enum Weighting {
    /** λ = 1/(t − r) (CIFAR-10, main branch). */
    INVERSE_GAP,
    /** λ = 1/t² + 1/σ_d² (ImageNet branch). */
    EDM2
  }

  /**
   * @param pMean P_mean of log t
   * @param pStd P_std of log t
   * @param q decay factor per stage (Δt/t shrinks by 1/q each stage)
   * @param k adjustment strength of the sigmoid mapping
   * @param b adjustment slope of the sigmoid mapping
   * @param c pseudo-Huber constant (0: plain L2 norm)
   * @param mapping the t → r mapping
   * @param weighting the per-sample weight
   * @param sigmaData σ_d (EDM2 weighting only)
   */
  public record Config(@JsonProperty("P_mean") double pMean, @JsonProperty("P_std") double pStd,
      @JsonProperty("q") double q, @JsonProperty("k") double k, @JsonProperty("b") double b,
      @JsonProperty("c") double c, @JsonProperty("mapping") Mapping mapping,
      @JsonProperty("weighting") Weighting weighting, @JsonProperty("sigma_data") double sigmaData) {
    public Config {
      if (!(pStd > 0) || !(q > 1) || c < 0 || mapping == null || weighting == null) {
        throw new IllegalArgumentException("bad ECT config: P_std > 0, q > 1, c >= 0 required");
      }
    }

    /** ct_train.py defaults as run_ecm.sh uses them: P_mean −1.1, P_std 2.0, q 2, k 8, b 1, c 0, sigmoid. */
    public static Config cifar10() {
      return new Config(-1.1, 2.0, 2, 8, 1, 0, Mapping.SIGMOID, Weighting.INVERSE_GAP, 0.5);
    }

    /** The same with another c (pseudo-Huber) and q. */
    public Config with(double q, double c) {
      return new Config(pMean, pStd, q, k, b, c, mapping, weighting, sigmaData);
    }
  }

  /** Stage −1: r = 0 for every t (Δt = t), pure denoising — lets ECT start from scratch. */
  public static final int DENOISING_STAGE = -1;

  private final Config cfg;

  public ECT(Config cfg) {
    this.cfg = cfg;
  }

  public Config config() {
    return cfg;
  }

  /** The stage after finishing tick {@code tick} with {@code doubleTicks} ticks per stage: floor(tick / double). */
  public static int stageForTick(long tick, double doubleTicks) {
    return (int) Math.floor(tick / doubleTicks);
  }

  /** r(t) for the stage: sigmoid r = max(0, t·(1 − q^{−(s+1)}·(1 + k·σ(−b·t)))), const r = t·(1 − q^{−(s+1)}). */
  public Tensor r(Tensor t, int stage) {
    if (stage < DENOISING_STAGE) throw new IllegalArgumentException("stage must be >= -1: " + stage);
    if (stage == DENOISING_STAGE) return t.zerosLike();
    double decay = 1 / Math.pow(cfg.q(), stage + 1);
    if (cfg.mapping() == Mapping.CONST) return t.mul(1 - decay);
    Tensor adj = t.mul(-cfg.b()).sigmoid().mul(cfg.k()).add(1.0);
    return t.mul(adj.mul(decay).rsub(1.0)).clampMin(0);
  }

  /** The per-sample loss with draws from gen (null: default generator): n ~ N(0,1) [N], ε ~ N(0, I). */
  public Tensor loss(Denoiser net, Tensor y, Tensor labels, int stage, Generator gen, Generator dropoutGen) {
    Device dev = y.device();
    Tensor n = Tensor.randn(new long[] {y.size(0)}, DType.FLOAT32, dev, gen);
    Tensor eps = Tensor.randn(y.shape(), y.dtype(), dev, gen);
    return loss(net, y, labels, stage, n, eps, dropoutGen);
  }

  /**
   * The per-sample loss for explicit draws.
   *
   * @param normalDraw n [N]: t = exp(P_mean + P_std·n)
   * @param eps ε like y
   * @param dropoutGen the generator the network's dropout draws from (null: the default one); the target pass
   *     reuses the student pass's masks
   */
  public Tensor loss(Denoiser net, Tensor y, Tensor labels, int stage, Tensor normalDraw, Tensor eps,
      Generator dropoutGen) {
    Tensor t = normalDraw.mul(cfg.pStd()).add(cfg.pMean()).exp();
    Tensor r = r(t, stage);
    long[] bshape = new long[y.dim()];
    java.util.Arrays.fill(bshape, 1);
    bshape[0] = -1;
    Tensor tb = t.reshape(bshape);
    Tensor rb = r.reshape(bshape);
    // Only the denoising stage has r = 0 for every sample; later stages can have r = 0 for some (the sigmoid
    // mapping's clamp), which the mask below handles, so the target pass runs there without reading r on the host.
    boolean anyR = stage != DENOISING_STAGE;
    var passes = SharedDropout.run(dropoutGen, y.device(),
        () -> net.denoise(y.add(eps.mul(tb)), t, labels),
        () -> {
          if (!anyR) return y;
          try (GradMode g = GradMode.noGrad()) {
            Tensor dYr = net.denoise(y.add(eps.mul(rb)), r, labels).nanToNum();
            Tensor mask = rb.gt(0.0);
            return Tensor.where(mask, dYr, y); // r = 0 → the clean image
          }
        });
    Tensor target = passes.second().detach();
    Tensor d = cfg.c() > 0 ? Distances.pseudoHuber(passes.first(), target, cfg.c()) : Distances.l2(passes.first(), target);
    if (cfg.weighting() == Weighting.EDM2) {
      return d.mul(t.square().reciprocal().add(1 / (cfg.sigmaData() * cfg.sigmaData())));
    }
    return d.div(t.sub(r));
  }

}
