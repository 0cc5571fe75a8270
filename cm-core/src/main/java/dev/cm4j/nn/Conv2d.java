package dev.cm4j.nn;

import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;

/**
 * EDM's 2-D convolution with optional up/down-sampling by a FIR resample filter ([1,1] box or [1,3,3,1]),
 * fused or separate, as in EDM networks.py {@code Conv2d}. kernel = 0 makes a pure resampling layer (no weight).
 */
public final class Conv2d extends Module {
  private final Param weight;
  private final Param bias;
  private final Param resampleFilter;
  private final long inChannels;
  private final long outChannels;
  private final boolean up;
  private final boolean down;
  private final boolean fusedResample;

  /** EDM {@code Conv2d(in, out, kernel, bias, up, down, resample_filter, fused_resample, init...)}. */
  public Conv2d(long inChannels, long outChannels, int kernel, boolean bias, boolean up, boolean down,
      double[] resampleFilter, boolean fusedResample, Init init) {
    if (up && down) throw new IllegalArgumentException("Conv2d cannot both up- and down-sample");
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.up = up;
    this.down = down;
    this.fusedResample = fusedResample;
    long fanIn = inChannels * kernel * kernel;
    long fanOut = outChannels * kernel * kernel;
    weight = kernel > 0
        ? parameter("weight", init.draw(new long[] {outChannels, inChannels, kernel, kernel}, fanIn, fanOut,
            init.initWeight()))
        : null;
    this.bias = kernel > 0 && bias
        ? parameter("bias", init.draw(new long[] {outChannels}, fanIn, fanOut, init.initBias()))
        : null;
    if (up || down) {
      try (TensorScope s = TensorScope.open()) {
        double[] f = resampleFilter;
        double sum = 0;
        for (double v : f) sum += v;
        float[] k = new float[f.length * f.length];
        for (int i = 0; i < f.length; i++) {
          for (int j = 0; j < f.length; j++) k[i * f.length + j] = (float) (f[i] * f[j] / (sum * sum));
        }
        this.resampleFilter = buffer("resample_filter", s.keep(Tensor.of(k, 1, 1, f.length, f.length)));
      }
    } else {
      this.resampleFilter = null;
    }
  }

  /** A plain k×k convolution with "same" padding. */
  public Conv2d(long inChannels, long outChannels, int kernel, Init init) {
    this(inChannels, outChannels, kernel, true, false, false, new double[] {1, 1}, false, init);
  }

  /** Input channels. */
  public long inChannels() {
    return inChannels;
  }

  /** Output channels. */
  public long outChannels() {
    return outChannels;
  }

  /**
   * Applies the (resampling) convolution. A resampling one keeps only its result: the resampled input and the
   * repeated filter are released when it returns (a no-grad or forward-mode pass does not hold them until the
   * caller's scope closes; autograd keeps what backward needs).
   */
  public Tensor forward(Tensor x) {
    Tensor w = weight == null ? null : weight.get();
    Tensor b = bias == null ? null : bias.get();
    if (!up && !down) return w != null ? F.conv2d(x, w, b, 1, (int) (w.size(-1) / 2), 1, 1) : x;
    return TensorScope.scoped(() -> resample(x, w, b));
  }

  private Tensor resample(Tensor x, Tensor w, Tensor b) {
    Tensor f = resampleFilter.get();
    int wPad = w == null ? 0 : (int) (w.size(-1) / 2);
    int fPad = (int) ((f.size(-1) - 1) / 2);
    // Where the weight convolution is the last op, the bias goes into it (oneDNN adds it in the kernel instead of a
    // separate pass over the activation; EDM adds it afterwards, the same sum up to rounding).
    if (fusedResample && up && w != null) {
      x = F.convTranspose2d(x, f.mul(4.0).repeat(inChannels, 1, 1, 1), null, 2, Math.max(fPad - wPad, 0), 0,
          (int) inChannels, 1);
      return F.conv2d(x, w, b, 1, Math.max(wPad - fPad, 0), 1, 1);
    } else if (fusedResample && down && w != null) {
      x = F.conv2d(x, w, null, 1, wPad + fPad, 1, 1);
      x = F.conv2d(x, f.repeat(outChannels, 1, 1, 1), null, 2, 0, 1, (int) outChannels);
      if (b != null) x = x.add_(b.reshape(1, -1, 1, 1)); // in place on the fresh output, as EDM
      return x;
    }
    if (up) {
      x = F.convTranspose2d(x, f.mul(4.0).repeat(inChannels, 1, 1, 1), null, 2, fPad, 0, (int) inChannels, 1);
    }
    if (down) x = F.conv2d(x, f.repeat(inChannels, 1, 1, 1), null, 2, fPad, 1, (int) inChannels);
    if (w != null) return F.conv2d(x, w, b, 1, wPad, 1, 1);
    return x;
  }
}
