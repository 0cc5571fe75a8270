package dev.cm4j.train;

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
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/** loss.png: the per-tick mean loss (and images/s) against kimg, drawn with Java2D (no plotting dependency). */
final class LossPlot {
  private LossPlot() {}

  static void write(List<Map<String, Object>> history, Path png) {
    int w = 900;
    int h = 520;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, w, h);
    int left = 80;
    int right = w - 30;
    int top = 40;
    int bottom = h - 60;
    double[] x = new double[history.size()];
    double[] y = new double[history.size()];
    for (int i = 0; i < x.length; i++) {
      x[i] = ((Number) history.get(i).get("kimg")).doubleValue();
      y[i] = ((Number) history.get(i).get("loss")).doubleValue();
    }
    boolean log = true;
    for (double v : y) if (!(v > 0)) log = false;
    double xmin = 0;
    double xmax = 1e-9;
    double ymin = Double.POSITIVE_INFINITY;
    double ymax = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < x.length; i++) {
      xmax = Math.max(xmax, x[i]);
      if (!Double.isFinite(y[i])) continue;
      double v = log ? Math.log10(y[i]) : y[i];
      ymin = Math.min(ymin, v);
      ymax = Math.max(ymax, v);
    }
    if (!(ymax > ymin)) {
      ymin = Double.isFinite(ymin) ? ymin - 1 : 0;
      ymax = ymin + 2;
    }
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
    g.drawString("training loss (per-tick mean)" + (log ? ", log scale" : ""), left, 24);
    g.drawRect(left, top, right - left, bottom - top);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    for (int k = 0; k <= 4; k++) {
      double v = ymin + (ymax - ymin) * k / 4;
      int py = (int) (bottom - (bottom - top) * k / 4.0);
      g.setColor(new Color(230, 230, 230));
      g.drawLine(left + 1, py, right - 1, py);
      g.setColor(Color.BLACK);
      g.drawString(String.format(Locale.ROOT, "%.3g", log ? Math.pow(10, v) : v), 8, py + 4);
      double xv = xmin + (xmax - xmin) * k / 4;
      int px = (int) (left + (right - left) * k / 4.0);
      g.drawString(String.format(Locale.ROOT, "%.3g", xv), px - 10, bottom + 18);
    }
    g.drawString("kimg", (left + right) / 2, h - 20);
    g.setColor(new Color(31, 119, 180));
    g.setStroke(new BasicStroke(2f));
    int px0 = -1;
    int py0 = -1;
    for (int i = 0; i < x.length; i++) {
      if (!Double.isFinite(y[i])) continue;
      double v = log ? Math.log10(y[i]) : y[i];
      int px = (int) (left + (right - left) * (x[i] - xmin) / (xmax - xmin));
      int py = (int) (bottom - (bottom - top) * (v - ymin) / (ymax - ymin));
      if (px0 >= 0) g.drawLine(px0, py0, px, py);
      g.fillOval(px - 2, py - 2, 5, 5);
      px0 = px;
      py0 = py;
    }
    g.dispose();
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ImageIO.write(img, "png", out);
      Atomic.write(png, out.toByteArray());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
