package dev.cm4j.image;

/**
 * Host-side image resampling on planar float images, used by the data loader so that no libtorch work runs on its
 * prefetch thread.
 */
public final class Resample {
  private Resample() {}

  /**
   * Bilinear resize of a planar {@code [C, H, W]} float image to {@code [C, outH, outW]}, with the semantics of
   * {@code torch.nn.functional.interpolate(x, size=(outH, outW), mode="bilinear", align_corners=False)} (no
   * antialiasing, so downscaling aliases exactly as PyTorch's does): the source coordinate of output pixel
   * {@code d} is {@code max(0, (in/out) · (d + 0.5) − 0.5)}, the lower neighbour its floor (the upper one clamped
   * to the edge), weights computed in float.
   *
   * @param src source samples, read from {@code srcOff}
   * @param dst destination, written from {@code dstOff}
   */
  public static void bilinear(float[] src, int srcOff, int c, int h, int w, float[] dst, int dstOff, int outH,
      int outW) {
    if (c < 1 || h < 1 || w < 1 || outH < 1 || outW < 1) throw new IllegalArgumentException("empty image");
    int[] x0 = new int[outW];
    int[] x1 = new int[outW];
    float[] wx0 = new float[outW];
    float[] wx1 = new float[outW];
    weights(w, outW, x0, x1, wx0, wx1);
    int[] y0 = new int[outH];
    int[] y1 = new int[outH];
    float[] wy0 = new float[outH];
    float[] wy1 = new float[outH];
    weights(h, outH, y0, y1, wy0, wy1);
    for (int ch = 0; ch < c; ch++) {
      int s = srcOff + ch * h * w;
      int d = dstOff + ch * outH * outW;
      for (int oy = 0; oy < outH; oy++) {
        int r0 = s + y0[oy] * w;
        int r1 = s + y1[oy] * w;
        float a = wy0[oy];
        float b = wy1[oy];
        for (int ox = 0; ox < outW; ox++) {
          float t0 = src[r0 + x0[ox]] * wx0[ox] + src[r0 + x1[ox]] * wx1[ox];
          float t1 = src[r1 + x0[ox]] * wx0[ox] + src[r1 + x1[ox]] * wx1[ox];
          dst[d + oy * outW + ox] = t0 * a + t1 * b;
        }
      }
    }
  }

  private static void weights(int in, int out, int[] i0, int[] i1, float[] w0, float[] w1) {
    float scale = (float) in / out;
    for (int d = 0; d < out; d++) {
      float real = scale * (d + 0.5f) - 0.5f;
      if (real < 0) real = 0;
      int lo = (int) real;
      float l1 = Math.min(Math.max(real - lo, 0f), 1f);
      i0[d] = lo;
      i1[d] = lo + (lo < in - 1 ? 1 : 0);
      w0[d] = 1f - l1;
      w1[d] = l1;
    }
  }
}
