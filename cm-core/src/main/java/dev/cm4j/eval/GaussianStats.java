package dev.cm4j.eval;

import dev.cm4j.data.DataException;
import dev.cm4j.data.Npy;
import dev.cm4j.data.Npz;
import dev.cm4j.tensor.DType;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The mean and covariance of a feature distribution, the statistics the Fréchet distance compares: EDM's FID
 * reference files ({@code .npz} with float64 {@code mu} [D] and {@code sigma} [D, D]).
 *
 * @param mu mean, length D
 * @param sigma covariance, row-major D×D (unbiased, as {@code np.cov})
 * @param count number of feature vectors behind the statistics (0 when unknown, e.g. read from a file)
 */
public record GaussianStats(double[] mu, double[] sigma, long count) {
  public GaussianStats {
    if (mu.length == 0 || sigma.length != (long) mu.length * mu.length) {
      throw new IllegalArgumentException("sigma must be " + mu.length + "x" + mu.length + " for a mean of length "
          + mu.length + ", got " + sigma.length + " values");
    }
  }

  /** The feature dimension D. */
  public int dim() {
    return mu.length;
  }

  /** Writes EDM's reference-statistics format: an {@code .npz} with float64 {@code mu} and {@code sigma}. */
  public void save(Path file) {
    Map<String, Npy.Array> m = new LinkedHashMap<>();
    m.put("mu", new Npy.Array(DType.FLOAT64, new long[] {dim()}, bytes(mu)));
    m.put("sigma", new Npy.Array(DType.FLOAT64, new long[] {dim(), dim()}, bytes(sigma)));
    Npz.write(file, m, false);
  }

  /** Reads reference statistics (EDM's {@code .npz}: {@code mu} [D], {@code sigma} [D, D]). */
  public static GaussianStats load(Path file) {
    Map<String, Npy.Array> m = Npz.read(file);
    Npy.Array mu = m.get("mu");
    Npy.Array sigma = m.get("sigma");
    if (mu == null || sigma == null) {
      throw new DataException(file.toString(), "reference statistics need arrays 'mu' and 'sigma' (has " + m.keySet()
          + ")");
    }
    if (mu.shape().length != 1 || sigma.shape().length != 2 || sigma.shape()[0] != mu.shape()[0]
        || sigma.shape()[1] != mu.shape()[0]) {
      throw new DataException(file.toString(), "'mu' must be [D] and 'sigma' [D, D]; got "
          + java.util.Arrays.toString(mu.shape()) + " and " + java.util.Arrays.toString(sigma.shape()));
    }
    return new GaussianStats(mu.toDoubleArray(), sigma.toDoubleArray(), 0);
  }

  private static byte[] bytes(double[] v) {
    return Npy.encodeDoubles(v);
  }
}
