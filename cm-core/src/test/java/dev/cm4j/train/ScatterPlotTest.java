package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import org.junit.jupiter.api.Test;

class ScatterPlotTest {
  static final int BLUE = new java.awt.Color(31, 119, 180).getRGB();

  @Test
  void theViewFramesTheDataNotAFixedRange() {
    // data on a ring of radius 5: a fixed ±1.5 view would clip all of it
    double[] data = {5, 0, -5, 0, 0, 5, 0, -5};
    double[] v = ScatterPlot.view(new double[] {0, 0}, data, 2, 2);
    assertTrue(v[0] < -5 && v[1] > 5 && v[2] < -5 && v[3] > 5, java.util.Arrays.toString(v));
    assertTrue(v[1] - v[0] < 12, "padded only a little: " + java.util.Arrays.toString(v));
    // samples a little outside the data widen the view; a far outlier widens it at most to three data widths
    double[] wide = ScatterPlot.view(new double[] {7, 0}, data, 2, 2);
    assertTrue(wide[1] > 7, java.util.Arrays.toString(wide));
    double[] capped = ScatterPlot.view(new double[] {1e6, 0}, data, 2, 2);
    assertTrue(capped[1] < 20 && capped[1] > 15, java.util.Arrays.toString(capped));
    // without data, the samples' own box
    double[] own = ScatterPlot.view(new double[] {0.001, 0.002, 0.003, 0.004}, null, 2, 2);
    assertTrue(own[0] < 0.001 && own[1] > 0.003 && own[1] - own[0] < 0.01, java.util.Arrays.toString(own));
  }

  @Test
  void samplesOutsideTheOldRangeAreDrawnAtTheirPlace() {
    double[] data = {4, 4, -4, -4};
    double[] samples = {3, 3};
    double[] v = ScatterPlot.view(samples, data, 2, 2);
    BufferedImage img = ScatterPlot.render(samples, 2, data, 2, v);
    int w = ScatterPlot.SIZE - ScatterPlot.LEFT - ScatterPlot.RIGHT;
    int h = ScatterPlot.SIZE - ScatterPlot.TOP - ScatterPlot.BOTTOM;
    int px = ScatterPlot.LEFT + (int) ((3 - v[0]) / (v[1] - v[0]) * w);
    int py = ScatterPlot.TOP + h - (int) ((3 - v[2]) / (v[3] - v[2]) * h);
    assertEquals(BLUE, img.getRGB(px, py), "the sample at (3, 3) is drawn");
    int blue = 0;
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) blue += img.getRGB(x, y) == BLUE ? 1 : 0;
    }
    assertEquals(4, blue, "one 2x2 dot");
  }

  @Test
  void tickStepsAreOneTwoOrFiveTimesAPowerOfTen() {
    assertEquals(0.2, ScatterPlot.niceStep(1.1), 1e-12);
    assertEquals(2, ScatterPlot.niceStep(10), 1e-12);
    assertEquals(0.5, ScatterPlot.niceStep(2.6), 1e-12);
    assertEquals(10, ScatterPlot.niceStep(40), 1e-12);
  }
}
