package dev.cm4j.tensor;

import static dev.cm4j.tensor.Checks.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Reductions over all elements and over chosen dims (with and without keepdim) against Java loops. */
class TensorReductionTest {
  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  // A [2, 3, 4] tensor of distinct values; element (i, j, k) at i*12 + j*4 + k.
  private static final double[] X = gaussian(24, 11);
  private static final long[] SHAPE = {2, 3, 4};

  private static double x(int i, int j, int k) {
    return X[i * 12 + j * 4 + k];
  }

  /** Reduces the [2,3,4] tensor over dim d with f applied to each fibre; result in row-major order of the rest. */
  private static double[] reduceDim(int d, ToDoubleFunction<double[]> f) {
    int[] sz = {2, 3, 4};
    int n = sz[d];
    java.util.List<Double> out = new java.util.ArrayList<>();
    for (int i = 0; i < (d == 0 ? 1 : 2); i++) {
      for (int j = 0; j < (d == 1 ? 1 : 3); j++) {
        for (int k = 0; k < (d == 2 ? 1 : 4); k++) {
          double[] fibre = new double[n];
          for (int m = 0; m < n; m++) fibre[m] = d == 0 ? x(m, j, k) : d == 1 ? x(i, m, k) : x(i, j, m);
          out.add(f.applyAsDouble(fibre));
        }
      }
    }
    return out.stream().mapToDouble(Double::doubleValue).toArray();
  }

  private static long[] reducedShape(int d, boolean keepdim) {
    long[] s = SHAPE.clone();
    if (keepdim) {
      s[d] = 1;
      return s;
    }
    long[] r = new long[2];
    for (int i = 0, k = 0; i < 3; i++) if (i != d) r[k++] = s[i];
    return r;
  }

  static double sum(double[] v) {
    double s = 0;
    for (double d : v) s += d;
    return s;
  }

  static double mean(double[] v) {
    return sum(v) / v.length;
  }

  static double var(double[] v, double correction) {
    double m = mean(v), s = 0;
    for (double d : v) s += (d - m) * (d - m);
    return s / (v.length - correction);
  }

  static double max(double[] v) {
    double m = Double.NEGATIVE_INFINITY;
    for (double d : v) m = Math.max(m, d);
    return m;
  }

  static double min(double[] v) {
    double m = Double.POSITIVE_INFINITY;
    for (double d : v) m = Math.min(m, d);
    return m;
  }

  static double lse(double[] v) {
    double m = max(v), s = 0;
    for (double d : v) s += Math.exp(d - m);
    return m + Math.log(s);
  }

  static double pnorm(double[] v, double p) {
    if (Double.isInfinite(p)) {
      double m = 0;
      for (double d : v) m = Math.max(m, Math.abs(d));
      return m;
    }
    double s = 0;
    for (double d : v) s += Math.pow(Math.abs(d), p);
    return Math.pow(s, 1 / p);
  }

  static double argmax(double[] v) {
    int best = 0;
    for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
    return best;
  }

  private Tensor t() {
    return Tensor.of(X, SHAPE);
  }

  @Test
  void sumAndMeanOverAllAndOverEachDim() {
    Tensor t = t();
    Tensor all = t.sum();
    assertEquals(0, all.dim());
    assertEquals(sum(X), all.item(), 1e-12);
    assertEquals(mean(X), t.mean().item(), 1e-13);
    for (int d = 0; d < 3; d++) {
      for (boolean keep : new boolean[] {false, true}) {
        assertClose(reduceDim(d, TensorReductionTest::sum), reducedShape(d, keep), t.sum(keep, d), 1e-12, 1e-12);
        assertClose(reduceDim(d, TensorReductionTest::mean), reducedShape(d, keep), t.mean(keep, d), 1e-12, 1e-12);
      }
    }
    // Two dims at once, negative dims.
    double[] s02 = new double[3];
    for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 4; k++) s02[j] += x(i, j, k);
    assertClose(s02, new long[] {3}, t.sum(false, 0, -1), 1e-12, 1e-12);
    assertClose(map(s02, v -> v / 8), new long[] {1, 3, 1}, t.mean(true, 0, 2), 1e-12, 1e-12);
  }

  @Test
  void noDimsWithKeepdimReducesEverythingToOnes() {
    Tensor t = t();
    long[] ones = {1, 1, 1};
    assertClose(new double[] {sum(X)}, ones, t.sum(true), 1e-12, 1e-12);
    assertClose(new double[] {mean(X)}, ones, t.mean(true), 1e-12, 1e-12);
    assertClose(new double[] {var(X, 1)}, ones, t.var(1, true), 1e-12, 1e-12);
    assertClose(new double[] {Math.sqrt(var(X, 0))}, ones, t.std(0, true), 1e-12, 1e-12);
    assertClose(new double[] {min(X)}, ones, t.amin(true), 0, 0);
    assertClose(new double[] {pnorm(X, 3)}, ones, t.norm(3, true), 1e-12, 1e-12);
    assertClose(new double[] {lse(X)}, ones, t.logsumexp(true), 1e-12, 1e-12);
    assertClose(new double[] {sum(X)}, new long[0], t.sum(false), 1e-12, 1e-12);
  }

  @Test
  void sumWithAnAccumulationDtype() {
    Tensor i = Tensor.of(new int[] {2_000_000_000, 2_000_000_000, 1});
    Tensor s = i.sum(DType.INT64, false, 0);
    assertEquals(DType.INT64, s.dtype());
    assertEquals(4_000_000_001L, s.itemLong()); // would overflow in int32
    Tensor f = Tensor.of(new long[] {1, 2, 3, 4}, 2, 2).sum(DType.FLOAT64, true, 1);
    assertEquals(DType.FLOAT64, f.dtype());
    assertExact(new double[] {3, 7}, new long[] {2, 1}, f);
    // Plain integer sum promotes to int64 as in PyTorch.
    assertEquals(DType.INT64, Tensor.of(new int[] {1, 2}).sum().dtype());
    assertEquals(24.0, Tensor.of(new double[] {1, 2, 3, 4}).prod().item());
  }

  @Test
  void varianceAndStdWithCorrections() {
    Tensor t = t();
    assertEquals(var(X, 1), t.var().item(), 1e-12);
    assertEquals(Math.sqrt(var(X, 1)), t.std().item(), 1e-12);
    assertEquals(var(X, 0), t.var(0, false).item(), 1e-12);
    for (int d = 0; d < 3; d++) {
      for (double c : new double[] {0, 1}) {
        double[] v = reduceDim(d, f -> var(f, c));
        assertClose(v, reducedShape(d, true), t.var(c, true, d), 1e-12, 1e-14);
        assertClose(map(v, Math::sqrt), reducedShape(d, false), t.std(c, false, d), 1e-12, 1e-14);
      }
    }
    // Hand-computed: {1, 2, 3, 4}: mean 2.5, Σ(x−m)² = 5.
    Tensor h = Tensor.of(new double[] {1, 2, 3, 4});
    assertEquals(5.0 / 3, h.var().item(), 1e-15);
    assertEquals(1.25, h.var(0, false).item(), 1e-15);
    assertEquals(Math.sqrt(1.25), h.std(0, false).item(), 1e-15);
  }

  @Test
  void amaxAminOverDimsAndAll() {
    Tensor t = t();
    assertEquals(max(X), t.amax(false).item());
    assertEquals(min(X), t.amin(false).item());
    for (int d = 0; d < 3; d++) {
      for (boolean keep : new boolean[] {false, true}) {
        assertClose(reduceDim(d, TensorReductionTest::max), reducedShape(d, keep), t.amax(keep, d), 0, 0);
        assertClose(reduceDim(d, TensorReductionTest::min), reducedShape(d, keep), t.amin(keep, d), 0, 0);
      }
    }
    Tensor all = t.amax(true);
    assertArrayEquals(new long[] {1, 1, 1}, all.shape());
  }

  @Test
  void argmaxAndArgmin() {
    Tensor t = t();
    Tensor flat = t.argmax();
    assertEquals(DType.INT64, flat.dtype());
    assertEquals(argmax(X), flat.itemLong());
    for (int d = 0; d < 3; d++) {
      for (boolean keep : new boolean[] {false, true}) {
        Tensor r = t.argmax(d, keep);
        assertArrayEquals(reducedShape(d, keep), r.shape());
        assertArrayEquals(reduceDim(d, TensorReductionTest::argmax), r.toDoubleArray());
        assertArrayEquals(reduceDim(d, f -> argmax(map(f, v -> -v))), t.argmin(d, keep).toDoubleArray());
      }
    }
    // Hand-computed.
    Tensor h = Tensor.of(new double[] {3, 9, 1, 4, 0, 7}, 2, 3);
    assertArrayEquals(new long[] {1, 2}, h.argmax(1, false).toLongArray());
    assertArrayEquals(new long[] {1, 0, 1}, h.argmax(0, false).toLongArray());
    assertArrayEquals(new long[] {2, 1}, h.argmin(1, false).toLongArray());
    assertEquals(1, h.argmax().itemLong());
  }

  @Test
  void vectorNormsForSeveralOrders() {
    Tensor t = t();
    assertEquals(pnorm(X, 2), t.norm().item(), 1e-12);
    for (double p : new double[] {1, 2, 3, Double.POSITIVE_INFINITY}) {
      assertEquals(pnorm(X, p), t.norm(p, false).item(), 1e-12, "p = " + p);
      for (int d = 0; d < 3; d++) {
        assertClose(reduceDim(d, f -> pnorm(f, p)), reducedShape(d, d == 1), t.norm(p, d == 1, d), 1e-12, 1e-14);
      }
    }
    assertEquals(5.0, Tensor.of(new double[] {3, -4}).norm().item(), 1e-15);
    assertEquals(7.0, Tensor.of(new double[] {3, -4}).norm(1, false).item());
  }

  @Test
  void logsumexpIsStableAndReducesDims() {
    Tensor t = t();
    for (int d = 0; d < 3; d++) {
      for (boolean keep : new boolean[] {false, true}) {
        assertClose(reduceDim(d, TensorReductionTest::lse), reducedShape(d, keep), t.logsumexp(keep, d), 1e-12, 1e-12);
      }
    }
    Tensor all = t.logsumexp(false);
    assertEquals(0, all.dim());
    assertEquals(lse(X), all.item(), 1e-12);
    assertArrayEquals(new long[] {1, 1, 1}, t.logsumexp(true).shape());
    // Large values: log(e^1000 + e^1000) = 1000 + ln 2 (naive exp would overflow).
    assertEquals(1000 + Math.log(2), Tensor.of(new double[] {1000, 1000}).logsumexp(false, 0).item(), 1e-12);
    // 0-D input.
    assertEquals(2.5, Tensor.scalar(2.5, DType.FLOAT64).logsumexp(false).item(), 1e-15);
  }

  @Test
  void anyAndAll() {
    Tensor m = Tensor.of(new boolean[] {true, false, false, false, true, false}, 2, 3);
    assertTrue(m.any().itemBoolean());
    assertFalse(m.all().itemBoolean());
    assertEquals(DType.BOOL, m.any().dtype());
    assertArrayEquals(new boolean[] {true, true}, m.any(false, 1).toBooleanArray());
    assertArrayEquals(new boolean[] {true, true, false}, m.any(false, 0).toBooleanArray());
    assertArrayEquals(new boolean[] {false, false, false}, m.all(false, 0).toBooleanArray());
    assertArrayEquals(new long[] {2, 1}, m.any(true, 1).shape());
    // No dims with keepdim reduces everything to [1, 1] (torch.any(x, dim=None, keepdim=True)).
    Tensor anyAll = m.any(true);
    assertArrayEquals(new long[] {1, 1}, anyAll.shape());
    assertTrue(anyAll.itemBoolean());
    Tensor allAll = m.all(true);
    assertArrayEquals(new long[] {1, 1}, allAll.shape());
    assertFalse(allAll.itemBoolean());
    assertEquals(0, m.any(false).dim());
    Tensor zeroD = Tensor.scalar(2.0).all(true);
    assertEquals(0, zeroD.dim());
    assertEquals(DType.BOOL, zeroD.dtype());
    assertTrue(zeroD.itemBoolean());
    Tensor ones = Tensor.of(new boolean[] {true, true, true, true}, 2, 2);
    assertTrue(ones.all().itemBoolean());
    assertArrayEquals(new boolean[] {true, true}, ones.all(true, 0).toBooleanArray());
    assertArrayEquals(new long[] {1, 2}, ones.all(true, 0).shape());
    // Numbers: non-zero is true.
    Tensor nums = Tensor.of(new double[] {0, 0, 0.5});
    assertTrue(nums.any().itemBoolean());
    assertFalse(nums.all().itemBoolean());
    assertFalse(Tensor.zeros(3).any().itemBoolean());
  }
}
