package dev.cm4j.data;

import java.util.Locale;

/**
 * Summary statistics of a point dataset that a run needs before training: the per-coordinate standard deviation
 * (to check σ_data against) and the bounding box (to frame scatter plots).
 */
public final class DataStats {
  private DataStats() {}

  /** σ_data may differ from the data's standard deviation by at most this factor before a run warns. */
  public static final double SIGMA_DATA_TOLERANCE = 2.0;

  /**
   * The standard deviation of all coordinates of the points pooled together (EDM's σ_data is one number for every
   * coordinate), over at most {@code limit} points evenly spaced through the dataset.
   */
  public static double pointStd(PointDataset d, int limit) {
    int n = d.size();
    if (n == 0) throw new IllegalArgumentException("the dataset is empty");
    int dim = d.dim();
    int step = Math.max(1, n / Math.max(1, limit));
    float[] p = new float[dim];
    double sum = 0;
    double sq = 0;
    long count = 0;
    for (int i = 0; i < n; i += step) {
      d.readPoint(i, p, 0);
      for (float v : p) {
        sum += v;
        sq += (double) v * v;
        count++;
      }
    }
    double mean = sum / count;
    return Math.sqrt(Math.max(sq / count - mean * mean, 0));
  }

  /**
   * A warning when sigmaData and the data's standard deviation differ by more than {@link #SIGMA_DATA_TOLERANCE}×
   * either way, or null when they agree well enough.
   */
  public static String sigmaDataWarning(double sigmaData, double dataStd) {
    if (!(dataStd > 0) || !(sigmaData > 0)) return null;
    double ratio = sigmaData / dataStd;
    if (ratio <= SIGMA_DATA_TOLERANCE && ratio >= 1 / SIGMA_DATA_TOLERANCE) return null;
    return String.format(Locale.ROOT, "warning: precond.sigma_data %.4g is %.1fx the data's standard deviation %.4g; "
        + "the preconditioning assumes they match (set --set precond.sigma_data=%.3g, or rescale the data)",
        sigmaData, ratio, dataStd, dataStd);
  }

  /**
   * The bounding box of the points' first two coordinates, {@code [xmin, xmax, ymin, ymax]} (y is 0..0 for
   * 1-D points), over a row-major [N, dim] array.
   */
  public static double[] bounds2d(double[] points, int dim) {
    double[] b = {Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY,
        Double.NEGATIVE_INFINITY};
    for (int i = 0; i + dim - 1 < points.length; i += dim) {
      double x = points[i];
      double y = dim > 1 ? points[i + 1] : 0;
      if (Double.isFinite(x)) {
        b[0] = Math.min(b[0], x);
        b[1] = Math.max(b[1], x);
      }
      if (Double.isFinite(y)) {
        b[2] = Math.min(b[2], y);
        b[3] = Math.max(b[3], y);
      }
    }
    return b;
  }
}
