package dev.cm4j.eval;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/** Feature statistics and distances over an {@link ImageSource}. */
public final class Metrics {
  private Metrics() {}

  /** Mean and covariance of the network's features over every image of the source. */
  public static GaussianStats stats(FeatureNetwork net, ImageSource images, int batch) {
    try (FeatureStats fs = new FeatureStats()) {
      images.forEach(batch, b -> fs.add(net.features(b)));
      return fs.stats();
    }
  }

  /** All features [N, D] in float64 (for KID), owned by the caller's scope. */
  public static Tensor features(FeatureNetwork net, ImageSource images, int batch) {
    List<double[]> rows = new ArrayList<>();
    int[] dim = {-1};
    images.forEach(batch, b -> {
      Tensor f = net.features(b).to(DType.FLOAT64);
      dim[0] = (int) f.shape()[1];
      rows.add(f.toDoubleArray());
    });
    int total = 0;
    for (double[] r : rows) total += r.length;
    double[] all = new double[total];
    int off = 0;
    for (double[] r : rows) {
      System.arraycopy(r, 0, all, off, r.length);
      off += r.length;
    }
    return Tensor.of(all, total / dim[0], dim[0]);
  }

  /** Fréchet distance of the source's features to reference statistics. */
  public static double frechet(FeatureNetwork net, ImageSource images, GaussianStats ref, int batch) {
    return Frechet.distance(stats(net, images, batch), ref);
  }
}
