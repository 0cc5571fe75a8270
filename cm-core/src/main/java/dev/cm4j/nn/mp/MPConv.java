package dev.cm4j.nn.mp;

import dev.cm4j.nn.Module;
import dev.cm4j.nn.Param;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.F;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;

/**
 * EDM2's magnitude-preserving convolution or fully connected layer (Eq. 47) with forced weight normalisation
 * (Eq. 66). The stored weight [out, in, k, k] (or [out, in] for kernel 0) has no bias. Each forward uses
 * normalize(w)·gain/√fan_in; in training mode it first writes normalize(w) back into the stored weight (under
 * no-grad, as EDM2 does), so that the weights stay on the unit sphere and the effective learning rate does not decay.
 * For float32 weights that forward then normalises the written-back weight, exactly as EDM2's aliasing
 * {@code self.weight.to(torch.float32)} does.
 *
 * <p>The write-back happens only while autograd records (EDM2 trains only so). A no-grad training-mode pass — ECT's
 * target pass f(x_r, r), sCM's tangent pass — leaves the weights alone: a write-back there would change, in place, a
 * weight that the step's graph has saved (autograd then refuses the backward), and ECT's imgnet branch and the sCM
 * reimplementations switch it off for exactly those passes.
 */
public final class MPConv extends Module {
  private final Param weight;
  private final long inChannels;
  private final long outChannels;
  private final int kernel;
  private boolean forceWeightNorm = true;

  /** EDM2 {@code MPConv(in_channels, out_channels, kernel)}; kernel 0 is a linear layer; weights ~ N(0, 1). */
  public MPConv(long inChannels, long outChannels, int kernel) {
    if (inChannels < 1 || outChannels < 1 || kernel < 0) {
      throw new IllegalArgumentException("bad MPConv(" + inChannels + ", " + outChannels + ", " + kernel + ")");
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernel = kernel;
    long[] shape = kernel == 0 ? new long[] {outChannels, inChannels} : new long[] {outChannels, inChannels, kernel, kernel};
    weight = parameter("weight", Tensor.randn(shape));
  }

  /** Output channels. */
  public long outChannels() {
    return outChannels;
  }

  /** Input channels. */
  public long inChannels() {
    return inChannels;
  }

  /** The weight slot. */
  public Param weight() {
    return weight;
  }

  /**
   * Turns the training-mode write-back on or off (ECT's ImageNet loss switches it off for its no-grad target pass,
   * where no optimizer step follows; the forward value is normalize(w) either way).
   */
  public void setForceWeightNorm(boolean on) {
    forceWeightNorm = on;
  }

  /** Whether training-mode forwards write the normalised weight back. */
  public boolean forceWeightNorm() {
    return forceWeightNorm;
  }

  /** Applies the layer with gain 1. */
  public Tensor forward(Tensor x) {
    return forward(x, null);
  }

  /** Applies the layer with a scalar gain tensor (null: 1), e.g. EDM2's learned emb_gain / out_gain. */
  public Tensor forward(Tensor x, Tensor gain) {
    Tensor stored = weight.get();
    Tensor w = stored.to(DType.FLOAT32);
    if (isTraining() && forceWeightNorm && GradMode.isEnabled()) {
      try (GradMode g = GradMode.noGrad()) {
        stored.copy_(MP.normalize(w.detach())); // forced weight normalisation
      }
      if (stored.dtype() == DType.FLOAT32) w = stored; // EDM2's w aliases the float32 weight it just overwrote
    }
    w = MP.normalize(w); // traditional weight normalisation (differentiable)
    double fan = (double) w.numel() / w.size(0);
    w = gain == null ? w.mul(1 / Math.sqrt(fan)) : w.mul(gain.div(Math.sqrt(fan)));
    w = w.to(x.dtype());
    if (kernel == 0) return x.matmul(w.transpose(0, 1));
    return F.conv2d(x, w, null, 1, (int) (w.size(-1) / 2), 1, 1);
  }
}
