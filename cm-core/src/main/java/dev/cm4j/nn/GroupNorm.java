package dev.cm4j.nn;

import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Tensor;

/** EDM's GroupNorm: min(numGroups, channels / minChannelsPerGroup) groups, learned affine. */
public final class GroupNorm extends Module {
  private final Param weight;
  private final Param bias;
  private final int numGroups;
  private final double eps;

  /** EDM {@code GroupNorm(num_channels, num_groups=32, min_channels_per_group=4, eps)}. */
  public GroupNorm(long numChannels, int numGroups, int minChannelsPerGroup, double eps) {
    this.numGroups = (int) Math.min(numGroups, numChannels / minChannelsPerGroup);
    if (this.numGroups < 1) throw new IllegalArgumentException("GroupNorm over " + numChannels + " channels has no group");
    this.eps = eps;
    weight = parameter("weight", Tensor.ones(numChannels));
    bias = parameter("bias", Tensor.zeros(numChannels));
  }

  /** 32 groups (at least 4 channels each). */
  public GroupNorm(long numChannels, double eps) {
    this(numChannels, 32, 4, eps);
  }

  /** Number of groups. */
  public int numGroups() {
    return numGroups;
  }

  /** Normalises x [N, C, ...]. */
  public Tensor forward(Tensor x) {
    return F.groupNorm(x, numGroups, weight.get(), bias.get(), eps);
  }
}
