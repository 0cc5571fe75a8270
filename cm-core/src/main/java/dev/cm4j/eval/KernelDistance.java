package dev.cm4j.eval;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.SplittableRandom;

/**
 * Kernel Inception Distance (Bińkowski et al. 2018) as StyleGAN2-ADA's {@code metrics/kernel_inception_distance.py}
 * computes it: the unbiased MMD² with the cubic polynomial kernel {@code k(x, y) = (x·y / D + 1)³}, averaged over
 * {@code numSubsets} random subsets of {@code m = min(N_gen, N_real, maxSubsetSize)} vectors from each side (drawn
 * without replacement): per subset, {@code (Σ_{i≠j} a_ij) / (m − 1) − 2 Σ b_ij / m} with {@code a = k(X,X) + k(Y,Y)} and
 * {@code b = k(X,Y)}; KID is the sum over subsets divided by {@code numSubsets · m}. Computed in float64.
 */
public final class KernelDistance {
  private KernelDistance() {}

  /** StyleGAN2-ADA's defaults: 100 subsets of at most 1,000 vectors. */
  public static final int NUM_SUBSETS = 100;

  /** StyleGAN2-ADA's default subset size. */
  public static final int MAX_SUBSET_SIZE = 1000;

  /** KID of generated against real features [N, D], with subsets drawn from {@code seed}. */
  public static double kid(Tensor gen, Tensor real, int numSubsets, int maxSubsetSize, long seed) {
    int m = subsetSize(gen, real, maxSubsetSize);
    SplittableRandom rnd = new SplittableRandom(seed);
    long[][] gi = new long[numSubsets][];
    long[][] ri = new long[numSubsets][];
    for (int k = 0; k < numSubsets; k++) {
      gi[k] = choose(rnd, (int) gen.shape()[0], m);
      ri[k] = choose(rnd, (int) real.shape()[0], m);
    }
    return kid(gen, real, gi, ri);
  }

  /** The subset size: {@code min(N_gen, N_real, maxSubsetSize)}. */
  public static int subsetSize(Tensor gen, Tensor real, int maxSubsetSize) {
    check(gen, real);
    return (int) Math.min(Math.min(gen.shape()[0], real.shape()[0]), maxSubsetSize);
  }

  /**
   * KID with explicit subsets: {@code genIdx[k]} and {@code realIdx[k]} are the rows of subset k (each of the same
   * length m ≥ 2).
   */
  public static double kid(Tensor gen, Tensor real, long[][] genIdx, long[][] realIdx) {
    check(gen, real);
    if (genIdx.length == 0 || genIdx.length != realIdx.length) {
      throw new IllegalArgumentException("need the same positive number of generated and real subsets");
    }
    double n = gen.shape()[1];
    int m = genIdx[0].length;
    if (m < 2) throw new IllegalArgumentException("subsets need at least 2 vectors");
    double t = 0;
    try (TensorScope s = TensorScope.open()) {
      Tensor g = gen.to(DType.FLOAT64);
      Tensor r = real.to(DType.FLOAT64);
      for (int k = 0; k < genIdx.length; k++) {
        try (TensorScope sk = TensorScope.open()) {
          if (genIdx[k].length != m || realIdx[k].length != m) throw new IllegalArgumentException("subsets differ in size");
          Tensor x = g.indexSelect(0, Tensor.of(genIdx[k]));
          Tensor y = r.indexSelect(0, Tensor.of(realIdx[k]));
          Tensor a = kernel(x, x, n).add(kernel(y, y, n));
          Tensor b = kernel(x, y, n);
          double offDiag = a.sum().item() - diagonalSum(a, m);
          t += offDiag / (m - 1) - b.sum().item() * 2 / m;
        }
      }
    }
    return t / genIdx.length / m;
  }

  private static Tensor kernel(Tensor x, Tensor y, double n) {
    return x.matmul(y.transpose(0, 1)).div(n).add(1.0).pow(3.0);
  }

  private static double diagonalSum(Tensor a, int m) {
    return a.reshape(-1).slice(0, 0, (long) m * m, m + 1).sum().item();
  }

  /** m distinct indices from [0, n) (partial Fisher–Yates). */
  static long[] choose(SplittableRandom rnd, int n, int m) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) p[i] = i;
    long[] out = new long[m];
    for (int i = 0; i < m; i++) {
      int j = i + rnd.nextInt(n - i);
      int tmp = p[i];
      p[i] = p[j];
      p[j] = tmp;
      out[i] = p[i];
    }
    return out;
  }

  private static void check(Tensor gen, Tensor real) {
    if (gen.dim() != 2 || real.dim() != 2 || gen.shape()[1] != real.shape()[1]) {
      throw new IllegalArgumentException("features must be [N, D] with the same D, got "
          + java.util.Arrays.toString(gen.shape()) + " and " + java.util.Arrays.toString(real.shape()));
    }
  }
}
