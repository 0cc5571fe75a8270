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
 * <p>Usage: {@code FmnistTrain STEPS BATCH TICK_STEPS THREADS OUTDIR}
 */
public final class FmnistTrain {
  private FmnistTrain() {}

  public static void main(String[] args) throws Exception {
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
