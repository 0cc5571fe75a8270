package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.DhariwalUNet;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The imagenet64-ctm preset's training path with a small ADM: the preset shrunk to 8 × 8 images, a 32-channel network,
 * N 6, K 2 and the L2 distance (LPIPS needs a user-supplied file), a random ADM teacher written by the test, and batch 4
 * in accumulation rounds of 2, runs three iterations through the trainer and moves the weights. Unconditional, since
 * the trainer feeds no labels yet (issue 13 §1).
 */
class AdmCtmTrainingTest {
  @Test
  void presetTrainsAFewStepsWithASmallAdm(@TempDir Path dir) throws Exception {
    Path data = Files.createDirectories(dir.resolve("data"));
    Random rnd = new Random(5);
    for (int i = 0; i < 8; i++) {
      BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
      for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) img.setRGB(x, y, rnd.nextInt(1 << 24));
      ImageIO.write(img, "png", data.resolve("img" + i + ".png").toFile());
    }
    Map<String, String> ov = new HashMap<>(Map.of("network.label_dim", "0", "network.model_channels", "32",
        "network.channel_mult", "[1, 2]", "network.num_blocks", "1", "network.attn_resolutions", "[4]",
        "objective.distance", "l2", "objective.num_levels", "6", "objective.max_heun_steps", "2"));
    ov.putAll(Map.of("data.path", data.toString(), "data.resolution", "8", "data.use_labels", "false",
        "batch", "4", "batch_gpu", "2", "duration_kimg", "0.012", "tick_kimg", "0.004", "precision", "fp32"));
    ov.put("cond", "false"); // the preset is class-conditional (ImageNet); this test trains on unlabelled data
    TrainingOptions probe = Presets.get("imagenet64-ctm").with(ov);
    NetworkOptions.Adm adm = (NetworkOptions.Adm) probe.network();
    assertEquals(1000, adm.noiseLabelScale());
    Path teacher = dir.resolve("teacher.safetensors");
    Torch.manualSeed(9);
    try (EDMPrecond t = new EDMPrecond(new DhariwalUNet(adm.config(8, 3, false)), 0.5, 0.002, 80,
        EDMPrecond.Boundary.EDM); TensorScope s = TensorScope.open()) {
      SafeTensors.write(teacher, t.stateDict());
    }
    ov.put("objective.teacher", teacher.toString());
    TrainingOptions o = Presets.get("imagenet64-ctm").with(ov);
    try (Trainer t = Trainer.start(o, dir.resolve("run"), TrainerTest.QUIET); TensorScope s = TensorScope.open()) {
      assertTrue(t.model() instanceof CTMPrecond, t.model().getClass().getName());
      Map<String, float[]> before = new HashMap<>();
      for (var e : t.model().stateDict().entrySet()) before.put(e.getKey(), e.getValue().toFloatArray());
      assertTrue(before.keySet().stream().anyMatch(k -> k.endsWith("map_layer0_s.weight")), "the CTM s path is built");
      Trainer.Result r = t.run();
      assertEquals(3, r.iterations());
      assertTrue(Double.isFinite(r.lastLoss()), "loss " + r.lastLoss());
      double moved = 0;
      for (var e : t.model().stateDict().entrySet()) {
        float[] a = e.getValue().toFloatArray();
        float[] z = before.get(e.getKey());
        for (int i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i] - z[i]));
      }
      assertTrue(moved > 1e-6, "parameters moved by " + moved);
    }
  }
}
