package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Align Your Flow in the training loop: toy2d-ayf end to end from a toy2d-meanflow teacher (the student starts from the
 * teacher's weights, trains, writes grids and resumes bit-exactly), autoguidance by an earlier snapshot, the presets'
 * values, the errors for a missing teacher and bad options, and one step on the test device equal to the CPU's.
 */
class AyfObjectiveTest {
  static final Map<String, String> SMALL = Map.of("tick_kimg", "0.064", "snap_ticks", "1", "state_ticks", "1",
      "batch", "64", "network.hidden", "32", "network.blocks", "1", "data.size", "2000");

  /** A small toy2d-meanflow run (4 steps); returns its snapshots, oldest first. */
  static List<Path> teacherSnapshots(Path dir) throws Exception {
    TrainingOptions o = Presets.get("toy2d-meanflow").with(SMALL).with(Map.of("duration_kimg", "0.256"));
    try (Trainer t = Trainer.start(o, dir, TrainerTest.QUIET)) {
      Path run = t.run().runDir();
      try (var f = Files.list(run)) {
        List<Path> snaps = f.filter(p -> p.getFileName().toString().startsWith("network-snapshot-")).sorted().toList();
        assertFalse(snaps.isEmpty(), "the teacher run wrote snapshots");
        return snaps;
      }
    }
  }

  static TrainingOptions toy(double kimg, Path teacher) {
    return Presets.get("toy2d-ayf").with(SMALL).with(Map.of("duration_kimg", Double.toString(kimg),
        "objective.teacher", "\"" + teacher + "\""));
  }

  @Test
  void toyRunFromAMeanflowTeacherTrainsWritesGridsAndResumesBitExactly(@TempDir Path dir) throws Exception {
    List<Path> snaps = teacherSnapshots(dir.resolve("teacher"));
    Path teacher = snaps.get(snaps.size() - 1);
    // the student starts from the teacher's weights (θ ← φ)
    try (Trainer t = Trainer.start(toy(0.001, teacher), dir.resolve("init"), TrainerTest.QUIET);
        SafeTensorFile f = SafeTensors.read(teacher); TensorScope s = TensorScope.open()) {
      int compared = 0;
      for (var e : t.model().stateDict().entrySet()) {
        String k = f.names().contains(e.getKey()) ? e.getKey() : null;
        for (String p : new String[] {"ema.", "model."}) if (k == null && f.names().contains(p + e.getKey())) k = p + e.getKey();
        assertNotNull(k, e.getKey() + " in the teacher snapshot " + f.names());
        assertArrayEquals(f.tensor(k).toFloatArray(), e.getValue().toFloatArray(), 0f, e.getKey());
        compared++;
      }
      assertTrue(compared > 5);
    }
    TrainerTest.ToyRun run = TrainerTest.assertToyRunResumesBitExactly(kimg -> toy(kimg, teacher), dir);
    assertTrue(run.result().lastLoss() > 0, "loss " + run.result().lastLoss());
    float[][] full = run.weights();
    // AYF-LMD, autoguided by the teacher's first snapshot (λ 2): runs, and differs from the unguided run
    TrainingOptions guided = toy(0.256, teacher).with(Map.of("objective.loss", "\"lmd\"", "objective.guide",
        "\"" + snaps.get(0) + "\"", "objective.guidance", "2"));
    try (Trainer g = Trainer.start(guided, dir.resolve("g"), TrainerTest.QUIET)) {
      var r = g.run();
      assertTrue(Double.isFinite(r.lastLoss()), "guided LMD loss " + r.lastLoss());
      float[][] w = g.model().stateDict().values().stream().map(Tensor::toFloatArray).toArray(float[][]::new);
      double diff = 0;
      for (int i = 0; i < w.length; i++) for (int j = 0; j < w[i].length; j++) diff = Math.max(diff, Math.abs(w[i][j] - full[i][j]));
      assertTrue(diff > 1e-6, "guided LMD trains differently from EMD: " + diff);
    }
  }

  @Test
  void aMissingOrWrongTeacherIsAClearError(@TempDir Path dir) throws Exception {
    TrainingOptions none = Presets.get("toy2d-ayf").with(SMALL).with(Map.of("duration_kimg", "0.064"));
    var e = assertThrows(IllegalArgumentException.class, () -> Trainer.start(none, dir.resolve("a"), TrainerTest.QUIET));
    assertTrue(e.getMessage().contains("objective.teacher") && e.getMessage().contains("toy2d-meanflow"), e.getMessage());
    var c = assertThrows(IllegalArgumentException.class, () -> RunObjective.create(Presets.get("cifar10-ayf"),
        (cfg, s) -> Builders.network(cfg, 32, 3, s), 0, Device.CPU));
    assertTrue(c.getMessage().contains("objective.teacher") && c.getMessage().contains("export_pytorch"), c.getMessage());
    // a teacher file that does not fit the network: named, at the first step
    List<Path> snaps = teacherSnapshots(dir.resolve("teacher"));
    TrainingOptions wrong = toy(0.064, snaps.get(0)).with(Map.of("objective.init_from_teacher", "false",
        "objective.teacher_network", "{\"arch\": \"mlp\", \"hidden\": 16, \"blocks\": 1, \"emb_channels\": 32}"));
    var w = assertThrows(IllegalArgumentException.class, () -> {
      try (Trainer t = Trainer.start(wrong, dir.resolve("c"), TrainerTest.QUIET)) {
        t.run();
      }
    });
    assertTrue(w.getMessage().contains("objective.teacher") && w.getMessage().contains("does not fit"), w.getMessage());
  }

  @Test
  void presetsAndBadOptions() {
    TrainingOptions c = Presets.get("cifar10-ayf");
    AyfObjective.Options a = (AyfObjective.Options) c.objective();
    assertEquals("ayf", a.kind());
    assertEquals("emd", a.loss());
    assertEquals("edm", a.teacherKind());
    assertEquals(-0.8, a.pMean());
    assertEquals(1.0, a.pStd());
    assertEquals(0.1, a.tangentNormC());
    assertEquals(10000, a.warmupIterations());
    assertEquals(0.99, a.warmupMax());
    assertNull(a.teacher());
    assertEquals(80, c.precond().sigmaMax());
    AyfObjective.Options t = (AyfObjective.Options) Presets.get("toy2d-ayf").objective();
    assertEquals("flow", t.teacherKind());
    assertTrue(t.initFromTeacher());
    // the defaults are the objective's (docs/algorithms/ayf.md §1)
    AyfObjective.Options d = (AyfObjective.Options) Presets.get("toy2d-meanflow")
        .with(Map.of("objective", "{\"kind\": \"ayf\"}")).objective();
    assertEquals("interval", d.trSampler());
    assertEquals(1.0, d.guidance());
    for (String[] bad : new String[][] {{"objective.loss", "\"xmd\""}, {"objective.tr_sampler", "\"uniform\""},
        {"objective.warmup_max", "0"}, {"objective.P_std", "0"}, {"objective.teacher_kind", "\"pkl\""},
        {"objective.guidance", "2"}}) {
      var e = assertThrows(OptionException.class, () -> Presets.get("toy2d-ayf").with(Map.of(bad[0], bad[1])));
      assertTrue(e.getMessage().contains(bad[0].substring("objective.".length())), e.getMessage());
    }
    var e = assertThrows(OptionException.class,
        () -> Presets.get("cifar10-ayf").with(Map.of("objective.init_from_teacher", "true")));
    assertTrue(e.getMessage().contains("init_from_teacher"), e.getMessage());
  }

  /**
   * Guidance-scale conditioning and γ-sampling in the loop (docs/algorithms/ayf.md §2.1, §3): a toy2d-ayf run with
   * guidance_cond (w ~ U[1, 3], the teacher autoguided by its first snapshot) trains 2 iterations from the w-free
   * teacher's weights (the new embedding starts at zero and moves); its snapshot samples at its objective.guidance by
   * default and at a given w, with the preset's γ or a given one; per-image seeds hold under γ-sampling (a batch split
   * in two gives the same images); bad settings are clear errors.
   */
  @Test
  void guidanceConditionedRunSamplesAtAGivenScaleWithGammaSampling(@TempDir Path dir) throws Exception {
    List<Path> snaps = teacherSnapshots(dir.resolve("teacher"));
    TrainingOptions o = toy(0.128, snaps.get(snaps.size() - 1)).with(Map.of("objective.guidance_cond", "true",
        "objective.guide", "\"" + snaps.get(0) + "\"", "objective.guidance", "2", "objective.sample_gamma", "0.5",
        "ema", "[]")); // no EMA: the snapshot is the trained model itself, its guidance embedding moved
    Path snap;
    try (Trainer t = Trainer.start(o, dir.resolve("s"), TrainerTest.QUIET); TensorScope s = TensorScope.open()) {
      var r = t.run();
      assertTrue(Double.isFinite(r.lastLoss()) && r.lastLoss() > 0, "loss " + r.lastLoss());
      Tensor wg = t.model().stateDict().get("net.map_guidance.weight");
      assertNotNull(wg, t.model().stateDict().keySet().toString());
      assertTrue(wg.abs().amax(false).item() > 1e-6, "the guidance embedding trained (it starts at zero)");
      try (var f = Files.list(r.runDir())) {
        snap = f.filter(p -> p.getFileName().toString().matches("network-snapshot-\\d+\\.safetensors")).sorted()
            .reduce((a, b) -> b).orElseThrow();
      }
    }
    double[] mids = {0.5};
    try (Snapshot s = Snapshot.load(snap); TensorScope sc = TensorScope.open()) {
      assertEquals(2.0, s.defaultGuidance());
      Tensor atDefault = s.sample(8, mids, 3);
      // per-image seeds under γ-sampling: images 0..7 in one batch = images 0..2 and 3..7 in two
      Tensor split = Tensor.cat(List.of(s.sample(3, mids, 3, 0), s.sample(5, mids, 3, 3)), 0);
      assertEquals(0, atDefault.sub(split).abs().amax(false).item(), 1e-6);
      s.setSampling(null, 2.0, null);
      assertEquals(0, s.sample(8, mids, 3).sub(atDefault).abs().amax(false).item(), "the default w is 2");
      s.setSampling(null, 3.0, null);
      Tensor atThree = s.sample(8, mids, 3);
      // after 2 steps from a barely trained teacher the effect is small (≈ 1e-8: the toy MLP's output layers start near
      // zero), but a sampler that ignored w would compute the same numbers bit for bit
      assertTrue(atThree.sub(atDefault).abs().amax(false).item() > 0, "w conditions the samples");
      s.setGamma(0);
      Tensor deterministic = s.sample(8, mids, 3);
      assertTrue(deterministic.sub(atThree).abs().amax(false).item() > 1e-4, "γ 0.5 re-noises, γ 0 does not");
      s.setGamma(1);
      assertTrue(s.sample(8, mids, 3).sub(deterministic).abs().amax(false).item() > 1e-4);
      assertThrows(IllegalArgumentException.class, () -> s.setGamma(1.5));
      try (Snapshot other = Snapshot.load(snap)) {
        var e = assertThrows(IllegalArgumentException.class, () -> s.setSampling(null, 2.0, other));
        assertTrue(e.getMessage().contains("guidance-conditioned"), e.getMessage());
      }
    }
    // a w-free AYF snapshot and a MeanFlow one: γ works only for the flow map, w only where it is an input
    try (Snapshot teacher = Snapshot.load(snaps.get(0))) {
      var e = assertThrows(IllegalArgumentException.class, () -> teacher.setGamma(0.5));
      assertTrue(e.getMessage().contains("ayf"), e.getMessage());
      teacher.setGamma(0);
    }
    // a guidance-conditioned snapshot is no teacher: its w embedding would be dropped silently
    var te = assertThrows(IllegalArgumentException.class, () -> {
      try (Trainer t = Trainer.start(toy(0.128, snap).with(Map.of("objective.init_from_teacher", "false")),
          dir.resolve("from-wcond"), TrainerTest.QUIET)) {
        t.run();
      }
    });
    assertTrue(te.getMessage().contains("guidance-conditioned") && te.getMessage().contains("map_guidance"),
        te.getMessage());
    var e = assertThrows(OptionException.class, () -> toy(0.128, snaps.get(0)).with(Map.of(
        "objective.guidance_cond", "true")));
    assertTrue(e.getMessage().contains("guidance_cond") && e.getMessage().contains("objective.guide"), e.getMessage());
    for (String[] bad : new String[][] {{"objective.sample_gamma", "1.5"}, {"objective.guidance_max", "0.5"}}) {
      var b = assertThrows(OptionException.class, () -> Presets.get("toy2d-ayf").with(Map.of(bad[0], bad[1])));
      assertTrue(b.getMessage().contains(bad[0].substring("objective.".length())), b.getMessage());
    }
  }

  /** One step and its samples on the test device (TestDeviceTrainingTest's harness) equal the CPU's to 1e-6. */
  @Test
  void oneStepOnTheTestDeviceEqualsTheCpu(@TempDir Path dir) throws Exception {
    List<Path> snaps = teacherSnapshots(dir.resolve("teacher"));
    TrainingOptions o = toy(0.064, snaps.get(snaps.size() - 1));
    TestDeviceTrainingTest.assertStepOnTestDeviceEqualsCpu(o, dir, 0.5, false);
  }

  /**
   * The same with guidance-scale conditioning (w drawn on the device) and γ-sampling (the 2-step samples re-noise with
   * the per-image generators of the device): equal to the CPU's, and no host synchronisation in the step.
   */
  @Test
  void guidanceConditionedStepAndGammaSamplesOnTheTestDeviceEqualTheCpu(@TempDir Path dir) throws Exception {
    List<Path> snaps = teacherSnapshots(dir.resolve("teacher"));
    TrainingOptions o = toy(0.064, snaps.get(snaps.size() - 1)).with(Map.of("objective.guidance_cond", "true",
        "objective.guide", "\"" + snaps.get(0) + "\"", "objective.guidance", "2", "objective.sample_gamma", "0.5"));
    TestDeviceTrainingTest.assertStepOnTestDeviceEqualsCpu(o, dir, 0.5, false);
  }
}
