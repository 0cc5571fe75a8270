package dev.cm4j.nn.mp;

import dev.cm4j.nn.Module;
import dev.cm4j.nn.Param;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;

/**
 * EDM2's magnitude-preserving Fourier features (Eq. 75): √2·cos(2π(x·f + φ)) with fixed random frequencies
 * f ~ N(0, bandwidth²) and phases φ ~ U(0, 1) (stored pre-multiplied by 2π as buffers {@code freqs}, {@code phases}).
 */
public final class MPFourier extends Module {
  private final Param freqs;
  private final Param phases;

  /** EDM2 {@code MPFourier(num_channels, bandwidth=1)}. */
  public MPFourier(long numChannels, double bandwidth) {
    freqs = buffer("freqs", Tensor.randn(numChannels).mul(2 * Math.PI * bandwidth));
    phases = buffer("phases", Tensor.rand(numChannels).mul(2 * Math.PI));
  }

  /** x [N] → [N, numChannels], computed in float32 and returned in x's dtype. */
  public Tensor forward(Tensor x) {
    Tensor y = x.to(DType.FLOAT32).unsqueeze(1).mul(freqs.get().to(DType.FLOAT32).unsqueeze(0));
    y = y.add(phases.get().to(DType.FLOAT32));
    return y.cos().mul(Math.sqrt(2)).to(x.dtype());
  }
}
