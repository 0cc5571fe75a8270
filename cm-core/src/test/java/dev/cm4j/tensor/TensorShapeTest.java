package dev.cm4j.tensor;

import static dev.cm4j.tensor.Checks.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Shape, view, joining, splitting and indexing ops against hand-computed layouts. */
class TensorShapeTest {
  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  /** 0, 1, ..., n−1 as float64 with the given shape. */
  private static Tensor seq(long... shape) {
    long n = 1;
    for (long s : shape) n *= s;
    double[] v = new double[(int) n];
    for (int i = 0; i < v.length; i++) v[i] = i;
    return Tensor.of(v, shape);
  }

  private static double[] d(double... v) {
    return v;
  }

  @Test
  void reshapeAndViewKeepRowMajorOrder() {
    Tensor t = seq(2, 3);
    assertExact(d(0, 1, 2, 3, 4, 5), new long[] {3, 2}, t.reshape(3, 2));
    assertExact(d(0, 1, 2, 3, 4, 5), new long[] {6}, t.reshape(-1));
    assertExact(d(0, 1, 2, 3, 4, 5), new long[] {1, 2, 3}, t.view(1, -1, 3));
    // A view shares storage.
    Tensor v = t.view(6);
    v.select(0, 4).fill_(40.0);
    assertEquals(40.0, t.select(0, 1).select(0, 1).item());
    // view of a transposed (non-contiguous) tensor is impossible; reshape copies.
    Tensor tt = t.transpose(0, 1);
    TorchException e = assertThrows(TorchException.class, () -> tt.view(6));
    assertTrue(e.getMessage().contains("view"), e.getMessage());
    assertExact(d(0, 3, 1, 40, 2, 5), new long[] {6}, tt.reshape(6));
    assertThrows(TorchException.class, () -> t.reshape(4, 2));
  }

  @Test
  void flattenPermuteTranspose() {
    Tensor t = seq(2, 3, 4);
    assertExact(seq(24).toDoubleArray(), new long[] {24}, t.flatten());
    assertExact(seq(24).toDoubleArray(), new long[] {2, 12}, t.flatten(1, 2));
    assertExact(seq(24).toDoubleArray(), new long[] {6, 4}, t.flatten(0, -2));
    // permute(2, 0, 1): out[k][i][j] = t[i][j][k] = i*12 + j*4 + k.
    double[] p = new double[24];
    for (int k = 0; k < 4; k++) for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) p[k * 6 + i * 3 + j] = i * 12 + j * 4 + k;
    Tensor pt = t.permute(2, 0, 1);
    assertExact(p, new long[] {4, 2, 3}, pt);
    assertArrayEquals(new long[] {1, 12, 4}, pt.strides(), "permute is a view with permuted strides");
    assertFalse(pt.isContiguous());
    // transpose(0, 2): out[k][j][i] = t[i][j][k].
    double[] q = new double[24];
    for (int k = 0; k < 4; k++) for (int j = 0; j < 3; j++) for (int i = 0; i < 2; i++) q[k * 6 + j * 2 + i] = i * 12 + j * 4 + k;
    assertExact(q, new long[] {4, 3, 2}, t.transpose(0, 2));
    assertExact(q, new long[] {4, 3, 2}, t.transpose(-1, 0));
    assertThrows(TorchException.class, () -> t.permute(0, 1));
  }

  @Test
  void unsqueezeSqueezeExpandRepeat() {
    Tensor t = seq(3);
    assertArrayEquals(new long[] {1, 3}, t.unsqueeze(0).shape());
    assertArrayEquals(new long[] {3, 1}, t.unsqueeze(1).shape());
    assertArrayEquals(new long[] {3, 1}, t.unsqueeze(-1).shape());
    Tensor s = seq(1, 3, 1, 1);
    assertExact(d(0, 1, 2), new long[] {3}, s.squeeze());
    assertArrayEquals(new long[] {3, 1, 1}, s.squeeze(0).shape());
    assertArrayEquals(new long[] {1, 3}, s.squeeze(2, 3).shape());
    assertArrayEquals(new long[] {1, 3, 1, 1}, s.squeeze(1).shape(), "a non-1 dim is left alone");
    Tensor col = seq(3, 1);
    Tensor ex = col.expand(3, 4);
    assertExact(d(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2), new long[] {3, 4}, ex);
    assertArrayEquals(new long[] {1, 0}, ex.strides(), "expand is a stride-0 view");
    assertExact(d(0, 1, 2, 0, 1, 2), new long[] {2, 3}, t.expand(2, -1));
    assertThrows(TorchException.class, () -> t.expand(4));
    // repeat tiles: [0 1 2] repeated (2, 2) → rows [0 1 2 0 1 2] twice.
    assertExact(d(0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2), new long[] {2, 6}, t.repeat(2, 2));
    assertExact(d(0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3), new long[] {2, 6}, seq(2, 2).repeat(1, 3));
  }

  @Test
  void catAndStack() {
    Tensor a = seq(2, 2), b = seq(2, 2).add(10.0), c = seq(1, 2).add(100.0);
    assertExact(d(0, 1, 2, 3, 10, 11, 12, 13, 100, 101), new long[] {5, 2}, Tensor.cat(List.of(a, b, c), 0));
    assertExact(d(0, 1, 10, 11, 2, 3, 12, 13), new long[] {2, 4}, Tensor.cat(List.of(a, b), 1));
    assertExact(d(0, 1, 10, 11, 2, 3, 12, 13), new long[] {2, 4}, Tensor.cat(List.of(a, b), -1));
    assertThrows(TorchException.class, () -> Tensor.cat(List.of(a, c), 1));
    assertExact(d(0, 1, 2, 3, 10, 11, 12, 13), new long[] {2, 2, 2}, Tensor.stack(List.of(a, b), 0));
    assertExact(d(0, 1, 10, 11, 2, 3, 12, 13), new long[] {2, 2, 2}, Tensor.stack(List.of(a, b), 1));
    assertExact(d(0, 10, 1, 11, 2, 12, 3, 13), new long[] {2, 2, 2}, Tensor.stack(List.of(a, b), 2));
    assertThrows(TorchException.class, () -> Tensor.stack(List.of(a, c), 0));
  }

  @Test
  void chunkAndSplit() {
    Tensor t = seq(7, 2);
    List<Tensor> ch = t.chunk(3, 0); // ceil(7/3) = 3 rows per chunk: 3, 3, 1
    assertEquals(3, ch.size());
    assertExact(d(0, 1, 2, 3, 4, 5), new long[] {3, 2}, ch.get(0));
    assertExact(d(6, 7, 8, 9, 10, 11), new long[] {3, 2}, ch.get(1));
    assertExact(d(12, 13), new long[] {1, 2}, ch.get(2));
    List<Tensor> cols = t.chunk(2, 1);
    assertExact(d(0, 2, 4, 6, 8, 10, 12), new long[] {7, 1}, cols.get(0));
    List<Tensor> sp = t.split(new long[] {2, 4, 1}, 0);
    assertEquals(3, sp.size());
    assertExact(d(0, 1, 2, 3), new long[] {2, 2}, sp.get(0));
    assertExact(d(4, 5, 6, 7, 8, 9, 10, 11), new long[] {4, 2}, sp.get(1));
    assertExact(d(12, 13), new long[] {1, 2}, sp.get(2));
    assertThrows(TorchException.class, () -> t.split(new long[] {2, 2}, 0), "sizes must add up to 7");
  }

  @Test
  void narrowSliceSelect() {
    Tensor t = seq(4, 5);
    assertExact(d(5, 6, 7, 8, 9, 10, 11, 12, 13, 14), new long[] {2, 5}, t.narrow(0, 1, 2));
    assertExact(d(3, 4, 8, 9, 13, 14, 18, 19), new long[] {4, 2}, t.narrow(1, 3, 2));
    assertThrows(TorchException.class, () -> t.narrow(1, 4, 2));
    // slice with Python semantics: t[:, 1:5:2], t[-2:], out-of-range end clamps.
    assertExact(d(1, 3, 6, 8, 11, 13, 16, 18), new long[] {4, 2}, t.slice(1, 1, 5, 2));
    assertExact(d(10, 11, 12, 13, 14, 15, 16, 17, 18, 19), new long[] {2, 5}, t.slice(0, -2, Long.MAX_VALUE, 1));
    assertExact(d(0, 4, 8, 12, 16, 20), new long[] {6}, seq(21).slice(0, 0, 100, 4));
    assertThrows(TorchException.class, () -> t.slice(0, 0, 2, 0));
    assertExact(d(10, 11, 12, 13, 14), new long[] {5}, t.select(0, 2));
    assertExact(d(4, 9, 14, 19), new long[] {4}, t.select(1, -1));
    assertThrows(TorchException.class, () -> t.select(0, 4));
  }

  @Test
  void indexSelectGatherFlip() {
    Tensor t = seq(3, 4);
    Tensor idx = Tensor.of(new long[] {2, 0, 2});
    assertExact(d(8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11), new long[] {3, 4}, t.indexSelect(0, idx));
    assertExact(d(2, 0, 2, 6, 4, 6, 10, 8, 10), new long[] {3, 3}, t.indexSelect(1, idx));
    // gather(1, idx): out[i][j] = t[i][idx[i][j]].
    Tensor g = Tensor.of(new long[] {3, 0, 1, 1, 2, 2}, 3, 2);
    assertExact(d(3, 0, 5, 5, 10, 10), new long[] {3, 2}, t.gather(1, g));
    // gather(0, idx): out[i][j] = t[idx[i][j]][j].
    Tensor g0 = Tensor.of(new long[] {2, 1, 0, 0}, 1, 4);
    assertExact(d(8, 5, 2, 3), new long[] {1, 4}, t.gather(0, g0));
    assertThrows(TorchException.class, () -> t.gather(1, Tensor.of(new long[] {4}, 1, 1)));
    assertExact(d(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8), new long[] {3, 4}, t.flip(1));
    assertExact(d(8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3), new long[] {3, 4}, t.flip(0));
    assertExact(d(11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), new long[] {3, 4}, t.flip(0, 1));
  }

  @Test
  void contiguousCloneDetach() {
    Tensor t = seq(2, 3);
    Tensor tt = t.transpose(0, 1);
    assertFalse(tt.isContiguous());
    Tensor c = tt.contiguous();
    assertTrue(c.isContiguous());
    assertExact(d(0, 3, 1, 4, 2, 5), new long[] {3, 2}, c);
    assertArrayEquals(new long[] {2, 1}, c.strides());
    // clone owns its storage.
    Tensor cl = t.clone();
    cl.fill_(9.0);
    assertExact(d(0, 1, 2, 3, 4, 5), new long[] {2, 3}, t);
    // detach shares storage but drops the graph.
    Tensor x = Tensor.of(new double[] {1, 2}).requiresGrad_(true);
    Tensor y = x.mul(3.0);
    Tensor dy = y.detach();
    assertTrue(y.requiresGrad());
    assertFalse(dy.requiresGrad());
    assertTrue(dy.isLeaf());
    dy.fill_(0.5);
    assertArrayEquals(new double[] {0.5, 0.5}, y.toDoubleArray(), "detach shares storage");
    // clone is differentiable: d(clone(x)·2)/dx = 2.
    Tensor z = x.clone().mul(2.0).sum();
    z.backward();
    assertArrayEquals(new double[] {2, 2}, x.grad().toDoubleArray());
  }

  @Test
  void advancedIndexAndIndexPut() {
    Tensor t = seq(3, 4);
    // t[[0, 2]] → rows 0 and 2.
    assertExact(d(0, 1, 2, 3, 8, 9, 10, 11), new long[] {2, 4}, t.index(Tensor.of(new long[] {0, 2})));
    // t[[0, 2], [1, 3]] → elements (0,1) and (2,3).
    assertExact(d(1, 11), new long[] {2}, t.index(Tensor.of(new long[] {0, 2}), Tensor.of(new long[] {1, 3})));
    // t[:, [3, 0]] with a null meaning ':'.
    assertExact(d(3, 0, 7, 4, 11, 8), new long[] {3, 2}, t.index(null, Tensor.of(new long[] {3, 0})));
    // Boolean mask selects matching elements in row-major order.
    Tensor mask = t.gt(8.5);
    assertExact(d(9, 10, 11), new long[] {3}, t.index(mask));

    Tensor u = seq(3, 4);
    assertSame(u, u.indexPut_(new Tensor[] {Tensor.of(new long[] {0, 2}), Tensor.of(new long[] {1, 3})},
        Tensor.of(new double[] {-1, -2}), false));
    assertExact(d(0, -1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -2), new long[] {3, 4}, u);
    // accumulate: repeated indices add up.
    Tensor acc = Tensor.zeros(new long[] {4}, DType.FLOAT64, Device.CPU);
    acc.indexPut_(new Tensor[] {Tensor.of(new long[] {1, 1, 3, 1})}, Tensor.of(new double[] {1, 2, 5, 4}), true);
    assertExact(d(0, 7, 0, 5), new long[] {4}, acc);
    // Broadcast a scalar value through a mask.
    Tensor w = seq(2, 2);
    w.indexPut_(new Tensor[] {w.lt(1.5)}, Tensor.scalar(-7, DType.FLOAT64), false);
    assertExact(d(-7, -7, 2, 3), new long[] {2, 2}, w);
    assertThrows(TorchException.class, () -> t.index(Tensor.of(new long[] {5})));
  }
}
