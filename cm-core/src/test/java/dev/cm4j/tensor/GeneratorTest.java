package dev.cm4j.tensor;

import static dev.cm4j.tensor.Checks.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Checks.Ref;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Generator seeding, state save/restore, corrupt states, and parity with PyTorch's generators. */
class GeneratorTest {
  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  private static double[] randn(int n, Generator g) {
    return Tensor.randn(new long[] {n}, DType.FLOAT32, Device.CPU, g).toDoubleArray();
  }

  @Test
  void stateRoundTripReproducesTheSameNumbers() {
    try (Generator g = Generator.cpu(5)) {
      randn(3, g); // odd scalar-path draw: leaves a cached normal sample in the state
      Tensor.rand(new long[] {7}, DType.FLOAT64, Device.CPU, g);
      byte[] st = g.getState();
      assertTrue(st.length > 0);
      double[] a = randn(1001, g);
      double[] a2 = Tensor.rand(new long[] {33}, DType.FLOAT64, Device.CPU, g).toDoubleArray();
      double[] a3 = randn(1, g);
      g.setState(st);
      assertArrayEquals(st, g.getState(), "the restored state reads back identically");
      assertArrayEquals(a, randn(1001, g), 0.0);
      assertArrayEquals(a2, Tensor.rand(new long[] {33}, DType.FLOAT64, Device.CPU, g).toDoubleArray(), 0.0);
      assertArrayEquals(a3, randn(1, g), 0.0);

      // The state transplants into another generator.
      try (Generator h = Generator.cpu(999)) {
        h.setState(st);
        assertArrayEquals(a, randn(1001, h), 0.0);
      }
    }
  }

  @Test
  void defaultGeneratorStateRoundTrip() {
    try (Generator d = Generator.defaultFor(Device.CPU)) {
      byte[] st = d.getState();
      double[] a = Tensor.randn(64).toDoubleArray();
      d.setState(st);
      assertArrayEquals(a, Tensor.randn(64).toDoubleArray(), 0.0);
      // Torch.manualSeed seeds the same default generator.
      Torch.manualSeed(77);
      assertEquals(77, d.seed());
    }
  }

  @Test
  void seedAndSetSeed() {
    try (Generator g = Generator.cpu(42); Generator h = Generator.cpu(43)) {
      assertEquals(42, g.seed());
      assertEquals(Device.CPU, g.device());
      double[] fromG = randn(20, g);
      g.setSeed(43);
      assertEquals(43, g.seed());
      assertArrayEquals(randn(20, h), randn(20, g), 0.0);
      g.setSeed(42);
      assertArrayEquals(fromG, randn(20, g), 0.0);
    }
  }

  @Test
  void corruptStateIsRejectedAndLeavesTheGeneratorUsable() {
    try (Generator g = Generator.cpu(8)) {
      byte[] st = g.getState();
      assertThrows(TorchException.class, () -> g.setState(new byte[0]));
      assertThrows(TorchException.class, () -> g.setState(new byte[17]));
      assertThrows(TorchException.class, () -> g.setState(Arrays.copyOf(st, st.length - 1)));
      assertThrows(TorchException.class, () -> g.setState(Arrays.copyOf(st, st.length + 8)));
      assertArrayEquals(st, g.getState(), "failed restores do not change the state");
      try (Generator fresh = Generator.cpu(8)) {
        assertArrayEquals(randn(50, fresh), randn(50, g), 0.0);
      }
    }
    Generator closed = Generator.cpu(1);
    closed.close();
    closed.close(); // idempotent
    assertThrows(IllegalStateException.class, closed::getState);
  }

  @Test
  void matchesPyTorchGeneratorsForTheSameSeed() {
    Map<String, Ref> ref = python(String.join("\n",
        "g = torch.Generator().manual_seed(42)",
        "state = g.get_state().clone()",
        "a = torch.randn(7, generator=g)",
        "b = torch.rand(40, generator=g, dtype=torch.float64)",
        "c = torch.randn(100, generator=g)",
        "d = torch.empty(33).normal_(2.0, 0.5, generator=g)",
        "e = torch.empty(300).bernoulli_(0.3, generator=g)",
        "torch.manual_seed(123)",
        "drop = F.dropout(torch.ones(500), 0.4, training=True)",
        "out = {'state': state, 'a': a, 'b': b, 'c': c, 'd': d, 'e': e, 'drop': drop}"));
    try (Generator g = Generator.cpu(42)) {
      byte[] st = g.getState();
      double[] pst = ref.get("state").data();
      double[] ours = new double[st.length];
      for (int i = 0; i < st.length; i++) ours[i] = st[i] & 0xff;
      assertArrayEquals(pst, ours, 0.0, "a fresh generator's state equals torch.Generator().manual_seed(42)");
      assertArrayEquals(ref.get("a").data(), randn(7, g), 0.0);
      assertArrayEquals(ref.get("b").data(),
          Tensor.rand(new long[] {40}, DType.FLOAT64, Device.CPU, g).toDoubleArray(), 0.0);
      assertArrayEquals(ref.get("c").data(), randn(100, g), 0.0);
      assertArrayEquals(ref.get("d").data(), Tensor.empty(new long[] {33}, DType.FLOAT32, Device.CPU)
          .normal_(2.0, 0.5, g).toDoubleArray(), 0.0);
      assertArrayEquals(ref.get("e").data(), Tensor.empty(new long[] {300}, DType.FLOAT32, Device.CPU)
          .bernoulli_(0.3, g).toDoubleArray(), 0.0);
    }
    // Dropout draws its mask as ATen's dropout does: same seed, same mask as torch.nn.functional.dropout.
    try (Generator g = Generator.cpu(123)) {
      assertArrayEquals(ref.get("drop").data(), F.dropout(Tensor.ones(500), 0.4, true, g).toDoubleArray(), 1e-7);
    }
    Torch.manualSeed(123);
    assertArrayEquals(ref.get("drop").data(), F.dropout(Tensor.ones(500), 0.4, true, null).toDoubleArray(), 1e-7);
  }

  @Test
  void stackedGeneratorDrawsEachRowFromItsOwnSeed() {
    long[] shape = {5, 3, 4, 4};
    try (Generator st = Generator.stacked(Device.CPU, 100, 5)) {
      assertTrue(st.isStacked());
      float[] all = Tensor.randn(shape, DType.FLOAT32, Device.CPU, st).toFloatArray();
      float[] cls = Tensor.randint(0, 10, new long[] {5}, DType.INT64, Device.CPU, st).toFloatArray();
      for (int i = 0; i < 5; i++) {
        try (Generator g = Generator.cpu(100 + i)) {
          float[] row = Tensor.randn(new long[] {3, 4, 4}, DType.FLOAT32, Device.CPU, g).toFloatArray();
          assertArrayEquals(row, Arrays.copyOfRange(all, i * 48, (i + 1) * 48), 0f, "row " + i);
          assertEquals(Tensor.randint(0, 10, new long[] {1}, DType.INT64, Device.CPU, g).toFloatArray()[0], cls[i],
              "row " + i + "'s second draw continues its own stream");
        }
      }
      IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class,
          () -> Tensor.randn(new long[] {4, 2}, DType.FLOAT32, Device.CPU, st));
      assertTrue(wrong.getMessage().contains("5 rows"), wrong.getMessage());
      IllegalStateException state = assertThrows(IllegalStateException.class, st::getState);
      assertTrue(state.getMessage().contains("stacked"), state.getMessage());
    }
    assertThrows(IllegalArgumentException.class, () -> Generator.stacked(Device.CPU, 0, 0));
  }
}
