package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Sampling ops: moments of large samples from fixed seeds within 6 standard errors of the distribution's closed-form
 * values (a false failure has probability ~1e-9 for a fresh seed; with the fixed seeds the outcome is deterministic),
 * plus support checks and same-seed determinism.
 */
class RandomTest {
  private static final int N = 200_000;
  private static final double Z = 6; // standard errors allowed
  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  static double mean(double[] v) {
    double s = 0;
    for (double d : v) s += d;
    return s / v.length;
  }

  static double std(double[] v) {
    double m = mean(v), s = 0;
    for (double d : v) s += (d - m) * (d - m);
    return Math.sqrt(s / (v.length - 1));
  }

  static double fraction(double[] v, java.util.function.DoublePredicate p) {
    int k = 0;
    for (double d : v) if (p.test(d)) k++;
    return k / (double) v.length;
  }

  /** Standard error of a proportion q estimated from N samples. */
  static double seProp(double q) {
    return Math.sqrt(q * (1 - q) / N);
  }

  @Test
  void randnLikeIsStandardNormalWithTheInputsShapeAndDtype() {
    Tensor like = Tensor.zeros(new long[] {400, 500}, DType.FLOAT64, Device.CPU);
    Tensor r = like.randnLike(Generator.cpu(11));
    assertArrayEquals(new long[] {400, 500}, r.shape());
    assertEquals(DType.FLOAT64, r.dtype());
    double[] v = r.toDoubleArray();
    assertEquals(0, mean(v), Z / Math.sqrt(N));
    assertEquals(1, std(v), Z / Math.sqrt(2.0 * N)); // SE of the sample std of a normal ≈ σ/√(2N)
    assertEquals(0.682689492, fraction(v, d -> Math.abs(d) < 1), Z * seProp(0.6827));
    assertEquals(0.954499736, fraction(v, d -> Math.abs(d) < 2), Z * seProp(0.9545));
    // float32 and the default generator.
    Tensor f = Tensor.zeros(N).randnLike();
    assertEquals(DType.FLOAT32, f.dtype());
    assertEquals(0, mean(f.toDoubleArray()), Z / Math.sqrt(N));
  }

  @Test
  void randLikeIsUniformOnZeroOne() {
    Tensor r = Tensor.zeros(N).randLike(Generator.cpu(12));
    assertEquals(DType.FLOAT32, r.dtype());
    double[] v = r.toDoubleArray();
    for (double d : v) assertTrue(d >= 0 && d < 1, "sample " + d + " outside [0, 1)");
    assertEquals(0.5, mean(v), Z * Math.sqrt(1 / 12.0) / Math.sqrt(N));
    assertEquals(Math.sqrt(1 / 12.0), std(v), Z * 0.13 / Math.sqrt(N)); // SE of the std of U(0,1): √((1/80 − 1/144)/N)/(2σ) ≈ 0.129/√N
    for (double q : new double[] {0.1, 0.25, 0.5, 0.9}) {
      assertEquals(q, fraction(v, d -> d < q), Z * seProp(q), "P(U < " + q + ")");
    }
    double[] w = Tensor.zeros(new long[] {1000}, DType.FLOAT64, Device.CPU).randLike().toDoubleArray();
    for (double d : w) assertTrue(d >= 0 && d < 1);
  }

  @Test
  void normalInPlaceHasTheRequestedMeanAndStd() {
    Tensor t = Tensor.empty(new long[] {N}, DType.FLOAT64, Device.CPU);
    assertSame(t, t.normal_(3, 2, Generator.cpu(13)));
    double[] v = t.toDoubleArray();
    assertEquals(3, mean(v), Z * 2 / Math.sqrt(N));
    assertEquals(2, std(v), Z * 2 / Math.sqrt(2.0 * N));
    assertEquals(0.5, fraction(v, d -> d < 3), Z * seProp(0.5));
    // The factory form.
    double[] w = Tensor.normal(-1, 0.5, new long[] {N}, DType.FLOAT32, Device.CPU, Generator.cpu(14))
        .toDoubleArray();
    assertEquals(-1, mean(w), Z * 0.5 / Math.sqrt(N));
    assertEquals(0.5, std(w), Z * 0.5 / Math.sqrt(2.0 * N));
    assertThrows(TorchException.class, () -> t.normal_(0, -1, null), "negative std");
  }

  @Test
  void uniformInPlaceCoversTheInterval() {
    Tensor t = Tensor.empty(new long[] {N}, DType.FLOAT64, Device.CPU);
    assertSame(t, t.uniform_(-2, 5, Generator.cpu(15)));
    double[] v = t.toDoubleArray();
    for (double d : v) assertTrue(d >= -2 && d < 5, "sample " + d + " outside [-2, 5)");
    double sd = 7 / Math.sqrt(12);
    assertEquals(1.5, mean(v), Z * sd / Math.sqrt(N));
    assertEquals(sd, std(v), Z * 7 * 0.13 / Math.sqrt(N));
    assertEquals(3 / 7.0, fraction(v, d -> d < 1), Z * seProp(3 / 7.0));
  }

  @Test
  void bernoulliInPlaceAndFromProbabilities() {
    Tensor t = Tensor.empty(new long[] {N}, DType.FLOAT32, Device.CPU);
    assertSame(t, t.bernoulli_(0.3, Generator.cpu(16)));
    double[] v = t.toDoubleArray();
    for (double d : v) assertTrue(d == 0 || d == 1);
    assertEquals(0.3, mean(v), Z * seProp(0.3));

    // Probabilities 0 and 1 are certain; 0.25 gives a quarter ones.
    Tensor probs = Tensor.cat(java.util.List.of(Tensor.zeros(1000), Tensor.ones(1000),
        Tensor.full(new long[] {N}, 0.25, DType.FLOAT32, Device.CPU)), 0);
    Tensor s = probs.bernoulli(Generator.cpu(17));
    assertEquals(DType.FLOAT32, s.dtype());
    double[] sv = s.toDoubleArray();
    for (int i = 0; i < 1000; i++) assertEquals(0, sv[i]);
    for (int i = 1000; i < 2000; i++) assertEquals(1, sv[i]);
    double[] rest = Arrays.copyOfRange(sv, 2000, sv.length);
    for (double d : rest) assertTrue(d == 0 || d == 1);
    assertEquals(0.25, mean(rest), Z * seProp(0.25));
    assertThrows(TorchException.class, () -> Tensor.of(new double[] {1.5}).bernoulli(null));
  }

  @Test
  void factoriesRandRandintRandperm() {
    double[] r = Tensor.rand(new long[] {N}, DType.FLOAT64, Device.CPU, Generator.cpu(18)).toDoubleArray();
    assertEquals(0.5, mean(r), Z * Math.sqrt(1 / 12.0) / Math.sqrt(N));
    double[] n = Tensor.randn(new long[] {N}, DType.FLOAT64, Device.CPU, Generator.cpu(19)).toDoubleArray();
    assertEquals(1, std(n), Z / Math.sqrt(2.0 * N));
    long[] ri = Tensor.randint(-3, 4, new long[] {N}, DType.INT64, Device.CPU, Generator.cpu(20)).toLongArray();
    int[] counts = new int[7];
    for (long x : ri) {
      assertTrue(x >= -3 && x < 4);
      counts[(int) x + 3]++;
    }
    for (int c : counts) assertEquals(1 / 7.0, c / (double) N, Z * seProp(1 / 7.0));
    long[] perm = Tensor.randperm(1000, Device.CPU, Generator.cpu(21)).toLongArray();
    long[] sorted = perm.clone();
    Arrays.sort(sorted);
    for (int i = 0; i < 1000; i++) assertEquals(i, sorted[i]);
    assertFalse(Arrays.equals(perm, sorted), "a permutation of 1000 is not the identity");
  }

  @Test
  void sameSeedSameSamplesForEverySampler() {
    for (int round = 0; round < 2; round++) {
      long seed = 500 + round;
      double[][] a = draws(seed), b = draws(seed), c = draws(seed + 1000);
      for (int i = 0; i < a.length; i++) {
        assertArrayEquals(a[i], b[i], 0.0, "sampler " + i + " with the same seed");
        assertFalse(Arrays.equals(a[i], c[i]), "sampler " + i + " with another seed");
      }
    }
  }

  private static double[][] draws(long seed) {
    Tensor like = Tensor.zeros(257);
    return new double[][] {
      like.randnLike(Generator.cpu(seed)).toDoubleArray(),
      like.randLike(Generator.cpu(seed)).toDoubleArray(),
      Tensor.zeros(257).normal_(1, 2, Generator.cpu(seed)).toDoubleArray(),
      Tensor.zeros(257).uniform_(-1, 1, Generator.cpu(seed)).toDoubleArray(),
      Tensor.zeros(257).bernoulli_(0.5, Generator.cpu(seed)).toDoubleArray(),
      Tensor.full(new long[] {257}, 0.5, DType.FLOAT32, Device.CPU).bernoulli(Generator.cpu(seed)).toDoubleArray(),
      Tensor.randn(new long[] {257}, DType.FLOAT32, Device.CPU, Generator.cpu(seed)).toDoubleArray(),
      Tensor.randint(0, 1000, new long[] {257}, DType.INT64, Device.CPU, Generator.cpu(seed)).toDoubleArray(),
    };
  }

  @Test
  void manualSeedMakesTheDefaultGeneratorReproducible() {
    Torch.manualSeed(2024);
    double[] a = Tensor.randn(100).toDoubleArray();
    double[] a2 = Tensor.zeros(50).randLike().toDoubleArray();
    Torch.manualSeed(2024);
    double[] b = Tensor.randn(100).toDoubleArray();
    double[] b2 = Tensor.zeros(50).randLike().toDoubleArray();
    assertArrayEquals(a, b, 0.0);
    assertArrayEquals(a2, b2, 0.0);
  }
}
