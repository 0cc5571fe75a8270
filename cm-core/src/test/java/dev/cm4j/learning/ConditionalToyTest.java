package dev.cm4j.learning;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.data.ClassGaussians;
import dev.cm4j.sampling.ClassLabels;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.train.Presets;
import dev.cm4j.train.Snapshot;
import dev.cm4j.train.Trainer;
import dev.cm4j.train.TrainingOptions;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Class-conditional ECT on the labelled toy (4 Gaussian modes, one per class) through the trainer, loader and snapshot:
 * the conditional 1-step sampler puts at least 90 % of each class's samples on that class's mode, and classifier-free
 * guidance (w = 2, the model trained with label dropout) raises the log-odds of each sample's class under the true
 * mixture (it pushes samples away from the other classes).
 */
class ConditionalToyTest {
  static final int CLASSES = 4;
  static final double SCALE = 0.25;
  static final ClassGaussians TOY = new ClassGaussians(CLASSES, 2.0, 0.2);

  @Test
  void conditionalSamplesLandOnTheirClassModeAndGuidanceSharpensThem(@TempDir Path dir) throws Exception {
    TrainingOptions o = Presets.get("toy2d-ect").with(Map.ofEntries(
        Map.entry("cond", "true"), Map.entry("data.name", "class-gaussians"), Map.entry("data.classes", "4"),
        Map.entry("data.size", "20000"), Map.entry("network.hidden", "64"), Map.entry("network.blocks", "2"),
        Map.entry("network.label_dropout", "0.2"), Map.entry("batch", "128"), Map.entry("duration_kimg", "76.8"),
        Map.entry("tick_kimg", "12.8"), Map.entry("snap_ticks", "100"), Map.entry("state_ticks", "100"),
        Map.entry("objective.denoise_kimg", "25.6"), Map.entry("objective.double_kimg", "12.8"),
        Map.entry("ema.0.beta", "0.98"), Map.entry("lr_rampup_kimg", "0"), Map.entry("optimizer.lr", "1e-3")));
    assertEquals(0, o.tree().path("network").path("label_dim").asInt(), "left for the data to fill in");
    Path run;
    try (Trainer t = Trainer.start(o, dir, new PrintStream(new ByteArrayOutputStream()))) {
      t.run();
      run = t.runDir();
    }
    assertEquals(CLASSES, TrainingOptions.read(run.resolve("training_options.json")).tree().path("network")
        .path("label_dim").asInt(), "training_options.json records the label_dim taken from the data");
    Path snap;
    try (Stream<Path> f = Files.list(run)) {
      snap = f.filter(p -> p.getFileName().toString().startsWith("network-snapshot-")).sorted()
          .reduce((a, b) -> b).orElseThrow();
    }
    int n = 400; // per class
    try (Snapshot s = Snapshot.load(snap); TensorScope sc = TensorScope.open()) {
      assertEquals(CLASSES, s.labelDim());
      assertEquals(String.valueOf(CLASSES), s.metadata().get(Snapshot.LABEL_DIM));
      double[] hitPlain = new double[CLASSES];
      double postPlain = 0;
      double postGuided = 0;
      double hitGuidedMin = 1;
      for (int k = 0; k < CLASSES; k++) {
        s.setSampling(ClassLabels.of(k), 1, null);
        float[] x = s.sample(n, new double[0], 7).toFloatArray();
        s.setSampling(ClassLabels.of(k), 2, null);
        float[] g = s.sample(n, new double[0], 7).toFloatArray();
        hitPlain[k] = hits(x, k);
        hitGuidedMin = Math.min(hitGuidedMin, hits(g, k));
        postPlain += posterior(x, k);
        postGuided += posterior(g, k);
      }
      System.out.println("own-mode fractions " + java.util.Arrays.toString(hitPlain) + ", guided worst " + hitGuidedMin
          + ", log-odds " + postPlain / CLASSES + " -> " + postGuided / CLASSES);
      for (int k = 0; k < CLASSES; k++) {
        assertTrue(hitPlain[k] >= 0.9, "class " + k + ": " + hitPlain[k] + " of its samples on its mode");
      }
      double minPlain = java.util.Arrays.stream(hitPlain).min().orElseThrow();
      assertTrue(hitGuidedMin >= minPlain, "guided worst class " + hitGuidedMin + " vs plain " + minPlain);
      assertTrue(postGuided > postPlain + 1, "mean class log-odds: guided " + postGuided / CLASSES + " vs plain "
          + postPlain / CLASSES);
    }
  }

  /** Fraction of points (scaled data coordinates) whose nearest mode is k. */
  static double hits(float[] x, int k) {
    int h = 0;
    for (int i = 0; i < x.length / 2; i++) if (TOY.nearestMode(x[2 * i] / SCALE, x[2 * i + 1] / SCALE) == k) h++;
    return h / (x.length / 2.0);
  }

  /** Mean log-odds of class k, log p(k | x) / (1 − p(k | x)), under the true equal-weight mixture. */
  static double posterior(float[] x, int k) {
    double sum = 0;
    double s2 = 2 * 0.2 * 0.2;
    for (int i = 0; i < x.length / 2; i++) {
      double px = x[2 * i] / SCALE;
      double py = x[2 * i + 1] / SCALE;
      double[] l = new double[CLASSES];
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < CLASSES; j++) {
        double[] c = TOY.centre(j);
        l[j] = -((px - c[0]) * (px - c[0]) + (py - c[1]) * (py - c[1])) / s2;
        max = Math.max(max, l[j]);
      }
      double others = 0;
      for (int j = 0; j < CLASSES; j++) if (j != k) others += Math.exp(l[j] - max);
      sum += l[k] - max - Math.log(others); // log p(k | x) / (1 − p(k | x))
    }
    return sum / (x.length / 2.0);
  }
}
