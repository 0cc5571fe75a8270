package dev.cm4j.sampling;

import dev.cm4j.precond.Denoiser;
import dev.cm4j.tensor.Tensor;

/**
 * Guidance of a conditional model at sampling time, applied to every network evaluation of a sampler:
 * {@code out = G + w·(D(x, c) − G)}.
 * <ul>
 *   <li>Classifier-free guidance (Ho &amp; Salimans 2022; EDM's label dropout): G = D(x, ∅), the same network with the
 *       zero label vector — what a model trained with label dropout learned as "no class".</li>
 *   <li>Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"): G = D₀(x, c), a
 *       weaker model (an earlier or smaller snapshot) called with the same labels; also works unconditionally.</li>
 * </ul>
 * w = 1 is the plain model (the guide is not evaluated); w &gt; 1 pushes samples away from the guide. For a
 * consistency model the combination is applied to the denoised estimate (σ samplers), to f (TrigFlow) and to CTM's
 * jump G(x, t, s), which is affine in the network output, so guiding the jump guides the network's estimate.
 */
public final class Guidance {
  private Guidance() {}

  /** G + w·(cond − G), the combination of a conditional output and the guide's. */
  public static Tensor combine(Tensor cond, Tensor guide, double w) {
    return guide.add(cond.sub(guide).mul(w));
  }

  /** The guide's labels: zeros like labels (classifier-free), or labels themselves (autoguidance). */
  private static Tensor guideLabels(Tensor labels, boolean classifierFree) {
    if (!classifierFree) return labels;
    if (labels == null) {
      throw new IllegalArgumentException("classifier-free guidance needs class labels (a class-conditional model); "
          + "give a guide network for autoguidance instead");
    }
    return labels.zerosLike();
  }

  /**
   * A guided denoiser.
   *
   * @param net the conditional model D(x, σ, c)
   * @param guide the weaker guide (autoguidance), or null for classifier-free guidance with net itself
   * @param w guidance weight
   */
  public static Denoiser denoiser(Denoiser net, Denoiser guide, double w) {
    if (w == 1) return net;
    Denoiser g = guide != null ? guide : net;
    boolean cfg = guide == null;
    return (x, sigma, labels) -> {
      Tensor gl = guideLabels(labels, cfg);
      return combine(net.denoise(x, sigma, labels), g.denoise(x, sigma, gl), w);
    };
  }

  /** A guided TrigFlow consistency function (see {@link #denoiser}). */
  public static Samplers.TrigFlowFunction trigflow(Samplers.TrigFlowFunction net, Samplers.TrigFlowFunction guide,
      double w) {
    if (w == 1) return net;
    Samplers.TrigFlowFunction g = guide != null ? guide : net;
    boolean cfg = guide == null;
    return (x, t, labels) -> {
      Tensor gl = guideLabels(labels, cfg);
      return combine(net.f(x, t, labels), g.f(x, t, gl), w);
    };
  }

  /** A guided CTM jump (see {@link #denoiser}). */
  public static Samplers.Jump jump(Samplers.Jump net, Samplers.Jump guide, double w) {
    if (w == 1) return net;
    Samplers.Jump g = guide != null ? guide : net;
    boolean cfg = guide == null;
    return (x, t, s, labels) -> {
      Tensor gl = guideLabels(labels, cfg);
      return combine(net.jump(x, t, s, labels), g.jump(x, t, s, gl), w);
    };
  }
}
