package dev.cm4j.nn.mp;

import dev.cm4j.nn.Module;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import java.util.List;

/**
 * A magnitude-preserving positional (sinusoidal) embedding: √2·[cos(x·f_i), sin(x·f_i)] with
 * f_i = (1/maxPositions)^(i/(half−1)), i = 0..half−1 — EDM's PositionalEmbedding (endpoint) scaled by √2 so that each
 * output has unit RMS. The sCM paper (Lu and Song 2024, §4.1) replaces EDM2's Fourier features by a positional
 * embedding of c_noise(t) = t for continuous-time training: its largest frequency is 1, so ∂emb/∂t stays bounded.
 * No state (nothing in the state dict).
 */
public final class MPPositional extends Module {
  private final long numChannels;
  private final double maxPositions;

  /** numChannels (even) outputs; maxPositions sets the lowest frequency (10000 as in EDM). */
  public MPPositional(long numChannels, double maxPositions) {
    if (numChannels < 2 || numChannels % 2 != 0) {
      throw new IllegalArgumentException("positional embedding needs an even channel count >= 2, got " + numChannels);
    }
    this.numChannels = numChannels;
    this.maxPositions = maxPositions;
  }

  /** x [N] → [N, numChannels] in x's dtype (computed in float32). */
  public Tensor forward(Tensor x) {
    long half = numChannels / 2;
    double[] f = new double[(int) half];
    for (int i = 0; i < half; i++) f[i] = Math.pow(1 / maxPositions, half == 1 ? 0 : (double) i / (half - 1));
    Tensor freqs = Tensor.of(f, half).to(x.device(), DType.FLOAT32);
    Tensor y = x.to(DType.FLOAT32).unsqueeze(1).mul(freqs.unsqueeze(0));
    return Tensor.cat(List.of(y.cos(), y.sin()), 1).mul(Math.sqrt(2)).to(x.dtype());
  }
}
