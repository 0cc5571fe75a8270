package dev.cm4j.data;

import dev.cm4j.data.Toy2D.SwissRoll;
import dev.cm4j.data.Toy2D.TwoMoons;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Quadrature nodes on a {@link Toy2D} distribution's curve(s), with log-weights that include p(t); cached per record. */
final class ToyCurves {
  private static final Map<Toy2D, ToyCurves> CACHE = new ConcurrentHashMap<>();

  private final double[] cx;
  private final double[] cy;
  private final double[] logW;

  private ToyCurves(double[] cx, double[] cy, double[] logW) {
    this.cx = cx;
    this.cy = cy;
    this.logW = logW;
  }

  static ToyCurves of(Toy2D d) {
    return CACHE.computeIfAbsent(d, ToyCurves::build);
  }

  private static ToyCurves build(Toy2D d) {
    if (d instanceof TwoMoons) {
      int m = 4096; // Simpson intervals per moon: node spacing π/4096 ≈ 7.7e-4 in arc length
      double[] cx = new double[2 * (m + 1)];
      double[] cy = new double[2 * (m + 1)];
      double[] lw = new double[2 * (m + 1)];
      double h = Math.PI / m;
      for (int k = 0; k <= m; k++) {
        double t = k * h;
        double w = simpson(k, m) * h / 3 / Math.PI * 0.5; // p(t) = 1/π, moon probability 1/2
        cx[k] = Math.cos(t) - 0.5;
        cy[k] = Math.sin(t) - 0.25;
        cx[m + 1 + k] = -cx[k];
        cy[m + 1 + k] = -cy[k];
        lw[k] = lw[m + 1 + k] = Math.log(w);
      }
      return new ToyCurves(cx, cy, lw);
    }
    if (d instanceof SwissRoll r) {
      int m = 8192; // node spacing ≤ 3π/8192 · scale·√(1+t²) ≈ 3.3e-3 for scale 0.2
      double[] cx = new double[m + 1];
      double[] cy = new double[m + 1];
      double[] lw = new double[m + 1];
      double h = (SwissRoll.T1 - SwissRoll.T0) / m;
      for (int k = 0; k <= m; k++) {
        double t = SwissRoll.T0 + k * h;
        cx[k] = r.scale() * t * Math.cos(t);
        cy[k] = r.scale() * t * Math.sin(t);
        lw[k] = Math.log(simpson(k, m) * h / 3 / (SwissRoll.T1 - SwissRoll.T0));
      }
      return new ToyCurves(cx, cy, lw);
    }
    throw new IllegalArgumentException(d.toString());
  }

  private static double simpson(int k, int m) {
    return k == 0 || k == m ? 1 : k % 2 == 1 ? 4 : 2;
  }

  double logDensity(double x, double y, double sigma) {
    double inv = 1 / (2 * sigma * sigma);
    double max = Double.NEGATIVE_INFINITY;
    double[] l = new double[cx.length];
    for (int k = 0; k < l.length; k++) {
      double dx = x - cx[k];
      double dy = y - cy[k];
      l[k] = logW[k] - (dx * dx + dy * dy) * inv;
      if (l[k] > max) max = l[k];
    }
    double s = 0;
    double cut = max - 45; // terms below e^-45 of the largest change the sum by < 1e-15 relative
    for (double v : l) if (v > cut) s += Math.exp(v - max);
    return max + Math.log(s) - Math.log(2 * Math.PI * sigma * sigma);
  }

  static double logSumExp(double[] l) {
    double max = Double.NEGATIVE_INFINITY;
    for (double v : l) max = Math.max(max, v);
    double s = 0;
    for (double v : l) s += Math.exp(v - max);
    return max + Math.log(s);
  }
}
