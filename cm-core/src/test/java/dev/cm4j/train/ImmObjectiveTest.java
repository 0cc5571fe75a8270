package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * IMM in the training loop: the cifar10-imm preset against the paper's Table 5 / the official CIFAR-10 config, defaults
 * and bad options, a few toy steps (toy2d-imm) with grids and a bit-exact resume, the EMA target option, and one step
 * on the test device equal to the CPU's.
 */
class ImmObjectiveTest {
  static TrainingOptions toy(double kimg) {
    return Presets.get("toy2d-imm").with(Map.of("duration_kimg", Double.toString(kimg), "tick_kimg", "0.064",
        "snap_ticks", "1", "state_ticks", "1", "batch", "64", "network.hidden", "32", "network.blocks", "1",
        "data.size", "2000"));
  }

  /** Table 5's CIFAR-10 column (arXiv 2503.07565) and configs/cifar10_generate_images.yaml (lumalabs/imm c9473e9). */
  @Test
  void cifar10ImmIsThePapersRun() {
    TrainingOptions o = Presets.get("cifar10-imm");
    ImmObjective.Options m = (ImmObjective.Options) o.objective();
    assertEquals("imm", m.kind());
    assertEquals("fm", m.schedule());              // Flow Trajectory: OT-FM; yaml noise_schedule: fm
    assertEquals("simple_edm", m.fType());         // g_θ: Simple-EDM; yaml f_type: simple_edm
    assertEquals("identity", m.tembType());        // 2nd time conditioning: s; yaml temb_type: identity
    assertEquals(1000, m.timeScale());             // c_noise(t) = 1000t; yaml time_scale: 1000
    assertEquals(0.994, m.tMax());                 // p(t) = U(0.006, 0.994); yaml T: 0.994
    assertEquals(0.006, m.eps());                  // yaml eps: 0.006
    assertEquals(4, m.groupSize());                // M 4
    assertEquals("eta", m.mapping());              // r(s,t) = max(s, η⁻¹(η_t − (η_max − η_min)/2^15))
    assertEquals(15, m.k());
    assertEquals(1, m.a());
    assertEquals(5, m.b());
    assertEquals(0.0, m.targetEma());              // θ⁻ = sg(θ)
    assertEquals("laplace", m.kernel());           // Kernel: Laplace
    assertEquals(0.5, o.precond().sigmaData());    // σ_d 0.5
    assertEquals("radam", o.optimizer().kind());   // RAdam, lr 1e-4, β (0.9, 0.999), ε 1e-8, wd 0
    assertEquals(1e-4, PresetsTest.at(o, "optimizer.lr").asDouble());
    assertEquals(0.999, PresetsTest.at(o, "optimizer.betas").get(1).asDouble());
    assertEquals(4096, o.batch());                 // batch 4096
    assertEquals(4096.0 * 400_000 / 1000, PresetsTest.at(o, "duration_kimg").asDouble()); // 400K iterations
    assertEquals(0.9999, PresetsTest.at(o, "ema").get(0).get("beta").asDouble());
    assertEquals(0.2, PresetsTest.at(o, "network.dropout").asDouble());
    assertEquals("ddpmpp", PresetsTest.at(o, "network.arch").asText());
    assertTrue(o.data().xflip());
    assertEquals(1.4, PresetsTest.at(o, "sample_steps").get(0).asDouble()); // 2 steps, η_{t1} = 1.4; yaml mid_nt [1.4]
  }

  @Test
  void immDefaultsAreTheCifar10OnesAndBadOptionsAreNamed() {
    TrainingOptions d = Presets.get("toy2d-imm").with(Map.of("objective", "{\"kind\": \"imm\"}"));
    ImmObjective.Options m = (ImmObjective.Options) d.objective();
    assertEquals(15, m.k());
    assertEquals(4, m.groupSize());
    assertEquals(5, m.b());
    for (String[] bad : new String[][] {{"objective.group_size", "0"}, {"objective.mapping", "\"eta2\""},
        {"objective.f_type", "\"edm\""}, {"objective.T", "1.0"}, {"objective.kernel_eps", "0"},
        {"objective.schedule", "\"vp\""}, {"objective.target_ema", "1"}, {"objective.kernel", "\"gauss\""}}) {
      var e = assertThrows(OptionException.class, () -> Presets.get("toy2d-imm").with(Map.of(bad[0], bad[1])));
      assertTrue(e.getMessage().contains(bad[0].substring("objective.".length())), e.getMessage());
    }
    var e = assertThrows(OptionException.class, () -> Presets.get("toy2d-imm").with(Map.of("objective.schedule",
        "\"vp_cosine\"", "objective.f_type", "\"euler_fm\"")));
    assertTrue(e.getMessage().contains("euler_fm"), e.getMessage());
    e = assertThrows(OptionException.class, () -> Presets.get("toy2d-imm").with(Map.of("objective.mapping",
        "\"lambda\"", "objective.eps", "0")));
    assertTrue(e.getMessage().contains("eps"), e.getMessage());
  }

  @Test
  void aBatchThatIsNoMultipleOfTheGroupSizeIsRefused(@TempDir Path dir) {
    var e = assertThrows(IllegalArgumentException.class, () -> {
      try (Trainer t = Trainer.start(toy(0.066).with(Map.of("batch", "66")), dir, TrainerTest.QUIET)) {
        t.run();
      }
    });
    assertTrue(e.getMessage().contains("group size"), e.getMessage());
  }

  @Test
  void toyRunTrainsWritesGridsAndResumesBitExactly(@TempDir Path dir) throws Exception {
    TrainerTest.ToyRun run = TrainerTest.assertToyRunResumesBitExactly(ImmObjectiveTest::toy, dir);
    assertTrue(run.result().lastLoss() > 0, "loss " + run.result().lastLoss());
  }

  @Test
  void anEmaTargetIsKeptAndSaved(@TempDir Path dir) throws Exception {
    try (Trainer a = Trainer.start(toy(0.128).with(Map.of("objective.target_ema", "0.9")), dir, TrainerTest.QUIET)) {
      var r = a.run();
      assertTrue(Double.isFinite(r.lastLoss()), "loss " + r.lastLoss());
    }
  }

  /** One step and its samples on the test device (TestDeviceTrainingTest's harness) equal the CPU's to 1e-6. */
  @Test
  void oneStepOnTheTestDeviceEqualsTheCpu(@TempDir Path dir) throws Exception {
    TrainingOptions o = toy(0.064);
    TestDeviceTrainingTest.assertStepOnTestDeviceEqualsCpu(o, dir, 1.4, true);
  }
}
