package dev.cm4j.nn;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Op;
import dev.cm4j.tensor.Tensor;
import java.util.List;

/** Transformer-style sinusoidal embedding of a scalar per sample: [cos(x·f), sin(x·f)] (EDM PositionalEmbedding). */
public final class PositionalEmbedding extends Module {
  private static final Op POW_SCALAR = Op.of("aten::pow", "Scalar");
  private final long numChannels;
  private final double maxPositions;
  private final boolean endpoint;

  /** EDM {@code PositionalEmbedding(num_channels, max_positions=10000, endpoint)}. */
  public PositionalEmbedding(long numChannels, double maxPositions, boolean endpoint) {
    this.numChannels = numChannels;
    this.maxPositions = maxPositions;
    this.endpoint = endpoint;
  }

  /** x [N] → [N, numChannels]. */
  public Tensor forward(Tensor x) {
    long half = numChannels / 2;
    Tensor freqs = Tensor.arange(0, half, 1, DType.FLOAT32, x.device()).div((double) (half - (endpoint ? 1 : 0)));
    freqs = POW_SCALAR.callTensor(1.0 / maxPositions, freqs); // (1/max_positions) ** freqs
    Tensor xf = x.unsqueeze(1).mul(freqs.to(x.dtype()).unsqueeze(0));
    return Tensor.cat(List.of(xf.cos(), xf.sin()), 1);
  }
}
