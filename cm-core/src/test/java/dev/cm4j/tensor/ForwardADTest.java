package dev.cm4j.tensor;

import static dev.cm4j.tensor.AutogradTest.assertClose;
import static dev.cm4j.tensor.AutogradTest.randomArray;
import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Forward-mode AD (jvp) checked against float64 finite differences and against reverse-mode J·v, on the ops the sCM
 * objective needs: conv2d + group_norm + silu + attention.
 */
class ForwardADTest {
  static final long B = 2, C = 4, H = 3, W = 3, M = 5;

  /** A small conv + group-norm + SiLU + self-attention network with output [B, M]. */
  record Net(Tensor convW, Tensor convB, Tensor wq, Tensor wk, Tensor wv, Tensor wo, Tensor gnW, Tensor gnB) {
    static Net random(long seed) {
      return new Net(t(randomArray(4 * 2 * 9, seed), 4, 2, 3, 3), t(randomArray(4, seed + 1), 4),
          t(scale(randomArray(16, seed + 2), 0.5), 4, 4), t(scale(randomArray(16, seed + 3), 0.5), 4, 4),
          t(randomArray(16, seed + 4), 4, 4), t(randomArray((int) (M * 4), seed + 5), M, 4),
          t(randomArray(4, seed + 6), 4), t(randomArray(4, seed + 7), 4));
    }

    Tensor apply(Tensor x) {
      Tensor h = F.conv2d(x, convW, convB, 1, 1, 1, 1);
      h = F.groupNorm(h, 2, gnW, gnB, 1e-5).silu();
      Tensor tokens = h.flatten(2, 3).transpose(1, 2); // [B, HW, C]
      Tensor a = F.scaledDotProductAttention(F.linear(tokens, wq, null), F.linear(tokens, wk, null),
          F.linear(tokens, wv, null), null, false, Double.NaN);
      return F.linear(a.add(tokens).mean(false, 1), wo, null); // [B, M]
    }
  }

  static double[] scale(double[] a, double s) {
    for (int i = 0; i < a.length; i++) a[i] *= s;
    return a;
  }

  static Tensor t(double[] a, long... shape) {
    return Tensor.of(a, shape);
  }

  @Test
  void jvpMatchesFiniteDifferencesAndReverseModeOnConvNormSiluAttention() {
    try (TensorScope s = TensorScope.open()) {
      Net net = Net.random(10);
      long[] shape = {B, 2, H, W};
      double[] x0 = randomArray((int) (B * 2 * H * W), 20);
      double[] v0 = randomArray(x0.length, 21);
      Tensor x = t(x0, shape);
      Tensor v = t(v0, shape);

      ForwardAD.Jvp r = ForwardAD.jvp(net::apply, x, v);
      double[] jv = r.tangents().get(0).toDoubleArray();
      double[] y = r.outputs().get(0).toDoubleArray();
      assertEquals(B * M, jv.length);

      // Primal equals a plain forward pass.
      assertClose(net.apply(x).toDoubleArray(), y, 1e-12, "primal");

      // Central finite differences along v.
      double h = 1e-6;
      double[] fp, fm;
      try (GradMode g = GradMode.noGrad()) {
        fp = net.apply(x.add(v, h)).toDoubleArray();
        fm = net.apply(x.add(v, -h)).toDoubleArray();
      }
      double[] fd = new double[fp.length];
      for (int i = 0; i < fd.length; i++) fd[i] = (fp[i] - fm[i]) / (2 * h);
      assertClose(fd, jv, 1e-6, "jvp vs finite differences");

      // Reverse mode: (J·v)_i = <∇_x y_i, v>.
      Tensor xr = x.clone().requiresGrad_(true);
      Tensor out = net.apply(xr).flatten();
      double[] rev = new double[(int) (B * M)];
      for (int i = 0; i < rev.length; i++) {
        Tensor gi = Autograd.grad(List.of(out.select(0, i)), List.of(xr), null, true, false, false).get(0);
        rev[i] = gi.mul(v).sum().item();
      }
      assertClose(rev, jv, 1e-10, "jvp vs reverse-mode J·v");
    }
  }

  @Test
  void jvpWithRespectToParametersAndInputsTogether() {
    try (TensorScope s = TensorScope.open()) {
      double[] w0 = randomArray(4 * 2 * 9, 30);
      Tensor x = t(randomArray(2 * 2 * 3 * 3, 31), 2, 2, 3, 3);
      Tensor w = t(w0, 4, 2, 3, 3);
      Tensor vx = t(randomArray(36, 32), 2, 2, 3, 3);
      Tensor vw = t(randomArray(72, 33), 4, 2, 3, 3);
      Function<List<Tensor>, List<Tensor>> f =
          in -> List.of(F.groupNorm(F.conv2d(in.get(0), in.get(1), null, 1, 1, 1, 1), 2, null, null, 1e-5).silu());
      ForwardAD.Jvp r = ForwardAD.jvp(f, List.of(x, w), List.of(vx, vw));
      double h = 1e-6;
      double[] fp = f.apply(List.of(x.add(vx, h), w.add(vw, h))).get(0).toDoubleArray();
      double[] fm = f.apply(List.of(x.add(vx, -h), w.add(vw, -h))).get(0).toDoubleArray();
      double[] fd = new double[fp.length];
      for (int i = 0; i < fd.length; i++) fd[i] = (fp[i] - fm[i]) / (2 * h);
      assertClose(fd, r.tangents().get(0).toDoubleArray(), 1e-6, "jvp(x, w)");
    }
  }

  @Test
  void outputIndependentOfInputGetsZeroTangentAndLevelsAreAlwaysExited() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = t(new double[] {1, 2, 3});
      Tensor c = t(new double[] {5, 6});
      ForwardAD.Jvp r = ForwardAD.jvp(in -> List.of(c.mul(2.0)), List.of(x), List.of(x.onesLike()));
      assertArrayEquals(new double[] {0, 0}, r.tangents().get(0).toDoubleArray(), 0);
      // An exception inside the function must not leave a dual level open (nested levels are unsupported).
      assertThrows(IllegalStateException.class, () -> ForwardAD.jvp(in -> {
        throw new IllegalStateException("boom");
      }, x, x.onesLike()));
      ForwardAD.Jvp again = ForwardAD.jvp(in -> in.mul(in), x, x.onesLike());
      assertArrayEquals(new double[] {2, 4, 6}, again.tangents().get(0).toDoubleArray(), 0);
    }
  }

  @Test
  void dualLevelApiUnpacksTangents() {
    try (TensorScope s = TensorScope.open(); ForwardAD.DualLevel level = ForwardAD.DualLevel.enter()) {
      Tensor d = level.makeDual(t(new double[] {0.5}), t(new double[] {1}));
      ForwardAD.Dual out = level.unpack(d.exp());
      assertEquals(Math.exp(0.5), out.primal().item(), 1e-15);
      assertEquals(Math.exp(0.5), out.tangent().item(), 1e-15);
      assertNull(level.unpack(t(new double[] {1})).tangent());
    }
  }
}
