package dev.cm4j.nn;

import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Tensor;

/** EDM's fully connected layer: x·Wᵀ + b, with EDM's initialisation. */
public final class Linear extends Module {
  private final Param weight;
  private final Param bias;
  private final long inFeatures;
  private final long outFeatures;

  /** EDM {@code Linear(in_features, out_features, bias, init_mode, init_weight, init_bias)}. */
  public Linear(long inFeatures, long outFeatures, boolean bias, Init init) {
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    weight = parameter("weight", init.draw(new long[] {outFeatures, inFeatures}, inFeatures, outFeatures,
        init.initWeight()));
    this.bias = bias ? parameter("bias", init.draw(new long[] {outFeatures}, inFeatures, outFeatures, init.initBias()))
        : null;
  }

  /** Input width. */
  public long inFeatures() {
    return inFeatures;
  }

  /** Output width. */
  public long outFeatures() {
    return outFeatures;
  }

  /** The weight slot [out, in]. */
  public Param weight() {
    return weight;
  }

  /** y = x·Wᵀ + b. */
  public Tensor forward(Tensor x) {
    return F.linear(x, weight.get(), bias == null ? null : bias.get());
  }
}
