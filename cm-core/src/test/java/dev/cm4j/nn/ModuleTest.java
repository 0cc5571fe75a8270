package dev.cm4j.nn;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ModuleTest {
  static MLPDenoiser small() {
    return new MLPDenoiser(new MLPDenoiser.Config(2, 8, 1, 4, 0, false));
  }

  @Test
  void namesFollowPyTorchStateDictOrder() {
    try (Conv2d c = new Conv2d(2, 4, 3, true, false, true, new double[] {1, 1}, false, Init.XAVIER)) {
      assertEquals(List.of("weight", "bias", "resample_filter"), List.copyOf(c.stateDict().keySet()));
      assertEquals(List.of("weight", "bias"), List.copyOf(c.namedParameters().keySet()));
      assertTrue(c.namedBuffers().get("resample_filter").isBuffer());
      // [1,1] filter: outer product / sum² = 1/4 everywhere.
      assertArrayEquals(new float[] {0.25f, 0.25f, 0.25f, 0.25f}, c.stateDict().get("resample_filter").toFloatArray());
      assertEquals(4 * 2 * 9 + 4, c.parameterCount());
    }
    try (MLPDenoiser m = small()) {
      List<String> keys = List.copyOf(m.stateDict().keySet());
      assertEquals("map_layer0.weight", keys.get(0));
      assertTrue(keys.contains("block0.lin0.weight"));
      assertTrue(m.namedParameters().values().stream().allMatch(p -> p.get().requiresGrad()));
    }
  }

  @Test
  void initialisationFollowsEdmFormulas() {
    Torch.manualSeed(1);
    try (Linear l = new Linear(300, 200, true, Init.XAVIER)) {
      double[] w = l.weight().get().toDoubleArray();
      double bound = Math.sqrt(6.0 / 500);
      double max = 0;
      double sumSq = 0;
      for (double v : w) {
        max = Math.max(max, Math.abs(v));
        sumSq += v * v;
      }
      assertTrue(max <= bound && max > 0.99 * bound, "uniform on [-b, b]: max " + max + " b " + bound);
      // Var of U(-b, b) = b²/3; 60,000 draws give it within a few percent.
      assertEquals(bound * bound / 3, sumSq / w.length, 0.03 * bound * bound / 3);
      assertArrayEquals(new double[200], l.stateDict().get("bias").toDoubleArray(), 0); // init_bias 0
    }
    try (Linear z = new Linear(64, 64, true, Init.XAVIER_ZERO)) {
      assertTrue(z.weight().get().abs().amax(false).item() <= 1e-5 * Math.sqrt(6.0 / 128));
    }
  }

  @Test
  void strictLoadRejectsMismatchesAndNonStrictReportsThem() {
    try (MLPDenoiser a = small(); MLPDenoiser b = small(); TensorScope s = TensorScope.open()) {
      Map<String, Tensor> sd = new LinkedHashMap<>(b.stateDict());
      String removed = "out_proj.bias";
      sd.remove(removed);
      sd.put("extra.weight", Tensor.zeros(3));
      sd.put("in_proj.bias", Tensor.zeros(5)); // wrong shape (8)
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.loadStateDict(sd, true));
      assertTrue(e.getMessage().contains(removed) && e.getMessage().contains("extra.weight")
          && e.getMessage().contains("in_proj.bias"), e.getMessage());
      float[] before = a.stateDict().get("in_proj.weight").toFloatArray();
      assertArrayEquals(before, a.stateDict().get("in_proj.weight").toFloatArray(), "strict failure loads nothing");
      LoadReport r = a.loadStateDict(sd, false);
      assertEquals(List.of(removed), r.missing());
      assertEquals(List.of("extra.weight"), r.unexpected());
      assertEquals(1, r.shapeMismatched().size());
      assertArrayEquals(b.stateDict().get("in_proj.weight").toFloatArray(),
          a.stateDict().get("in_proj.weight").toFloatArray(), "matching keys were loaded");
      assertFalse(r.clean());
    }
  }

  @Test
  void copyFromToAndFreeze() {
    try (MLPDenoiser a = small(); MLPDenoiser b = small(); TensorScope s = TensorScope.open()) {
      b.copyFrom(a);
      for (var e : a.stateDict().entrySet()) {
        assertArrayEquals(e.getValue().toFloatArray(), b.stateDict().get(e.getKey()).toFloatArray(), e.getKey());
      }
      Param p = b.namedParameters().get("in_proj.weight");
      b.to(Device.CPU, DType.FLOAT64);
      assertEquals(DType.FLOAT64, p.get().dtype(), "the slot sees the moved tensor");
      assertTrue(p.get().requiresGrad() && p.get().isLeaf());
      b.requiresGrad_(false);
      assertFalse(p.get().requiresGrad());
      b.eval();
      assertFalse(b.isTraining());
      assertTrue(b.children().values().stream().noneMatch(Module::isTraining));
    }
  }

  @Test
  void parametersSurviveTheScopeTheyWereCreatedIn() {
    MLPDenoiser m;
    try (TensorScope s = TensorScope.open()) {
      m = small();
    }
    assertFalse(m.parameters().get(0).released());
    m.close();
    assertTrue(m.parameters().get(0).released());
  }
}
