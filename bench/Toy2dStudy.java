import dev.cm4j.data.SplitMix64;
import dev.cm4j.data.Toy2D;
import dev.cm4j.eval.SlicedWasserstein;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import dev.cm4j.train.Presets;
import dev.cm4j.train.Snapshot;
import dev.cm4j.train.Trainer;
import dev.cm4j.train.TrainingOptions;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One cell of the toy2d study (docs/toy2d.md): trains a toy preset with overrides through the same Trainer that
 * {@code cm train} runs, then scores every snapshot's 1-step samples and the final snapshot's 1-step and 2-step
 * samples (several t_mid) against held-out eight-Gaussians points (a SplitMix64 seed the training set never uses).
 *
 * <p>Run through bench/toy2d_study.sh, which builds the class path. Arguments:
 * {@code outdir label seed preset tmids(comma list) key=value...}. Prints one line starting with "RESULT".
 */
public final class Toy2dStudy {
  static final int EVAL = 8000;
  static final double SCALE = 0.25; // the presets' data.scale: radius 0.5, mode std 0.05

  public static void main(String[] args) throws Exception {
    Path outdir = Path.of(args[0]);
    String label = args[1];
    long seed = Long.parseLong(args[2]);
    String preset = args[3];
    double[] tmids = args[4].isEmpty() ? new double[0]
        : java.util.Arrays.stream(args[4].split(",")).mapToDouble(Double::parseDouble).toArray();
    Map<String, String> ov = new LinkedHashMap<>();
    for (int i = 5; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      ov.put(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    ov.put("seed", Long.toString(seed));
    ov.put("threads", "1");
    ov.put("desc", "\"" + label + "-s" + seed + "\"");
    if (!ov.containsKey("snap_ticks")) ov.put("snap_ticks", "1");
    TrainingOptions o = Presets.get(preset).with(ov);
    Torch.setNumThreads(1);
    double[] ref = heldOut();
    long t0 = System.nanoTime();
    Path run;
    try (Trainer t = Trainer.start(o, outdir, new PrintStream(OutputStream.nullOutputStream()))) {
      run = t.run().runDir();
    }
    double trainSec = (System.nanoTime() - t0) / 1e9;
    List<Path> snaps;
    try (var s = Files.list(run)) {
      snaps = s.filter(p -> p.getFileName().toString().matches("network-snapshot-\\d+\\.safetensors")).sorted().toList();
    }
    StringBuilder traj = new StringBuilder();
    for (Path p : snaps) {
      try (Snapshot sn = Snapshot.load(p)) {
        traj.append(String.format(Locale.ROOT, "%.3f ", score(sn, new double[0], ref)[0]));
      }
    }
    List<Double> losses = new ArrayList<>();
    List<Double> stages = new ArrayList<>();
    for (String line : Files.readAllLines(run.resolve("stats.jsonl"))) {
      var n = new com.fasterxml.jackson.databind.ObjectMapper().readTree(line);
      losses.add(n.get("loss").asDouble());
      stages.add(n.has("stage") ? n.get("stage").asDouble() : Double.NaN);
    }
    StringBuilder res = new StringBuilder();
    try (Snapshot sn = Snapshot.load(snaps.get(snaps.size() - 1))) {
      double[] one = score(sn, new double[0], ref);
      res.append(String.format(Locale.ROOT, "1step sw %.4f prec %.3f minmode %.3f", one[0], one[1], one[2]));
      for (double tm : tmids) {
        double[] two = score(sn, new double[] {tm}, ref);
        res.append(String.format(Locale.ROOT, " | 2step@%s sw %.4f prec %.3f", tm, two[0], two[1]));
      }
    }
    // a loss spike: a tick whose mean loss is more than 2x the previous tick's within the same stage
    int spikes = 0;
    double worst = 0;
    for (int i = 1; i < losses.size(); i++) {
      if (stages.get(i).equals(stages.get(i - 1))) {
        double ratio = losses.get(i) / losses.get(i - 1);
        worst = Math.max(worst, ratio);
        if (ratio > 2) spikes++;
      }
    }
    System.out.printf(Locale.ROOT, "RESULT %s seed %d | %s | spikes %d worst %.2f | train %.0f s | traj %s| loss %s%n",
        label, seed, res, spikes, worst, trainSec, traj, fmt(losses));
  }

  static String fmt(List<Double> v) {
    StringBuilder b = new StringBuilder();
    for (double x : v) b.append(String.format(Locale.ROOT, "%.3g ", x));
    return b.toString().trim();
  }

  static double[] heldOut() {
    double[] p = Toy2D.EightGaussians.DEFAULT.sample(EVAL, new SplitMix64(987654321L));
    for (int i = 0; i < p.length; i++) p[i] *= SCALE;
    return p;
  }

  /** SW2 to the held-out points, mode precision (within 3 std of a centre), smallest mode share. */
  static double[] score(Snapshot s, double[] mids, double[] ref) {
    try (TensorScope sc = TensorScope.open()) {
      Tensor x = s.sample(EVAL, mids, 100);
      double[] p = x.toDoubleArray();
      double sw = SlicedWasserstein.sw2(p, ref, 2, 200, 7);
      double r = 2 * SCALE;
      double lim = 9 * (0.2 * SCALE) * (0.2 * SCALE);
      int near = 0;
      int[] modes = new int[8];
      for (int i = 0; i < EVAL; i++) {
        for (int k = 0; k < 8; k++) {
          double dx = p[2 * i] - r * Math.cos(2 * Math.PI * k / 8);
          double dy = p[2 * i + 1] - r * Math.sin(2 * Math.PI * k / 8);
          if (dx * dx + dy * dy < lim) {
            near++;
            modes[k]++;
          }
        }
      }
      int min = Integer.MAX_VALUE;
      for (int m : modes) min = Math.min(min, m);
      return new double[] {sw, (double) near / EVAL, (double) min / EVAL};
    }
  }
}
