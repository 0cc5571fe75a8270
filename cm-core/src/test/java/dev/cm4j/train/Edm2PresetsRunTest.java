package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The EDM2-network ImageNet presets train a few steps on a tiny synthetic labelled image folder (64×64, EDM's
 * dataset.json), with the network shrunk (model_channels 8, two levels) and fp32 on the CPU; every other value is the
 * preset's. imagenet64-scd distils a tiny teacher snapshot written here (an EDM-preconditioned network of the same
 * shrunk config, as objective.teacher expects), which also initialises the student (init_from_teacher).
 */
class Edm2PresetsRunTest {
  static final int RES = 64;

  static Path tinyFolder(Path dir) throws Exception {
    Random r = new Random(3);
    StringBuilder labels = new StringBuilder("{\"labels\": [");
    Files.createDirectories(dir.resolve("00000"));
    for (int i = 0; i < 16; i++) {
      BufferedImage img = new BufferedImage(RES, RES, BufferedImage.TYPE_INT_RGB);
      for (int y = 0; y < RES; y++) for (int x = 0; x < RES; x++) img.setRGB(x, y, r.nextInt(1 << 24));
      String name = String.format("00000/img%08d.png", i);
      ImageIO.write(img, "png", dir.resolve(name).toFile());
      labels.append(i == 0 ? "" : ", ").append("[\"").append(name).append("\", ").append(i % 3).append("]");
    }
    Files.writeString(dir.resolve("dataset.json"), labels.append("]}").toString());
    return dir;
  }

  @Test
  void ectSctAndScdPresetsRunAFewSteps(@TempDir Path dir) throws Exception {
    Path data = tinyFolder(dir.resolve("data"));
    for (String preset : new String[] {"imagenet64-ect-s", "imagenet64-sct", "imagenet64-scd"}) {
      Map<String, String> ov = new HashMap<>(Map.of("network.model_channels", "8", "network.channel_mult", "[1, 2]",
          "network.num_blocks", "1", "network.attn_resolutions", "[32]", "network.channels_per_head", "8",
          "network.label_dim", "3", "data.path", data.toString(), "data.resolution", String.valueOf(RES),
          "batch", "4"));
      ov.putAll(Map.of("batch_gpu", "0", "duration_kimg", "0.012", "tick_kimg", "0.004", "snap_ticks", "100",
          "state_ticks", "100", "precision", "fp32", "data.grid", "4"));
      if (preset.equals("imagenet64-scd")) ov.put("objective.teacher", teacher(Presets.get(preset).with(ov),
          dir.resolve("teacher.safetensors")).toString());
      TrainingOptions o = Presets.get(preset).with(ov);
      try (Trainer t = Trainer.start(o, dir.resolve(preset), new PrintStream(new ByteArrayOutputStream()))) {
        Trainer.Result res = t.run();
        assertEquals(12, res.images(), preset);
        assertTrue(Double.isFinite(res.lastLoss()), preset + " loss " + res.lastLoss());
        assertTrue(t.model().stateDict().keySet().stream().anyMatch(k -> k.contains("emb_linear")), preset);
      }
    }
  }

  /**
   * The two-time objectives on the EDM2 network (its second time path, {@code emb_noise_s}): MeanFlow and IMM train a
   * few steps on the same tiny labelled folder with imagenet64-sct's shrunk network.
   */
  @Test
  void meanFlowAndImmTrainOnTheEdm2NetworksSecondTimePath(@TempDir Path dir) throws Exception {
    Path data = tinyFolder(dir.resolve("data"));
    for (String kind : new String[] {"meanflow", "imm"}) {
      Map<String, String> ov = new HashMap<>(Map.of("network.model_channels", "8", "network.channel_mult", "[1, 2]",
          "network.num_blocks", "1", "network.attn_resolutions", "[32]", "network.channels_per_head", "8",
          "network.label_dim", "3", "data.path", data.toString(), "data.resolution", String.valueOf(RES),
          "batch", "4"));
      ov.putAll(Map.of("batch_gpu", "0", "duration_kimg", "0.012", "tick_kimg", "0.004", "snap_ticks", "100",
          "state_ticks", "100", "precision", "fp32", "data.grid", "4", "sample_steps", "[]"));
      TrainingOptions o = Presets.get("imagenet64-sct").with(Map.of("objective", "{\"kind\": \"" + kind + "\"}"))
          .with(ov);
      try (Trainer t = Trainer.start(o, dir.resolve(kind), new PrintStream(new ByteArrayOutputStream()))) {
        Trainer.Result res = t.run();
        assertEquals(12, res.images(), kind);
        assertTrue(Double.isFinite(res.lastLoss()), kind + " loss " + res.lastLoss());
        assertTrue(t.model().stateDict().keySet().stream().anyMatch(k -> k.contains("emb_noise_s")), kind);
      }
    }
  }

  /** A tiny EDM teacher for o's network (random weights, seeded), written as objective.teacher reads it. */
  static Path teacher(TrainingOptions o, Path file) throws Exception {
    dev.cm4j.tensor.Torch.manualSeed(11);
    try (var t = new dev.cm4j.precond.EDMPrecond(RunObjective.asNet(Builders.network(o.network(), RES, 3, false)),
        o.precond().sigmaData(), o.precond().sigmaMin(), o.precond().sigmaMax(),
        dev.cm4j.precond.EDMPrecond.Boundary.EDM); dev.cm4j.tensor.TensorScope s = dev.cm4j.tensor.TensorScope.open()) {
      dev.cm4j.io.SafeTensors.write(file, t.stateDict());
    }
    return file;
  }
}
