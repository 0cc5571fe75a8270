package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Device;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** sCD, CD, CT and CTM through the trainer on the 2-D toy, with a small EDM teacher written by the test. */
class TrainerObjectivesTest {
  @TempDir static Path dir;
  static Path teacher;

  /** A random EDM-preconditioned MLP of the toy network's shape: a stand-in teacher. */
  @BeforeAll
  static void writeTeacher() throws Exception {
    Torch.manualSeed(42);
    try (EDMPrecond t = new EDMPrecond(new MLPDenoiser(new MLPDenoiser.Config(2, 32, 1, 32, 0, false)), 0.5, 0.002, 80,
        EDMPrecond.Boundary.EDM); TensorScope s = TensorScope.open()) {
      teacher = dir.resolve("teacher.safetensors");
      SafeTensors.write(teacher, t.stateDict());
    }
  }

  static TrainingOptions opts(String objectiveJson, String precondJson, double kimg) {
    return TrainerTest.toy(kimg, "ect").with(Map.of("objective", objectiveJson, "precond", precondJson,
        "nan_guard", "stop"));
  }

  static final Map<String, String[]> CASES = Map.of(
      "scd", new String[] {"{\"kind\": \"scd\", \"teacher\": \"%s\", \"warmup_iterations\": 2, \"init_from_teacher\": true}",
          "{\"kind\": \"trigflow\", \"sigma_data\": 0.5, \"sigma_max\": 80, \"time_label\": \"edm\"}"},
      "cd", new String[] {"{\"kind\": \"cd\", \"teacher\": \"%s\", \"total_iterations\": 100}",
          "{\"kind\": \"cm\", \"sigma_data\": 0.5, \"sigma_min\": 0.002, \"sigma_max\": 80}"},
      "ct", new String[] {"{\"kind\": \"ct\", \"total_iterations\": 100}",
          "{\"kind\": \"cm\", \"sigma_data\": 0.5, \"sigma_min\": 0.002, \"sigma_max\": 80}"},
      "ctm", new String[] {"{\"kind\": \"ctm\", \"teacher\": \"%s\", \"num_levels\": 6, \"max_heun_steps\": 2}",
          "{\"kind\": \"ctm\", \"sigma_data\": 0.5, \"sigma_min\": 0.002, \"sigma_max\": 80}"});

  static TrainingOptions forKind(String kind, double kimg) {
    String[] c = CASES.get(kind);
    return opts(c[0].formatted(teacher.toString()), c[1], kimg);
  }

  @Test
  void eachObjectiveTrainsAFewStepsAndWritesGrids() throws Exception {
    for (String kind : List.of("scd", "cd", "ct", "ctm")) {
      try (Trainer t = Trainer.start(forKind(kind, 0.192), dir.resolve(kind), TrainerTest.QUIET);
          TensorScope s = TensorScope.open()) {
        Map<String, Tensor> before = t.model().stateDict();
        Map<String, float[]> b0 = new java.util.HashMap<>();
        for (var e : before.entrySet()) b0.put(e.getKey(), e.getValue().toFloatArray());
        Trainer.Result r = t.run();
        assertEquals(3, r.iterations(), kind);
        assertTrue(Double.isFinite(r.lastLoss()), kind + " loss " + r.lastLoss());
        double moved = 0;
        for (var e : t.model().stateDict().entrySet()) {
          float[] a = e.getValue().toFloatArray();
          float[] z = b0.get(e.getKey());
          for (int i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i] - z[i]));
        }
        assertTrue(moved > 1e-5, kind + " parameters moved by " + moved);
        try (var f = Files.list(t.runDir())) {
          assertTrue(f.anyMatch(p -> p.getFileName().toString().startsWith("samples-1step-")), kind);
        }
      }
    }
  }

  @Test
  void ctmAndCtResumeBitExactlyWithTheirTargetNetworks() throws Exception {
    for (String kind : List.of("ctm", "ct")) {
      float[][] full;
      try (Trainer a = Trainer.start(forKind(kind, 0.512), dir.resolve("full-" + kind), TrainerTest.QUIET)) {
        a.run();
        full = a.model().stateDict().values().stream().map(Tensor::toFloatArray).toArray(float[][]::new);
      }
      Path half;
      try (Trainer b = Trainer.start(forKind(kind, 0.256), dir.resolve("half-" + kind), TrainerTest.QUIET)) {
        b.run();
        half = b.runDir();
      }
      Path of = half.resolve("training_options.json");
      Files.writeString(of, TrainingOptions.read(of).with(Map.of("duration_kimg", "0.512")).toJson());
      try (Trainer c = Trainer.resume(half, TrainerTest.QUIET)) {
        c.run();
        float[][] resumed = c.model().stateDict().values().stream().map(Tensor::toFloatArray).toArray(float[][]::new);
        for (int i = 0; i < full.length; i++) assertArrayEquals(full[i], resumed[i], 0f, kind + " tensor " + i);
      }
    }
  }

  /**
   * A CTM snapshot samples with γ (cm sample --gamma; Samplers.ctmGamma): γ 0 is the grids' deterministic sampler, γ
   * 0.5 and 1 re-noise between jumps, per-image seeds still hold (a batch split in two gives the same images), and a γ
   * outside [0, 1] is refused by name.
   */
  @Test
  void ctmSnapshotSamplesWithGamma() throws Exception {
    Path snap;
    try (Trainer t = Trainer.start(forKind("ctm", 0.064), dir.resolve("ctm-gamma"), TrainerTest.QUIET)) {
      Trainer.Result r = t.run();
      try (var f = Files.list(r.runDir())) {
        snap = f.filter(p -> p.getFileName().toString().matches("network-snapshot-\\d+\\.safetensors")).sorted()
            .reduce((a, b) -> b).orElseThrow();
      }
    }
    double[] mids = {1.0};
    try (Snapshot s = Snapshot.load(snap); TensorScope sc = TensorScope.open()) {
      Tensor deterministic = s.sample(8, mids, 5);
      s.setGamma(0);
      assertEquals(0, s.sample(8, mids, 5).sub(deterministic).abs().amax(false).item(), "γ 0 is the default sampler");
      s.setGamma(0.5);
      Tensor half = s.sample(8, mids, 5);
      assertTrue(half.sub(deterministic).abs().amax(false).item() > 1e-4, "γ 0.5 re-noises");
      Tensor split = Tensor.cat(List.of(s.sample(3, mids, 5, 0), s.sample(5, mids, 5, 3)), 0);
      assertEquals(0, half.sub(split).abs().amax(false).item(), 1e-6, "per-image seeds under γ-sampling");
      s.setGamma(1);
      assertTrue(s.sample(8, mids, 5).sub(half).abs().amax(false).item() > 1e-4, "γ 1 differs from γ 0.5");
      var e = assertThrows(IllegalArgumentException.class, () -> s.setGamma(1.5));
      assertTrue(e.getMessage().contains("γ"), e.getMessage());
    }
  }

  @Test
  void scdStartsFromTheTeacherInTrigFlowForm() throws Exception {
    try (Trainer t = Trainer.start(forKind("scd", 0.064), dir.resolve("scd0"), TrainerTest.QUIET);
        TensorScope s = TensorScope.open()) {
      SctObjective.SctModel m = (SctObjective.SctModel) t.model();
      GradMode g = GradMode.noGrad();
      TrainingOptions o = forKind("scd", 0.064);
      EDMPrecond edm = RunObjective.create(o, (cfg, se) -> Builders.network(cfg, 0, 2, se), 0, Device.CPU)
          .loadTeacher(o, (cfg, se) -> Builders.network(cfg, 0, 2, se), 0.5);
      TrigFlowPrecond tf = TrigFlowPrecond.fromEDM(edm);
      Tensor x = Tensor.randn(16, 2);
      Tensor time = Tensor.rand(16).mul(1.5).add(0.02);
      m.net.eval();
      float[] student = m.net.rawF(x, time, null).toFloatArray();
      float[] fromTeacher = tf.rawF(x, time, null).toFloatArray();
      assertArrayEquals(fromTeacher, student, 1e-6f);
      g.close();
      m.net.train(true);
      t.run();
      String log = Files.readString(t.runDir().resolve("log.txt"));
      assertTrue(log.contains("init_from " + teacher), log);
    }
  }

  /**
   * A data-parallel rank's DSM stream depends only on (seed, rank, iteration): the loss of iteration 5 is the same
   * whether or not the rank drew for another iteration before (so a resumed multi-process run, whose ranks' streams are
   * not in the rank-0 state, draws what the run would have).
   */
  @Test
  void ctmRankDsmStreamNeedsNoSavedState() {
    TrainingOptions o = opts(("{\"kind\": \"ctm\", \"teacher\": \"%s\", \"num_levels\": 6, \"max_heun_steps\": 2, "
        + "\"dsm\": true}").formatted(teacher.toString()), CASES.get("ctm")[1], 0.064);
    try (TensorScope s = TensorScope.open()) {
      RunObjective obj = RunObjective.create(o, (cfg, se) -> Builders.network(cfg, 0, 2, se), 0, Device.CPU);
      obj.shardRank = 1;
      obj.shardWorld = 2;
      Tensor x = Tensor.randn(8, 2);
      Map<String, Tensor> start = obj.randomState();
      double first = dsmAt(obj, x, 5);
      obj.restoreRandomState(start);
      double other = dsmAt(obj, x, 3);
      obj.restoreRandomState(start);
      assertEquals(first, dsmAt(obj, x, 5), 0.0);
      assertNotEquals(first, other, "iterations 3 and 5 drew the same DSM noise");
    }
  }

  private static double dsmAt(RunObjective obj, Tensor x, long iteration) {
    try (StepStats st = new StepStats()) {
      obj.loss(x, null, iteration, 0, st);
      Double dsm = st.toHost().get("dsm");
      assertNotNull(dsm, "no dsm statistic: DSM is off");
      return dsm;
    }
  }
}
