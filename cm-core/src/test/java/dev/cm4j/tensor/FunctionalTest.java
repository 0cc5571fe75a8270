package dev.cm4j.tensor;

import static dev.cm4j.tensor.Checks.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Checks.Ref;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * torch.nn.functional counterparts: each against the reference PyTorch on the same inputs (torch.nn.functional in
 * the reference venv, inputs passed as literal lists) and, where the definition is short, a direct Java loop.
 */
class FunctionalTest {
  private static final double RTOL = 1e-5;
  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  /** "NAME = t([...], [shape])" for the reference script. */
  private static String def(String name, double[] v, long... shape) {
    return name + " = t(" + py(v) + ", " + py(shape) + ")\n";
  }

  // ------------------------------------------------------------------------------------------ convolutions

  /** Direct NCHW convolution (cross-correlation) in Java doubles. */
  static double[] conv2dRef(double[] x, int n, int c, int h, int w, double[] wt, int o, int kh, int kw, double[] b,
      int sh, int sw, int ph, int pw, int dh, int dw, int groups, int[] outHW) {
    int oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1, ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    outHW[0] = oh;
    outHW[1] = ow;
    int cpg = c / groups, opg = o / groups;
    double[] out = new double[n * o * oh * ow];
    for (int ni = 0; ni < n; ni++)
      for (int oi = 0; oi < o; oi++) {
        int g = oi / opg;
        for (int y = 0; y < oh; y++)
          for (int xx = 0; xx < ow; xx++) {
            double s = b == null ? 0 : b[oi];
            for (int ci = 0; ci < cpg; ci++)
              for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++) {
                  int iy = y * sh - ph + i * dh, ix = xx * sw - pw + j * dw;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                  s += x[((ni * c + g * cpg + ci) * h + iy) * w + ix] * wt[((oi * cpg + ci) * kh + i) * kw + j];
                }
            out[((ni * o + oi) * oh + y) * ow + xx] = s;
          }
      }
    return out;
  }

  /** Direct transposed convolution (scatter form) in Java doubles; weight is [C, O/groups, kh, kw]. */
  static double[] convTranspose2dRef(double[] x, int n, int c, int h, int w, double[] wt, int opg, int kh, int kw,
      double[] b, int sh, int sw, int ph, int pw, int oph, int opw, int dh, int dw, int groups, int[] outHW) {
    int oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1, ow = (w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1;
    outHW[0] = oh;
    outHW[1] = ow;
    int o = opg * groups, cpg = c / groups;
    double[] out = new double[n * o * oh * ow];
    for (int ni = 0; ni < n; ni++)
      for (int oi = 0; oi < o; oi++)
        for (int k = 0; k < oh * ow; k++) out[(ni * o + oi) * oh * ow + k] = b == null ? 0 : b[oi];
    for (int ni = 0; ni < n; ni++)
      for (int ci = 0; ci < c; ci++) {
        int g = ci / cpg;
        for (int iy = 0; iy < h; iy++)
          for (int ix = 0; ix < w; ix++) {
            double v = x[((ni * c + ci) * h + iy) * w + ix];
            for (int oc = 0; oc < opg; oc++)
              for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++) {
                  int y = iy * sh - ph + i * dh, xx = ix * sw - pw + j * dw;
                  if (y < 0 || y >= oh || xx < 0 || xx >= ow) continue;
                  out[((ni * o + g * opg + oc) * oh + y) * ow + xx] += v * wt[((ci * opg + oc) * kh + i) * kw + j];
                }
          }
      }
    return out;
  }

  @Test
  void conv2dWithStridePaddingDilationGroups() {
    double[] x = gaussian(2 * 4 * 7 * 6, 21), w = gaussian(6 * 2 * 3 * 3, 22), b = gaussian(6, 23);
    double[] w2 = gaussian(3 * 4 * 2 * 3, 24);
    Tensor X = Tensor.of(x, 2, 4, 7, 6), W = Tensor.of(w, 6, 2, 3, 3), B = Tensor.of(b), W2 = Tensor.of(w2, 3, 4, 2, 3);
    Tensor ya = F.conv2d(X, W, B, 2, 1, 2, 2);
    Tensor yb = F.conv2d(X, W2, null, 1, 2, 2, 0, 1, 2, 1);
    Tensor yc = F.conv2d(X, Tensor.of(gaussian(4 * 1 * 3 * 3, 25), 4, 1, 3, 3), null, 1, 1, 1, 4); // depthwise

    // Java loops.
    int[] hw = new int[2];
    double[] ea = conv2dRef(x, 2, 4, 7, 6, w, 6, 3, 3, b, 2, 2, 1, 1, 2, 2, 2, hw);
    assertClose(ea, new long[] {2, 6, hw[0], hw[1]}, ya, 1e-12, 1e-12);
    double[] eb = conv2dRef(x, 2, 4, 7, 6, w2, 3, 2, 3, null, 1, 2, 2, 0, 1, 2, 1, hw);
    assertClose(eb, new long[] {2, 3, hw[0], hw[1]}, yb, 1e-12, 1e-12);

    // Reference PyTorch.
    Map<String, Ref> ref = python(def("X", x, 2, 4, 7, 6) + def("W", w, 6, 2, 3, 3) + def("B", b, 6)
        + def("W2", w2, 3, 4, 2, 3) + def("W3", gaussian(4 * 1 * 3 * 3, 25), 4, 1, 3, 3)
        + "out = {'a': F.conv2d(X, W, B, stride=2, padding=1, dilation=2, groups=2),\n"
        + "       'b': F.conv2d(X, W2, None, stride=(1, 2), padding=(2, 0), dilation=(1, 2)),\n"
        + "       'c': F.conv2d(X, W3, None, stride=1, padding=1, groups=4)}");
    assertMatches(ref.get("a"), ya, RTOL);
    assertMatches(ref.get("b"), yb, RTOL);
    assertMatches(ref.get("c"), yc, RTOL);
    // float32 inputs agree with the float64 reference to float precision.
    Tensor y32 = F.conv2d(X.to(DType.FLOAT32), W.to(DType.FLOAT32), B.to(DType.FLOAT32), 2, 1, 2, 2);
    assertEquals(DType.FLOAT32, y32.dtype());
    assertClose(ref.get("a").data(), y32, 1e-4, 1e-5);
    assertThrows(TorchException.class, () -> F.conv2d(X, W, B, 1, 0, 1, 3), "4 channels are not divisible by 3");
  }

  @Test
  void convTranspose2dWithStridePaddingOutputPaddingDilationGroups() {
    double[] x = gaussian(2 * 4 * 5 * 4, 31), w = gaussian(4 * 3 * 3 * 2, 32), b = gaussian(6, 33);
    double[] w2 = gaussian(4 * 2 * 3 * 3, 34);
    Tensor X = Tensor.of(x, 2, 4, 5, 4), W = Tensor.of(w, 4, 3, 3, 2), B = Tensor.of(b), W2 = Tensor.of(w2, 4, 2, 3, 3);
    Tensor ya = F.convTranspose2d(X, W, B, 2, 1, 1, 2, 1);
    Tensor yb = F.convTranspose2d(X, W2, null, 1, 1, 0, 0, 0, 0, 1, 2, 2);
    Tensor yc = F.convTranspose2d(X, W2, null, 3, 2, 1, 2, 2, 1, 1, 1, 2);

    int[] hw = new int[2];
    double[] ea = convTranspose2dRef(x, 2, 4, 5, 4, w, 3, 3, 2, b, 2, 2, 1, 1, 1, 1, 1, 1, 2, hw);
    assertClose(ea, new long[] {2, 6, hw[0], hw[1]}, ya, 1e-12, 1e-12);
    double[] eb = convTranspose2dRef(x, 2, 4, 5, 4, w2, 2, 3, 3, null, 1, 1, 0, 0, 0, 0, 2, 2, 1, hw);
    assertClose(eb, new long[] {2, 2, hw[0], hw[1]}, yb, 1e-12, 1e-12);
    double[] ec = convTranspose2dRef(x, 2, 4, 5, 4, w2, 2, 3, 3, null, 3, 2, 1, 2, 2, 1, 1, 2, 1, hw);
    assertClose(ec, new long[] {2, 2, hw[0], hw[1]}, yc, 1e-12, 1e-12);

    Map<String, Ref> ref = python(def("X", x, 2, 4, 5, 4) + def("W", w, 4, 3, 3, 2) + def("B", b, 6)
        + def("W2", w2, 4, 2, 3, 3)
        + "out = {'a': F.conv_transpose2d(X, W, B, stride=2, padding=1, output_padding=1, groups=2, dilation=1),\n"
        + "       'b': F.conv_transpose2d(X, W2, None, stride=1, padding=0, dilation=2),\n"
        + "       'c': F.conv_transpose2d(X, W2, None, stride=(3, 2), padding=(1, 2), output_padding=(2, 1),"
        + " dilation=(1, 2))}");
    assertMatches(ref.get("a"), ya, RTOL);
    assertMatches(ref.get("b"), yb, RTOL);
    assertMatches(ref.get("c"), yc, RTOL);
  }

  // ------------------------------------------------------------------------------------------ normalisation

  @Test
  void groupNormWithAndWithoutAffine() {
    double[] x = gaussian(2 * 6 * 3 * 3, 41), w = gaussian(6, 42), b = gaussian(6, 43);
    for (int i = 0; i < x.length; i++) x[i] = 3 * x[i] + 1; // non-zero mean and non-unit variance
    Tensor X = Tensor.of(x, 2, 6, 3, 3);
    Tensor ya = F.groupNorm(X, 3, Tensor.of(w), Tensor.of(b), 1e-5);
    Tensor yb = F.groupNorm(X, 2, null, null, 1e-3);

    // Java loop for (a): groups of 2 channels × 9 positions.
    double[] ea = new double[x.length];
    for (int n = 0; n < 2; n++)
      for (int g = 0; g < 3; g++) {
        int base = (n * 6 + g * 2) * 9;
        double m = 0, v = 0;
        for (int k = 0; k < 18; k++) m += x[base + k];
        m /= 18;
        for (int k = 0; k < 18; k++) v += (x[base + k] - m) * (x[base + k] - m);
        v /= 18; // biased
        for (int k = 0; k < 18; k++) {
          int ch = g * 2 + k / 9;
          ea[base + k] = (x[base + k] - m) / Math.sqrt(v + 1e-5) * w[ch] + b[ch];
        }
      }
    assertClose(ea, new long[] {2, 6, 3, 3}, ya, 1e-10, 1e-10);

    Map<String, Ref> ref = python(def("X", x, 2, 6, 3, 3) + def("Wt", w, 6) + def("B", b, 6)
        + "out = {'a': F.group_norm(X, 3, Wt, B, eps=1e-5), 'b': F.group_norm(X, 2, eps=1e-3)}");
    assertMatches(ref.get("a"), ya, RTOL);
    assertMatches(ref.get("b"), yb, RTOL);
    assertThrows(TorchException.class, () -> F.groupNorm(X, 4, null, null, 1e-5), "6 channels in 4 groups");
  }

  @Test
  void layerNormOverTrailingDims() {
    double[] x = gaussian(2 * 3 * 4, 51), w = gaussian(4, 52), b = gaussian(4, 53), w2 = gaussian(12, 54);
    for (int i = 0; i < x.length; i++) x[i] = 2 * x[i] - 0.5;
    Tensor X = Tensor.of(x, 2, 3, 4);
    Tensor ya = F.layerNorm(X, new long[] {4}, Tensor.of(w), Tensor.of(b), 1e-5);
    Tensor yb = F.layerNorm(X, new long[] {3, 4}, null, null, 1e-6);
    Tensor yc = F.layerNorm(X, new long[] {3, 4}, Tensor.of(w2, 3, 4), null, 1e-5);

    double[] ea = new double[24];
    for (int r = 0; r < 6; r++) {
      double m = 0, v = 0;
      for (int k = 0; k < 4; k++) m += x[r * 4 + k];
      m /= 4;
      for (int k = 0; k < 4; k++) v += (x[r * 4 + k] - m) * (x[r * 4 + k] - m);
      v /= 4;
      for (int k = 0; k < 4; k++) ea[r * 4 + k] = (x[r * 4 + k] - m) / Math.sqrt(v + 1e-5) * w[k] + b[k];
    }
    assertClose(ea, new long[] {2, 3, 4}, ya, 1e-10, 1e-10);

    Map<String, Ref> ref = python(def("X", x, 2, 3, 4) + def("Wt", w, 4) + def("B", b, 4) + def("W2", w2, 3, 4)
        + "out = {'a': F.layer_norm(X, (4,), Wt, B, eps=1e-5), 'b': F.layer_norm(X, (3, 4), eps=1e-6),\n"
        + "       'c': F.layer_norm(X, (3, 4), W2, None, eps=1e-5)}");
    assertMatches(ref.get("a"), ya, RTOL);
    assertMatches(ref.get("b"), yb, RTOL);
    assertMatches(ref.get("c"), yc, RTOL);
    assertThrows(TorchException.class, () -> F.layerNorm(X, new long[] {5}, null, null, 1e-5));
  }

  // ------------------------------------------------------------------------------------------ dropout

  @Test
  void dropoutEvalIsIdentityAndTrainScalesKeptElements() {
    Tensor x = Tensor.of(gaussian(1000, 61));
    assertArrayEquals(x.toDoubleArray(), F.dropout(x, 0.5, false, Generator.cpu(1)).toDoubleArray(), 0.0);
    assertArrayEquals(x.toDoubleArray(), F.dropout(x, 0.0, true, Generator.cpu(1)).toDoubleArray(), 0.0);
    assertArrayEquals(new double[1000], F.dropout(x, 1.0, true, Generator.cpu(1)).toDoubleArray(), 0.0);
    double p = 0.3;
    double[] in = x.toDoubleArray();
    double[] out = F.dropout(x, p, true, Generator.cpu(7)).toDoubleArray();
    int kept = 0;
    for (int i = 0; i < in.length; i++) {
      if (out[i] != 0) {
        kept++;
        assertEquals(in[i] / (1 - p), out[i], 1e-12 * Math.abs(out[i]), "kept elements are scaled by 1/(1-p)");
      }
    }
    assertTrue(kept > 0 && kept < in.length);
    assertThrows(TorchException.class, () -> F.dropout(x, 1.5, true, null));
    assertThrows(TorchException.class, () -> F.dropout(x, -0.1, true, null));
  }

  @Test
  void dropoutDropFractionMatchesP() {
    int n = 200_000;
    Tensor ones = Tensor.ones(n);
    for (double p : new double[] {0.1, 0.5, 0.8}) {
      float[] y = F.dropout(ones, p, true, Generator.cpu(100 + (long) (p * 10))).toFloatArray();
      int zeros = 0;
      for (float v : y) {
        if (v == 0) zeros++;
        else assertEquals(1 / (1 - p), v, 1e-6 / (1 - p));
      }
      // Binomial(n, p): std of the fraction is sqrt(p(1-p)/n) ≤ 0.0012; 6 sigma.
      double frac = zeros / (double) n, tol = 6 * Math.sqrt(p * (1 - p) / n);
      assertEquals(p, frac, tol, "drop fraction for p = " + p);
    }
  }

  @Test
  void dropoutMaskIsDeterminedByTheGeneratorSeed() {
    Tensor x = Tensor.ones(4096);
    float[] a = F.dropout(x, 0.5, true, Generator.cpu(1234)).toFloatArray();
    float[] b = F.dropout(x, 0.5, true, Generator.cpu(1234)).toFloatArray();
    float[] c = F.dropout(x, 0.5, true, Generator.cpu(4321)).toFloatArray();
    assertArrayEquals(a, b, "same seed, same mask");
    assertFalse(java.util.Arrays.equals(a, c), "a different seed draws a different mask");
    // One generator advances: two draws differ.
    Generator g = Generator.cpu(99);
    assertFalse(java.util.Arrays.equals(F.dropout(x, 0.5, true, g).toFloatArray(),
        F.dropout(x, 0.5, true, g).toFloatArray()));
    g.close();
  }

  // ------------------------------------------------------------------------------------------ pooling, resizing

  @Test
  void avgPool2dVariants() {
    double[] x = gaussian(2 * 2 * 5 * 6, 71);
    Tensor X = Tensor.of(x, 2, 2, 5, 6);
    Tensor ya = F.avgPool2d(X, 3, 2, 1, false, true);
    Tensor yb = F.avgPool2d(X, 3, 2, 1, true, false);
    Tensor yc = F.avgPool2d(X, 2, 2, 0, false, true);
    // (c) by hand: non-overlapping 2×2 means of a 5×6 plane → 2×3 (last row dropped).
    double[] ec = new double[2 * 2 * 2 * 3];
    for (int p = 0; p < 4; p++)
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
          double s = 0;
          for (int a = 0; a < 2; a++) for (int c = 0; c < 2; c++) s += x[p * 30 + (2 * i + a) * 6 + 2 * j + c];
          ec[p * 6 + i * 3 + j] = s / 4;
        }
    assertClose(ec, new long[] {2, 2, 2, 3}, yc, 1e-14, 1e-14);
    Map<String, Ref> ref = python(def("X", x, 2, 2, 5, 6)
        + "out = {'a': F.avg_pool2d(X, 3, stride=2, padding=1, ceil_mode=False, count_include_pad=True),\n"
        + "       'b': F.avg_pool2d(X, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),\n"
        + "       'c': F.avg_pool2d(X, 2, stride=2)}");
    assertMatches(ref.get("a"), ya, RTOL);
    assertMatches(ref.get("b"), yb, RTOL);
    assertMatches(ref.get("c"), yc, RTOL);
  }

  @Test
  void interpolateNearestAndBilinear() {
    double[] x = gaussian(1 * 2 * 3 * 4, 81);
    Tensor X = Tensor.of(x, 1, 2, 3, 4);
    Tensor near = F.interpolate(X, 5, 7, F.Interpolation.NEAREST, false);
    Tensor bil = F.interpolate(X, 5, 7, F.Interpolation.BILINEAR, false);
    Tensor bilAc = F.interpolate(X, 5, 7, F.Interpolation.BILINEAR, true);
    Tensor down = F.interpolate(X, 2, 3, F.Interpolation.BILINEAR, false);
    Tensor nearDown = F.interpolate(X, 2, 3, F.Interpolation.NEAREST, false);

    // Java: nearest takes src = floor(dst · in/out); bilinear with align_corners maps corners to corners.
    double[] en = new double[2 * 5 * 7], ea = new double[2 * 5 * 7];
    for (int c = 0; c < 2; c++)
      for (int i = 0; i < 5; i++)
        for (int j = 0; j < 7; j++) {
          int si = (int) Math.floor(i * 3.0 / 5), sj = (int) Math.floor(j * 4.0 / 7);
          en[c * 35 + i * 7 + j] = x[c * 12 + si * 4 + sj];
          double fy = i * (3 - 1) / (5.0 - 1), fx = j * (4 - 1) / (7.0 - 1);
          int y0 = (int) Math.floor(fy), x0 = (int) Math.floor(fx);
          int y1 = Math.min(y0 + 1, 2), x1 = Math.min(x0 + 1, 3);
          double wy = fy - y0, wx = fx - x0;
          ea[c * 35 + i * 7 + j] = (1 - wy) * ((1 - wx) * x[c * 12 + y0 * 4 + x0] + wx * x[c * 12 + y0 * 4 + x1])
              + wy * ((1 - wx) * x[c * 12 + y1 * 4 + x0] + wx * x[c * 12 + y1 * 4 + x1]);
        }
    assertExact(en, new long[] {1, 2, 5, 7}, near);
    assertClose(ea, new long[] {1, 2, 5, 7}, bilAc, 1e-12, 1e-12);

    Map<String, Ref> ref = python(def("X", x, 1, 2, 3, 4)
        + "out = {'near': F.interpolate(X, size=(5, 7), mode='nearest'),\n"
        + "       'bil': F.interpolate(X, size=(5, 7), mode='bilinear', align_corners=False),\n"
        + "       'bilAc': F.interpolate(X, size=(5, 7), mode='bilinear', align_corners=True),\n"
        + "       'down': F.interpolate(X, size=(2, 3), mode='bilinear', align_corners=False),\n"
        + "       'nearDown': F.interpolate(X, size=(2, 3), mode='nearest')}");
    assertMatches(ref.get("near"), near, RTOL);
    assertMatches(ref.get("bil"), bil, RTOL);
    assertMatches(ref.get("bilAc"), bilAc, RTOL);
    assertMatches(ref.get("down"), down, RTOL);
    assertMatches(ref.get("nearDown"), nearDown, RTOL);
    assertThrows(TorchException.class, () -> F.interpolate(Tensor.of(x, 2, 3, 4), 5, 7,
        F.Interpolation.NEAREST, false));
  }

  @Test
  void padInEveryMode() {
    double[] x = gaussian(1 * 1 * 3 * 4, 91);
    Tensor X = Tensor.of(x, 1, 1, 3, 4);
    Tensor pc = F.pad(X, new long[] {1, 2, 0, 1}, F.PadMode.CONSTANT, 0.5);
    Tensor pr = F.pad(X, new long[] {2, 1, 1, 2}, F.PadMode.REFLECT, 0);
    Tensor pp = F.pad(X, new long[] {3, 0, 2, 1}, F.PadMode.REPLICATE, 0);
    Tensor pci = F.pad(X, new long[] {1, 2, 1, 0}, F.PadMode.CIRCULAR, 0);
    Tensor p2 = F.pad(Tensor.of(new double[] {1, 2, 3, 4}, 2, 2), new long[] {1, 0, 0, 1}, F.PadMode.CONSTANT, -1);
    // By hand: 2×2 [[1,2],[3,4]] padded left 1, bottom 1 with −1.
    assertExact(new double[] {-1, 1, 2, -1, 3, 4, -1, -1, -1}, new long[] {3, 3}, p2);
    // Constant: interior equals the input, border the value.
    double[] c = pc.toDoubleArray();
    assertArrayEquals(new long[] {1, 1, 4, 7}, pc.shape());
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 7; j++) {
        boolean inside = i < 3 && j >= 1 && j < 5;
        assertEquals(inside ? x[i * 4 + j - 1] : 0.5, c[i * 7 + j]);
      }
    Map<String, Ref> ref = python(def("X", x, 1, 1, 3, 4)
        + "out = {'c': F.pad(X, (1, 2, 0, 1), mode='constant', value=0.5),\n"
        + "       'r': F.pad(X, (2, 1, 1, 2), mode='reflect'),\n"
        + "       'p': F.pad(X, (3, 0, 2, 1), mode='replicate'),\n"
        + "       'ci': F.pad(X, (1, 2, 1, 0), mode='circular')}");
    assertMatches(ref.get("c"), pc, RTOL);
    assertMatches(ref.get("r"), pr, RTOL);
    assertMatches(ref.get("p"), pp, RTOL);
    assertMatches(ref.get("ci"), pci, RTOL);
    assertThrows(TorchException.class, () -> F.pad(X, new long[] {4, 0, 0, 0}, F.PadMode.REFLECT, 0),
        "reflect padding must be smaller than the dimension");
  }

  // ------------------------------------------------------------------------------------------ attention, embedding

  @Test
  void scaledDotProductAttention() {
    double[] q = gaussian(2 * 3 * 4, 101), k = gaussian(2 * 5 * 4, 102), v = gaussian(2 * 5 * 6, 103);
    double[] fm = gaussian(3 * 5, 104);
    boolean[] bm = new boolean[15];
    for (int i = 0; i < 15; i++) bm[i] = (i * 7) % 3 != 0 || i % 5 == 0; // every row keeps at least one key
    double[] q4 = gaussian(2 * 4 * 4, 105), k4 = gaussian(2 * 4 * 4, 106), v4 = gaussian(2 * 4 * 3, 107);
    Tensor Q = Tensor.of(q, 2, 3, 4), K = Tensor.of(k, 2, 5, 4), V = Tensor.of(v, 2, 5, 6);
    Tensor plain = F.scaledDotProductAttention(Q, K, V, null, false, Double.NaN);
    Tensor scaled = F.scaledDotProductAttention(Q, K, V, null, false, 0.3);
    Tensor boolMask = F.scaledDotProductAttention(Q, K, V, Tensor.of(bm, 3, 5), false, Double.NaN);
    Tensor floatMask = F.scaledDotProductAttention(Q, K, V, Tensor.of(fm, 3, 5), false, Double.NaN);
    Tensor causal = F.scaledDotProductAttention(Tensor.of(q4, 2, 4, 4), Tensor.of(k4, 2, 4, 4), Tensor.of(v4, 2, 4, 3),
        null, true, Double.NaN);
    Tensor causalRect = F.scaledDotProductAttention(Q, K, V, null, true, Double.NaN);

    // Java: softmax(q·kᵀ/√d)·v for the unmasked case.
    double[] e = new double[2 * 3 * 6];
    for (int b = 0; b < 2; b++)
      for (int i = 0; i < 3; i++) {
        double[] s = new double[5];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < 5; j++) {
          for (int d = 0; d < 4; d++) s[j] += q[(b * 3 + i) * 4 + d] * k[(b * 5 + j) * 4 + d];
          s[j] /= 2; // √4
          max = Math.max(max, s[j]);
        }
        double z = 0;
        for (int j = 0; j < 5; j++) z += (s[j] = Math.exp(s[j] - max));
        for (int c = 0; c < 6; c++) {
          double acc = 0;
          for (int j = 0; j < 5; j++) acc += s[j] / z * v[(b * 5 + j) * 6 + c];
          e[(b * 3 + i) * 6 + c] = acc;
        }
      }
    assertClose(e, new long[] {2, 3, 6}, plain, 1e-12, 1e-12);

    StringBuilder bmPy = new StringBuilder("[");
    for (int i = 0; i < 15; i++) bmPy.append(i > 0 ? "," : "").append(bm[i] ? "True" : "False");
    bmPy.append(']');
    Map<String, Ref> ref = python(def("Q", q, 2, 3, 4) + def("K", k, 2, 5, 4) + def("V", v, 2, 5, 6)
        + def("FM", fm, 3, 5) + "BM = torch.tensor(" + bmPy + ").reshape(3, 5)\n"
        + def("Q4", q4, 2, 4, 4) + def("K4", k4, 2, 4, 4) + def("V4", v4, 2, 4, 3)
        + "sdpa = F.scaled_dot_product_attention\n"
        + "out = {'plain': sdpa(Q, K, V), 'scaled': sdpa(Q, K, V, scale=0.3),\n"
        + "       'bool': sdpa(Q, K, V, attn_mask=BM), 'float': sdpa(Q, K, V, attn_mask=FM),\n"
        + "       'causal': sdpa(Q4, K4, V4, is_causal=True), 'causalRect': sdpa(Q, K, V, is_causal=True)}");
    assertMatches(ref.get("plain"), plain, RTOL);
    assertMatches(ref.get("scaled"), scaled, RTOL);
    assertMatches(ref.get("bool"), boolMask, RTOL);
    assertMatches(ref.get("float"), floatMask, RTOL);
    assertMatches(ref.get("causal"), causal, RTOL);
    assertMatches(ref.get("causalRect"), causalRect, RTOL);
    // The first query of a causal block sees only the first key: output = v[0].
    double[] c = causal.toDoubleArray();
    for (int col = 0; col < 3; col++) assertEquals(v4[col], c[col], 1e-12);
  }

  @Test
  void attentionRowsWithEveryKeyMaskedAreZeroAsInPyTorch() {
    double[] q = gaussian(2 * 3 * 4, 111), k = gaussian(2 * 5 * 4, 112), v = gaussian(2 * 5 * 6, 113);
    boolean[] bm = new boolean[15];
    java.util.Arrays.fill(bm, true);
    for (int j = 0; j < 5; j++) bm[5 + j] = false; // query 1 may attend to nothing
    double[] fm = new double[15];
    for (int j = 0; j < 5; j++) fm[j] = Double.NEGATIVE_INFINITY; // query 0 likewise, through an additive mask
    fm[7] = -1.5;
    Tensor Q = Tensor.of(q, 2, 3, 4).requiresGrad_(true), K = Tensor.of(k, 2, 5, 4), V = Tensor.of(v, 2, 5, 6);
    Tensor yb = F.scaledDotProductAttention(Q, K, V, Tensor.of(bm, 3, 5), false, Double.NaN);
    Tensor yf = F.scaledDotProductAttention(Q, K, V, Tensor.of(fm, 3, 5), false, Double.NaN);
    yb.mul(yb).sum().add(yf.mul(yf).sum()).backward();

    StringBuilder bmPy = new StringBuilder("[");
    for (int i = 0; i < 15; i++) bmPy.append(i > 0 ? "," : "").append(bm[i] ? "True" : "False");
    bmPy.append(']');
    Map<String, Ref> ref = python(def("Q", q, 2, 3, 4) + def("K", k, 2, 5, 4) + def("V", v, 2, 5, 6)
        + def("FM", fm, 3, 5) + "BM = torch.tensor(" + bmPy + ").reshape(3, 5)\n"
        + "Q.requires_grad_(True)\n"
        + "yb = F.scaled_dot_product_attention(Q, K, V, attn_mask=BM)\n"
        + "yf = F.scaled_dot_product_attention(Q, K, V, attn_mask=FM)\n"
        + "((yb * yb).sum() + (yf * yf).sum()).backward()\n"
        + "out = {'yb': yb, 'yf': yf, 'gq': Q.grad}");
    assertMatches(ref.get("yb"), yb, RTOL);
    assertMatches(ref.get("yf"), yf, RTOL);
    double[] b = yb.toDoubleArray();
    for (int bi = 0; bi < 2; bi++) for (int c = 0; c < 6; c++) assertEquals(0.0, b[(bi * 3 + 1) * 6 + c]);
    // Gradients stay finite (no NaN from the empty rows) and match PyTorch.
    assertMatches(ref.get("gq"), Q.grad(), RTOL);

    // Forward mode: the JVP along a tangent of q equals a central finite difference (and 0 on the empty rows).
    Tensor q0 = Tensor.of(q, 2, 3, 4), tq = Tensor.of(gaussian(24, 114), 2, 3, 4), mask = Tensor.of(bm, 3, 5);
    ForwardAD.Jvp jvp = ForwardAD.jvp(x -> F.scaledDotProductAttention(x, K, V, mask, false, Double.NaN), q0, tq);
    double h = 1e-6;
    Tensor plus = F.scaledDotProductAttention(q0.add(tq, h), K, V, mask, false, Double.NaN);
    Tensor minus = F.scaledDotProductAttention(q0.add(tq, -h), K, V, mask, false, Double.NaN);
    double[] fd = plus.sub(minus).div(2 * h).toDoubleArray();
    assertClose(fd, jvp.tangents().get(0), 1e-6, 1e-8);
    double[] tan = jvp.tangents().get(0).toDoubleArray();
    for (int bi = 0; bi < 2; bi++) for (int c = 0; c < 6; c++) assertEquals(0.0, tan[(bi * 3 + 1) * 6 + c]);
  }

  @Test
  void embeddingSelectsRows() {
    Tensor w = Tensor.of(new double[] {0, 0.5, 1, 10, 11, 12, 20, 21, 22, 30, 31, 32}, 4, 3);
    Tensor y = F.embedding(w, Tensor.of(new long[] {1, 3, 0, 1}, 2, 2));
    assertExact(new double[] {10, 11, 12, 30, 31, 32, 0, 0.5, 1, 10, 11, 12}, new long[] {2, 2, 3}, y);
    assertThrows(TorchException.class, () -> F.embedding(w, Tensor.of(new long[] {4})));
  }

  // ------------------------------------------------------------------------------------------ losses

  @Test
  void mseL1AndHuberLosses() {
    double[] a = {0.5, -1.0, 2.0, 3.5, -0.2, 0.0};
    double[] b = {0.0, 1.0, 2.25, 0.5, -0.1, -4.0};
    int n = a.length;
    double[] sq = new double[n], ab = new double[n], hu = new double[n];
    double delta = 1.5;
    for (int i = 0; i < n; i++) {
      double d = a[i] - b[i];
      sq[i] = d * d;
      ab[i] = Math.abs(d);
      hu[i] = Math.abs(d) <= delta ? 0.5 * d * d : delta * (Math.abs(d) - 0.5 * delta);
    }
    Tensor ta = Tensor.of(a), tb = Tensor.of(b);
    assertClose(sq, new long[] {n}, F.mseLoss(ta, tb, F.Reduction.NONE), 1e-15, 0);
    assertEquals(TensorReductionTest.mean(sq), F.mseLoss(ta, tb, F.Reduction.MEAN).item(), 1e-14);
    assertEquals(TensorReductionTest.sum(sq), F.mseLoss(ta, tb, F.Reduction.SUM).item(), 1e-13);
    assertClose(ab, new long[] {n}, F.l1Loss(ta, tb, F.Reduction.NONE), 1e-15, 0);
    assertEquals(TensorReductionTest.mean(ab), F.l1Loss(ta, tb, F.Reduction.MEAN).item(), 1e-14);
    assertEquals(TensorReductionTest.sum(ab), F.l1Loss(ta, tb, F.Reduction.SUM).item(), 1e-13);
    assertClose(hu, new long[] {n}, F.huberLoss(ta, tb, F.Reduction.NONE, delta), 1e-15, 1e-15);
    assertEquals(TensorReductionTest.mean(hu), F.huberLoss(ta, tb, F.Reduction.MEAN, delta).item(), 1e-14);
    assertEquals(TensorReductionTest.sum(hu), F.huberLoss(ta, tb, F.Reduction.SUM, delta).item(), 1e-13);
    // Hand-computed: huber with delta 1 on d = 3 → 1·(3 − 0.5) = 2.5; d = 0.5 → 0.125.
    assertArrayEquals(new double[] {2.5, 0.125}, F.huberLoss(Tensor.of(new double[] {3, 0.5}),
        Tensor.of(new double[] {0, 0}), F.Reduction.NONE, 1).toDoubleArray(), 1e-15);
    // Broadcasting target against input shapes is allowed with a warning in PyTorch; mismatched sizes fail.
    assertThrows(TorchException.class, () -> F.mseLoss(ta, Tensor.of(new double[] {1, 2, 3}), F.Reduction.MEAN));
  }
}
