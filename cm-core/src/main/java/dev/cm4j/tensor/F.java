package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Neural-network functions (torch.nn.functional): linear, convolutions, normalisation, attention, losses. */
public final class F {
  static {
    Native.ensureLoaded();
  }

  private F() {}

  private static Tensor result(Native.Scratch s, int rc) {
    Native.check(rc);
    return Tensor.wrap(s.out.get(ValueLayout.ADDRESS, 0));
  }

  private static MemorySegment h(Tensor t, String what) {
    if (t == null) throw new NullPointerException(what + " is null");
    return t.handle();
  }

  private static MemorySegment opt(Tensor t) {
    return t == null ? MemorySegment.NULL : t.handle();
  }

  /** Loss reductions. */
  public enum Reduction { NONE, MEAN, SUM }

  /** x·wᵀ + b (b may be null). */
  public static Tensor linear(Tensor x, Tensor w, Tensor b) {
    MemorySegment xh = h(x, "input"), wh = h(w, "weight"), bh = opt(b);
    Native.Scratch s = Native.scratch();
    return result(s, cm_linear(xh, wh, bh, s.out));
  }

  /** 2-D convolution with symmetric stride, padding and dilation (b may be null). */
  public static Tensor conv2d(Tensor x, Tensor w, Tensor b, int stride, int padding, int dilation, int groups) {
    return conv2d(x, w, b, stride, stride, padding, padding, dilation, dilation, groups);
  }

  /** 2-D convolution (b may be null). */
  public static Tensor conv2d(Tensor x, Tensor w, Tensor b, int strideH, int strideW, int padH, int padW, int dilH,
      int dilW, int groups) {
    MemorySegment xh = h(x, "input"), wh = h(w, "weight"), bh = opt(b);
    Native.Scratch s = Native.scratch();
    return result(s, cm_conv2d(xh, wh, bh, strideH, strideW, padH, padW, dilH, dilW, groups, s.out));
  }

  /** Transposed 2-D convolution with symmetric parameters (b may be null). */
  public static Tensor convTranspose2d(Tensor x, Tensor w, Tensor b, int stride, int padding, int outputPadding,
      int groups, int dilation) {
    return convTranspose2d(x, w, b, stride, stride, padding, padding, outputPadding, outputPadding, groups, dilation,
        dilation);
  }

  /** Transposed 2-D convolution with per-axis parameters (b may be null). */
  public static Tensor convTranspose2d(Tensor x, Tensor w, Tensor b, int strideH, int strideW, int padH, int padW,
      int outputPadH, int outputPadW, int groups, int dilH, int dilW) {
    MemorySegment xh = h(x, "input"), wh = h(w, "weight"), bh = opt(b);
    Native.Scratch s = Native.scratch();
    return result(s, cm_conv_transpose2d(xh, wh, bh, strideH, strideW, padH, padW, outputPadH, outputPadW, groups,
        dilH, dilW, s.out));
  }

  /** Group normalisation (weight and bias may be null). */
  public static Tensor groupNorm(Tensor x, int numGroups, Tensor weight, Tensor bias, double eps) {
    MemorySegment xh = h(x, "input"), wh = opt(weight), bh = opt(bias);
    Native.Scratch s = Native.scratch();
    return result(s, cm_group_norm(xh, numGroups, wh, bh, eps, s.out));
  }

  /** Layer normalisation over the trailing normalizedShape (weight and bias may be null). */
  public static Tensor layerNorm(Tensor x, long[] normalizedShape, Tensor weight, Tensor bias, double eps) {
    MemorySegment xh = h(x, "input"), wh = opt(weight), bh = opt(bias);
    Native.Scratch s = Native.scratch();
    return result(s, cm_layer_norm(xh, s.longs(normalizedShape), normalizedShape.length, wh, bh, eps, s.out));
  }

  /** Dropout: identity unless train; the mask is drawn from gen (null: the default generator). */
  public static Tensor dropout(Tensor x, double p, boolean train, Generator gen) {
    MemorySegment xh = h(x, "input");
    Native.Scratch s = Native.scratch();
    return result(s, cm_dropout(xh, p, train ? 1 : 0, gen == null ? MemorySegment.NULL : gen.handle(), s.out));
  }

  /** 2-D average pooling with a square kernel, stride and padding. */
  public static Tensor avgPool2d(Tensor x, int kernel, int stride, int padding, boolean ceilMode,
      boolean countIncludePad) {
    MemorySegment xh = h(x, "input");
    Native.Scratch s = Native.scratch();
    return result(s, cm_avg_pool2d(xh, kernel, kernel, stride, stride, padding, padding, ceilMode ? 1 : 0,
        countIncludePad ? 1 : 0, s.out));
  }

  /** Interpolation modes. */
  public enum Interpolation { NEAREST, BILINEAR }

  /** Resizes an NCHW tensor to (outH, outW). */
  public static Tensor interpolate(Tensor x, long outH, long outW, Interpolation mode, boolean alignCorners) {
    MemorySegment xh = h(x, "input");
    Native.Scratch s = Native.scratch();
    return result(s, cm_interpolate(xh, mode.ordinal(), outH, outW, alignCorners ? 1 : 0, s.out));
  }

  /** Padding modes. */
  public enum PadMode { CONSTANT, REFLECT, REPLICATE, CIRCULAR }

  /** Pads (last dimension first, as torch.nn.functional.pad). */
  public static Tensor pad(Tensor x, long[] pads, PadMode mode, double value) {
    MemorySegment xh = h(x, "input");
    Native.Scratch s = Native.scratch();
    return result(s, cm_pad(xh, s.longs(pads), pads.length, mode.ordinal(), value, s.out));
  }

  /**
   * Scaled dot-product attention softmax(q·kᵀ·scale + mask)·v, composed of differentiable ops so that it also
   * supports forward-mode AD. mask may be null (bool: true keeps; float: added); scale NaN means 1/√d.
   */
  public static Tensor scaledDotProductAttention(Tensor q, Tensor k, Tensor v, Tensor mask, boolean causal,
      double scale) {
    MemorySegment qh = h(q, "query"), kh = h(k, "key"), vh = h(v, "value"), mh = opt(mask);
    Native.Scratch s = Native.scratch();
    boolean hasScale = !Double.isNaN(scale);
    return result(s, cm_sdpa(qh, kh, vh, mh, causal ? 1 : 0, hasScale ? 1 : 0, hasScale ? scale : 0, s.out));
  }

  /** Rows of weight selected by int64 indices. */
  public static Tensor embedding(Tensor weight, Tensor indices) {
    MemorySegment wh = h(weight, "weight"), ih = h(indices, "indices");
    Native.Scratch s = Native.scratch();
    return result(s, cm_embedding(wh, ih, s.out));
  }

  private static Tensor loss(int op, Tensor a, Tensor b, Reduction r, double delta) {
    MemorySegment ah = h(a, "input"), bh = h(b, "target");
    Native.Scratch s = Native.scratch();
    return result(s, cm_loss(op, ah, bh, r.ordinal(), delta, s.out));
  }

  /** Mean squared error. */
  public static Tensor mseLoss(Tensor input, Tensor target, Reduction r) {
    return loss(CM_LOSS_MSE(), input, target, r, 0);
  }

  /** Mean absolute error. */
  public static Tensor l1Loss(Tensor input, Tensor target, Reduction r) {
    return loss(CM_LOSS_L1(), input, target, r, 0);
  }

  /** Huber loss with threshold delta. */
  public static Tensor huberLoss(Tensor input, Tensor target, Reduction r, double delta) {
    return loss(CM_LOSS_HUBER(), input, target, r, delta);
  }
}
