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
    e = assertThrows(OptionException.class, () -> small(Map.of("augment.p", "0.1", "objective", "{\"kind\": \"sct\"}")));
    assertEquals("augment.p", e.key());
    e = assertThrows(OptionException.class, () -> Presets.get("toy2d-ect").with(Map.of("augment.p", "0.1")));
    assertEquals("augment.p", e.key());
    assertTrue(e.getMessage().contains("augment_dim"), e.getMessage());
    e = assertThrows(OptionException.class, () -> small(Map.of("augment.scale_sd", "1")));
    assertEquals("augment.scale_sd", e.key());
  }

  /** The gradient of the network's map_augment weight: non-zero only if augmentation labels reached the network. */
  static double mapAugmentGrad(String kind, double p) {
    TrainingOptions o = small(Map.of("augment.p", Double.toString(p), "network.augment_dim", "9",
        "objective", "{\"kind\": \"" + kind + "\"}"));
    RunObjective obj = RunObjective.create(o, (cfg, s) -> Builders.network(cfg, 8, 1, s), 3, Device.CPU);
    try (TensorScope s = TensorScope.open(); Generator g = Generator.cpu(5)) {
      assertEquals(p > 0, obj.augment != null);
      Module m = obj.model();
      Tensor x = Tensor.rand(new long[] {6, 1, 8, 8}, DType.FLOAT32, Device.CPU, g).mul(2.0).sub(1.0);
      StepStats st = new StepStats();
      obj.loss(x, null, 0, 0, st).mean().backward();
      Param w = m.namedParameters().get("model.map_augment.weight");
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
  void objectivesPassAugmentLabelsToTheNetwork() {
    for (String kind : new String[] {"ect", "ict", "ct"}) {
      assertTrue(mapAugmentGrad(kind, 0.5) > 0, kind + ": map_augment got no gradient");
      assertEquals(0, mapAugmentGrad(kind, 0), kind + ": without augmentation no labels are passed");
    }
  }
}
