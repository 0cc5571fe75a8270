package dev.cm4j.nn;

import dev.cm4j.tensor.Tensor;
import java.util.List;

/** Random Fourier features of a scalar per sample (EDM FourierEmbedding, NCSN++): frequencies ~ N(0, scale²). */
public final class FourierEmbedding extends Module {
  private final Param freqs;

  /** EDM {@code FourierEmbedding(num_channels, scale=16)}. */
  public FourierEmbedding(long numChannels, double scale) {
    freqs = buffer("freqs", Tensor.randn(numChannels / 2).mul(scale));
  }

  /** x [N] → [N, numChannels]. */
  public Tensor forward(Tensor x) {
    Tensor xf = x.unsqueeze(1).mul(freqs.get().mul(2 * Math.PI).to(x.dtype()).unsqueeze(0));
    return Tensor.cat(List.of(xf.cos(), xf.sin()), 1);
  }
}
