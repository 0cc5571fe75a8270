package dev.cm4j.eval;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;

/**
 * Streaming mean and covariance of feature vectors in float64, accumulated as EDM's {@code fid.py} does: the sum of
 * the features and the sum of their outer products, so the result equals {@code np.mean} and
 * {@code np.cov(rowvar=False)} (unbiased, N − 1) of all the features seen. The sums stay on the features' device
 * (float64) until {@link #stats()} reads them, so that extracting features on a GPU does not wait for it per batch.
 */
public final class FeatureStats implements AutoCloseable {
  private int dim = -1;
  private long n;
  private Tensor sum; // [D] float64, on the features' device
  private Tensor sumOuter; // [D, D] float64

  /** Adds a batch of feature vectors [B, D] (any floating dtype; accumulated in float64). */
  public void add(Tensor features) {
    if (features.dim() != 2) {
      throw new IllegalArgumentException("features must be [batch, dim], got " + java.util.Arrays.toString(features.shape()));
    }
    int d = (int) features.shape()[1];
    if (dim >= 0 && d != dim) throw new IllegalArgumentException("feature dimension changed from " + dim + " to " + d);
    if (sum != null && !features.device().equals(sum.device())) {
      throw new IllegalArgumentException("features moved from " + sum.device() + " to " + features.device());
    }
    try (TensorScope s = TensorScope.open()) {
      Tensor f = features.to(DType.FLOAT64);
      Tensor bs = f.sum(false, 0);
      Tensor bo = f.transpose(0, 1).matmul(f);
      if (sum == null) {
        dim = d;
        sum = TensorScope.release(Tensor.zeros(new long[] {d}, DType.FLOAT64, features.device()));
        sumOuter = TensorScope.release(Tensor.zeros(new long[] {d, d}, DType.FLOAT64, features.device()));
      }
      sum.add_(bs);
      sumOuter.add_(bo);
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
    double[] sum = this.sum.toDoubleArray();
    double[] sumOuter = this.sumOuter.toDoubleArray();
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

  /** Frees the sums (the statistics already taken stay valid). */
  @Override
  public void close() {
    if (sum != null) sum.close();
    if (sumOuter != null) sumOuter.close();
    sum = null;
    sumOuter = null;
  }
}
