package dev.cm4j.data;

import java.util.Locale;
import java.util.random.RandomGenerator;

/**
 * Two-dimensional toy distributions with exact samplers and known densities, for tests and small experiments.
 * Sampling is seeded through the {@link RandomGenerator} passed in ({@link SplitMix64} gives sequences that are
 * identical on every JVM). Each distribution also states its mean and covariance in closed form.
 *
 * <p>Densities of the curve distributions (two moons, swiss roll) are one-dimensional integrals over the curve
 * parameter, {@code p(x) = ∫ p(t) N(x; c(t), σ²I) dt}; they are evaluated by composite Simpson quadrature in log
 * space (log-sum-exp over the nodes) with the node spacing far below the noise scale, so they are accurate to
 * about 1e-9 relative for the default parameters and finite far from the data.
 */
public sealed interface Toy2D {
  /** Draws n points, returned as {@code [x0, y0, x1, y1, ...]}. */
  double[] sample(int n, RandomGenerator rng);

  /** The log-density at (x, y) (−∞ where the density is 0). */
  double logDensity(double x, double y);

  /** The density at (x, y). */
  default double density(double x, double y) {
    return Math.exp(logDensity(x, y));
  }

  /** The mean {@code [E x, E y]}, in closed form. */
  double[] mean();

  /** The covariance {@code [Var x, Cov xy, Cov xy, Var y]} (row-major 2×2), in closed form. */
  double[] covariance();

  /** A dataset of n points drawn with {@code new SplitMix64(seed)}, stored as float32. */
  default InMemoryPointDataset dataset(int n, long seed) {
    double[] s = sample(n, new SplitMix64(seed));
    float[] f = new float[s.length];
    for (int i = 0; i < s.length; i++) f[i] = (float) s[i];
    return new InMemoryPointDataset(f, 2, null);
  }

  /**
   * The distribution with default parameters named {@code "8gaussians"} ({@code "eight_gaussians"}),
   * {@code "checkerboard"}, {@code "moons"} ({@code "two_moons"}) or {@code "swissroll"} ({@code "swiss_roll"}).
   */
  static Toy2D named(String name) {
    return switch (name.toLowerCase(Locale.ROOT).replace("-", "_")) {
      case "8gaussians", "eight_gaussians" -> EightGaussians.DEFAULT;
      case "checkerboard" -> Checkerboard.DEFAULT;
      case "moons", "two_moons" -> TwoMoons.DEFAULT;
      case "swissroll", "swiss_roll" -> SwissRoll.DEFAULT;
      default -> throw new IllegalArgumentException("unknown toy distribution '" + name
          + "' (8gaussians, checkerboard, moons, swissroll)");
    };
  }

  // ------------------------------------------------------------------------------------------ eight Gaussians

  /**
   * An equal-weight mixture of 8 isotropic Gaussians with standard deviation {@code sigma}, centred at
   * {@code radius · (cos(2πk/8), sin(2πk/8))}, k = 0..7. Sampler: k uniform, then centre + σ·ε.
   * Mean 0; covariance {@code (radius²/2 + σ²) I}.
   *
   * @param radius distance of the centres from the origin (default 2)
   * @param sigma standard deviation of each component (default 0.2)
   */
  record EightGaussians(double radius, double sigma) implements Toy2D {
    /** radius 2, sigma 0.2. */
    public static final EightGaussians DEFAULT = new EightGaussians(2.0, 0.2);

    public EightGaussians {
      if (!(radius >= 0) || !(sigma > 0)) throw new IllegalArgumentException("need radius >= 0 and sigma > 0");
    }

    @Override
    public double[] sample(int n, RandomGenerator rng) {
      double[] out = new double[2 * n];
      for (int i = 0; i < n; i++) {
        double a = 2 * Math.PI * rng.nextInt(8) / 8;
        out[2 * i] = radius * Math.cos(a) + sigma * rng.nextGaussian();
        out[2 * i + 1] = radius * Math.sin(a) + sigma * rng.nextGaussian();
      }
      return out;
    }

    @Override
    public double logDensity(double x, double y) {
      double[] l = new double[8];
      for (int k = 0; k < 8; k++) {
        double a = 2 * Math.PI * k / 8;
        double dx = x - radius * Math.cos(a);
        double dy = y - radius * Math.sin(a);
        l[k] = -(dx * dx + dy * dy) / (2 * sigma * sigma);
      }
      return ToyCurves.logSumExp(l) - Math.log(2 * Math.PI * sigma * sigma) - Math.log(8);
    }

    @Override
    public double[] mean() {
      return new double[] {0, 0};
    }

    @Override
    public double[] covariance() {
      double v = radius * radius / 2 + sigma * sigma;
      return new double[] {v, 0, 0, v};
    }
  }

  // ------------------------------------------------------------------------------------------ checkerboard

  /**
   * The uniform distribution on the "black" squares of a {@code cells × cells} checkerboard covering
   * {@code [−halfWidth, halfWidth]²}: square (i, j) — column i from the left, row j from the bottom, each of side
   * {@code s = 2·halfWidth/cells} — is black when i + j is even (so the bottom-left square is black), and there are
   * {@code m = ⌈cells²/2⌉} black squares. Density {@code 1/(m s²)} on them, 0 elsewhere. Sampler: a black square
   * uniformly, then a uniform point in it.
   *
   * @param cells squares per side (default 4)
   * @param halfWidth half the side of the board (default 2, so squares of side 1)
   */
  record Checkerboard(int cells, double halfWidth) implements Toy2D {
    /** 4×4 squares on [−2, 2]². */
    public static final Checkerboard DEFAULT = new Checkerboard(4, 2.0);

    public Checkerboard {
      if (cells < 1 || !(halfWidth > 0)) throw new IllegalArgumentException("need cells >= 1 and halfWidth > 0");
    }

    private double side() {
      return 2 * halfWidth / cells;
    }

    private int black() {
      return (cells * cells + 1) / 2;
    }

    /** Black square number q in row-major order (row j, then column i), as {i, j}. */
    private int[] square(int q) {
      int k = 0;
      for (int j = 0; j < cells; j++) {
        for (int i = 0; i < cells; i++) {
          if ((i + j) % 2 == 0 && k++ == q) return new int[] {i, j};
        }
      }
      throw new IllegalStateException();
    }

    @Override
    public double[] sample(int n, RandomGenerator rng) {
      double[] out = new double[2 * n];
      int[][] sq = new int[black()][];
      for (int q = 0; q < sq.length; q++) sq[q] = square(q);
      double s = side();
      for (int p = 0; p < n; p++) {
        int[] c = sq[rng.nextInt(sq.length)];
        out[2 * p] = -halfWidth + (c[0] + rng.nextDouble()) * s;
        out[2 * p + 1] = -halfWidth + (c[1] + rng.nextDouble()) * s;
      }
      return out;
    }

    @Override
    public double logDensity(double x, double y) {
      if (!(x >= -halfWidth && x <= halfWidth && y >= -halfWidth && y <= halfWidth)) return Double.NEGATIVE_INFINITY;
      double s = side();
      int i = Math.min((int) Math.floor((x + halfWidth) / s), cells - 1);
      int j = Math.min((int) Math.floor((y + halfWidth) / s), cells - 1);
      return (i + j) % 2 == 0 ? -Math.log(black() * s * s) : Double.NEGATIVE_INFINITY;
    }

    @Override
    public double[] mean() {
      double[] m = new double[2];
      double s = side();
      for (int q = 0; q < black(); q++) {
        int[] c = square(q);
        m[0] += -halfWidth + (c[0] + 0.5) * s;
        m[1] += -halfWidth + (c[1] + 0.5) * s;
      }
      m[0] /= black();
      m[1] /= black();
      return m;
    }

    @Override
    public double[] covariance() {
      // E[x x^T] over black squares: centre outer products plus s²/12 on the diagonal (uniform within a square).
      double s = side();
      double xx = 0;
      double xy = 0;
      double yy = 0;
      for (int q = 0; q < black(); q++) {
        int[] c = square(q);
        double cx = -halfWidth + (c[0] + 0.5) * s;
        double cy = -halfWidth + (c[1] + 0.5) * s;
        xx += cx * cx;
        xy += cx * cy;
        yy += cy * cy;
      }
      double[] m = mean();
      double b = black();
      double vx = xx / b + s * s / 12 - m[0] * m[0];
      double vy = yy / b + s * s / 12 - m[1] * m[1];
      double cxy = xy / b - m[0] * m[1];
      return new double[] {vx, cxy, cxy, vy};
    }
  }

  // ------------------------------------------------------------------------------------------ two moons

  /**
   * scikit-learn's {@code make_moons}, centred: with t uniform on [0, π] and each moon chosen with probability ½,
   * the upper moon is {@code (cos t − ½, sin t − ¼)} and the lower one {@code (½ − cos t, ¼ − sin t)} (sklearn's
   * {@code (1 − cos t, ½ − sin t)} shifted by {@code −(½, ¼)}), plus isotropic Gaussian noise of standard deviation
   * {@code sigma}. Mean 0; covariance {@code [[¾ + σ², ⅛ − 1/π], [⅛ − 1/π, 9/16 − 1/π + σ²]]}.
   *
   * @param sigma noise standard deviation (default 0.1)
   */
  record TwoMoons(double sigma) implements Toy2D {
    /** sigma 0.1. */
    public static final TwoMoons DEFAULT = new TwoMoons(0.1);

    public TwoMoons {
      if (!(sigma > 0)) throw new IllegalArgumentException("need sigma > 0");
    }

    @Override
    public double[] sample(int n, RandomGenerator rng) {
      double[] out = new double[2 * n];
      for (int i = 0; i < n; i++) {
        double sgn = rng.nextInt(2) == 0 ? 1 : -1;
        double t = Math.PI * rng.nextDouble();
        out[2 * i] = sgn * (Math.cos(t) - 0.5) + sigma * rng.nextGaussian();
        out[2 * i + 1] = sgn * (Math.sin(t) - 0.25) + sigma * rng.nextGaussian();
      }
      return out;
    }

    @Override
    public double logDensity(double x, double y) {
      return ToyCurves.of(this).logDensity(x, y, sigma);
    }

    @Override
    public double[] mean() {
      return new double[] {0, 0};
    }

    @Override
    public double[] covariance() {
      double s2 = sigma * sigma;
      double c = 0.125 - 1 / Math.PI;
      return new double[] {0.75 + s2, c, c, 0.5625 - 1 / Math.PI + s2};
    }
  }

  // ------------------------------------------------------------------------------------------ swiss roll

  /**
   * The 2-D swiss roll (scikit-learn's {@code make_swiss_roll} projected on its (x, z) plane, as in FFJORD): with
   * t = 1.5π(1 + 2u), u uniform on [0, 1] (so t is uniform on [1.5π, 4.5π]), the point is
   * {@code scale · (t cos t, t sin t)} plus isotropic Gaussian noise of standard deviation {@code sigma}. Mean and
   * covariance follow from the closed-form antiderivatives of {@code t cos t}, {@code t² cos² t}, ….
   *
   * @param scale multiplies the curve (default 0.2, so radii run from 0.94 to 2.83)
   * @param sigma noise standard deviation (default 0.1)
   */
  record SwissRoll(double scale, double sigma) implements Toy2D {
    /** scale 0.2, sigma 0.1. */
    public static final SwissRoll DEFAULT = new SwissRoll(0.2, 0.1);

    /** Lower end of the curve parameter. */
    static final double T0 = 1.5 * Math.PI;
    /** Upper end of the curve parameter. */
    static final double T1 = 4.5 * Math.PI;

    public SwissRoll {
      if (!(scale > 0) || !(sigma > 0)) throw new IllegalArgumentException("need scale > 0 and sigma > 0");
    }

    @Override
    public double[] sample(int n, RandomGenerator rng) {
      double[] out = new double[2 * n];
      for (int i = 0; i < n; i++) {
        double t = 1.5 * Math.PI * (1 + 2 * rng.nextDouble());
        out[2 * i] = scale * t * Math.cos(t) + sigma * rng.nextGaussian();
        out[2 * i + 1] = scale * t * Math.sin(t) + sigma * rng.nextGaussian();
      }
      return out;
    }

    @Override
    public double logDensity(double x, double y) {
      return ToyCurves.of(this).logDensity(x, y, sigma);
    }

    /** ∫ f over [T0, T1] divided by the length, from an antiderivative F. */
    private static double avg(java.util.function.DoubleUnaryOperator f) {
      return (f.applyAsDouble(T1) - f.applyAsDouble(T0)) / (T1 - T0);
    }

    @Override
    public double[] mean() {
      double ex = avg(t -> t * Math.sin(t) + Math.cos(t)); // ∫ t cos t
      double ey = avg(t -> -t * Math.cos(t) + Math.sin(t)); // ∫ t sin t
      return new double[] {scale * ex, scale * ey};
    }

    @Override
    public double[] covariance() {
      // ∫ t² cos 2t = (t²/2) sin 2t + (t/2) cos 2t − (1/4) sin 2t;  ∫ t² sin 2t = −(t²/2) cos 2t + (t/2) sin 2t + (1/4) cos 2t
      java.util.function.DoubleUnaryOperator c2 = t -> t * t / 2 * Math.sin(2 * t) + t / 2 * Math.cos(2 * t)
          - Math.sin(2 * t) / 4;
      java.util.function.DoubleUnaryOperator s2 = t -> -t * t / 2 * Math.cos(2 * t) + t / 2 * Math.sin(2 * t)
          + Math.cos(2 * t) / 4;
      double exx = avg(t -> t * t * t / 6 + c2.applyAsDouble(t) / 2); // t² cos² t = t²/2 + t² cos 2t / 2
      double eyy = avg(t -> t * t * t / 6 - c2.applyAsDouble(t) / 2); // t² sin² t = t²/2 − t² cos 2t / 2
      double exy = avg(t -> s2.applyAsDouble(t) / 2); // t² cos t sin t = t² sin 2t / 2
      double[] m = mean();
      double k = scale * scale;
      double s = sigma * sigma;
      double vx = k * exx - m[0] * m[0] + s;
      double vy = k * eyy - m[1] * m[1] + s;
      double cxy = k * exy - m[0] * m[1];
      return new double[] {vx, cxy, cxy, vy};
    }
  }
}
