package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Reverse-mode autograd checked against float64 central finite differences and closed forms. */
class AutogradTest {
  static final DType D = DType.FLOAT64;

  /** Central finite-difference gradient of the scalar f at x (float64). */
  static double[] fdGrad(Function<Tensor, Tensor> f, double[] x, long[] shape, double h) {
    double[] g = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      try (TensorScope s = TensorScope.open(); GradMode ng = GradMode.noGrad()) {
        double[] xp = x.clone();
        double[] xm = x.clone();
        xp[i] += h;
        xm[i] -= h;
        double fp = f.apply(Tensor.of(xp, shape)).item();
        double fm = f.apply(Tensor.of(xm, shape)).item();
        g[i] = (fp - fm) / (2 * h);
      }
    }
    return g;
  }

  static void assertClose(double[] expected, double[] actual, double rel, String what) {
    assertEquals(expected.length, actual.length, what + ": length");
    double scale = 0;
    for (double e : expected) scale = Math.max(scale, Math.abs(e));
    for (int i = 0; i < expected.length; i++) {
      double err = Math.abs(expected[i] - actual[i]);
      assertTrue(err <= rel * Math.max(scale, 1e-12),
          what + "[" + i + "]: expected " + expected[i] + " got " + actual[i] + " (rel err " + err / scale + ")");
    }
  }

  static double[] randomArray(int n, long seed) {
    java.util.Random r = new java.util.Random(seed);
    double[] a = new double[n];
    for (int i = 0; i < n; i++) a[i] = r.nextGaussian();
    return a;
  }

  @Test
  void elementwiseCompositeMatchesFiniteDifferences() {
    Function<Tensor, Tensor> f = x -> x.sin().mul(x.square().mul(-0.5).exp()).div(x.square().add(1.0))
        .add(x.tanh().mul(x.sigmoid())).add(x.abs().add(0.1).log()).sum();
    long[] shape = {2, 5};
    double[] x0 = randomArray(10, 1);
    try (TensorScope s = TensorScope.open()) {
      Tensor x = Tensor.of(x0, shape).requiresGrad_(true);
      f.apply(x).backward();
      assertClose(fdGrad(f, x0, shape, 1e-6), x.grad().toDoubleArray(), 1e-7, "grad");
    }
  }

  @Test
  void convGroupNormSiluMatchesFiniteDifferences() {
    double[] w0 = randomArray(4 * 2 * 3 * 3, 2);
    try (TensorScope s = TensorScope.open()) {
      Tensor w = Tensor.of(w0, 4, 2, 3, 3);
      Function<Tensor, Tensor> f = x -> F.groupNorm(F.conv2d(x, w, null, 1, 1, 1, 1), 2, null, null, 1e-5).silu()
          .mul(Tensor.arange(0, 4, 1, D, Device.CPU).reshape(1, 4, 1, 1).add(1.0)).sum();
      long[] shape = {1, 2, 4, 4};
      double[] x0 = randomArray(32, 3);
      Tensor x = Tensor.of(x0, shape).requiresGrad_(true);
      f.apply(x).backward();
      assertClose(fdGrad(f, x0, shape, 1e-6), x.grad().toDoubleArray(), 1e-6, "grad");
    }
  }

  @Test
  void gradMatchesClosedFormAndDoubleBackward() {
    try (TensorScope s = TensorScope.open()) {
      double[] x0 = {-1.5, 0.25, 2.0};
      Tensor x = Tensor.of(x0).requiresGrad_(true);
      Tensor y = x.pow(3.0).sum();
      // dy/dx = 3x^2 with a graph, then d/dx sum(3x^2) = 6x.
      Tensor g = Autograd.grad(List.of(y), List.of(x), null, true, true, false).get(0);
      double[] g0 = g.toDoubleArray();
      for (int i = 0; i < 3; i++) assertEquals(3 * x0[i] * x0[i], g0[i], 1e-12);
      Tensor gg = Autograd.grad(g.sum(), List.of(x)).get(0);
      double[] gg0 = gg.toDoubleArray();
      for (int i = 0; i < 3; i++) assertEquals(6 * x0[i], gg0[i], 1e-12);
      assertNull(x.grad(), "grad() returns gradients without accumulating them");
    }
  }

  @Test
  void backwardAccumulatesSeedsAndRespectsRetainGraph() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = Tensor.of(new double[] {1, 2, 3}).requiresGrad_(true);
      Tensor y = x.square(); // saves x for backward, so its graph can be freed
      Autograd.backward(List.of(y), List.of(Tensor.of(new double[] {1, 10, 100})), true, false);
      assertArrayEquals(new double[] {2, 40, 600}, x.grad().toDoubleArray(), 0);
      Autograd.backward(List.of(y), List.of(Tensor.of(new double[] {1, 1, 1})), false, false);
      assertArrayEquals(new double[] {4, 44, 606}, x.grad().toDoubleArray(), 0);
      // The graph was freed by the second call: a third backward fails with libtorch's message.
      TorchException e = assertThrows(TorchException.class,
          () -> Autograd.backward(List.of(y), List.of(Tensor.of(new double[] {1, 1, 1})), false, false));
      assertTrue(e.getMessage().toLowerCase().contains("backward through the graph a second time"), e.getMessage());
      x.setGrad(null);
      assertNull(x.grad());
    }
  }

  @Test
  void unusedInputsAndNonScalarErrors() {
    try (TensorScope s = TensorScope.open()) {
      Tensor a = Tensor.of(new double[] {1, 2}).requiresGrad_(true);
      Tensor b = Tensor.of(new double[] {3, 4}).requiresGrad_(true);
      Tensor y = a.square().sum();
      List<Tensor> g = Autograd.grad(List.of(y), List.of(a, b), null, true, false, true);
      assertArrayEquals(new double[] {2, 4}, g.get(0).toDoubleArray(), 0);
      assertNull(g.get(1));
      assertThrows(TorchException.class, () -> Autograd.grad(List.of(y), List.of(a, b), null, true, false, false));
      Tensor v = a.mul(2.0);
      TorchException e = assertThrows(TorchException.class, v::backward);
      assertTrue(e.getMessage().contains("scalar"), e.getMessage());
    }
  }

  @Test
  void noGradAndDetachStopRecording() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = Tensor.of(new double[] {1, 2}).requiresGrad_(true);
      try (GradMode g = GradMode.noGrad()) {
        assertFalse(GradMode.isEnabled());
        assertFalse(x.mul(2.0).requiresGrad());
      }
      assertTrue(GradMode.isEnabled());
      assertTrue(x.mul(2.0).requiresGrad());
      assertFalse(x.detach().requiresGrad());
      assertTrue(x.isLeaf());
      assertFalse(x.mul(2.0).isLeaf());
      try (InferenceMode im = InferenceMode.enter()) {
        assertTrue(InferenceMode.isEnabled());
        assertFalse(x.mul(2.0).requiresGrad());
      }
      assertFalse(InferenceMode.isEnabled());
    }
  }

  @Test
  void manyParameterGradientsBeyondTheScratchSlots() {
    try (TensorScope s = TensorScope.open()) {
      List<Tensor> ps = new ArrayList<>();
      Tensor total = Tensor.scalar(0.0, D);
      for (int i = 0; i < 100; i++) {
        Tensor p = Tensor.of(new double[] {i}).requiresGrad_(true);
        ps.add(p);
        total = total.add(p.square().sum());
      }
      List<Tensor> g = Autograd.grad(total, ps);
      for (int i = 0; i < 100; i++) assertEquals(2.0 * i, g.get(i).item(), 0);
    }
  }
}
