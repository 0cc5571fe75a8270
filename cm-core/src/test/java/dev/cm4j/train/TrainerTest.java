package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
  static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream());

  /** A small, fast toy run: ECT on eight Gaussians with a tiny MLP. */
  static TrainingOptions toy(double durationKimg, String objective) {
    Map<String, String> ov = new java.util.HashMap<>(Map.of(
        "duration_kimg", Double.toString(durationKimg), "tick_kimg", "0.256", "snap_ticks", "2", "state_ticks", "2",
        "batch", "64", "network.hidden", "32", "network.blocks", "1", "data.size", "2000"));
    if (objective.equals("ect")) ov.put("objective.denoise_kimg", "0.5"); // an ECT key: unknown to sCT
    return Presets.get("toy2d-" + objective).with(ov);
  }

  /** A toy run's outcome: the run's result and its final weights. */
  record ToyRun(Trainer.Result result, float[][] weights) {}

  /**
   * The objectives' common toy-run check: toy(0.256) trains 4 iterations to a finite loss and writes the 1- and 2-step
   * sample grids; toy(0.128) stopped and resumed to 0.256 kimg ends with the same weights, bit for bit.
   */
  static ToyRun assertToyRunResumesBitExactly(java.util.function.DoubleFunction<TrainingOptions> toy, Path dir)
      throws Exception {
    ToyRun full;
    try (Trainer a = Trainer.start(toy.apply(0.256), dir.resolve("a"), QUIET)) {
      var r = a.run();
      assertEquals(4, r.iterations());
      assertTrue(Double.isFinite(r.lastLoss()), "loss " + r.lastLoss());
      try (var f = Files.list(r.runDir())) {
        List<String> names = f.map(p -> p.getFileName().toString()).toList();
        assertTrue(names.stream().anyMatch(n -> n.startsWith("samples-1step-")), names.toString());
        assertTrue(names.stream().anyMatch(n -> n.startsWith("samples-2step-")), names.toString());
      }
      full = new ToyRun(r, a.model().stateDict().values().stream().map(Tensor::toFloatArray).toArray(float[][]::new));
    }
    Path half;
    try (Trainer b = Trainer.start(toy.apply(0.128), dir.resolve("b"), QUIET)) {
      half = b.run().runDir();
    }
    Path of = half.resolve("training_options.json");
    Files.writeString(of, TrainingOptions.read(of).with(Map.of("duration_kimg", "0.256")).toJson());
    try (Trainer c = Trainer.resume(half, QUIET)) {
      c.run();
      float[][] resumed = c.model().stateDict().values().stream().map(Tensor::toFloatArray).toArray(float[][]::new);
      assertEquals(full.weights().length, resumed.length);
      for (int i = 0; i < resumed.length; i++) assertArrayEquals(full.weights()[i], resumed[i], 0f, "tensor " + i);
    }
    return full;
  }

  static Map<String, Tensor> params(Trainer t) {
    return t.model().stateDict();
  }

  @Test
  void stopAndResumeIsBitIdenticalToAnUninterruptedRun(@TempDir Path dir) throws Exception {
    for (String objective : List.of("ect", "sct")) {
      float[][] full;
      try (Trainer a = Trainer.start(toy(1.28, objective), dir.resolve("a-" + objective), QUIET)) {
        a.run();
        full = params(a).values().stream().map(Tensor::toFloatArray).toArray(float[][]::new);
      }
      Path runB;
      try (Trainer b = Trainer.start(toy(0.64, objective), dir.resolve("b-" + objective), QUIET)) {
        b.run();
        runB = b.runDir();
      }
      // Extend the finished half-run to the full duration and resume it from its last state.
      Path optFile = runB.resolve("training_options.json");
      Files.writeString(optFile, TrainingOptions.read(optFile).with(Map.of("duration_kimg", "1.28")).toJson());
      try (Trainer c = Trainer.resume(runB, QUIET)) {
        Trainer.Result r = c.run();
        assertEquals(1280, r.images());
        float[][] resumed = params(c).values().stream().map(Tensor::toFloatArray).toArray(float[][]::new);
        assertEquals(full.length, resumed.length);
        for (int i = 0; i < full.length; i++) assertArrayEquals(full[i], resumed[i], 0f, objective + " tensor " + i);
      }
    }
  }

  @Test
  void aStepListenerSeesEveryStepInOrderAndCanEndTheRun(@TempDir Path dir) throws Exception {
    List<String> events = new java.util.ArrayList<>();
    List<Double> losses = new java.util.ArrayList<>();
    try (Trainer t = Trainer.start(toy(0.512, "ect"), dir.resolve("a"), QUIET)) {
      t.setStepListener(new Trainer.StepListener() {
        @Override
        public void beforeStep(long iteration, long images) {
          events.add("b" + iteration + "@" + images);
        }

        @Override
        public void afterStep(long iteration, long images, dev.cm4j.tensor.Tensor loss) {
          events.add("a" + iteration + "@" + images);
          losses.add(loss.item());
        }
      });
      Trainer.Result r = t.run();
      assertEquals(8, r.iterations()); // 512 images, batch 64
      assertEquals(losses.get(losses.size() - 1), r.lastLoss(), 0.0);
    }
    List<String> expected = new java.util.ArrayList<>();
    for (int i = 0; i < 8; i++) {
      expected.add("b" + i + "@" + 64 * i);
      expected.add("a" + i + "@" + 64 * (i + 1));
    }
    assertEquals(expected, events);
    assertTrue(losses.stream().allMatch(Double::isFinite), losses.toString());
    // An exception from the listener ends run() and reaches the caller.
    try (Trainer t = Trainer.start(toy(0.512, "ect"), dir.resolve("b"), QUIET)) {
      t.setStepListener(new Trainer.StepListener() {
        @Override
        public void beforeStep(long iteration, long images) {
          if (iteration == 3) throw new IllegalStateException("listener stop at 3");
        }
      });
      IllegalStateException e = assertThrows(IllegalStateException.class, t::run);
      assertEquals("listener stop at 3", e.getMessage());
      assertEquals(3 * 64, t.images());
    }
  }

  @Test
  void runDirectoryHoldsTheArtifacts(@TempDir Path dir) throws Exception {
    Path run;
    try (Trainer t = Trainer.start(toy(0.512, "ect"), dir, QUIET)) {
      Trainer.Result r = t.run();
      run = r.runDir();
      assertEquals(512, r.images());
      assertTrue(Double.isFinite(r.lastLoss()));
    }
    assertTrue(run.getFileName().toString().startsWith("00000-toy2d-ect"));
    for (String f : List.of("training_options.json", "log.txt", "stats.jsonl", "loss.png")) {
      assertTrue(Files.size(run.resolve(f)) > 0, f);
    }
    List<String> stats = Files.readAllLines(run.resolve("stats.jsonl"));
    assertEquals(2, stats.size());
    assertTrue(stats.get(0).contains("\"loss\"") && stats.get(0).contains("\"images_per_sec\""));
    var rec = new com.fasterxml.jackson.databind.ObjectMapper().readTree(stats.get(0));
    for (String k : List.of("rss_mb", "heap_used_mb", "heap_committed_mb")) {
      assertTrue(rec.path(k).asDouble() > 0, k + " in " + stats.get(0));
    }
    assertTrue(rec.path("heap_used_mb").asDouble() <= rec.path("heap_committed_mb").asDouble(), stats.get(0));
    for (String k : List.of("cpu_alloc_mb", "cpu_cached_mb")) {
      assertTrue(rec.has(k) && rec.path(k).asDouble() >= 0, k + " in " + stats.get(0));
    }
    assertEquals(TrainingOptions.read(run.resolve("training_options.json")).toJson(), toy(0.512, "ect").toJson());
    // the status line names the stage that stats.jsonl records: tick 1 ends at 512 images, past denoise_kimg 0.5, but
    // its last step trained at 448 images, in stage -1
    List<String> tickLines = Files.readAllLines(run.resolve("log.txt")).stream().filter(l -> l.startsWith("tick "))
        .toList();
    assertEquals(2, tickLines.size(), tickLines.toString());
    for (int i = 0; i < 2; i++) {
      var m = java.util.regex.Pattern.compile("stage (-?\\d+)").matcher(tickLines.get(i));
      assertTrue(m.find(), tickLines.get(i));
      double recorded = new com.fasterxml.jackson.databind.ObjectMapper().readTree(stats.get(i)).path("stage").asDouble();
      assertEquals(-1, recorded, 0.0, stats.get(i));
      assertEquals(recorded, Integer.parseInt(m.group(1)), 0.0, tickLines.get(i) + " vs " + stats.get(i));
    }
    // eight Gaussians of scale 0.25 (std 0.357) and the preset's sigma_data 0.5 agree within 2x: no warning
    assertTrue(Files.readAllLines(run.resolve("log.txt")).stream().noneMatch(l -> l.contains("warning")));
    try (var s = Files.list(run)) {
      List<String> names = s.map(p -> p.getFileName().toString()).sorted().toList();
      assertTrue(names.contains("network-snapshot-000000512.safetensors"), names.toString());
      assertTrue(names.contains("training-state-000000512.safetensors"), names.toString());
      assertTrue(names.contains("samples-1step-000000512.png"), names.toString());
      assertTrue(names.contains("samples-2step-000000512.png"), "the preset's sample_steps [0.2]: " + names);
      assertTrue(names.stream().noneMatch(n -> n.endsWith(".tmp")), "no temporary files left: " + names);
    }
    try (SafeTensorFile f = SafeTensors.read(run.resolve("network-snapshot-000000512.safetensors"))) {
      assertTrue(f.names().contains("model.out_proj.weight"), f.names().toString());
      assertTrue(f.metadata().get("training_options").contains("toy2d-ect"));
    }
  }

  @Test
  void snapshotsReloadForSamplingDeterministically(@TempDir Path dir) {
    Path run;
    try (Trainer t = Trainer.start(toy(0.256, "ect"), dir, QUIET)) {
      run = t.run().runDir();
    }
    try (Snapshot s = Snapshot.load(run.resolve("network-snapshot-000000256.safetensors"));
        dev.cm4j.tensor.TensorScope scope = dev.cm4j.tensor.TensorScope.open()) {
      assertArrayEquals(new long[] {2}, s.itemShape());
      Tensor a = s.sample(16, new double[0], 3);
      Tensor b = s.sample(16, new double[0], 3);
      assertArrayEquals(new long[] {16, 2}, a.shape());
      assertArrayEquals(a.toFloatArray(), b.toFloatArray(), 0f);
      assertTrue(Double.isFinite(a.abs().sum().item()));
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Snapshot.load(run.resolve("training-state-000000256.safetensors")));
    assertTrue(e.getMessage().contains("not a cm4j network snapshot"), e.getMessage());
  }

  @Test
  void aNonFiniteLossStopsWithAClearMessageAndADump(@TempDir Path dir) {
    TrainingOptions o = toy(0.512, "ect").with(Map.of("optimizer.lr", "1e30", "nan_guard", "\"stop\""));
    try (Trainer t = Trainer.start(o, dir, QUIET)) {
      IllegalStateException e = assertThrows(IllegalStateException.class, t::run);
      assertTrue(e.getMessage().contains("loss is") && e.getMessage().contains("nan-dump"), e.getMessage());
      // detected at the tick's end (no step reads its loss), naming the first step whose loss was not finite
      var m = java.util.regex.Pattern.compile("\\(iteration (\\d+); first non-finite at iteration (\\d+)\\)")
          .matcher(e.getMessage());
      assertTrue(m.find(), e.getMessage());
      long first = Long.parseLong(m.group(2));
      assertTrue(first >= 0 && first < Long.parseLong(m.group(1)), e.getMessage());
      Path dump = Path.of(e.getMessage().replaceAll(".*state dumped to (\\S+?);.*", "$1"));
      assertTrue(Files.exists(dump), dump.toString());
    }
  }

  @Test
  void optionsValidateAndOverride() {
    TrainingOptions o = Presets.get("fmnist-ect-tiny");
    assertEquals(o.toJson(), TrainingOptions.fromJson(o.toJson()).toJson());
    TrainingOptions p = o.with(Map.of("objective.P_mean", "-1.0", "batch", "16", "data.path", "/x"));
    assertEquals(-1.0, ((EctObjective.Options) p.objective()).pMean());
    assertEquals(16, p.batch());
    assertEquals("/x", ((DataOptions.Images) p.data()).path());
    assertThrows(IllegalArgumentException.class, () -> o.with(Map.of("nonsense", "1")));
    assertThrows(IllegalArgumentException.class, () -> o.with(Map.of("batch", "0")));
    assertThrows(IllegalArgumentException.class, () -> o.with(Map.of("batch_gpu", "5")));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Presets.get("nope"));
    assertTrue(e.getMessage().contains("fmnist-ect-tiny"));
  }
}
