package dev.cm4j.data;

import java.util.random.RandomGenerator;

/**
 * A labelled 2-D toy for class-conditional training: {@code classes} isotropic Gaussians of standard deviation
 * {@code sigma}, mode k centred at {@code radius · (cos(2πk/K), sin(2πk/K))}, each point labelled with the index of
 * the mode it was drawn from. A conditional model should put the samples of class k on mode k, which
 * {@link #nearestMode} measures.
 *
 * @param classes number of classes K (one mode each)
 * @param radius distance of the centres from the origin
 * @param sigma standard deviation of each mode
 */
public record ClassGaussians(int classes, double radius, double sigma) {
  public ClassGaussians {
    if (classes < 1) throw new IllegalArgumentException("classes must be >= 1: " + classes);
    if (!(radius >= 0) || !(sigma > 0)) throw new IllegalArgumentException("need radius >= 0 and sigma > 0");
  }

  /** Centre of mode k, {@code [x, y]}. */
  public double[] centre(int k) {
    double a = 2 * Math.PI * k / classes;
    return new double[] {radius * Math.cos(a), radius * Math.sin(a)};
  }

  /** The index of the centre nearest to (x, y). */
  public int nearestMode(double x, double y) {
    int best = 0;
    double bestD = Double.POSITIVE_INFINITY;
    for (int k = 0; k < classes; k++) {
      double[] c = centre(k);
      double d = (x - c[0]) * (x - c[0]) + (y - c[1]) * (y - c[1]);
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    return best;
  }

  /**
   * n labelled points: the class k uniform, then centre_k + σ·ε, the coordinates multiplied by {@code scale}.
   *
   * @param classesOut receives the n classes
   * @return {@code [x0, y0, x1, y1, ...]}
   */
  public float[] sample(int n, RandomGenerator rng, double scale, int[] classesOut) {
    if (classesOut.length != n) throw new IllegalArgumentException("classesOut must hold " + n + " classes");
    float[] out = new float[2 * n];
    for (int i = 0; i < n; i++) {
      int k = rng.nextInt(classes);
      double[] c = centre(k);
      classesOut[i] = k;
      out[2 * i] = (float) ((c[0] + sigma * rng.nextGaussian()) * scale);
      out[2 * i + 1] = (float) ((c[1] + sigma * rng.nextGaussian()) * scale);
    }
    return out;
  }

  /** A labelled dataset of n points drawn with {@code new SplitMix64(seed)} and scaled by scale. */
  public InMemoryPointDataset dataset(int n, long seed, double scale) {
    int[] k = new int[n];
    float[] pts = sample(n, new SplitMix64(seed), scale, k);
    return new InMemoryPointDataset(pts, 2, Labels.classes(k, classes));
  }
}
