package dev.cm4j.tensor;

import static dev.cm4j.tensor.Checks.*;
import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** matmul, bmm, linear, einsum and eigh against Java loops and closed forms. */
class LinalgTest {
  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  /** Row-major [n,m] × [m,p]. */
  static double[] mm(double[] a, double[] b, int n, int m, int p) {
    double[] c = new double[n * p];
    for (int i = 0; i < n; i++)
      for (int j = 0; j < p; j++) {
        double s = 0;
        for (int k = 0; k < m; k++) s += a[i * m + k] * b[k * p + j];
        c[i * p + j] = s;
      }
    return c;
  }

  @Test
  void matmulOfMatricesVectorsAndBatches() {
    // Hand-computed 2×3 · 3×2.
    Tensor a = Tensor.of(new double[] {1, 2, 3, 4, 5, 6}, 2, 3);
    Tensor b = Tensor.of(new double[] {7, 8, 9, 10, 11, 12}, 3, 2);
    assertExact(new double[] {58, 64, 139, 154}, new long[] {2, 2}, a.matmul(b));
    // Matrix · vector and vector · matrix drop the vector dim.
    assertExact(new double[] {14, 32}, new long[] {2}, a.matmul(Tensor.of(new double[] {1, 2, 3})));
    assertExact(new double[] {9, 12, 15}, new long[] {3}, Tensor.of(new double[] {1, 2}).matmul(a));
    // Vector · vector is a 0-D dot product.
    Tensor dot = Tensor.of(new double[] {1, 2, 3}).matmul(Tensor.of(new double[] {4, -5, 6}));
    assertEquals(0, dot.dim());
    assertEquals(12.0, dot.item());
    // Batched [2,3,4] · [4,5] broadcasts the matrix.
    double[] x = gaussian(24, 1), w = gaussian(20, 2);
    double[] e = new double[30];
    for (int bIdx = 0; bIdx < 2; bIdx++) {
      double[] part = mm(java.util.Arrays.copyOfRange(x, bIdx * 12, bIdx * 12 + 12), w, 3, 4, 5);
      System.arraycopy(part, 0, e, bIdx * 15, 15);
    }
    assertClose(e, new long[] {2, 3, 5}, Tensor.of(x, 2, 3, 4).matmul(Tensor.of(w, 4, 5)), 1e-12, 1e-12);
    // float32 agrees to float precision.
    assertClose(e, Tensor.of(toFloats(x), 2, 3, 4).matmul(Tensor.of(toFloats(w), 4, 5)), 1e-5, 1e-5);
    assertThrows(TorchException.class, () -> a.matmul(a));
  }

  @Test
  void bmmMultipliesEachBatch() {
    double[] x = gaussian(3 * 2 * 4, 5), y = gaussian(3 * 4 * 3, 6);
    double[] e = new double[3 * 2 * 3];
    for (int bIdx = 0; bIdx < 3; bIdx++) {
      double[] part = mm(java.util.Arrays.copyOfRange(x, bIdx * 8, bIdx * 8 + 8),
          java.util.Arrays.copyOfRange(y, bIdx * 12, bIdx * 12 + 12), 2, 4, 3);
      System.arraycopy(part, 0, e, bIdx * 6, 6);
    }
    assertClose(e, new long[] {3, 2, 3}, Tensor.of(x, 3, 2, 4).bmm(Tensor.of(y, 3, 4, 3)), 1e-12, 1e-12);
    // bmm does not broadcast.
    assertThrows(TorchException.class, () -> Tensor.of(x, 3, 2, 4).bmm(Tensor.of(gaussian(12, 1), 1, 4, 3)));
    assertThrows(TorchException.class, () -> Tensor.of(x, 6, 4).bmm(Tensor.of(y, 4, 9)));
  }

  @Test
  void linearIsXTimesWTransposedPlusBias() {
    double[] x = gaussian(2 * 3, 7), w = gaussian(4 * 3, 8), b = gaussian(4, 9);
    double[] e = new double[2 * 4];
    for (int i = 0; i < 2; i++)
      for (int o = 0; o < 4; o++) {
        double s = b[o];
        for (int k = 0; k < 3; k++) s += x[i * 3 + k] * w[o * 3 + k];
        e[i * 4 + o] = s;
      }
    Tensor xt = Tensor.of(x, 2, 3), wt = Tensor.of(w, 4, 3), bt = Tensor.of(b);
    assertClose(e, new long[] {2, 4}, F.linear(xt, wt, bt), 1e-12, 1e-12);
    double[] noBias = e.clone();
    for (int i = 0; i < 2; i++) for (int o = 0; o < 4; o++) noBias[i * 4 + o] -= b[o];
    assertClose(noBias, new long[] {2, 4}, F.linear(xt, wt, null), 1e-12, 1e-12);
    // Leading batch dims pass through.
    assertArrayEquals(new long[] {5, 2, 4}, F.linear(xt.unsqueeze(0).expand(5, 2, 3), wt, bt).shape());
    assertThrows(TorchException.class, () -> F.linear(xt, Tensor.of(w, 3, 4), null));
  }

  @Test
  void einsumContractions() {
    double[] a = gaussian(6, 10), b = gaussian(12, 11);
    Tensor ta = Tensor.of(a, 2, 3), tb = Tensor.of(b, 3, 4);
    assertClose(mm(a, b, 2, 3, 4), new long[] {2, 4}, Tensor.einsum("ij,jk->ik", ta, tb), 1e-12, 1e-12);
    // Transpose.
    assertExact(new double[] {a[0], a[3], a[1], a[4], a[2], a[5]}, new long[] {3, 2}, Tensor.einsum("ij->ji", ta));
    // Trace and diagonal.
    Tensor sq = Tensor.of(new double[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3);
    assertEquals(15.0, Tensor.einsum("ii->", sq).item());
    assertExact(new double[] {1, 5, 9}, new long[] {3}, Tensor.einsum("ii->i", sq));
    // Outer product.
    assertExact(new double[] {3, 4, 6, 8, 9, 12}, new long[] {3, 2},
        Tensor.einsum("i,j->ij", Tensor.of(new double[] {1, 2, 3}), Tensor.of(new double[] {3, 4})));
    // Batched with a sum over two indices: out[b] = Σ_ij x[b,i,j]·y[b,i,j].
    double[] x = gaussian(12, 12), y = gaussian(12, 13);
    double[] e = new double[2];
    for (int i = 0; i < 12; i++) e[i / 6] += x[i] * y[i];
    assertClose(e, new long[] {2}, Tensor.einsum("bij,bij->b", Tensor.of(x, 2, 2, 3), Tensor.of(y, 2, 2, 3)),
        1e-12, 1e-12);
    assertThrows(TorchException.class, () -> Tensor.einsum("ij,jk->ik", ta, ta));
  }

  @Test
  void eighOfKnownMatrices() {
    // [[2,1],[1,2]]: eigenvalues 1, 3 with eigenvectors (1,−1)/√2 and (1,1)/√2.
    Tensor.Eigh e2 = Tensor.of(new double[] {2, 1, 1, 2}, 2, 2).eigh();
    assertClose(new double[] {1, 3}, new long[] {2}, e2.eigenvalues(), 1e-14, 1e-14);
    double[] v = e2.eigenvectors().toDoubleArray(); // columns are eigenvectors
    double r = Math.sqrt(0.5);
    assertEquals(r, Math.abs(v[0]), 1e-14);
    assertEquals(-v[0], v[2], 1e-14); // first column ∝ (1, −1)
    assertEquals(v[1], v[3], 1e-14); // second column ∝ (1, 1)
    // Tridiagonal [2,−1,0; −1,2,−1; 0,−1,2]: eigenvalues 2 − √2, 2, 2 + √2.
    Tensor.Eigh e3 = Tensor.of(new double[] {2, -1, 0, -1, 2, -1, 0, -1, 2}, 3, 3).eigh();
    assertEquals(DType.FLOAT64, e3.eigenvalues().dtype());
    assertClose(new double[] {2 - Math.sqrt(2), 2, 2 + Math.sqrt(2)}, new long[] {3}, e3.eigenvalues(), 1e-14, 1e-14);
  }

  @Test
  void eighReconstructsARandomSymmetricMatrix() {
    int n = 5;
    double[] g = gaussian(n * n, 14);
    double[] a = new double[n * n];
    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) a[i * n + j] = g[i * n + j] + g[j * n + i];
    Tensor.Eigh e = Tensor.of(a, n, n).eigh();
    double[] lam = e.eigenvalues().toDoubleArray();
    double[] v = e.eigenvectors().toDoubleArray();
    for (int i = 1; i < n; i++) assertTrue(lam[i - 1] <= lam[i], "eigenvalues ascend");
    // Trace equals the eigenvalue sum.
    double tr = 0, ls = 0;
    for (int i = 0; i < n; i++) {
      tr += a[i * n + i];
      ls += lam[i];
    }
    assertEquals(tr, ls, 1e-12);
    // A·v_k = λ_k·v_k and VᵀV = I, in Java arithmetic.
    for (int k = 0; k < n; k++) {
      for (int i = 0; i < n; i++) {
        double av = 0;
        for (int j = 0; j < n; j++) av += a[i * n + j] * v[j * n + k];
        assertEquals(lam[k] * v[i * n + k], av, 1e-12);
      }
      for (int l = 0; l < n; l++) {
        double dot = 0;
        for (int i = 0; i < n; i++) dot += v[i * n + k] * v[i * n + l];
        assertEquals(k == l ? 1 : 0, dot, 1e-12);
      }
    }
    assertThrows(TorchException.class, () -> Tensor.of(a, 1, 25).eigh());
  }
}
