package dev.cm4j.nn.mp;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import org.junit.jupiter.api.Test;

/** EDM2's magnitude-preserving primitives and sCM's modulation against closed forms on tiny inputs. */
class MPTest {
  static void close(double[] want, Tensor got, double tol) {
    double[] g = got.to(dev.cm4j.tensor.DType.FLOAT64).flatten().toDoubleArray();
    assertEquals(want.length, g.length);
    for (int i = 0; i < want.length; i++) assertEquals(want[i], g[i], tol, "element " + i);
  }

  @Test
  void normalizeScalesEachSliceToUnitRms() {
    try (TensorScope s = TensorScope.open()) {
      // [3, 4] over dim 1: ‖x‖ = 5, √(1/2) factor → divide by 5/√2 + 1e-4.
      double d = 5 / Math.sqrt(2) + 1e-4;
      close(new double[] {3 / d, 4 / d, 0, 0}, MP.normalize(Tensor.of(new float[] {3, 4, 0, 0}, 2, 2), 1), 1e-6);
      // default dims: all but the first; row 2 is zero and stays zero (ε floor).
      Tensor w = Tensor.of(new float[] {1, 2, 2, 4, 0, 0, 0, 0}, 2, 2, 2);
      double d1 = 5 / 2.0 + 1e-4; // ‖(1,2,2,4)‖ = 5, √(1/4)
      close(new double[] {1 / d1, 2 / d1, 2 / d1, 4 / d1, 0, 0, 0, 0}, MP.normalize(w), 1e-6);
    }
  }

  @Test
  void silusumAndCatFollowEdm2Equations() {
    try (TensorScope s = TensorScope.open()) {
      double x = 1.5;
      close(new double[] {x / (1 + Math.exp(-x)) / 0.596}, MP.silu(Tensor.of(new float[] {(float) x}, 1)), 1e-6);
      // mp_sum(a, b, t) = ((1−t)a + t·b)/√((1−t)² + t²)
      double t = 0.3;
      double n = Math.sqrt(0.49 + 0.09);
      close(new double[] {(0.7 * 2 + 0.3 * -1) / n}, MP.sum(Tensor.of(new float[] {2}, 1), Tensor.of(new float[] {-1}, 1), t), 1e-6);
      // mp_cat of a [1, 1] and b [1, 3] with t = 0.5: C = √(4/0.5), w_a = C·0.5/1, w_b = C·0.5/√3.
      double c = Math.sqrt(4 / 0.5);
      Tensor out = MP.cat(Tensor.of(new float[] {1}, 1, 1), Tensor.of(new float[] {1, 2, 3}, 1, 3), 1, 0.5);
      close(new double[] {c * 0.5, c * 0.5 / Math.sqrt(3), 2 * c * 0.5 / Math.sqrt(3), 3 * c * 0.5 / Math.sqrt(3)}, out, 1e-5);
    }
  }

  @Test
  void resampleIsBoxAverageAndNearestCopy() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = Tensor.of(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
      close(new double[] {2.5}, MP.resample(x, new double[] {1, 1}, MP.Resample.DOWN), 1e-6);
      Tensor up = MP.resample(Tensor.of(new float[] {5}, 1, 1, 1, 1), new double[] {1, 1}, MP.Resample.UP);
      close(new double[] {5, 5, 5, 5}, up, 1e-6);
      assertThrows(IllegalArgumentException.class, () -> MP.resample(x, new double[] {1, 2, 1}, MP.Resample.DOWN));
    }
  }

  @Test
  void edm2ModulationIsOnePlusEmbedding() {
    try (TensorScope s = TensorScope.open()) {
      Tensor h = Tensor.of(new float[] {3, 4}, 1, 2, 1, 1);
      close(new double[] {3 * 1.5, 4 * 0.0}, MPBlock.modulate(h, Tensor.of(new float[] {0.5f, -1}, 1, 2)), 1e-6);
    }
  }

  @Test
  void adaptiveDoubleNormalisationIsPnormHTimesPnormSPlusPnormB() {
    try (TensorScope s = TensorScope.open()) {
      // h = (3, 4) at one pixel, s = (1, −1), b = (2, 0); pnorm over 2 channels divides by ‖·‖/√2 + 1e-4.
      Tensor h = Tensor.of(new float[] {3, 4}, 1, 2, 1, 1);
      Tensor sb = Tensor.of(new float[] {1, -1, 2, 0}, 1, 4);
      double dh = 5 / Math.sqrt(2) + 1e-4;
      double ds = 1 + 1e-4;
      double db = 2 / Math.sqrt(2) + 1e-4;
      double[] want = {3 / dh * (1 / ds) + 2 / db, 4 / dh * (-1 / ds) + 0};
      close(want, MPBlock.doubleNormalize(h, sb), 1e-6);
      // Invariant to the scale of h, s and b (the point of the double normalisation).
      close(want, MPBlock.doubleNormalize(h.mul(7.0), sb.mul(50.0)), 1e-3);
    }
  }

  @Test
  void positionalEmbeddingIsRootTwoCosSin() {
    try (TensorScope s = TensorScope.open()) {
      // 4 channels: half 2, frequencies (1/10000)^(0/1) = 1 and (1/10000)^(1/1) = 1e-4.
      double x = 0.5;
      double r = Math.sqrt(2);
      close(new double[] {r * Math.cos(x), r * Math.cos(x * 1e-4), r * Math.sin(x), r * Math.sin(x * 1e-4)},
          new MPPositional(4, 10000).forward(Tensor.of(new float[] {(float) x}, 1)), 1e-6);
      assertThrows(IllegalArgumentException.class, () -> new MPPositional(3, 10000));
    }
  }

  @Test
  void fourierFeaturesAreRootTwoCosOfPhaseShiftedProducts() {
    try (TensorScope s = TensorScope.open(); MPFourier f = new MPFourier(3, 1)) {
      double[] fr = f.stateDict().get("freqs").to(dev.cm4j.tensor.DType.FLOAT64).toDoubleArray();
      double[] ph = f.stateDict().get("phases").to(dev.cm4j.tensor.DType.FLOAT64).toDoubleArray();
      double x = -0.7;
      double[] want = new double[3];
      for (int i = 0; i < 3; i++) want[i] = Math.sqrt(2) * Math.cos(x * fr[i] + ph[i]);
      close(want, f.forward(Tensor.of(new float[] {(float) x}, 1)), 1e-5);
    }
  }
}
