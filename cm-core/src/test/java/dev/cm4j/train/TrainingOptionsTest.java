package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cm4j.tensor.Device;
import dev.cm4j.objectives.CTM;
import dev.cm4j.objectives.ECT;
import dev.cm4j.objectives.SCM;
import dev.cm4j.optim.RAdam;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Binding of training options: defaults, unknown keys, types and ranges at every depth, old files. */
class TrainingOptionsTest {

  /** preset, override key, override value, the exact message. */
  static final String[][] BAD = {
      // unknown keys, at each depth
      {"cifar10-ect", "objective.P_men", "-1", "objective.P_men: unknown; did you mean objective.P_mean?"},
      {"cifar10-ect", "bacth", "64", "bacth: unknown; did you mean batch?"},
      {"cifar10-ect", "objectiv.P_mean", "1", "objectiv: unknown; did you mean objective?"},
      {"cifar10-ect", "network.dropuot", "0.1", "network.dropuot: unknown; did you mean network.dropout?"},
      {"cifar10-ect", "precond.sigma_dat", "0.5", "precond.sigma_dat: unknown; did you mean precond.sigma_data?"},
      {"cifar10-ect", "ema.0.bet", "0.9", "ema.0.bet: unknown; did you mean ema.0.beta?"},
      {"cifar10-ect", "data.xflp", "true", "data.xflp: unknown; did you mean data.xflip?"},
      {"cifar10-scd", "objective.teacher_network", "{\"arch\": \"ddpmpp\", \"dropuot\": 0}",
          "objective.teacher_network.dropuot: unknown; did you mean objective.teacher_network.dropout?"},
      // keys of another kind
      {"cifar10-ect", "optimizer.momentum", "0.9",
          "optimizer.momentum: unknown; valid keys of optimizer: kind, lr, betas, eps, weight_decay"},
      {"cifar10-ect", "objective.warmup_iterations", "5",
          "objective.warmup_iterations: unknown; valid keys of objective: kind, P_mean, P_std, q, k, b, c, mapping, "
              + "weighting, denoise_kimg, double_kimg"},
      {"toy2d-sct", "objective.teacher", "t.safetensors",
          "objective.teacher: only for kind scd (sct trains without a teacher)"},
      {"cifar10-ect", "batch.x", "1", "batch.x: unknown; batch is not a section"},
      {"cifar10-ect", "ema.3.beta", "0.9", "ema.3.beta: unknown; ema has 1 entry"},
      // wrong types
      {"cifar10-ect", "batch", "abc", "batch: expected an integer, got \"abc\""},
      {"cifar10-ect", "batch", "1.5", "batch: expected an integer, got 1.5"},
      {"cifar10-ect", "optimizer.betas.1", "x", "optimizer.betas.1: expected a number, got \"x\""},
      {"cifar10-ect", "data.xflip", "yes", "data.xflip: expected true or false, got \"yes\""},
      {"cifar10-ect", "ema", "5", "ema: expected a list, got 5"},
      {"cifar10-ect", "network", "3", "network: expected an object, got 3"},
      {"cifar10-ect", "objective.mapping", "linear", "objective.mapping: must be one of sigmoid, const, got \"linear\""},
      {"cifar10-ect", "objective.weighting", "edm", "objective.weighting: must be one of inverse_gap, edm2, got \"edm\""},
      {"cifar10-ect", "objective.kind", "foo", "objective.kind: must be one of ect, sct, scd, ict, cd, ct, ctm, meanflow, ayf, imm, got \"foo\""},
      {"cifar10-ect", "network.arch", "unet", "network.arch: must be one of ddpmpp, ncsnpp, songunet, adm, mlp, edm2, got \"unet\""},
      {"cifar10-ect", "data.kind", "mnist", "data.kind: must be one of fashion-mnist, cifar10, folder, npy, toy2d, got \"mnist\""},
      // out of range
      {"cifar10-ect", "optimizer.lr", "-1", "optimizer.lr: must be > 0, got -1"},
      {"cifar10-ect", "batch", "0", "batch: must be >= 1, got 0"},
      {"cifar10-ect", "batch_gpu", "48", "batch_gpu: must divide batch (128) or be 0, got 48"},
      {"cifar10-ect", "objective.q", "1", "objective.q: must be > 1, got 1"},
      {"cifar10-ect", "objective.P_std", "0", "objective.P_std: must be > 0, got 0"},
      {"cifar10-ect", "ema.0.beta", "1.5", "ema.0.beta: must be in [0, 1], got 1.5"},
      {"cifar10-ect", "optimizer.betas", "[0.9]", "optimizer.betas: expected 2 numbers, got 1"},
      {"cifar10-ect", "network.channel_mult", "[2, 0, 2]", "network.channel_mult.1: must be >= 1, got 0"},
      {"cifar10-ect", "precision", "fp8", "precision: must be one of fp32, bf16, fp16, got \"fp8\""},
      {"cifar10-ect", "device", "gpu", "device: must be one of auto, cpu, cuda or cuda:N, got \"gpu\""},
      {"cifar10-ect", "device", "cuda:x", "device: must be one of auto, cpu, cuda or cuda:N, got \"cuda:x\""},
      {"cifar10-ect", "sample_steps", "[0.821, -1]", "sample_steps.1: must be > 0, got -1"},
      {"cifar10-ctm", "objective.max_heun_steps", "18", "objective.max_heun_steps: must be in [1, 17], got 18"},
      {"cifar10-ect", "precond.sigma_max", "0.001", "precond.sigma_max: must be > 0.003, got 0.001"},
      {"toy2d-ect", "data.size", "0", "data.size: must be >= 1, got 0"},
      // cross-section rules and the removed precond.kind
      {"cifar10-ect", "precond.time_label", "edm", "precond.time_label: \"edm\" is only for the TrigFlow objectives (sct, scd)"},
      {"cifar10-ect", "precond.kind", "trigflow",
          "precond.kind: no longer an option (the objective picks the preconditioning; objective ect uses ect), got \"trigflow\""},
  };

  @Test
  void badOverridesNameThePathAndTheProblem() {
    assertTrue(BAD.length >= 20);
    for (String[] b : BAD) {
      TrainingOptions o = Presets.get(b[0]);
      OptionException e = assertThrows(OptionException.class, () -> o.with(Map.of(b[1], b[2])), b[1] + "=" + b[2]);
      assertEquals(b[3], e.getMessage(), b[1] + "=" + b[2]);
    }
  }

  static String resource(String name) throws IOException {
    try (InputStream in = TrainingOptionsTest.class.getResourceAsStream("/options/" + name)) {
      assertNotNull(in, name);
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** Files written by cm train --dry-run before options were typed (with precond.kind, without the defaults). */
  @Test
  void optionsFilesOfOlderVersionsLoadAsTheirPreset() throws IOException {
    for (String preset : new String[] {"cifar10-ect", "cifar10-scd", "toy2d-sct"}) {
      String old = resource("v0-" + preset + ".json");
      JsonNode oldTree = TrainingOptions.JSON.readTree(old);
      assertTrue(oldTree.path("precond").has("kind"), preset);
      assertFalse(oldTree.path("objective").has("weighting") && preset.equals("cifar10-ect"), preset);
      TrainingOptions loaded = TrainingOptions.fromJson(old);
      assertEquals(asWritten(preset).toJson(), loaded.toJson(), preset);
      // every value the old file had is bound unchanged (the old format lacked only defaults and precond.kind)
      JsonNode now = loaded.tree();
      var it = oldTree.fields();
      while (it.hasNext()) {
        var e = it.next();
        if (e.getValue().isObject()) {
          var f = e.getValue().fields();
          while (f.hasNext()) {
            var g = f.next();
            if (e.getKey().equals("precond") && g.getKey().equals("kind")) continue;
            assertTrue(same(g.getValue(), now.path(e.getKey()).path(g.getKey())), preset + " " + e.getKey() + "."
                + g.getKey() + ": " + g.getValue() + " vs " + now.path(e.getKey()).path(g.getKey()));
          }
        } else {
          assertTrue(same(e.getValue(), now.path(e.getKey())), preset + " " + e.getKey());
        }
      }
    }
  }

  /**
   * The preset as it was when the v0 files were written: toy2d-sct has since taken the toy2d study's lr 3e-4 and
   * 2-step t_mid 1.1 (docs/toy2d.md); it had lr 1e-3 and no sample_steps.
   */
  static TrainingOptions asWritten(String preset) {
    TrainingOptions now = Presets.get(preset);
    return preset.equals("toy2d-sct") ? now.with(Map.of("optimizer.lr", "1e-3", "sample_steps", "[]")) : now;
  }

  /** a's value is in b: numbers by value (80 and 80.0), lists element by element, objects key by key of a. */
  static boolean same(JsonNode a, JsonNode b) {
    if (a.isNumber() || b.isNumber()) return a.isNumber() && b.isNumber() && a.asDouble() == b.asDouble();
    if (a.isArray() || b.isArray()) {
      if (!a.isArray() || !b.isArray() || a.size() != b.size()) return false;
      for (int i = 0; i < a.size(); i++) if (!same(a.get(i), b.get(i))) return false;
      return true;
    }
    if (a.isObject() || b.isObject()) { // every key of a (the old file) has the same value in b
      if (!a.isObject() || !b.isObject()) return false;
      var it = a.fields();
      while (it.hasNext()) {
        var e = it.next();
        if (!same(e.getValue(), b.path(e.getKey()))) return false;
      }
      return true;
    }
    return a.isNull() == b.isNull() && a.asText().equals(b.asText());
  }

  @Test
  void anOldFileWhosePrecondKindContradictsItsObjectiveIsRejected() throws IOException {
    String old = resource("v0-cifar10-ect.json").replace("\"kind\" : \"ect\",\n    \"sigma_data\"",
        "\"kind\" : \"edm\",\n    \"sigma_data\"");
    assertNotEquals(resource("v0-cifar10-ect.json"), old);
    OptionException e = assertThrows(OptionException.class, () -> TrainingOptions.fromJson(old));
    assertEquals("precond.kind", e.key());
  }

  @Test
  void everyPresetRoundTripsThroughJsonUnchanged() {
    for (String n : Presets.names()) {
      TrainingOptions o = Presets.get(n);
      String json = o.toJson();
      TrainingOptions back = TrainingOptions.fromJson(json);
      assertEquals(json, back.toJson(), n);
      assertEquals(o.tree(), back.tree(), n);
      assertEquals(o.objective(), back.objective(), n);
      assertEquals(o.precond(), back.precond(), n);
      assertEquals(o.ema(), back.ema(), n);
      assertEquals(o.data(), back.data(), n);
    }
  }

  @Test
  void boundOptionsAreCompleteWithTheLibrarysDefaults() {
    TrainingOptions o = TrainingOptions.fromJson("""
        {"network": {"arch": "mlp"}, "objective": {"kind": "ect"}, "optimizer": {"kind": "radam"},
         "data": {"kind": "toy2d"}, "batch": 64, "duration_kimg": 1}""");
    EctObjective.Options ect = (EctObjective.Options) o.objective();
    ECT.Config lib = ECT.Config.cifar10();
    assertEquals(lib, ect.config(lib.sigmaData()));
    RAdam.Config r = RAdam.Config.defaults();
    assertEquals(r.lr(), o.optimizer().lr());
    assertEquals(0.5, o.precond().sigmaData());
    assertEquals(50, o.tickKimg()); // EDM's train.py defaults for the intervals
    assertEquals(500, o.stateTicks());
    // the written JSON has every key of every section, and nothing is null where a default exists
    JsonNode t = o.tree();
    for (String k : OptionBinder.keys(EctObjective.Options.class)) assertTrue(t.path("objective").has(k), k);
    for (String k : OptionBinder.keys(TrainingOptions.class)) assertTrue(t.has(k), k);
    OptionException missing = assertThrows(OptionException.class, () -> TrainingOptions.fromJson("""
        {"network": {"arch": "mlp"}, "objective": {"kind": "ect"}, "optimizer": {"kind": "radam"},
         "data": {"kind": "toy2d"}, "batch": 64}"""));
    assertEquals("duration_kimg: required", missing.getMessage());
    OptionException noKind = assertThrows(OptionException.class, () -> o.with(Map.of("objective", "{\"q\": 3}")));
    assertEquals("objective.kind: required, one of ect, sct, scd, ict, cd, ct, ctm, meanflow, ayf, imm", noKind.getMessage());
  }

  @Test
  void eachKindTakesItsOwnLibraryDefaults() {
    TrainingOptions o = Presets.get("toy2d-ect");
    SctObjective.Options s = (SctObjective.Options) o.with(Map.of("objective.kind", "sct")).objective();
    assertEquals(SCM.Config.cifar10(), s.config());
    CtmObjective.Options c = (CtmObjective.Options) o.with(Map.of("objective.kind", "ctm")).objective();
    CTM.Config lib = CTM.Config.cifar10();
    assertEquals(lib, c.config(new PrecondOptions(0.5, lib.sigmaMin(), lib.sigmaMax(), "identity")));
    CmObjective.Options cd = (CmObjective.Options) o.with(Map.of("objective.kind", "cd")).objective();
    CmObjective.Options ct = (CmObjective.Options) o.with(Map.of("objective.kind", "ct")).objective();
    assertEquals(dev.cm4j.objectives.ConsistencyTraining.Config.cd(1).mu0(), cd.mu0());
    assertEquals(dev.cm4j.objectives.ConsistencyTraining.Config.ct(1).mu0(), ct.mu0());
    assertNotEquals(cd.mu0(), ct.mu0());
    // switching the kind drops the old kind's keys; other overrides in the same call still apply
    TrainingOptions sgd = o.with(Map.of("optimizer.kind", "sgd", "optimizer.momentum", "0.9"));
    assertEquals(new OptimizerOptions.Sgd("sgd", 1e-3, 0.9, 0, 0, false), sgd.optimizer());
    TrainingOptions h = o.with(Map.of("ema.0.kind", "halflife"));
    assertEquals(new EmaOptions.HalfLife("halflife", 500, 0.05), h.ema().get(0));
    // the same kind keeps the section's values
    assertEquals(o.tree().get("optimizer"), o.with(Map.of("optimizer.kind", "adam")).tree().get("optimizer"));
    assertEquals(o.tree().get("optimizer"), o.with(Map.of("optimizer.kind", "Adam")).tree().get("optimizer"));
  }

  @Test
  void ectWeightingIsSelectableAndReachesTheObjective() {
    TrainingOptions o = TrainerTest.toy(0.128, "ect").with(Map.of("objective.weighting", "edm2",
        "precond.sigma_data", "0.25"));
    RunObjective obj = RunObjective.create(o, (cfg, s) -> Builders.network(cfg, 0, 2, s), 0, Device.CPU);
    ECT.Config c = ((EctObjective) obj).ect.config();
    assertEquals(ECT.Weighting.EDM2, c.weighting());
    assertEquals(0.25, c.sigmaData());
    assertTrue(o.toJson().contains("\"weighting\" : \"edm2\""), o.toJson());
    RunObjective dflt = RunObjective.create(TrainerTest.toy(0.128, "ect"), (cfg, s) -> Builders.network(cfg, 0, 2, s), 0,
        Device.CPU);
    assertEquals(ECT.Weighting.INVERSE_GAP, ((EctObjective) dflt).ect.config().weighting());
  }

  @Test
  void readNamesTheFileAndBadJsonIsAClearError(@TempDir Path dir) throws IOException {
    Path f = dir.resolve("o.json");
    Files.writeString(f, Presets.get("toy2d-ect").toJson().replace("\"batch\" : 128", "\"batch\" : \"x\""));
    OptionException e = assertThrows(OptionException.class, () -> TrainingOptions.read(f));
    assertEquals("batch: expected an integer, got \"x\" (in " + f + ")", e.getMessage());
    IllegalArgumentException j = assertThrows(IllegalArgumentException.class, () -> TrainingOptions.fromJson("{\"batch\": "));
    assertTrue(j.getMessage().startsWith("bad training options JSON: "), j.getMessage());
    assertThrows(OptionException.class, () -> TrainingOptions.fromJson("[1, 2]"));
  }
}
