package dev.cm4j.data;

import java.util.random.RandomGenerator;

/**
 * Steele, Lea &amp; Flood's SplitMix64 generator: a 64-bit counter advanced by the golden-ratio increment and mixed
 * by a fixed finaliser. Its whole state is one {@code long}, so it checkpoints exactly ({@link #state()},
 * {@link #setState}); sequences are identical on every JVM. Not thread-safe.
 */
public final class SplitMix64 implements RandomGenerator {
  private static final long GAMMA = 0x9E3779B97F4A7C15L;
  private long state;

  /** A generator whose state is {@code seed}. */
  public SplitMix64(long seed) {
    this.state = seed;
  }

  /** The finaliser: a bijective 64-bit mix (also a good hash for deriving seeds). */
  public static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** A seed derived from a seed and a stream number (e.g. an epoch or a rank). */
  public static long derive(long seed, long stream) {
    return mix(mix(seed + GAMMA) ^ (stream * 0xD1B54A32D192ED03L + 0x2545F4914F6CDD1DL));
  }

  @Override
  public long nextLong() {
    return mix(state += GAMMA);
  }

  /** A uniform double in [0, 1): the top 53 bits of {@link #nextLong()} times 2⁻⁵³. */
  @Override
  public double nextDouble() {
    return (nextLong() >>> 11) * 0x1.0p-53;
  }

  /** An unbiased uniform int in [0, bound), by rejection (defined here so results never depend on the JDK). */
  @Override
  public int nextInt(int bound) {
    if (bound <= 0) throw new IllegalArgumentException("bound must be positive: " + bound);
    long m = bound;
    long limit = (Long.MAX_VALUE / m) * m; // values of the 63-bit draw at or above this are rejected
    long r;
    do {
      r = nextLong() >>> 1;
    } while (r >= limit);
    return (int) (r % m);
  }

  /** A standard normal variate by the Box–Muller transform (two uniform draws per variate). */
  @Override
  public double nextGaussian() {
    double u1 = 1.0 - nextDouble(); // (0, 1]
    double u2 = nextDouble();
    return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
  }

  /** The current state. */
  public long state() {
    return state;
  }

  /** Restores a state from {@link #state()}. */
  public void setState(long state) {
    this.state = state;
  }
}
