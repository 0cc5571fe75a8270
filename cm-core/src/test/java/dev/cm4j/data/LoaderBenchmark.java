package dev.cm4j.data;

import dev.cm4j.tensor.TensorScope;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Loader throughput microbenchmark (a main class, not a test): Fashion-MNIST training images at batch 128, padded
 * 28 → 32, random x-flips, shuffled, into float32 CPU tensors; reports batches/s with the prefetch thread on and
 * off. Needs Debian's {@code dataset-fashion-mnist} or a directory with the four IDX files as the first argument.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp ... dev.cm4j.data.LoaderBenchmark [idx-dir] [seconds]
 * </pre>
 */
public final class LoaderBenchmark {
  private LoaderBenchmark() {}

  public static void main(String[] args) throws Exception {
    Path dir = args.length > 0 ? Path.of(args[0]) : IdxDataset.DEBIAN_FASHION_MNIST;
    double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 5;
    long t0 = System.nanoTime();
    IdxDataset ds = IdxDataset.openStandard(dir, true);
    System.out.printf(Locale.ROOT, "opened %d images %dx%d from %s in %.2f s%n", ds.size(), ds.resolution(),
        ds.resolution(), dir, (System.nanoTime() - t0) / 1e9);
    LoaderConfig base = LoaderConfig.of(128, 0).withResize(32, LoaderConfig.Resize.PAD).withXflip(true);
    for (int prefetch : new int[] {0, 4}) {
      try (Loader l = Loader.open(ds, base.withPrefetch(prefetch))) {
        run(l, 1.0); // warm-up
        double rate = run(l, seconds);
        System.out.printf(Locale.ROOT, "prefetch %d: %.0f batches/s (%.0f images/s)%n", prefetch, rate, rate * 128);
      }
    }
  }

  /** Batches per second over about {@code seconds}; each batch is materialised and released in a scope. */
  private static double run(Loader l, double seconds) {
    long start = System.nanoTime();
    long end = start + (long) (seconds * 1e9);
    long n = 0;
    double sink = 0;
    while (System.nanoTime() < end) {
      try (TensorScope s = TensorScope.open()) {
        Batch b = l.next();
        sink += b.indices()[0];
        n++;
      }
    }
    if (sink == -1) System.out.println();
    return n / ((System.nanoTime() - start) / 1e9);
  }
}
