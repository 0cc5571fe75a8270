package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class SplitMix64Test {
  @Test
  void matchesTheReferenceSequence() {
    // Vigna's splitmix64.c seeded with 0 (the widely published test vector).
    SplitMix64 r = new SplitMix64(0);
    assertEquals(0xe220a8397b1dcdafL, r.nextLong());
    assertEquals(0x6e789e6aa1b965f4L, r.nextLong());
    assertEquals(0x06c45d188009454fL, r.nextLong());
  }

  @Test
  void stateRestoresTheSequenceExactly() {
    SplitMix64 a = new SplitMix64(99);
    for (int i = 0; i < 10; i++) a.nextGaussian();
    long s = a.state();
    double[] want = {a.nextDouble(), a.nextGaussian(), a.nextInt(17)};
    SplitMix64 b = new SplitMix64(0);
    b.setState(s);
    assertArrayEquals(want, new double[] {b.nextDouble(), b.nextGaussian(), b.nextInt(17)});
  }

  @Test
  void nextIntIsUniformAndGaussianIsStandard() {
    SplitMix64 r = new SplitMix64(1);
    int k = 7;
    int n = 140_000;
    long[] c = new long[k];
    for (int i = 0; i < n; i++) c[r.nextInt(k)]++;
    double chi2 = 0;
    for (long v : c) chi2 += (v - n / (double) k) * (v - n / (double) k) / (n / (double) k);
    assertTrue(chi2 < 6 + 6 * Math.sqrt(12), "chi2 " + chi2); // 6 dof
    double s = 0, s2 = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
      double g = r.nextGaussian();
      s += g;
      s2 += g * g;
      s4 += g * g * g * g;
    }
    assertEquals(0, s / n, 5 / Math.sqrt(n));
    assertEquals(1, s2 / n, 5 * Math.sqrt(2.0 / n));
    assertEquals(3, s4 / n, 5 * Math.sqrt(96.0 / n));
    assertThrows(IllegalArgumentException.class, () -> r.nextInt(0));
  }
}
