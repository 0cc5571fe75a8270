package dev.cm4j.train;

import dev.cm4j.tensor.Tensor;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** A scatter plot of 2-D samples (the first two coordinates) for point-data runs. */
final class ScatterPlot {
  private ScatterPlot() {}

  static void write(Tensor points, Path png) {
    double[] p = points.toDoubleArray();
    int d = (int) points.size(1);
    int size = 600;
    BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, size, size);
    double lim = 1.5;
    g.setColor(new Color(220, 220, 220));
    g.drawLine(size / 2, 0, size / 2, size);
    g.drawLine(0, size / 2, size, size / 2);
    g.setColor(new Color(31, 119, 180));
    for (int i = 0; i + d - 1 < p.length; i += d) {
      int x = (int) ((p[i] + lim) / (2 * lim) * size);
      int y = (int) ((lim - (d > 1 ? p[i + 1] : 0)) / (2 * lim) * size);
      g.fillRect(x, y, 2, 2);
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
