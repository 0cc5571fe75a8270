package dev.cm4j.eval;

import java.util.Arrays;
import java.util.Random;

/**
 * Sliced Wasserstein-2 distance between two equally sized point clouds in R^D: the root mean over random unit
 * directions θ of the squared 1-D Wasserstein-2 distance between the projections ⟨x, θ⟩ (sorted-sample coupling).
 * For two clouds differing by a shift m in R², SW₂ → |m|/√2.
 */
public final class SlicedWasserstein {
  private SlicedWasserstein() {}

  /**
   * @param a points [N][D] as a row-major array of length N·D
   * @param b points [N][D], the same N and D
   * @param dim D
   * @param projections number of random directions
   * @param seed seed of the directions
   */
  public static double sw2(double[] a, double[] b, int dim, int projections, long seed) {
    if (a.length != b.length || a.length % dim != 0) {
      throw new IllegalArgumentException("point clouds must have the same size and dimension " + dim);
    }
    int n = a.length / dim;
    Random rnd = new Random(seed);
    double[] pa = new double[n];
    double[] pb = new double[n];
    double total = 0;
    for (int p = 0; p < projections; p++) {
      double[] theta = new double[dim];
      double norm = 0;
      for (int d = 0; d < dim; d++) {
        theta[d] = rnd.nextGaussian();
        norm += theta[d] * theta[d];
      }
      norm = Math.sqrt(norm);
      for (int i = 0; i < n; i++) {
        double sa = 0;
        double sb = 0;
        for (int d = 0; d < dim; d++) {
          sa += a[i * dim + d] * theta[d];
          sb += b[i * dim + d] * theta[d];
        }
        pa[i] = sa / norm;
        pb[i] = sb / norm;
      }
      Arrays.sort(pa);
      Arrays.sort(pb);
      double s = 0;
      for (int i = 0; i < n; i++) s += (pa[i] - pb[i]) * (pa[i] - pb[i]);
      total += s / n;
    }
    return Math.sqrt(total / projections);
  }
}
