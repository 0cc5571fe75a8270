package dev.cm4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class SlicedWassersteinTest {
  static double[] gaussian(int n, double mx, double my, long seed) {
    Random r = new Random(seed);
    double[] a = new double[2 * n];
    for (int i = 0; i < n; i++) {
      a[2 * i] = mx + r.nextGaussian();
      a[2 * i + 1] = my + r.nextGaussian();
    }
    return a;
  }

  @Test
  void shiftedCloudsGiveTheShiftOverRootTwo() {
    double[] a = gaussian(10000, 0, 0, 1);
    double[] b = a.clone();
    for (int i = 0; i < b.length; i += 2) {
      b[i] += 0.6;
      b[i + 1] -= 0.8;
    }
    // Exact shift of the same cloud: every projection differs by ⟨m, θ⟩, so SW₂² = E⟨m,θ⟩² = |m|²/2.
    assertEquals(1.0 / Math.sqrt(2), SlicedWasserstein.sw2(a, b, 2, 1500, 3), 0.03);
    assertEquals(0, SlicedWasserstein.sw2(a, a, 2, 10, 3), 0);
    // Independent samples of the same law: small but positive (finite-sample noise), far below a shift of 1.
    double same = SlicedWasserstein.sw2(a, gaussian(10000, 0, 0, 2), 2, 200, 4);
    assertTrue(same > 0 && same < 0.06, "same law: " + same);
    assertThrows(IllegalArgumentException.class, () -> SlicedWasserstein.sw2(a, new double[4], 2, 1, 1));
  }
}
