package dev.cm4j.bench;

import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.LongConsumer;

/**
 * Per-op overhead benchmark, Java side: the same tiny-tensor loops as {@code bench/overhead.cpp} and
 * {@code bench/overhead.py}, written against the public cm-core API the way a user would. Run by
 * {@code bench/overhead.sh}.
 *
 * <p>A plain harness (warm-up by time, then timed repetitions, median and best) rather than JMH: on a small
 * shared machine the three languages must be measured the same way, and interleaved.
 *
 * <p>Every op is measured in two ownership styles:
 * <ul>
 *   <li>{@code scope}: results belong to a {@link TensorScope} opened per batch of {@value #BATCH} iterations (per
 *       step for the MLP), which frees them (64 handles per native call) when it closes;
 *   <li>{@code close}: no scope is open, so each result is caller-owned (with the Cleaner leak net) and is
 *       {@link Tensor#close() closed} right after the op.
 * </ul>
 *
 * <p>Prints one line per measurement: {@code <op>\t<variant>\t<cpu median>\t<cpu best>\t<wall median>\t<wall
 * best>}, in µs per op: median and best of the timed repetitions, by this thread's CPU time (which, unlike wall
 * time, does not count the time other processes held the core; JIT and GC threads are not counted either) and by
 * wall-clock time.
 * Usage: {@code Overhead [quick]}.
 */
public final class Overhead {
  /** Iterations per scope in the {@code scope} variant. */
  static final int BATCH = 100;

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  private final double warmupS;
  private final int reps;

  Overhead(double warmupS, int reps) {
    this.warmupS = warmupS;
    this.reps = reps;
  }

  public static void main(String[] args) {
    boolean quick = args.length > 0 && args[0].equals("quick");
    new Overhead(quick ? 0.02 : 0.4, quick ? 3 : 31).run();
  }

  /** Runs body(n) (n iterations) for warm-up, then the timed repetitions; prints µs per iteration. */
  void measure(String op, String variant, long n, LongConsumer body) {
    long t0 = System.nanoTime();
    while (System.nanoTime() - t0 < (long) (warmupS * 1e9)) body.accept(n);
    double[] cpu = new double[reps], wall = new double[reps];
    for (int r = 0; r < reps; r++) {
      long c0 = THREADS.getCurrentThreadCpuTime();
      long a = System.nanoTime();
      body.accept(n);
      long b = System.nanoTime();
      long c1 = THREADS.getCurrentThreadCpuTime();
      wall[r] = (b - a) / 1e3 / n;
      cpu[r] = (c1 - c0) / 1e3 / n;
    }
    Arrays.sort(cpu);
    Arrays.sort(wall);
    System.out.printf(Locale.ROOT, "%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f%n", op, variant, cpu[reps / 2], cpu[0],
        wall[reps / 2], wall[0]);
    System.out.flush();
  }

  void run() {
    // Torch.load() first: Torch.setNumThreads as the very first call would hit the bindings before the native
    // library is loaded (UnsatisfiedLinkError: unresolved symbol cm_set_num_threads).
    Torch.load();
    Torch.setNumThreads(1);
    Torch.manualSeed(0);

    // Tiny operands: 4x4 float32, no grad; caller-owned for the whole run.
    Tensor a = Tensor.randn(4, 4), b = Tensor.randn(4, 4);
    Tensor m = Tensor.randn(64, 64), m2 = Tensor.randn(64, 64);

    // Each loop is written out (no shared lambda calling the op through an interface) so that, as in the C++ and
    // Python loops, the op call site sees one target.
    measure("add", "scope", 1000, k -> {
      for (long done = 0; done < k; done += BATCH) {
        try (var s = TensorScope.open()) {
          for (int i = 0; i < BATCH; i++) a.add(b);
        }
      }
    });
    measure("add", "close", 1000, k -> {
      for (long i = 0; i < k; i++) a.add(b).close();
    });
    measure("mul_scalar", "scope", 1000, k -> {
      for (long done = 0; done < k; done += BATCH) {
        try (var s = TensorScope.open()) {
          for (int i = 0; i < BATCH; i++) a.mul(2.0);
        }
      }
    });
    measure("mul_scalar", "close", 1000, k -> {
      for (long i = 0; i < k; i++) a.mul(2.0).close();
    });
    measure("sum", "scope", 1000, k -> {
      for (long done = 0; done < k; done += BATCH) {
        try (var s = TensorScope.open()) {
          for (int i = 0; i < BATCH; i++) a.sum();
        }
      }
    });
    measure("sum", "close", 1000, k -> {
      for (long i = 0; i < k; i++) a.sum().close();
    });
    measure("matmul64", "scope", 200, k -> {
      for (long done = 0; done < k; done += BATCH) {
        try (var s = TensorScope.open()) {
          for (int i = 0; i < BATCH; i++) m.matmul(m2);
        }
      }
    });
    measure("matmul64", "close", 200, k -> {
      for (long i = 0; i < k; i++) m.matmul(m2).close();
    });

    // Tiny MLP step: x[16,8] -> Linear(8,32) -> silu -> Linear(32,1) -> mean -> backward; grads reset to None.
    Tensor x = Tensor.randn(16, 8);
    Tensor w1, b1, w2, b2;
    try (var s = TensorScope.open()) {
      w1 = s.keep(Tensor.randn(32, 8).mul(0.3)).requiresGrad_(true);
      w2 = s.keep(Tensor.randn(1, 32).mul(0.2)).requiresGrad_(true);
    }
    b1 = Tensor.zeros(32).requiresGrad_(true);
    b2 = Tensor.zeros(1).requiresGrad_(true);
    List<Tensor> params = List.of(w1, b1, w2, b2);

    measure("mlp_step", "scope", 40, k -> {
      for (long i = 0; i < k; i++) {
        try (var s = TensorScope.open()) {
          Tensor loss = F.linear(F.linear(x, w1, b1).silu(), w2, b2).mean();
          loss.backward();
          for (Tensor p : params) p.setGrad(null);
        }
      }
    });
    measure("mlp_step", "close", 40, k -> {
      for (long i = 0; i < k; i++) {
        try (Tensor h = F.linear(x, w1, b1);
            Tensor sh = h.silu();
            Tensor o = F.linear(sh, w2, b2);
            Tensor loss = o.mean()) {
          loss.backward();
          for (Tensor p : params) p.setGrad(null);
        }
      }
    });
  }
}
