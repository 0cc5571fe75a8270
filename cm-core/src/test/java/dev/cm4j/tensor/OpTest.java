package dev.cm4j.tensor;

import static dev.cm4j.tensor.Checks.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The generic ATen operator call: schema defaults, argument conversion, results and errors. */
class OpTest {
  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  @Test
  void addmmTakesBetaAndAlphaFromTheSchema() {
    Op addmm = Op.of("aten::addmm", "");
    assertTrue(addmm.schema().startsWith("aten::addmm(Tensor self, Tensor mat1, Tensor mat2"), addmm.schema());
    Tensor bias = Tensor.of(new double[] {10, 20});
    Tensor x = Tensor.of(new double[] {1, 2, 3, 4}, 2, 2);
    Tensor w = Tensor.of(new double[] {5, 6, 7, 8}, 2, 2);
    // x·w = [[19, 22], [43, 50]]; + bias row.
    assertExact(new double[] {29, 42, 53, 70}, new long[] {2, 2}, addmm.callTensor(bias, x, w));
    // beta·bias + alpha·x·w with explicit keyword-only arguments passed positionally.
    assertExact(new double[] {29.5, 51, 41.5, 65}, new long[] {2, 2}, addmm.callTensor(bias, x, w, 2.0, 0.5));
    // Integer scalars are accepted for Scalar arguments.
    assertExact(new double[] {39, 62, 63, 90}, new long[] {2, 2}, addmm.callTensor(bias, x, w, 2L, 1L));
    assertSame(addmm, Op.of("aten::addmm", ""), "operators are cached");
  }

  @Test
  void overloadsAndDefaultsOfCommonOps() {
    Tensor a = Tensor.of(new double[] {1, 2, 3});
    Tensor b = Tensor.of(new double[] {0.5, 0.25, -1});
    assertExact(new double[] {1.5, 2.25, 2}, new long[] {3}, Op.of("aten::add", "Tensor").callTensor(a, b));
    assertExact(new double[] {2, 2.5, 1}, new long[] {3}, Op.of("aten::add", "Tensor").callTensor(a, b, 2.0));
    assertExact(new double[] {3.5, 4.5, 5.5}, new long[] {3}, Op.of("aten::add", "Scalar").callTensor(a, 2.5));
    // aten::sum(Tensor self, *, ScalarType? dtype=None): dtype defaults to None.
    Tensor s = Op.of("aten::sum", "").callTensor(a);
    assertEquals(0, s.dim());
    assertEquals(6.0, s.item());
    // A ScalarType argument given as a DType.
    Tensor si = Op.of("aten::sum", "").callTensor(Tensor.of(new long[] {1, 2}), DType.FLOAT32);
    assertEquals(DType.FLOAT32, si.dtype());
    // int list, bool and optional (None) arguments: sum.dim_IntList(self, dim, keepdim=False, *, dtype=None).
    Tensor m = Tensor.of(new double[] {1, 2, 3, 4, 5, 6}, 2, 3);
    assertExact(new double[] {6, 15}, new long[] {2, 1},
        Op.of("aten::sum", "dim_IntList").callTensor(m, new long[] {1}, true, null));
    assertExact(new double[] {5, 7, 9}, new long[] {3}, Op.of("aten::sum", "dim_IntList").callTensor(m, new int[] {0}));
    // A string argument: gelu(self, *, approximate='none').
    double v = 1.3;
    double tanhForm = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
    assertEquals(tanhForm, Op.of("aten::gelu", "").callTensor(Tensor.of(new double[] {v}), "tanh").item(), 1e-15);
    assertEquals(0.5 * v * (1 + erf(v / Math.sqrt(2))),
        Op.of("aten::gelu", "").callTensor(Tensor.of(new double[] {v})).item(), 1e-13);
    // A double list: aten::quantile is too specialised; use upsample with scale factors (float[]?).
    Tensor up = Op.of("aten::upsample_nearest1d", "vec").callTensor(Tensor.of(new double[] {1, 2}, 1, 1, 2), null,
        new double[] {2.0});
    assertExact(new double[] {1, 1, 2, 2}, new long[] {1, 1, 4}, up);
  }

  @Test
  void multipleListAndScalarResults() {
    Tensor m = Tensor.of(new double[] {3, 9, 1, 4, 0, 7}, 2, 3);
    List<Object> r = Op.of("aten::max", "dim").call(m, 1L);
    assertEquals(2, r.size());
    assertExact(new double[] {9, 7}, new long[] {2}, (Tensor) r.get(0));
    assertArrayEquals(new long[] {1, 2}, ((Tensor) r.get(1)).toLongArray());
    // A tensor list result.
    List<Object> c = Op.of("aten::chunk", "").call(Tensor.of(new double[] {1, 2, 3, 4, 5}), 2L);
    assertEquals(1, c.size());
    @SuppressWarnings("unchecked")
    List<Tensor> parts = (List<Tensor>) c.get(0);
    assertEquals(2, parts.size());
    assertExact(new double[] {1, 2, 3}, new long[] {3}, parts.get(0));
    assertExact(new double[] {4, 5}, new long[] {2}, parts.get(1));
    // Int and bool results.
    assertEquals(3L, Op.of("aten::size", "int").call(m, 1L).get(0));
    assertEquals(Boolean.TRUE, Op.of("aten::is_floating_point", "").call(m).get(0));
    assertEquals(Boolean.FALSE, Op.of("aten::is_floating_point", "").call(Tensor.of(new long[] {1})).get(0));
    // A tensor list argument.
    Tensor cat = Op.of("aten::cat", "").callTensor(List.of(Tensor.of(new double[] {1}), Tensor.of(new double[] {2, 3})));
    assertExact(new double[] {1, 2, 3}, new long[] {3}, cat);
    // Optional tensor lists (aten::index takes Tensor?[]) with a None entry.
    Tensor idx = Op.of("aten::index", "Tensor").callTensor(m, java.util.Arrays.asList(null, Tensor.of(new long[] {2, 0})));
    assertExact(new double[] {1, 3, 7, 4}, new long[] {2, 2}, idx);
    assertThrows(TorchException.class, () -> Op.of("aten::max", "dim").callTensor(m, 1L),
        "callTensor refuses an operator with two results");
  }

  @Test
  void typeMismatchNamesTheArgument() {
    Op add = Op.of("aten::add", "Tensor");
    Tensor a = Tensor.of(new double[] {1});
    TorchException e = assertThrows(TorchException.class, () -> add.call(a, "not a tensor"));
    assertTrue(e.getMessage().contains("other"), e.getMessage());
    TorchException e2 = assertThrows(TorchException.class, () -> add.call(a, a, "alpha?"));
    assertTrue(e2.getMessage().contains("alpha"), e2.getMessage());
    // Missing a required argument.
    TorchException e3 = assertThrows(TorchException.class, () -> add.call(a));
    assertTrue(e3.getMessage().contains("other"), e3.getMessage());
    // Too many arguments.
    assertThrows(TorchException.class, () -> add.call(a, a, 1.0, 2.0));
    // A kernel error (shapes that do not broadcast) is a TorchException too.
    assertThrows(TorchException.class,
        () -> add.call(Tensor.of(new double[] {1, 2}), Tensor.of(new double[] {1, 2, 3})));
    // Unsupported Java argument types are rejected before the call.
    assertThrows(IllegalArgumentException.class, () -> add.call(a, new Object()));
  }

  @Test
  void unknownOperatorsAndOverloadsAreTorchExceptions() {
    TorchException e = assertThrows(TorchException.class, () -> Op.of("aten::definitely_not_an_op", ""));
    assertTrue(e.getMessage().contains("definitely_not_an_op"), e.getMessage());
    assertThrows(TorchException.class, () -> Op.of("aten::add", "NoSuchOverload"));
  }
}
