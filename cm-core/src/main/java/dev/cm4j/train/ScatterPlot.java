package dev.cm4j.train;

import dev.cm4j.data.DataStats;
import dev.cm4j.data.PointDataset;
import dev.cm4j.tensor.Tensor;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * A scatter plot of point samples (their first two coordinates) with labelled axes. The view frames the training
 * data (drawn in grey behind the samples) and the samples, so nothing inside the data's range is clipped; samples
 * flung far outside are cut at three data widths and counted in the caption.
 */
public final class ScatterPlot {
  private ScatterPlot() {}

  static final int SIZE = 600;
  static final int LEFT = 56;
  static final int BOTTOM = 40;
  static final int TOP = 24;
  static final int RIGHT = 16;
  private static final int MAX_DATA_POINTS = 4000;

  /** Plots points [N, D] (N ≥ 1, D ≥ 1) over a view of the points alone. */
  public static void write(Tensor points, Path png) {
    write(points, null, png);
  }

  /** Plots the samples, with the training data (null: none) behind them, over a view that frames both. */
  static void write(Tensor points, PointDataset data, Path png) {
    int d = (int) points.size(1);
    double[] p = points.toDoubleArray();
    double[] ref = data == null ? null : dataPoints(data);
    double[] view = view(p, ref, d, data == null ? 1 : data.dim());
    encode(render(p, d, ref, data == null ? 0 : data.dim(), view), png);
  }

  /** Up to MAX_DATA_POINTS data points, evenly spaced through the dataset. */
  static double[] dataPoints(PointDataset data) {
    int n = data.size();
    int dim = data.dim();
    int step = Math.max(1, n / MAX_DATA_POINTS);
    int k = (n + step - 1) / step;
    double[] out = new double[k * dim];
    float[] one = new float[dim];
    for (int i = 0, j = 0; i < n && j < k; i += step, j++) {
      data.readPoint(i, one, 0);
      for (int c = 0; c < dim; c++) out[j * dim + c] = one[c];
    }
    return out;
  }

  /**
   * The view {@code [xmin, xmax, ymin, ymax]}: the data's box (or the samples' when there is no data) grown to hold
   * the samples, but at most three data widths around the data's centre, padded by 8% and made square.
   */
  static double[] view(double[] samples, double[] data, int sampleDim, int dataDim) {
    double[] s = DataStats.bounds2d(samples, sampleDim);
    double[] b = data != null ? DataStats.bounds2d(data, dataDim) : s.clone();
    if (!Double.isFinite(b[0])) b = new double[] {-1, 1, -1, 1};
    double cx = (b[0] + b[1]) / 2;
    double cy = (b[2] + b[3]) / 2;
    double half = Math.max(Math.max(b[1] - b[0], b[3] - b[2]) / 2, 1e-6);
    if (data != null && Double.isFinite(s[0])) {
      double cap = 3 * half;
      double reach = Math.max(Math.max(cx - s[0], s[1] - cx), Math.max(cy - s[2], s[3] - cy));
      half = Math.max(half, Math.min(reach, cap));
    }
    half *= 1.08;
    return new double[] {cx - half, cx + half, cy - half, cy + half};
  }

  static BufferedImage render(double[] p, int d, double[] ref, int refDim, double[] view) {
    BufferedImage img = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, SIZE, SIZE);
    int w = SIZE - LEFT - RIGHT;
    int h = SIZE - TOP - BOTTOM;
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    // axes: frame, ticks with labels, and the zero lines when they are in view
    double stepX = niceStep(view[1] - view[0]);
    double stepY = niceStep(view[3] - view[2]);
    for (double x = Math.ceil(view[0] / stepX) * stepX; x <= view[1]; x += stepX) {
      int px = LEFT + (int) Math.round((x - view[0]) / (view[1] - view[0]) * w);
      g.setColor(new Color(235, 235, 235));
      g.drawLine(px, TOP, px, TOP + h);
      g.setColor(Color.DARK_GRAY);
      g.drawLine(px, TOP + h, px, TOP + h + 4);
      String lab = label(x, stepX);
      g.drawString(lab, px - g.getFontMetrics().stringWidth(lab) / 2, TOP + h + 17);
    }
    for (double y = Math.ceil(view[2] / stepY) * stepY; y <= view[3]; y += stepY) {
      int py = TOP + h - (int) Math.round((y - view[2]) / (view[3] - view[2]) * h);
      g.setColor(new Color(235, 235, 235));
      g.drawLine(LEFT, py, LEFT + w, py);
      g.setColor(Color.DARK_GRAY);
      g.drawLine(LEFT - 4, py, LEFT, py);
      String lab = label(y, stepY);
      g.drawString(lab, LEFT - 7 - g.getFontMetrics().stringWidth(lab), py + 4);
    }
    g.setColor(new Color(190, 190, 190));
    if (view[0] < 0 && view[1] > 0) {
      int px = LEFT + (int) Math.round(-view[0] / (view[1] - view[0]) * w);
      g.drawLine(px, TOP, px, TOP + h);
    }
    if (view[2] < 0 && view[3] > 0) {
      int py = TOP + h - (int) Math.round(-view[2] / (view[3] - view[2]) * h);
      g.drawLine(LEFT, py, LEFT + w, py);
    }
    g.setColor(Color.DARK_GRAY);
    g.setStroke(new BasicStroke(1));
    g.drawRect(LEFT, TOP, w, h);
    g.drawString("x[0]", LEFT + w / 2 - 10, SIZE - 6);
    g.drawString("x[1]", 4, TOP - 8);
    g.setClip(LEFT + 1, TOP + 1, w - 1, h - 1);
    if (ref != null) dots(g, ref, refDim, view, w, h, new Color(200, 200, 200));
    int outside = dots(g, p, d, view, w, h, new Color(31, 119, 180));
    g.setClip(null);
    g.setColor(Color.DARK_GRAY);
    String caption = String.format(Locale.ROOT, "%d samples%s%s", p.length / d,
        ref != null ? " (grey: training data)" : "", outside > 0 ? ", " + outside + " outside the view" : "");
    g.drawString(caption, LEFT, TOP - 8);
    g.dispose();
    return img;
  }

  /** Draws the points; returns how many fall outside the view (or are not finite). */
  private static int dots(Graphics2D g, double[] p, int d, double[] view, int w, int h, Color c) {
    g.setColor(c);
    int outside = 0;
    for (int i = 0; i + d - 1 < p.length; i += d) {
      double x = p[i];
      double y = d > 1 ? p[i + 1] : 0;
      if (!(x >= view[0] && x <= view[1] && y >= view[2] && y <= view[3])) {
        outside++;
        continue;
      }
      int px = LEFT + (int) ((x - view[0]) / (view[1] - view[0]) * w);
      int py = TOP + h - (int) ((y - view[2]) / (view[3] - view[2]) * h);
      g.fillRect(px - 1, py - 1, 2, 2);
    }
    return outside;
  }

  /** A tick step of 1, 2 or 5 times a power of ten giving 4 to 10 ticks over span. */
  static double niceStep(double span) {
    double raw = span / 5;
    double mag = Math.pow(10, Math.floor(Math.log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
  }

  private static String label(double v, double step) {
    int decimals = Math.max(0, (int) -Math.floor(Math.log10(step) + 1e-9));
    if (Math.abs(v) < step * 1e-6) v = 0;
    return String.format(Locale.ROOT, "%." + decimals + "f", v);
  }

  private static void encode(BufferedImage img, Path png) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ImageIO.write(img, "png", out);
      Atomic.write(png, out.toByteArray());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
