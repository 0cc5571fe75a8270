package dev.cm4j.nn.mp;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.List;

/**
 * The magnitude-preserving primitives of EDM2 (Karras et al. 2024, "Analyzing and Improving the Training Dynamics of
 * Diffusion Models"): each keeps the expected RMS of unit-magnitude inputs at 1.
 */
public final class MP {
  private MP() {}

  /** EDM2's normalisation floor ε in {@link #normalize}. */
  public static final double EPS = 1e-4;

  /**
   * x / (ε + ‖x‖·√(n_norm/n_x)) over the given dims (none: every dim but the first): scales each slice to unit RMS.
   * The norm is taken in float32 whatever x's dtype.
   */
  public static Tensor normalize(Tensor x, int... dims) {
    if (dims.length == 0) {
      dims = new int[x.dim() - 1];
      for (int i = 0; i < dims.length; i++) dims[i] = i + 1;
    }
    Tensor norm = x.to(DType.FLOAT32).norm(2, true, dims);
    double ratio = Math.sqrt((double) norm.numel() / x.numel());
    norm = norm.mul(ratio).add(EPS);
    return x.div(norm.to(x.dtype()));
  }

  /** Magnitude-preserving SiLU (EDM2 Eq. 81): silu(x)/0.596. */
  public static Tensor silu(Tensor x) {
    return TensorScope.chain(x.silu(), t -> t.div(0.596));
  }

  /** Magnitude-preserving sum (EDM2 Eq. 88): lerp(a, b, t)/√((1−t)² + t²). */
  public static Tensor sum(Tensor a, Tensor b, double t) {
    return TensorScope.chain(a.lerp(b, t), s -> s.div(Math.sqrt((1 - t) * (1 - t) + t * t)));
  }

  /**
   * Magnitude-preserving concatenation along dim (EDM2 Eq. 103): [w_a·a, w_b·b] with C = √((N_a + N_b)/((1−t)² + t²)),
   * w_a = C(1−t)/√N_a, w_b = C·t/√N_b.
   */
  public static Tensor cat(Tensor a, Tensor b, int dim, double t) {
    long na = a.size(dim);
    long nb = b.size(dim);
    double c = Math.sqrt((na + nb) / ((1 - t) * (1 - t) + t * t));
    double wa = c / Math.sqrt(na) * (1 - t);
    double wb = c / Math.sqrt(nb) * t;
    return TensorScope.scoped(() -> Tensor.cat(List.of(a.mul(wa), b.mul(wb)), dim));
  }

  /** Resampling of EDM2's blocks. */
  public enum Resample {
    /** no resampling. */
    KEEP,
    /** 2× upsampling (transposed depthwise FIR). */
    UP,
    /** 2× downsampling (strided depthwise FIR). */
    DOWN
  }

  /**
   * 2× up- or downsampling of [N, C, H, W] by the separable FIR filter f (even length, normalised to sum 1; EDM2's
   * default [1, 1] is box filtering), depthwise.
   */
  public static Tensor resample(Tensor x, double[] f, Resample mode) {
    if (mode == Resample.KEEP) return x;
    if (f.length == 0 || f.length % 2 != 0) {
      throw new IllegalArgumentException("resample filter must have even length, got " + f.length);
    }
    int pad = (f.length - 1) / 2;
    float[] fn = new float[f.length];
    float s = 0;
    for (int i = 0; i < f.length; i++) {
      fn[i] = (float) f[i];
      s += fn[i];
    }
    for (int i = 0; i < f.length; i++) fn[i] /= s;
    float[] k = new float[f.length * f.length];
    for (int i = 0; i < f.length; i++) for (int j = 0; j < f.length; j++) k[i * f.length + j] = fn[i] * fn[j];
    long c = x.size(1);
    Tensor filt = Tensor.of(k, 1, 1, f.length, f.length).to(x.device(), x.dtype());
    if (mode == Resample.DOWN) return F.conv2d(x, filt.repeat(c, 1, 1, 1), null, 2, pad, 1, (int) c);
    return F.convTranspose2d(x, filt.mul(4.0).repeat(c, 1, 1, 1), null, 2, pad, 0, (int) c, 1);
  }
}
