package dev.cm4j.precond;

import dev.cm4j.nn.EDM2UNet;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.mp.MPConv;
import dev.cm4j.nn.mp.MPFourier;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;

/**
 * EDM2's {@code Precond} (networks_edm2.py at 4bf8162): EDM's preconditioning around an {@link EDM2UNet} registered
 * as {@code unet}, plus EDM2's uncertainty head u(σ) (Eq. 21): logvar = MPConv(MPFourier(c_noise)), children
 * {@code logvar_fourier} and {@code logvar_linear}, so the state dict loads EDM2's checkpoints key for key. ECT's
 * ImageNet branch drops the head: logvarChannels = 0 leaves it out (and its keys).
 *
 * <p>D(x, σ) = c_skip·x + c_out·F(c_in·x, ln(σ)/4) with c_skip = σ_d²/(σ² + σ_d²), c_out = σσ_d/√(σ² + σ_d²),
 * c_in = 1/√(σ² + σ_d²) — the same as {@link EDMPrecond} with EDM's boundary. Computed in float32.
 */
public final class EDM2Precond extends Module implements Denoiser {
  private final EDM2UNet unet;
  private final MPFourier logvarFourier;
  private final MPConv logvarLinear;
  private final double sigmaData;

  /** EDM2 {@code Precond(..., sigma_data, logvar_channels)} around unet (logvarChannels 0: no uncertainty head). */
  public EDM2Precond(EDM2UNet unet, double sigmaData, int logvarChannels) {
    if (!(sigmaData > 0)) throw new IllegalArgumentException("sigma_data must be > 0: " + sigmaData);
    if (logvarChannels < 0) throw new IllegalArgumentException("logvar_channels must be >= 0: " + logvarChannels);
    this.unet = child("unet", unet);
    this.sigmaData = sigmaData;
    logvarFourier = logvarChannels > 0 ? child("logvar_fourier", new MPFourier(logvarChannels, 1)) : null;
    logvarLinear = logvarChannels > 0 ? child("logvar_linear", new MPConv(logvarChannels, 1, 0)) : null;
  }

  /** The raw network. */
  public EDM2UNet unet() {
    return unet;
  }

  /** σ_d. */
  public double sigmaData() {
    return sigmaData;
  }

  /** Whether the uncertainty head exists. */
  public boolean hasLogvar() {
    return logvarLinear != null;
  }

  private Tensor labels(Tensor classLabels, Tensor x) {
    int l = unet.labelDim();
    if (l == 0) return null;
    return classLabels == null ? Tensor.zeros(new long[] {1, l}, DType.FLOAT32, x.device()).expand(x.size(0), l)
        : classLabels.to(DType.FLOAT32).reshape(-1, l);
  }

  @Override
  public Tensor denoise(Tensor x, Tensor sigma, Tensor classLabels) {
    x = x.to(DType.FLOAT32);
    Tensor s = sigma.to(DType.FLOAT32).reshape(-1, 1, 1, 1);
    double sd2 = sigmaData * sigmaData;
    Tensor cSkip = s.square().add(sd2).rdiv(sd2);                   // σ_d²/(σ² + σ_d²)
    Tensor cOut = s.mul(sigmaData).div(s.square().add(sd2).sqrt()); // σσ_d/√(σ² + σ_d²)
    Tensor cIn = s.square().add(sd2).sqrt().rdiv(1.0);              // 1/√(σ_d² + σ²)
    Tensor cNoise = s.flatten().log().div(4.0);                     // ln(σ)/4
    Tensor fx = unet.forward(cIn.mul(x), cNoise, labels(classLabels, x), null);
    return cSkip.mul(x).add(cOut.mul(fx.to(DType.FLOAT32)));
  }

  /** EDM2's u(σ): logvar [N, 1, 1, 1] of the uncertainty head. */
  public Tensor logvar(Tensor sigma) {
    if (logvarLinear == null) throw new IllegalStateException("this Precond has no uncertainty head (logvar_channels 0)");
    Tensor cNoise = sigma.to(DType.FLOAT32).flatten().log().div(4.0);
    return logvarLinear.forward(logvarFourier.forward(cNoise)).reshape(-1, 1, 1, 1);
  }
}
