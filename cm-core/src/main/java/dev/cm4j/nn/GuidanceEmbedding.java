package dev.cm4j.nn;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Tensor;

/**
 * The embedding of a per-sample guidance scale w for a guidance-conditioned student (Align Your Flow's
 * guidance-scale conditioning, docs/algorithms/ayf.md §2.1): the sinusoidal embedding of w that the network's noise
 * embedding uses ([cos(w·f), sin(w·f)], EDM's PositionalEmbedding with max_positions 10000, endpoint), times a
 * bias-free weight that starts at <b>zero</b>. The network adds it to its noise/time embedding before the mapping
 * layers (as diffusers' {@code time_cond_proj} adds its guidance embedding; SongUNet adds {@code map_augment}'s term
 * at the same place), so a network that gets this embedding computes exactly what it computed without it until
 * training moves the weight, and a snapshot written without it loads (the weight is reported missing and stays
 * zero). The weight is made as zeros, not drawn, so adding the embedding leaves the random stream, and with it every
 * other initial weight, as it was.
 *
 * <p>State: {@code weight} [channels, channels].
 */
public final class GuidanceEmbedding extends Module {
  private final PositionalEmbedding features;
  private final Param weight;

  /** @param channels the width of the noise embedding it is added to (even) */
  public GuidanceEmbedding(long channels) {
    if (channels < 2 || channels % 2 != 0) throw new IllegalArgumentException("channels must be even, got " + channels);
    features = new PositionalEmbedding(channels, 10000, true);
    weight = parameter("weight", Tensor.zeros(new long[] {channels, channels}, DType.FLOAT32,
        dev.cm4j.tensor.Device.CPU));
  }

  /** w [N] → [N, channels], in the weight's dtype. */
  public Tensor forward(Tensor w) {
    Tensor wt = weight.get();
    return F.linear(features.forward(w.to(wt.dtype())), wt, null);
  }

  /** The guidance scales checked against the batch: [N] for a batch of n. */
  static void check(Tensor w, long n) {
    if (w.dim() != 1 || w.size(0) != n) {
      throw new IllegalArgumentException("guidance scales must be [" + n + "] (one per sample), got "
          + java.util.Arrays.toString(w.shape()));
    }
  }
}
