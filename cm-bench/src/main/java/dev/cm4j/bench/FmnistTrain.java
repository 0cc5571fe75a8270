package dev.cm4j.bench;

import dev.cm4j.train.Presets;
import dev.cm4j.train.Trainer;
import dev.cm4j.train.TrainingOptions;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * The Java side of bench/fmnist_throughput.sh: the real {@link Trainer} on the {@code fmnist-ect-tiny} preset for a
 * number of steps, printing one JSON line per tick (images/s, RSS) from the run's stats.jsonl.
 *
 * <p>Usage: {@code FmnistTrain STEPS BATCH TICK_STEPS THREADS OUTDIR}, or {@code FmnistTrain serve BATCH THREADS
 * OUTDIR}: the same trainer paced by {@code bench/paired.py} through a {@link Trainer.StepListener} — prints
 * {@code ready}, then runs one step per {@code step} line on standard input and answers with the step's thread CPU
 * time and wall time in ms (from before the step's batch is taken to after the EMA update, as the Python side times
 * its step); ends at {@code quit} or end of input.
 */
public final class FmnistTrain {
  private FmnistTrain() {}

  /** Ends a served run from the listener. */
  private static final class Quit extends RuntimeException {
    Quit() {
      super("quit", null, false, false);
    }
  }

  static void serve(int batch, int threads, Path out) throws Exception {
    TrainingOptions o = Presets.get("fmnist-ect-tiny").with(Map.of(
        "batch", Integer.toString(batch), "duration_kimg", "1000000", "tick_kimg", "1000000",
        "snap_ticks", "1000000", "state_ticks", "1000000", "threads", Integer.toString(threads)));
    var cpu = java.lang.management.ManagementFactory.getThreadMXBean();
    var in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
    try (Trainer t = Trainer.start(o, out, new PrintStream(System.err, true))) {
      t.setStepListener(new Trainer.StepListener() {
        long c0;
        long w0;
        boolean first = true;

        @Override
        public void beforeStep(long iteration, long images) {
          if (first) {
            StepTimer.ready();
            first = false;
          }
          try {
            if (!StepTimer.awaitStep(in)) throw new Quit();
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
          c0 = cpu.getCurrentThreadCpuTime();
          w0 = System.nanoTime();
        }

        @Override
        public void afterStep(long iteration, long images, dev.cm4j.tensor.Tensor loss) {
          long w1 = System.nanoTime();
          StepTimer.reportStep(cpu.getCurrentThreadCpuTime() - c0, w1 - w0);
        }
      });
      try {
        t.run();
      } catch (Quit q) {
        // the coordinator is done
      }
    }
  }

  public static void main(String[] args) throws Exception {
    if (args[0].equals("serve")) {
      serve(Integer.parseInt(args[1]), Integer.parseInt(args[2]), Path.of(args[3]));
      return;
    }
    int steps = Integer.parseInt(args[0]);
    int batch = Integer.parseInt(args[1]);
    int tickSteps = Integer.parseInt(args[2]);
    int threads = Integer.parseInt(args[3]);
    Path out = Path.of(args[4]);
    double kimg = steps * (double) batch / 1000;
    TrainingOptions o = Presets.get("fmnist-ect-tiny").with(Map.of(
        "batch", Integer.toString(batch), "duration_kimg", Double.toString(kimg),
        "tick_kimg", Double.toString(tickSteps * (double) batch / 1000), "snap_ticks", "1000000",
        "state_ticks", "1000000", "threads", Integer.toString(threads)));
    Path run;
    try (Trainer t = Trainer.start(o, out, new PrintStream(System.err, true))) {
      t.run();
      run = t.runDir();
    }
    for (String line : Files.readAllLines(run.resolve("stats.jsonl"))) {
      var n = new com.fasterxml.jackson.databind.ObjectMapper().readTree(line);
      System.out.println(String.format(Locale.ROOT, "{\"side\": \"java\", \"tick\": %d, \"steps\": %d, \"images_per_sec\": %.3f, \"rss_mb\": %.1f, \"heap_committed_mb\": %.1f}",
          n.get("tick").asLong(), n.get("iteration").asLong(), n.get("images_per_sec").asDouble(), n.get("rss_mb").asDouble(),
          n.get("heap_committed_mb").asDouble()));
    }
  }
}
