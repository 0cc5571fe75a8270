package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class DataStatsTest {
  @Test
  void pointStdPoolsAllCoordinates() {
    // x in {−1, 1}, y in {−3, 3}: pooled mean 0, pooled variance (1 + 9) / 2 = 5
    float[] pts = {-1, -3, 1, 3, -1, 3, 1, -3};
    assertEquals(Math.sqrt(5), DataStats.pointStd(new InMemoryPointDataset(pts, 2, null), 1000), 1e-6);
    // the eight-Gaussians toy: covariance (r²/2 + σ²) I
    InMemoryPointDataset toy = Toy2D.EightGaussians.DEFAULT.dataset(50_000, 1);
    assertEquals(Math.sqrt(2.0 + 0.04), DataStats.pointStd(toy, 50_000), 0.02);
  }

  @Test
  void sigmaDataWarnsOnlyBeyondTwoFoldEitherWay() {
    assertNull(DataStats.sigmaDataWarning(0.5, 0.36));
    assertNull(DataStats.sigmaDataWarning(0.5, 0.25));
    assertNull(DataStats.sigmaDataWarning(0.5, 1.0));
    String w = DataStats.sigmaDataWarning(0.5, 0.2);
    assertNotNull(w);
    assertTrue(w.contains("sigma_data 0.5") && w.contains("2.5x") && w.contains("0.2"), w);
    assertNotNull(DataStats.sigmaDataWarning(0.5, 1.5));
  }

  @Test
  void bounds2dSkipsNonFiniteValues() {
    double[] b = DataStats.bounds2d(new double[] {0, 1, -2, 5, Double.NaN, 0, 3, Double.POSITIVE_INFINITY}, 2);
    assertArrayEquals(new double[] {-2, 3, 0, 5}, b, 0);
    assertArrayEquals(new double[] {-1, 4, 0, 0}, DataStats.bounds2d(new double[] {4, -1}, 1), 0);
  }
}
