package dev.cm4j.tensor;

import static dev.cm4j.tensor.Checks.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.function.DoubleUnaryOperator;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Elementwise arithmetic, math functions, activations and comparisons against closed forms in Java doubles. */
class TensorElementwiseTest {
  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  private static final double[] A = {-2.5, -1.0, -0.25, 0.0, 0.5, 1.75, 3.0};
  private static final double[] B = {1.5, -4.0, 2.0, 0.75, -0.5, 2.5, -1.25};

  /** Checks op against f in float64 (tight) and float32 (float precision) on inputs x. */
  private static void unary(double[] x, Function<Tensor, Tensor> op, DoubleUnaryOperator f, double rtol32) {
    double[] expected = map(x, f);
    Tensor t64 = Tensor.of(x);
    Tensor r64 = op.apply(t64);
    assertEquals(DType.FLOAT64, r64.dtype());
    assertClose(expected, new long[] {x.length}, r64, 1e-12, 1e-14);
    double[] x32 = f32(x);
    Tensor r32 = op.apply(Tensor.of(toFloats(x32)));
    assertEquals(DType.FLOAT32, r32.dtype());
    assertClose(map(x32, f), new long[] {x.length}, r32, rtol32, 1e-6);
  }

  @Test
  void addSubMulDivWithTensorsMatchJavaArithmetic() {
    Tensor a = Tensor.of(A), b = Tensor.of(B);
    double[] sum = new double[A.length], diff = new double[A.length], prod = new double[A.length],
        quot = new double[A.length], scaled = new double[A.length];
    for (int i = 0; i < A.length; i++) {
      sum[i] = A[i] + B[i];
      diff[i] = A[i] - B[i];
      prod[i] = A[i] * B[i];
      quot[i] = A[i] / B[i];
      scaled[i] = A[i] + 2.5 * B[i];
    }
    long[] shape = {A.length};
    assertClose(sum, shape, a.add(b), 0, 0);
    assertClose(diff, shape, a.sub(b), 0, 0);
    assertClose(prod, shape, a.mul(b), 0, 0);
    assertClose(quot, shape, a.div(b), 1e-15, 0);
    assertClose(scaled, shape, a.add(b, 2.5), 1e-15, 0);
  }

  @Test
  void arithmeticBroadcastsRowAgainstColumn() {
    Tensor col = Tensor.of(new double[] {1, 2, 3}, 3, 1);
    Tensor row = Tensor.of(new double[] {10, 20}, 1, 2);
    assertExact(new double[] {11, 21, 12, 22, 13, 23}, new long[] {3, 2}, col.add(row));
    assertExact(new double[] {10, 20, 20, 40, 30, 60}, new long[] {3, 2}, col.mul(row));
    assertExact(new double[] {-9, -19, -8, -18, -7, -17}, new long[] {3, 2}, col.sub(row));
  }

  @Test
  void scalarArithmeticMatchesJavaArithmetic() {
    Tensor a = Tensor.of(A);
    long[] shape = {A.length};
    assertClose(map(A, v -> v + 1.5), shape, a.add(1.5), 0, 0);
    assertClose(map(A, v -> v - 0.75), shape, a.sub(0.75), 0, 0);
    assertClose(map(A, v -> v * -3.0), shape, a.mul(-3.0), 0, 0);
    assertClose(map(A, v -> v / 4.0), shape, a.div(4.0), 0, 0);
    assertClose(map(A, v -> 2.0 - v), shape, a.rsub(2.0), 0, 0);
    assertClose(new double[] {-0.4, 0.25, 2.0 / 1.25}, Tensor.of(new double[] {-5, 8, 1.25}).rdiv(2.0), 1e-15, 0);
    assertClose(map(A, v -> v - 3 * Math.floor(v / 3)), shape, a.remainder(3.0), 1e-15, 1e-15);
  }

  @Test
  void integerScalarKeepsIntegerTensorsIntegerAndDoublePromotesToFloat() {
    Tensor i64 = Tensor.of(new long[] {1, -2, 3});
    Tensor big = i64.add(1L << 40);
    assertEquals(DType.INT64, big.dtype());
    // 2^40 + 1 is not representable in float32 or exactly summed via float: integer arithmetic proven.
    assertArrayEquals(new long[] {(1L << 40) + 1, (1L << 40) - 2, (1L << 40) + 3}, big.toLongArray());
    Tensor m = i64.mul(7L);
    assertEquals(DType.INT64, m.dtype());
    assertArrayEquals(new long[] {7, -14, 21}, m.toLongArray());
    Tensor s = i64.sub(5L);
    assertEquals(DType.INT64, s.dtype());
    assertArrayEquals(new long[] {-4, -7, -2}, s.toLongArray());

    Tensor f = i64.add(0.5);
    assertEquals(DType.FLOAT32, f.dtype(), "int64 + double promotes to the default float dtype");
    assertArrayEquals(new float[] {1.5f, -1.5f, 3.5f}, f.toFloatArray());
    Tensor d = i64.div(2.0);
    assertEquals(DType.FLOAT32, d.dtype());
    assertArrayEquals(new float[] {0.5f, -1f, 1.5f}, d.toFloatArray());

    Tensor i32 = Tensor.of(new int[] {4, 5});
    Tensor i32s = i32.add(3L);
    assertEquals(DType.INT32, i32s.dtype(), "an integer scalar does not widen an int32 tensor");
    assertArrayEquals(new int[] {7, 8}, i32s.toIntArray());
    // Integer tensor true division gives float.
    Tensor q = i64.div(Tensor.of(new long[] {2, 4, 2}));
    assertEquals(DType.FLOAT32, q.dtype());
    assertArrayEquals(new float[] {0.5f, -0.5f, 1.5f}, q.toFloatArray());
  }

  @Test
  void negSquareReciprocalAbsSign() {
    double[] x = {-3.5, -0.0, 0.0, 0.125, 2.0, 7.25};
    unary(x, Tensor::neg, v -> -v, 0);
    unary(x, Tensor::square, v -> v * v, 0);
    unary(x, Tensor::abs, Math::abs, 0);
    unary(x, Tensor::sign, v -> v > 0 ? 1 : v < 0 ? -1 : 0, 0);
    double[] nz = {-3.5, -0.5, 0.125, 2.0, 7.25, 1e-3};
    unary(nz, Tensor::reciprocal, v -> 1 / v, 1e-7);
    Tensor inf = Tensor.of(new double[] {0.0, -0.0}).reciprocal();
    assertArrayEquals(new double[] {Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY}, inf.toDoubleArray());
  }

  @Test
  void powWithScalarAndTensorExponents() {
    double[] x = {0.5, 1.0, 2.0, 3.5, 10.0};
    unary(x, t -> t.pow(2.5), v -> Math.pow(v, 2.5), 1e-6);
    unary(x, t -> t.pow(-1.5), v -> Math.pow(v, -1.5), 1e-6);
    unary(x, t -> t.pow(3.0), v -> v * v * v, 1e-6);
    double[] e = {2, -1, 0.5, 3, 0};
    double[] expected = new double[x.length];
    for (int i = 0; i < x.length; i++) expected[i] = Math.pow(x[i], e[i]);
    assertClose(expected, Tensor.of(x).pow(Tensor.of(e)), 1e-14, 0);
  }

  @Test
  void sqrtRsqrtExpLogLog1pExpm1() {
    double[] pos = {1e-4, 0.01, 0.5, 1.0, 2.0, 9.0, 123.456};
    unary(pos, Tensor::sqrt, Math::sqrt, 1e-6);
    unary(pos, Tensor::rsqrt, v -> 1 / Math.sqrt(v), 1e-6);
    unary(pos, Tensor::log, Math::log, 1e-6);
    double[] x = {-20, -3.5, -1e-6, 0, 1e-7, 0.5, 2.0, 10.0};
    unary(x, Tensor::exp, Math::exp, 1e-6);
    unary(x, Tensor::expm1, Math::expm1, 1e-6); // tiny inputs check the accurate expm1, not exp − 1
    double[] lp = {-0.9, -1e-7, 0, 1e-8, 0.5, 3.0, 1e5};
    unary(lp, Tensor::log1p, Math::log1p, 1e-6);
    // Edge values.
    assertArrayEquals(new double[] {Double.NEGATIVE_INFINITY, Double.NaN}, Tensor.of(new double[] {0, -1}).log()
        .toDoubleArray());
    assertTrue(Double.isNaN(Tensor.of(new double[] {-4}).sqrt().toDoubleArray()[0]));
  }

  @Test
  void trigonometryAndAtan2() {
    double[] x = {-3.0, -1.2, -0.3, 0.0, 0.4, 1.0, 1.5, 2.9};
    unary(x, Tensor::sin, Math::sin, 1e-5);
    unary(x, Tensor::cos, Math::cos, 1e-5);
    unary(x, Tensor::tan, Math::tan, 1e-5);
    unary(x, Tensor::atan, Math::atan, 1e-5);
    double[] u = {-0.9, -0.5, 0, 0.3, 0.99};
    unary(u, Tensor::asin, Math::asin, 1e-5);
    unary(u, Tensor::acos, Math::acos, 1e-5);
    // atan2 in all four quadrants and on the axes.
    double[] y = {1, 1, -1, -1, 0, 2, -0.5};
    double[] xx = {1, -1, -1, 1, -3, 0, 0};
    double[] exp = new double[y.length];
    for (int i = 0; i < y.length; i++) exp[i] = Math.atan2(y[i], xx[i]);
    assertClose(exp, Tensor.of(y).atan2(Tensor.of(xx)), 1e-15, 1e-15);
    assertClose(new double[] {Math.PI * 3 / 4}, Tensor.of(new double[] {1}).atan2(Tensor.of(new double[] {-1})),
        1e-15, 0);
    // Scalar second argument, also for an integer tensor (the scalar must not be truncated to the tensor's dtype).
    assertClose(map(y, v -> Math.atan2(v, -0.5)), Tensor.of(y).atan2(-0.5), 1e-15, 1e-15);
    Tensor ia = Tensor.of(new long[] {1, -2, 0}).atan2(0.5);
    assertEquals(DType.FLOAT32, ia.dtype());
    assertClose(new double[] {Math.atan2(1, 0.5), Math.atan2(-2, 0.5), 0}, ia, 1e-6, 1e-7);
  }

  @Test
  void activationsMatchTheirDefinitions() {
    double[] x = {-2.9, -1.5, -0.5, -1e-3, 0, 0.25, 1.0, 2.5};
    unary(x, Tensor::relu, v -> Math.max(v, 0), 0);
    unary(x, Tensor::sigmoid, v -> 1 / (1 + Math.exp(-v)), 1e-6);
    unary(x, Tensor::silu, v -> v / (1 + Math.exp(-v)), 1e-6);
    unary(x, Tensor::tanh, Math::tanh, 1e-6);
    unary(x, Tensor::gelu, v -> 0.5 * v * (1 + erf(v / Math.sqrt(2))), 1e-6);
    unary(x, Tensor::geluTanh,
        v -> 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))), 1e-6);
    unary(x, Tensor::erf, Checks::erf, 1e-6);
    // Sanity of the reference erf itself against known values.
    assertEquals(0.8427007929497149, erf(1.0), 1e-15);
    assertEquals(-0.9953222650189527, erf(-2.0), 1e-14);
  }

  @Test
  void softmaxAndLogSoftmaxAlongEachDim() {
    double[] x = gaussian(12, 3);
    for (int i = 0; i < x.length; i++) x[i] *= 3;
    x[5] = 40; // large logit: the stable formulation must not overflow
    Tensor t = Tensor.of(x, 3, 4);
    // Along dim 1 (rows) and dim 0 (columns).
    for (int dim : new int[] {1, 0, -1}) {
      int d = dim < 0 ? dim + 2 : dim;
      double[] sm = new double[12], lsm = new double[12];
      for (int o = 0; o < (d == 1 ? 3 : 4); o++) {
        int n = d == 1 ? 4 : 3;
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < n; k++) max = Math.max(max, x[d == 1 ? o * 4 + k : k * 4 + o]);
        double z = 0;
        for (int k = 0; k < n; k++) z += Math.exp(x[d == 1 ? o * 4 + k : k * 4 + o] - max);
        for (int k = 0; k < n; k++) {
          int idx = d == 1 ? o * 4 + k : k * 4 + o;
          sm[idx] = Math.exp(x[idx] - max) / z;
          lsm[idx] = x[idx] - max - Math.log(z);
        }
      }
      assertClose(sm, new long[] {3, 4}, t.softmax(dim), 1e-12, 1e-15);
      assertClose(lsm, new long[] {3, 4}, t.logSoftmax(dim), 1e-12, 1e-12);
      Tensor f = t.to(DType.FLOAT32);
      assertClose(sm, f.softmax(dim), 1e-5, 1e-7);
      assertClose(lsm, f.logSoftmax(dim), 1e-5, 1e-5);
    }
  }

  @Test
  void clampAndOneSidedClamps() {
    double[] x = {-5, -1, -0.5, 0, 0.7, 2, 9};
    unary(x, t -> t.clamp(-1, 2), v -> Math.min(Math.max(v, -1), 2), 0);
    unary(x, t -> t.clampMin(0.5), v -> Math.max(v, 0.5), 0);
    unary(x, t -> t.clampMax(-0.25), v -> Math.min(v, -0.25), 0);
    Tensor c = Tensor.of(x);
    Tensor same = c.clamp_(-1, 2);
    assertSame(c, same);
    assertArrayEquals(new double[] {-1, -1, -0.5, 0, 0.7, 2, 2}, c.toDoubleArray());
  }

  @Test
  void minimumMaximumPropagateNaN() {
    double nan = Double.NaN;
    Tensor a = Tensor.of(new double[] {1, nan, 3, -2, 5});
    Tensor b = Tensor.of(new double[] {2, 0, -1, nan, 5});
    assertArrayEquals(new double[] {1, nan, -1, nan, 5}, a.minimum(b).toDoubleArray());
    assertArrayEquals(new double[] {2, nan, 3, nan, 5}, a.maximum(b).toDoubleArray());
    // Broadcasting against a 0-D tensor.
    assertArrayEquals(new double[] {1, nan, 2, -2, 2}, a.minimum(Tensor.scalar(2, DType.FLOAT64)).toDoubleArray());
  }

  @Test
  void whereSelectsByMask() {
    Tensor cond = Tensor.of(new boolean[] {true, false, false, true});
    Tensor a = Tensor.of(new double[] {1, 2, 3, 4});
    Tensor b = Tensor.of(new double[] {-1, -2, -3, -4});
    assertExact(new double[] {1, -2, -3, 4}, new long[] {4}, Tensor.where(cond, a, b));
    // Broadcasting: a column condition against a row of values and a scalar tensor.
    Tensor colCond = Tensor.of(new boolean[] {true, false}, 2, 1);
    Tensor r = Tensor.where(colCond, Tensor.of(new double[] {7, 8, 9}), Tensor.scalar(0, DType.FLOAT64));
    assertExact(new double[] {7, 8, 9, 0, 0, 0}, new long[] {2, 3}, r);
    // masked_fill is the complementary form.
    assertExact(new double[] {1, 2, 3, 0.5}, new long[] {4},
        a.maskedFill(Tensor.of(new boolean[] {false, false, false, true}), 0.5));
  }

  @Test
  void lerpWithScalarAndTensorWeights() {
    Tensor a = Tensor.of(A), b = Tensor.of(B);
    double[] e1 = new double[A.length], e2 = new double[A.length];
    double[] w = {0, 0.25, 0.5, 1, -0.5, 1.5, 0.1};
    for (int i = 0; i < A.length; i++) {
      e1[i] = A[i] + 0.3 * (B[i] - A[i]);
      e2[i] = A[i] + w[i] * (B[i] - A[i]);
    }
    assertClose(e1, a.lerp(b, 0.3), 1e-15, 1e-15);
    assertClose(e2, a.lerp(b, Tensor.of(w)), 1e-15, 1e-15);
  }

  @Test
  void nanToNumReplacesNaNAndInfinities() {
    double[] x = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 1.5, -0.25};
    assertArrayEquals(new double[] {0, 100, -100, 1.5, -0.25}, Tensor.of(x).nanToNum(0, 100, -100).toDoubleArray());
    // Defaults: NaN → 0, ±inf → the dtype's extreme finite values.
    assertArrayEquals(new float[] {0, Float.MAX_VALUE, -Float.MAX_VALUE, 1.5f, -0.25f},
        Tensor.of(toFloats(x)).nanToNum().toFloatArray());
    assertArrayEquals(new double[] {0, Double.MAX_VALUE, -Double.MAX_VALUE, 1.5, -0.25},
        Tensor.of(x).nanToNum().toDoubleArray());
    Tensor t = Tensor.of(x);
    assertSame(t, t.nanToNum_(-1, 7, -7));
    assertArrayEquals(new double[] {-1, 7, -7, 1.5, -0.25}, t.toDoubleArray());
  }

  @Test
  void comparisonsWithTensorsAndScalars() {
    double[] a = {1, 2, 3, Double.NaN, -1};
    double[] b = {1, 3, 2, Double.NaN, -1};
    Tensor ta = Tensor.of(a), tb = Tensor.of(b);
    boolean[] eq = new boolean[5], ne = new boolean[5], lt = new boolean[5], le = new boolean[5],
        gt = new boolean[5], ge = new boolean[5];
    for (int i = 0; i < 5; i++) {
      eq[i] = a[i] == b[i];
      ne[i] = a[i] != b[i];
      lt[i] = a[i] < b[i];
      le[i] = a[i] <= b[i];
      gt[i] = a[i] > b[i];
      ge[i] = a[i] >= b[i];
    }
    Tensor r = ta.eq(tb);
    assertEquals(DType.BOOL, r.dtype());
    assertArrayEquals(eq, r.toBooleanArray());
    assertArrayEquals(ne, ta.ne(tb).toBooleanArray());
    assertArrayEquals(lt, ta.lt(tb).toBooleanArray());
    assertArrayEquals(le, ta.le(tb).toBooleanArray());
    assertArrayEquals(gt, ta.gt(tb).toBooleanArray());
    assertArrayEquals(ge, ta.ge(tb).toBooleanArray());
    double s = 2;
    boolean[] eqs = new boolean[5], nes = new boolean[5], lts = new boolean[5], les = new boolean[5],
        gts = new boolean[5], ges = new boolean[5];
    for (int i = 0; i < 5; i++) {
      eqs[i] = a[i] == s;
      nes[i] = a[i] != s;
      lts[i] = a[i] < s;
      les[i] = a[i] <= s;
      gts[i] = a[i] > s;
      ges[i] = a[i] >= s;
    }
    assertArrayEquals(eqs, ta.eq(s).toBooleanArray());
    assertArrayEquals(nes, ta.ne(s).toBooleanArray());
    assertArrayEquals(lts, ta.lt(s).toBooleanArray());
    assertArrayEquals(les, ta.le(s).toBooleanArray());
    assertArrayEquals(gts, ta.gt(s).toBooleanArray());
    assertArrayEquals(ges, ta.ge(s).toBooleanArray());
    // Logical ops on the masks.
    Tensor m1 = Tensor.of(new boolean[] {true, true, false, false});
    Tensor m2 = Tensor.of(new boolean[] {true, false, true, false});
    assertArrayEquals(new boolean[] {true, false, false, false}, m1.logicalAnd(m2).toBooleanArray());
    assertArrayEquals(new boolean[] {true, true, true, false}, m1.logicalOr(m2).toBooleanArray());
    assertArrayEquals(new boolean[] {false, false, true, true}, m1.logicalNot().toBooleanArray());
  }

  @Test
  void isnanIsfiniteIsinf() {
    double[] x = {0, -1.5, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.MAX_VALUE};
    Tensor t = Tensor.of(x);
    Tensor nan = t.isnan();
    assertEquals(DType.BOOL, nan.dtype());
    assertArrayEquals(new boolean[] {false, false, true, false, false, false}, nan.toBooleanArray());
    assertArrayEquals(new boolean[] {true, true, false, false, false, true}, t.isfinite().toBooleanArray());
    assertArrayEquals(new boolean[] {false, false, false, true, true, false}, t.isinf().toBooleanArray());
    // float32: Double.MAX_VALUE overflows to +inf on conversion.
    assertArrayEquals(new boolean[] {true, true, false, false, false, false},
        t.to(DType.FLOAT32).isfinite().toBooleanArray());
    // Integer tensors are always finite.
    assertArrayEquals(new boolean[] {true, true}, Tensor.of(new long[] {1, -9}).isfinite().toBooleanArray());
  }

  @Test
  void floorCeilRound() {
    double[] x = {-2.5, -1.5, -0.4, 0.5, 1.5, 2.5, 2.6};
    unary(x, Tensor::floor, Math::floor, 0);
    unary(x, Tensor::ceil, Math::ceil, 0);
    unary(x, Tensor::round, Math::rint, 0); // half to even, as Math.rint
  }

  // ------------------------------------------------------------------------------------------ in place

  @Test
  void inPlaceArithmeticMutatesTheReceiverAndReturnsIt() {
    Tensor a = Tensor.of(new double[] {1, 2, 3});
    Tensor b = Tensor.of(new double[] {0.5, -1, 4});
    Tensor view = a.narrow(0, 1, 2); // shares storage: in-place writes must be visible through it
    assertSame(a, a.add_(b));
    assertArrayEquals(new double[] {1.5, 1, 7}, a.toDoubleArray());
    assertArrayEquals(new double[] {1, 7}, view.toDoubleArray());
    a.add_(b, -2);
    assertArrayEquals(new double[] {0.5, 3, -1}, a.toDoubleArray());
    a.add_(1.0);
    assertArrayEquals(new double[] {1.5, 4, 0}, a.toDoubleArray());
    a.sub_(b);
    assertArrayEquals(new double[] {1, 5, -4}, a.toDoubleArray());
    a.sub_(0.5);
    assertArrayEquals(new double[] {0.5, 4.5, -4.5}, a.toDoubleArray());
    a.mul_(b);
    assertArrayEquals(new double[] {0.25, -4.5, -18}, a.toDoubleArray());
    a.mul_(4.0);
    assertArrayEquals(new double[] {1, -18, -72}, a.toDoubleArray());
    a.div_(b);
    assertArrayEquals(new double[] {2, 18, -18}, a.toDoubleArray());
    a.div_(-4.0);
    assertArrayEquals(new double[] {-0.5, -4.5, 4.5}, a.toDoubleArray());
    a.neg_();
    assertArrayEquals(new double[] {0.5, 4.5, -4.5}, a.toDoubleArray());
    Tensor sq = Tensor.of(new double[] {4, 2.25});
    sq.sqrt_();
    assertArrayEquals(new double[] {2, 1.5}, sq.toDoubleArray());
  }

  @Test
  void inPlaceOnAnIntegerTensorRejectsFloatResults() {
    Tensor i = Tensor.of(new long[] {1, 2});
    i.add_(3L);
    assertArrayEquals(new long[] {4, 5}, i.toLongArray());
    i.mul_(3L).sub_(2L);
    assertEquals(DType.INT64, i.dtype());
    assertArrayEquals(new long[] {10, 13}, i.toLongArray());
    i.sub_(6L);
    assertArrayEquals(new long[] {4, 7}, i.toLongArray());
    // As in PyTorch: "result type Float can't be cast to the desired output type Long".
    assertThrows(TorchException.class, () -> i.add_(3.0));
    assertThrows(TorchException.class, () -> i.add_(Tensor.of(new double[] {0.5, 0.5})));
    assertArrayEquals(new long[] {4, 7}, i.toLongArray(), "a failed in-place op leaves the tensor unchanged");
  }

  @Test
  void copyZeroFill() {
    Tensor dst = Tensor.zeros(new long[] {2, 3}, DType.FLOAT32, Device.CPU);
    assertSame(dst, dst.copy_(Tensor.of(new double[] {1.25, -2, 3e10})));
    assertEquals(DType.FLOAT32, dst.dtype(), "copy_ converts to the destination dtype");
    assertArrayEquals(new float[] {1.25f, -2, 3e10f, 1.25f, -2, 3e10f}, dst.toFloatArray()); // broadcast rows
    assertSame(dst, dst.zero_());
    assertArrayEquals(new float[6], dst.toFloatArray());
    assertSame(dst, dst.fill_(-0.75));
    assertArrayEquals(new float[] {-0.75f, -0.75f, -0.75f, -0.75f, -0.75f, -0.75f}, dst.toFloatArray());
    Tensor l = Tensor.zeros(new long[] {2}, DType.INT64, Device.CPU);
    l.fill_((1L << 53) + 1); // not representable as a double: must go through the integer path
    assertArrayEquals(new long[] {(1L << 53) + 1, (1L << 53) + 1}, l.toLongArray());
    // copy_ into a non-contiguous view writes through to the base.
    Tensor base = Tensor.zeros(new long[] {2, 2}, DType.FLOAT64, Device.CPU);
    base.transpose(0, 1).copy_(Tensor.of(new double[] {1, 2, 3, 4}, 2, 2));
    assertArrayEquals(new double[] {1, 3, 2, 4}, base.toDoubleArray());
  }

  @Test
  void lerpInPlace() {
    Tensor a = Tensor.of(new double[] {0, 10, -4});
    Tensor b = Tensor.of(new double[] {8, 20, 4});
    assertSame(a, a.lerp_(b, 0.25));
    assertArrayEquals(new double[] {2, 12.5, -2}, a.toDoubleArray());
    a.lerp_(b, Tensor.of(new double[] {1, 0, 0.5}));
    assertArrayEquals(new double[] {8, 12.5, 1}, a.toDoubleArray());
  }

  @Test
  void addcmulAndAddcdivInPlace() {
    double[] a = {1, 2, 3}, t1 = {2, -3, 0.5}, t2 = {4, 0.5, -2};
    Tensor x = Tensor.of(a);
    assertSame(x, x.addcmul_(Tensor.of(t1), Tensor.of(t2), 0.5));
    double[] e = new double[3];
    for (int i = 0; i < 3; i++) e[i] = a[i] + 0.5 * t1[i] * t2[i];
    assertArrayEquals(e, x.toDoubleArray(), 0);
    assertSame(x, x.addcdiv_(Tensor.of(t1), Tensor.of(t2), -2));
    for (int i = 0; i < 3; i++) e[i] = e[i] - 2 * t1[i] / t2[i];
    assertArrayEquals(e, x.toDoubleArray(), 1e-15);
  }

  @Test
  void requiresGradRecordsTheGraph() {
    Tensor x = Tensor.of(new double[] {1, -2, 3});
    assertFalse(x.requiresGrad());
    assertSame(x, x.requiresGrad_(true));
    assertTrue(x.requiresGrad());
    assertTrue(x.isLeaf());
    Tensor y = x.mul(x).mul(3.0).sum(); // d/dx Σ 3x² = 6x
    assertTrue(y.requiresGrad());
    assertFalse(y.isLeaf());
    y.backward();
    assertArrayEquals(new double[] {6, -12, 18}, x.grad().toDoubleArray());
    x.requiresGrad_(false);
    assertFalse(x.mul(2.0).requiresGrad());
    // Only floating-point tensors can require gradients.
    assertThrows(TorchException.class, () -> Tensor.of(new long[] {1}).requiresGrad_(true));
    // Only leaves can change requires_grad.
    Tensor z = Tensor.of(new double[] {1}).requiresGrad_(true).mul(2.0);
    assertThrows(TorchException.class, () -> z.requiresGrad_(false));
  }
}
