package dev.cm4j.precond;

import dev.cm4j.nn.CTMNetwork;
import dev.cm4j.nn.Module;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;

/**
 * Consistency Trajectory Models' jump (Kim et al. 2024; docs/algorithms/ctm.md §1.1):
 * G(x_t, t, s) = (s/t)·x_t + (1 − s/t)·g(x_t, t, s), with the EDM-preconditioned inner function
 * g = c_skip(t)·x_t + c_out(t)·F(c_in(t)·x_t, ln(t)/4, ln(s)/4). G(x, t, t) = x by construction, and g(x, t, t) is an
 * EDM denoiser D(x, t) — which is what {@link #denoise} returns.
 */
public final class CTMPrecond extends Module implements Denoiser {
  private final CTMNetwork net;
  private final double sigmaData;
  private final double sigmaMin;
  private final double sigmaMax;
  private final Tensor augmentLabels; // EDM AugmentPipe labels passed to every raw call, or null

  /** Wraps net (registered as child "model"); EDM scalings with σ_d. */
  public <N extends Module & CTMNetwork> CTMPrecond(N net, double sigmaData, double sigmaMin, double sigmaMax) {
    this(net, net, sigmaData, sigmaMin, sigmaMax, null);
  }

  private CTMPrecond(Module model, CTMNetwork net, double sigmaData, double sigmaMin, double sigmaMax,
      Tensor augmentLabels) {
    child("model", model);
    this.net = net;
    this.sigmaData = sigmaData;
    this.sigmaMin = sigmaMin;
    this.sigmaMax = sigmaMax;
    this.augmentLabels = augmentLabels;
  }

  /**
   * A view of this model that passes augmentLabels [N, augment_dim] (EDM's AugmentPipe labels; null: this model) to
   * the raw network's augmentation input in every call (g, G, D). It shares the raw network and its weights.
   */
  public CTMPrecond withAugmentLabels(Tensor augmentLabels) {
    if (augmentLabels == null) return this;
    return new CTMPrecond(children().get("model"), net, sigmaData, sigmaMin, sigmaMax, augmentLabels);
  }

  /** CTM's CIFAR-10 setting: σ_d 0.5, σ_min 0.002, σ_max 80. */
  public static <N extends Module & CTMNetwork> CTMPrecond cifar(N net) {
    return new CTMPrecond(net, 0.5, 0.002, 80);
  }

  /** The raw network. */
  public CTMNetwork network() {
    return net;
  }

  /** σ_d. */
  public double sigmaData() {
    return sigmaData;
  }

  /** σ_min. */
  public double sigmaMin() {
    return sigmaMin;
  }

  /** σ_max. */
  public double sigmaMax() {
    return sigmaMax;
  }

  /** g(x_t, t, s): the inner EDM-preconditioned estimate; s null means s = t without the s path. */
  public Tensor g(Tensor x, Tensor t, Tensor s, Tensor classLabels) {
    x = x.to(DType.FLOAT32);
    Tensor tb = TrigFlowPrecond.broadcast(t.to(DType.FLOAT32), x);
    EDMPrecond.Scalings c = EDMPrecond.scalings(tb, sigmaData, 0); // EDM's inner scalings at t
    Tensor cIn = c.cIn();
    Tensor cSkip = c.cSkip();
    Tensor cOut = c.cOut();
    Tensor labels = net.labelDim() > 0 && classLabels != null
        ? classLabels.to(DType.FLOAT32).reshape(-1, net.labelDim()) : null;
    Tensor tNoise = t.to(DType.FLOAT32).flatten().log().div(4.0);
    Tensor sNoise = s == null ? null : s.to(DType.FLOAT32).flatten().log().div(4.0);
    Tensor fx = sNoise == null ? net.forward(cIn.mul(x), tNoise, labels, augmentLabels)
        : net.forward(cIn.mul(x), tNoise, sNoise, labels, augmentLabels);
    return cSkip.mul(x).add(cOut.mul(fx.to(DType.FLOAT32)));
  }

  /** G(x_t, t, s) = (s/t)·x_t + (1 − s/t)·g(x_t, t, s), for t, s [N] with s ≤ t. */
  public Tensor jump(Tensor x, Tensor t, Tensor s, Tensor classLabels) {
    Tensor ratio = TrigFlowPrecond.broadcast(s.div(t).to(DType.FLOAT32), x);
    Tensor gx = g(x, t, net.hasSEmbedding() ? s : null, classLabels);
    return ratio.mul(x.to(DType.FLOAT32)).add(ratio.rsub(1.0).mul(gx));
  }

  /** D(x, σ) = g(x, σ, σ): the denoiser CTM's DSM term and score-mode sampling use. */
  @Override
  public Tensor denoise(Tensor x, Tensor sigma, Tensor classLabels) {
    return g(x, sigma, net.hasSEmbedding() ? sigma : null, classLabels);
  }
}
