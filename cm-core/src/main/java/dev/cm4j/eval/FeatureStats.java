package dev.cm4j.eval;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;

/**
 * Streaming mean and covariance of feature vectors in float64, accumulated as EDM's {@code fid.py} does: the sum of
 * the features and the sum of their outer products, so the result equals {@code np.mean} and
 * {@code np.cov(rowvar=False)} (unbiased, N − 1) of all the features seen.
 */
public final class FeatureStats {
  private int dim = -1;
  private long n;
  private double[] sum;
  private double[] sumOuter;

  /** Adds a batch of feature vectors [B, D] (any floating dtype; accumulated in float64). */
  public void add(Tensor features) {
    if (features.dim() != 2) {
      throw new IllegalArgumentException("features must be [batch, dim], got " + java.util.Arrays.toString(features.shape()));
    }
    int d = (int) features.shape()[1];
    if (dim < 0) {
      dim = d;
      sum = new double[d];
      sumOuter = new double[d * d];
    } else if (d != dim) {
      throw new IllegalArgumentException("feature dimension changed from " + dim + " to " + d);
    }
    try (TensorScope s = TensorScope.open()) {
      Tensor f = features.to(DType.FLOAT64);
      double[] bs = f.sum(false, 0).toDoubleArray();
      double[] bo = f.transpose(0, 1).matmul(f).toDoubleArray();
      for (int i = 0; i < d; i++) sum[i] += bs[i];
      for (int i = 0; i < bo.length; i++) sumOuter[i] += bo[i];
    }
    n += features.shape()[0];
  }

  /** Number of feature vectors added. */
  public long count() {
    return n;
  }

  /** The mean and unbiased covariance of everything added (needs at least two vectors). */
  public GaussianStats stats() {
    if (n < 2) throw new IllegalStateException("statistics need at least 2 feature vectors, have " + n);
    double[] mu = new double[dim];
    for (int i = 0; i < dim; i++) mu[i] = sum[i] / n;
    double[] sigma = new double[dim * dim];
    for (int i = 0; i < dim; i++) {
      for (int j = 0; j < dim; j++) {
        sigma[i * dim + j] = (sumOuter[i * dim + j] - n * mu[i] * mu[j]) / (n - 1);
      }
    }
    return new GaussianStats(mu, sigma, n);
  }
}
