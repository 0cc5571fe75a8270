package dev.cm4j.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.Locale;

/**
 * Times whole training steps the way {@code bench/step_harness.py} does on the Python side: warm-up by count and by
 * time, then timed repetitions of one step each, recording this thread's CPU time and wall-clock time. Prints one
 * line per measurement: {@code <bench>\t<variant>\t<cpu median>\t<cpu best>\t<wall median>\t<wall best>} in ms per
 * step.
 *
 * <p>Thread CPU time excludes the time other processes held the core (the benchmark machine is shared), and with one
 * intra-op thread every libtorch kernel runs on this thread. It also excludes the JIT and GC threads; wall time
 * includes everything.
 */
final class StepTimer {
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  /** Warm-up steps at least, then at least this long. */
  final int warmupSteps;
  final double warmupSeconds;
  /** Timed repetitions (one step each). */
  final int reps;

  StepTimer(int warmupSteps, double warmupSeconds, int reps) {
    this.warmupSteps = warmupSteps;
    this.warmupSeconds = warmupSeconds;
    this.reps = reps;
  }

  /** The measured times (ms per step), sorted. */
  record Result(double[] cpuMs, double[] wallMs) {
    double cpuMedian() {
      return cpuMs[cpuMs.length / 2];
    }

    double wallMedian() {
      return wallMs[wallMs.length / 2];
    }
  }

  /** Warms up, times, prints the line and returns the times. */
  Result measure(String bench, String variant, Runnable step) {
    return measure(bench, variant, 1, step);
  }

  /** The same for a step that does {@code per} units of work; times are printed per unit. */
  Result measure(String bench, String variant, int per, Runnable step) {
    long t0 = System.nanoTime();
    for (int i = 0; i < warmupSteps || System.nanoTime() - t0 < (long) (warmupSeconds * 1e9); i++) step.run();
    double[] cpu = new double[reps];
    double[] wall = new double[reps];
    for (int r = 0; r < reps; r++) {
      long c0 = THREADS.getCurrentThreadCpuTime();
      long a = System.nanoTime();
      step.run();
      long b = System.nanoTime();
      long c1 = THREADS.getCurrentThreadCpuTime();
      wall[r] = (b - a) / 1e6 / per;
      cpu[r] = (c1 - c0) / 1e6 / per;
    }
    Arrays.sort(cpu);
    Arrays.sort(wall);
    System.out.printf(Locale.ROOT, "%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f%n", bench, variant, cpu[reps / 2], cpu[0],
        wall[reps / 2], wall[0]);
    System.out.flush();
    return new Result(cpu, wall);
  }

  /**
   * The step protocol of {@code bench/paired.py} (the Python side: {@code step_harness.serve}): after {@link #ready},
   * each {@code step} line asks for one step, answered by {@link #reportStep}. Returns false at {@code quit} or at the
   * end of input; any other line is an error.
   */
  static boolean awaitStep(java.io.BufferedReader in) throws java.io.IOException {
    String line = in.readLine();
    if (line == null || line.trim().equals("quit")) return false;
    if (!line.trim().equals("step")) throw new IllegalArgumentException("expected 'step' or 'quit': " + line);
    return true;
  }

  /** Tells {@code bench/paired.py} that this side is set up. */
  static void ready() {
    System.out.println("ready");
    System.out.flush();
  }

  /** Answers one step request: the step's thread CPU time and wall time, in ns, printed in ms. */
  static void reportStep(long cpuNanos, long wallNanos) {
    System.out.printf(Locale.ROOT, "%.4f %.4f%n", cpuNanos / 1e6, wallNanos / 1e6);
    System.out.flush();
  }

  /**
   * Serves {@code bench/paired.py} from standard input: {@link #ready}, then one run of step per {@code step} line,
   * answered with its thread CPU and wall time, until {@code quit} or the end of input.
   */
  static void serve(Runnable step) throws java.io.IOException {
    var threads = java.lang.management.ManagementFactory.getThreadMXBean();
    var in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
    ready();
    while (awaitStep(in)) {
      long c0 = threads.getCurrentThreadCpuTime();
      long w0 = System.nanoTime();
      step.run();
      long w1 = System.nanoTime();
      reportStep(threads.getCurrentThreadCpuTime() - c0, w1 - w0);
    }
  }

  /** Parses {@code warmupSteps,warmupSeconds,reps} (e.g. "3,2.0,15"); the default when s is null or "default". */
  static StepTimer parse(String s, StepTimer dflt) {
    if (s == null || s.equals("default")) return dflt;
    String[] f = s.split(",");
    if (f.length != 3) throw new IllegalArgumentException("timing must be warmupSteps,warmupSeconds,reps: " + s);
    return new StepTimer(Integer.parseInt(f[0]), Double.parseDouble(f[1]), Integer.parseInt(f[2]));
  }
}
