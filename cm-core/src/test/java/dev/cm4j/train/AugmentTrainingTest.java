package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.Module;
import dev.cm4j.nn.Param;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** options.augment: defaults, fitting network.augment_dim, errors, and the objectives passing labels to the network. */
class AugmentTrainingTest {
  static TrainingOptions small(Map<String, String> more) {
    TrainingOptions o = Presets.get("fmnist-ect-tiny").with(Map.of("network.model_channels", "8",
        "network.channel_mult", "[1]", "network.attn_resolutions", "[]", "objective.denoise_kimg", "0"));
    return o.with(more);
  }

  static int augmentDim(TrainingOptions o) {
    return ((NetworkOptions.UNet) o.network()).augmentDim();
  }

  @Test
  void offByDefaultAndOldFilesLoad() throws Exception {
    TrainingOptions o = small(Map.of());
    assertEquals(0, o.augment().p());
    assertEquals(1e8, o.augment().xflip());
    assertEquals(1, o.augment().yflip());
    assertEquals(0, o.augment().brightness());
    assertEquals(9, o.augment().labelDim());
    assertEquals(0, augmentDim(o));
    // a file written before the augment section existed
    var tree = o.tree();
    tree.remove("augment");
    TrainingOptions old = TrainingOptions.fromJson(tree.toString());
    assertEquals(o.toJson(), old.toJson());
  }

  @Test
  void pAboveZeroFitsTheNetworksAugmentDim() {
    TrainingOptions o = small(Map.of("augment.p", "0.12"));
    assertEquals(9, augmentDim(o));
    assertEquals(o.toJson(), TrainingOptions.fromJson(o.toJson()).toJson());
    TrainingOptions same = small(Map.of("augment.p", "0.12", "network.augment_dim", "9"));
    assertEquals(9, augmentDim(same));
    TrainingOptions more = small(Map.of("augment.p", "0.5", "augment.brightness", "1", "augment.hue", "1"));
    assertEquals(12, augmentDim(more));
    // p = 0 leaves an explicit augment_dim alone (EDM's networks ignore absent labels)
    assertEquals(9, augmentDim(small(Map.of("network.augment_dim", "9"))));
  }

  @Test
  void mismatchesAndUnsupportedCombinationsNameTheOption() {
    OptionException e = assertThrows(OptionException.class,
        () -> small(Map.of("augment.p", "0.12", "network.augment_dim", "5")));
    assertEquals("network.augment_dim", e.key());
    assertTrue(e.getMessage().contains("9"), e.getMessage());
    e = assertThrows(OptionException.class, () -> small(Map.of("augment.p", "-0.1")));
    assertEquals("augment.p", e.key());
    e = assertThrows(OptionException.class, () -> small(Map.of("augment.p", "0.1", "objective",
        "{\"kind\": \"meanflow\"}")));
    assertEquals("augment.p", e.key());
    e = assertThrows(OptionException.class, () -> Presets.get("toy2d-ect").with(Map.of("augment.p", "0.1")));
    assertEquals("augment.p", e.key());
    assertTrue(e.getMessage().contains("augment_dim"), e.getMessage());
    e = assertThrows(OptionException.class, () -> small(Map.of("augment.scale_sd", "1")));
    assertEquals("augment.scale_sd", e.key());
  }

  /**
   * The gradient of the network's map_augment weight after one loss of the objective (a JSON object): non-zero only if
   * augmentation labels reached the network.
   */
  static double mapAugmentGrad(String objective, double p) {
    TrainingOptions o = small(Map.of("augment.p", Double.toString(p), "network.augment_dim", "9",
        "objective", objective));
    RunObjective obj = RunObjective.create(o, (cfg, s) -> Builders.network(cfg, 8, 1, s), 3, Device.CPU);
    try (TensorScope s = TensorScope.open(); Generator g = Generator.cpu(5)) {
      assertEquals(p > 0, obj.augment != null);
      Module m = obj.model();
      Tensor x = Tensor.rand(new long[] {6, 1, 8, 8}, DType.FLOAT32, Device.CPU, g).mul(2.0).sub(1.0);
      StepStats st = new StepStats();
      obj.loss(x, null, 0, 0, st).mean().backward();
      Param w = m.namedParameters().entrySet().stream().filter(e -> e.getKey().endsWith("model.map_augment.weight"))
          .map(Map.Entry::getValue).findFirst().orElse(null);
      assertNotNull(w, m.namedParameters().keySet().toString());
      Tensor grad = w.get().grad();
      double v = grad == null ? 0 : grad.abs().amax(false).item();
      st.close();
      return v;
    } finally {
      obj.model().close();
    }
  }

  @Test
  void objectivesPassAugmentLabelsToTheNetwork(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    // a frozen EDM teacher of the same network (augment_dim 9) for sCD and CTM
    java.nio.file.Path teacher = dir.resolve("teacher.safetensors");
    TrainingOptions base = small(Map.of("augment.p", "0.5"));
    dev.cm4j.tensor.Torch.manualSeed(4);
    try (var t = new dev.cm4j.precond.EDMPrecond(RunObjective.asNet(Builders.network(base.network(), 8, 1, false)),
        0.5, 0.002, 80, dev.cm4j.precond.EDMPrecond.Boundary.EDM); TensorScope s = TensorScope.open()) {
      dev.cm4j.io.SafeTensors.write(teacher, t.stateDict());
    }
    String tp = teacher.toString().replace("\\", "\\\\");
    Map<String, String> objectives = new java.util.LinkedHashMap<>();
    for (String kind : new String[] {"ect", "ict", "ct", "sct"}) objectives.put(kind, "{\"kind\": \"" + kind + "\"}");
    objectives.put("scd", "{\"kind\": \"scd\", \"teacher\": \"" + tp + "\"}");
    objectives.put("ctm", "{\"kind\": \"ctm\", \"distance\": \"l2\", \"num_levels\": 6, \"max_heun_steps\": 2, "
        + "\"teacher\": \"" + tp + "\"}");
    for (var e : objectives.entrySet()) {
      assertTrue(mapAugmentGrad(e.getValue(), 0.5) > 0, e.getKey() + ": map_augment got no gradient");
      assertEquals(0, mapAugmentGrad(e.getValue(), 0), e.getKey() + ": without augmentation no labels are passed");
    }
  }

  /** The TrigFlow and CTM views pass the augmentation labels to the raw network: they change the output. */
  @Test
  void augmentLabelViewsChangeTheOutput() {
    TrainingOptions o = small(Map.of("augment.p", "0.5"));
    dev.cm4j.tensor.Torch.manualSeed(2);
    try (TensorScope s = TensorScope.open(); Generator g = Generator.cpu(1)) {
      Module raw = randomised(Builders.network(o.network(), 8, 1, false), g);
      var edm = new dev.cm4j.precond.EDMPrecond(RunObjective.asNet(raw), 0.5, 0.002, 80,
          dev.cm4j.precond.EDMPrecond.Boundary.EDM);
      var trig = dev.cm4j.precond.TrigFlowPrecond.fromEDM(edm);
      Tensor x = Tensor.randn(new long[] {2, 1, 8, 8}, DType.FLOAT32, Device.CPU, g);
      Tensor t = Tensor.of(new float[] {0.4f, 1.1f}, 2);
      Tensor a = Tensor.randn(new long[] {2, 9}, DType.FLOAT32, Device.CPU, g);
      double plain = trig.f(x, t, null).sub(trig.withAugmentLabels(null).f(x, t, null)).abs().amax(false).item();
      assertEquals(0, plain, "null labels: the same model");
      double withA = trig.f(x, t, null).sub(trig.withAugmentLabels(a).f(x, t, null)).abs().amax(false).item();
      assertTrue(withA > 1e-6, "augment labels change f by " + withA);
      Tensor viaEdm = edm.denoise(x, Tensor.of(new float[] {0.5f, 2f}, 2), null, a);
      assertEquals(0, viaEdm.sub(edm.withAugmentLabels(a).denoise(x, Tensor.of(new float[] {0.5f, 2f}, 2), null))
          .abs().amax(false).item(), 1e-6);
      Module craw = randomised(Builders.network(o.network(), 8, 1, true), g);
      var ctm = new dev.cm4j.precond.CTMPrecond(asCtm(craw), 0.5, 0.002, 80);
      Tensor s2 = Tensor.of(new float[] {0.1f, 0.3f}, 2);
      Tensor t2 = Tensor.of(new float[] {1f, 3f}, 2);
      double dj = ctm.jump(x, t2, s2, null).sub(ctm.withAugmentLabels(a).jump(x, t2, s2, null)).abs().amax(false).item();
      assertTrue(dj > 1e-6, "augment labels change G by " + dj);
      assertEquals(0, ctm.jump(x, t2, s2, null).sub(ctm.withAugmentLabels(null).jump(x, t2, s2, null)).abs()
          .amax(false).item());
      raw.close();
      craw.close();
    }
  }

  /** m with every parameter redrawn N(0, 0.1²): EDM's zero-initialised output layers would hide the labels. */
  static Module randomised(Module m, Generator g) {
    try (dev.cm4j.tensor.GradMode ng = dev.cm4j.tensor.GradMode.noGrad()) {
      for (Param p : m.namedParameters().values()) {
        p.get().copy_(Tensor.randn(p.get().shape(), DType.FLOAT32, Device.CPU, g).mul(0.1));
      }
    }
    return m;
  }

  @SuppressWarnings("unchecked")
  static <N extends Module & dev.cm4j.nn.CTMNetwork> N asCtm(Module m) {
    return (N) m;
  }
}
