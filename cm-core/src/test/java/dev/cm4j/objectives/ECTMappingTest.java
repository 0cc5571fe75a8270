package dev.cm4j.objectives;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import org.junit.jupiter.api.Test;

/**
 * ECT's t → r mapping against docs/algorithms/ect.md's r/t table (computed with the reference ECMLoss) and closed
 * forms.
 */
class ECTMappingTest {
  static final double[] T = {0.002, 0.1, 0.5, 1, 2, 5, 20, 80};

  static double[] ratios(ECT ect, int stage) {
    try (TensorScope s = TensorScope.open()) {
      Tensor t = Tensor.of(T);
      double[] r = ect.r(t, stage).toDoubleArray();
      double[] out = new double[T.length];
      for (int i = 0; i < T.length; i++) out[i] = r[i] / T[i];
      return out;
    }
  }

  @Test
  void sigmoidMappingMatchesTheReferenceTable() {
    ECT ect = new ECT(ECT.Config.cifar10());
    assertArrayEquals(new double[] {0, 0, 0, 0, 0.023, 0.473, 0.5, 0.5}, ratios(ect, 0), 0.0006);
    assertArrayEquals(new double[] {0, 0, 0, 0.212, 0.512, 0.737, 0.75, 0.75}, ratios(ect, 1), 0.0006);
    assertArrayEquals(new double[] {0.376, 0.400, 0.498, 0.606, 0.756, 0.868, 0.875, 0.875}, ratios(ect, 2), 0.0006);
    assertArrayEquals(new double[] {0.688, 0.700, 0.749, 0.803, 0.878, 0.934, 0.9375, 0.9375}, ratios(ect, 3), 0.0006);
    assertArrayEquals(new double[] {0.9805, 0.981, 0.984, 0.988, 0.992, 0.996, 0.996, 0.996}, ratios(ect, 7), 0.0006);
  }

  @Test
  void closedFormsConstMappingAndDenoisingStage() {
    ECT sig = new ECT(ECT.Config.cifar10());
    double[] r2 = ratios(sig, 2);
    for (int i = 0; i < T.length; i++) {
      double adj = 1 + 8 / (1 + Math.exp(T[i]));
      assertEquals(Math.max(0, 1 - adj / 8), r2[i], 1e-6);
    }
    ECT cst = new ECT(new ECT.Config(-1.1, 2, 2, 8, 1, 0, ECT.Mapping.CONST, ECT.Weighting.INVERSE_GAP, 0.5));
    for (double v : ratios(cst, 1)) assertEquals(0.75, v, 1e-6);
    for (double v : ratios(sig, ECT.DENOISING_STAGE)) assertEquals(0, v, 0);
    // Stage 0 gives r = 0 exactly for t ≤ ln 7 (q = 2).
    try (TensorScope s = TensorScope.open()) {
      Tensor t = Tensor.of(new double[] {Math.log(7) - 1e-6, Math.log(7) + 1e-3});
      double[] r = sig.r(t, 0).toDoubleArray();
      assertEquals(0, r[0], 0);
      assertTrue(r[1] > 0);
    }
    assertEquals(3, ECT.stageForTick(750, 250));
    assertEquals(2, ECT.stageForTick(749, 250));
  }

  @Test
  void badConfigsAreRejected() {
    assertThrows(IllegalArgumentException.class,
        () -> new ECT.Config(-1.1, 0, 2, 8, 1, 0, ECT.Mapping.SIGMOID, ECT.Weighting.INVERSE_GAP, 0.5));
    assertThrows(IllegalArgumentException.class, () -> new ECT(ECT.Config.cifar10()).r(
        Tensor.zeros(new long[] {1}, DType.FLOAT32, Device.CPU), -2));
  }
}
