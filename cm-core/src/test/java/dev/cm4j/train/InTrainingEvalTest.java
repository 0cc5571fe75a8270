package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.data.ImageFolderDataset;
import dev.cm4j.eval.FeatureNetwork;
import dev.cm4j.eval.Frechet;
import dev.cm4j.eval.ImageSource;
import dev.cm4j.eval.Metrics;
import dev.cm4j.eval.TorchScriptDetector;
import dev.cm4j.image.Png;
import dev.cm4j.image.UInt8Image;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Module;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.PythonRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * In-training evaluation: per-image seeds (sample i does not depend on the batch), metric-NAME.jsonl lines in EDM's
 * report_metric form, values equal to a recomputation from the snapshot; with the stand-in Inception detector of
 * FidKidTest (a small TorchScript network written by the reference PyTorch) and a folder of random 8×8 images.
 */
class InTrainingEvalTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path dir;

  /** The stand-in detector of FidKidTest: Inception's call convention (uint8 NCHW, return_features=True). */
  static final String DETECTOR = """
      import sys, torch, torch.nn as nn
      torch.manual_seed(0)
      class Det(nn.Module):
          def __init__(self):
              super().__init__()
              self.conv = nn.Conv2d(3, 8, 3, padding=1)
              self.fc = nn.Linear(8 * 4, 12)
          def forward(self, img, return_features: bool = False):
              x = img.to(torch.float32) / 127.5 - 1
              h = torch.tanh(self.conv(x))
              h = torch.nn.functional.adaptive_avg_pool2d(h, 2).flatten(1)
              f = self.fc(h) * 10
              if return_features:
                  return f
              return f.softmax(dim=1)
      torch.jit.script(Det().eval()).save(sys.argv[1] + "/det.pt")
      """;

  @BeforeAll
  static void fixtures() throws Exception {
    PythonRef.run(DETECTOR, dir.toString());
    Path images = dir.resolve("images");
    Files.createDirectories(images);
    Random r = new Random(3);
    for (int i = 0; i < 40; i++) {
      byte[] px = new byte[3 * 8 * 8];
      r.nextBytes(px);
      Png.write(new UInt8Image(3, 8, 8, px), images.resolve(String.format("%03d.png", i)));
    }
  }

  /** A tiny ECT run on the 8×8 images; eval as given. */
  static TrainingOptions options(Map<String, String> eval) {
    Map<String, String> ov = new java.util.LinkedHashMap<>(Map.of(
        "network.model_channels", "8", "network.channel_mult", "[1, 1]", "network.attn_resolutions", "[]",
        "data", "{\"kind\": \"folder\", \"path\": \"" + dir.resolve("images") + "\", \"resolution\": 8, \"grid\": 4}",
        "batch", "8", "duration_kimg", "0.032", "tick_kimg", "0.016", "snap_ticks", "1", "state_ticks", "2",
        "objective.denoise_kimg", "0"));
    ov.putAll(eval);
    return Presets.get("fmnist-ect-tiny").with(ov);
  }

  /** Image i comes from seed i alone: the same at batch sizes 3 and 5 (1-step and 2-step), and alone. */
  @Test
  void sampleIDoesNotDependOnTheBatch() throws Exception {
    TrainingOptions o = options(Map.of());
    try (ImageFolderDataset data = ImageFolderDataset.open(dir.resolve("images")); TensorScope s = TensorScope.open()) {
      RunObjective obj = RunObjective.create(o, (cfg, sEmb) -> Builders.network(cfg, 8, 3, sEmb), 0, Device.CPU);
      Module m = obj.model();
      m.eval();
      InTrainingEval ev = new InTrainingEval(o, obj, data, RunDirectory.of(dir), Device.CPU, 1, l -> {});
      for (double[] mids : List.of(new double[0], new double[] {0.821})) {
        float[] five = ev.samples(m, 10, 5, mids).toFloatArray();
        float[] three = ev.samples(m, 10, 3, mids).toFloatArray();
        float[] two = ev.samples(m, 13, 2, mids).toFloatArray();
        float[] alone = ev.samples(m, 12, 1, mids).toFloatArray();
        int per = 3 * 8 * 8;
        assertEquals(5 * per, five.length);
        float[] joined = new float[5 * per];
        System.arraycopy(three, 0, joined, 0, three.length);
        System.arraycopy(two, 0, joined, three.length, two.length);
        assertArrayEquals(five, joined, 1e-6f, (mids.length + 1) + "-step");
        assertArrayEquals(java.util.Arrays.copyOfRange(five, 2 * per, 3 * per), alone, 1e-6f);
        // and the seeds matter: images 10 and 11 differ
        assertFalse(java.util.Arrays.equals(java.util.Arrays.copyOfRange(five, 0, per),
            java.util.Arrays.copyOfRange(five, per, 2 * per)));
      }
      // one-step and two-step images of one seed differ (the second step re-noises and denoises)
      assertFalse(java.util.Arrays.equals(ev.samples(m, 0, 1, new double[0]).toFloatArray(),
          ev.samples(m, 0, 1, new double[] {0.821}).toFloatArray()));
    }
  }

  /**
   * Batched multistep evaluation is the per-image computation: image i's latent and re-noising from generator seed i
   * (drawn here one image at a time, as the evaluation did before it was batched), and a conditional model's image i
   * gets class i mod C (class-balanced, EDM2/ECT-style).
   */
  @Test
  void batchedMultistepEqualsPerImageSamplingWithBalancedClasses() throws Exception {
    TrainingOptions o = options(Map.of("cond", "true", "network.label_dim", "3"));
    try (ImageFolderDataset data = ImageFolderDataset.open(dir.resolve("images")); TensorScope s = TensorScope.open();
        dev.cm4j.tensor.GradMode g = dev.cm4j.tensor.GradMode.noGrad()) {
      RunObjective obj = RunObjective.create(o, (cfg, sEmb) -> Builders.network(cfg, 8, 3, sEmb), 0, Device.CPU);
      assertEquals(3, obj.labelDim);
      Module m = AugmentTrainingTest.randomised(obj.model(), dev.cm4j.tensor.Generator.cpu(8)); // labels matter
      m.eval();
      InTrainingEval ev = new InTrainingEval(o, obj, data, RunDirectory.of(dir), Device.CPU, 1, l -> {});
      double[] mids = {0.821};
      long seed = o.eval().seed();
      float[] batched = ev.samples(m, seed, 5, mids).toFloatArray();
      int per = 3 * 8 * 8;
      for (int i = 0; i < 5; i++) {
        try (dev.cm4j.tensor.Generator gi = dev.cm4j.tensor.Generator.cpu(seed + i)) {
          Tensor z = Tensor.randn(new long[] {1, 3, 8, 8}, dev.cm4j.tensor.DType.FLOAT32, Device.CPU, gi);
          Tensor y = dev.cm4j.sampling.ClassLabels.oneHot(new int[] {i % 3}, 3, Device.CPU);
          float[] one = obj.sample(m, z, mids, y, 1, null, gi).toFloatArray();
          assertArrayEquals(one, java.util.Arrays.copyOfRange(batched, i * per, (i + 1) * per), 1e-5f, "image " + i);
          Tensor other = dev.cm4j.sampling.ClassLabels.oneHot(new int[] {(i + 1) % 3}, 3, Device.CPU);
          try (dev.cm4j.tensor.Generator gj = dev.cm4j.tensor.Generator.cpu(seed + i)) {
            Tensor zj = Tensor.randn(new long[] {1, 3, 8, 8}, dev.cm4j.tensor.DType.FLOAT32, Device.CPU, gj);
            assertFalse(java.util.Arrays.equals(one, obj.sample(m, zj, mids, other, 1, null, gj).toFloatArray()),
                "the class matters");
          }
        }
      }
      obj.model().close();
    }
  }

  /**
   * Rank r of W samples only its block of the seeds (ceil(N/W) each, padded with zero rows for the all-gather), and
   * rank 0 computes the metric from the gathered rows in seed order: with N = 7, W = 2, rank 1 gives the features of
   * images 4, 5, 6 plus one zero row; rank 0 fed those rows returns the one-process FID; rank 1 writes nothing.
   */
  @Test
  void ranksSampleTheirBlockAndRankZeroComputesFromTheGatheredRows() throws Exception {
    String det = dir.resolve("det.pt").toString();
    TrainingOptions o = options(Map.of("eval", "{\"metrics\": [\"fid\"], \"num_images\": 7, \"batch\": 3, "
        + "\"detector\": \"" + det + "\"}"));
    Path runDir = Files.createDirectories(dir.resolve("ranks"));
    try (ImageFolderDataset data = ImageFolderDataset.open(dir.resolve("images")); TensorScope s = TensorScope.open();
        FeatureNetwork net = TorchScriptDetector.load(Path.of(det), Device.CPU)) {
      RunObjective obj = RunObjective.create(o, (cfg, sEmb) -> Builders.network(cfg, 8, 3, sEmb), 0, Device.CPU);
      Module m = obj.model();
      m.eval();
      float[] all;
      try (dev.cm4j.tensor.GradMode g = dev.cm4j.tensor.GradMode.noGrad()) {
        all = net.features(ImageSource.toUInt8(new InTrainingEval(o, obj, data, RunDirectory.of(runDir), Device.CPU,
            1, l -> {}).samples(m, o.eval().seed(), 7, new double[0]))).to(dev.cm4j.tensor.DType.FLOAT32).toFloatArray();
      }
      int d = all.length / 7;
      Tensor[] sent = new Tensor[2];
      // rank 1: its block, and no line
      InTrainingEval r1 = new InTrainingEval(o, obj, data, null, Device.CPU, 1, 2, t -> {
        sent[1] = TensorScope.release(t.clone());
        return List.of(t.clone(), t.clone());
      }, l -> {});
      r1.evaluate(m, 0);
      assertArrayEquals(new long[] {4, d}, sent[1].shape(), "ceil(7/2) rows");
      float[] got = sent[1].to(dev.cm4j.tensor.DType.FLOAT32).toFloatArray();
      assertArrayEquals(java.util.Arrays.copyOfRange(all, 4 * d, 7 * d), java.util.Arrays.copyOfRange(got, 0, 3 * d),
          1e-4f, "images 4..6");
      for (int j = 3 * d; j < 4 * d; j++) assertEquals(0f, got[j], "padding row");
      // rank 0: gathers its own rows and rank 1's, and writes the one-process value
      InTrainingEval r0 = new InTrainingEval(o, obj, data, RunDirectory.of(runDir), Device.CPU, 0, 2, t -> {
        sent[0] = TensorScope.release(t.clone());
        return List.of(t.clone(), sent[1].clone());
      }, l -> {});
      r0.evaluate(m, 0);
      assertArrayEquals(new long[] {4, d}, sent[0].shape());
      InTrainingEval single = new InTrainingEval(o, obj, data, RunDirectory.of(dir.resolve("single-rank")), Device.CPU,
          1, l -> {});
      Files.createDirectories(dir.resolve("single-rank"));
      single.evaluate(m, 0);
      double two = JSON.readTree(Files.readAllLines(runDir.resolve("metric-fid.jsonl")).get(0)).at("/results/fid")
          .asDouble();
      double one = JSON.readTree(Files.readAllLines(dir.resolve("single-rank").resolve("metric-fid.jsonl")).get(0))
          .at("/results/fid").asDouble();
      assertEquals(one, two, 1e-6 * one, "gathered rows give the one-process FID");
      assertEquals(1, Files.readAllLines(runDir.resolve("metric-fid.jsonl")).size(), "rank 1 wrote no line");
      r0.close();
      r1.close();
      single.close();
      m.close();
    }
  }

  /**
   * A run with fid and two_step_fid every tick writes one line per tick to each metric-NAME.jsonl, in EDM's form, and
   * each value equals the FID recomputed from that tick's snapshot with the same seeds.
   */
  @Test
  void runWritesMetricLines() throws Exception {
    String det = dir.resolve("det.pt").toString();
    TrainingOptions o = options(Map.of("eval", "{\"metrics\": [\"fid\", \"two_step_fid\"], \"every_ticks\": 1, "
        + "\"num_images\": 7, \"batch\": 3, \"detector\": \"" + det + "\"}",
        "ema", "[{\"kind\": \"fixed\", \"beta\": 0.5}]", "optimizer.lr", "0.01")); // the model moves between ticks
    Path run;
    try (Trainer t = Trainer.start(o, dir.resolve("runs"), TrainerTest.QUIET)) {
      run = t.run().runDir();
    }
    for (String name : List.of("fid", "two_step_fid")) {
      List<String> lines = Files.readAllLines(run.resolve("metric-" + name + ".jsonl"));
      double v0 = JSON.readTree(lines.get(0)).at("/results/" + name).asDouble();
      double v1 = JSON.readTree(lines.get(1)).at("/results/" + name).asDouble();
      assertTrue(Math.abs(v0 - v1) > 2e-5 * v0, "the ticks' models differ (20x the tolerance below): " + v0 + " vs " + v1);
      assertEquals(2, lines.size(), name); // 32 images in ticks of 16
      for (int i = 0; i < 2; i++) {
        JsonNode l = JSON.readTree(lines.get(i));
        List<String> keys = new ArrayList<>();
        l.fieldNames().forEachRemaining(keys::add);
        assertEquals(List.of("results", "metric", "total_time", "total_time_str", "num_gpus", "snapshot_pkl",
            "timestamp"), keys);
        assertEquals(name, l.get("metric").asText());
        assertEquals(1, l.get("num_gpus").asInt());
        long images = 16L * (i + 1);
        String snap = String.format("network-snapshot-%09d.safetensors", images);
        assertEquals(snap, l.get("snapshot_pkl").asText());
        double value = l.at("/results/" + name).asDouble();
        assertTrue(Double.isFinite(value) && value > 0, lines.get(i));
        assertEquals(recompute(o, run.resolve(snap), name.startsWith("two") ? new double[] {0.821} : new double[0]),
            value, 1e-6 * value, name + " at " + images); // float32 convolutions differ slightly by batch size
      }
    }
    assertTrue(Files.readString(run.resolve("log.txt")).contains("two_step_fid "));
  }

  /** FID of 7 images (seeds 0..6) of a snapshot against the 40 training images, with the stand-in detector. */
  private static double recompute(TrainingOptions o, Path snapshot, double[] mids) throws Exception {
    try (ImageFolderDataset data = ImageFolderDataset.open(dir.resolve("images")); TensorScope s = TensorScope.open();
        FeatureNetwork det = TorchScriptDetector.load(dir.resolve("det.pt"), Device.CPU)) {
      RunObjective obj = RunObjective.create(o, (cfg, sEmb) -> Builders.network(cfg, 8, 3, sEmb), 0, Device.CPU);
      Module m = obj.model();
      m.loadStateDict(SafeTensors.loadAll(snapshot), true);
      m.eval();
      InTrainingEval ev = new InTrainingEval(o, obj, data, RunDirectory.of(dir), Device.CPU, 1, l -> {});
      Tensor x = ev.samples(m, 0, 7, mids);
      ImageSource gen = new ImageSource() {
        public long size() {
          return 7;
        }

        public void forEach(int batch, java.util.function.Consumer<Tensor> sink) {
          sink.accept(ImageSource.toUInt8(x));
        }
      };
      return Frechet.distance(Metrics.stats(det, gen, 7), Metrics.stats(det, ImageSource.dataset(data, 40), 40));
    }
  }

  @Test
  void formatTimeIsEdms() {
    assertEquals("0s", InTrainingEval.formatTime(0.4));
    assertEquals("2s", InTrainingEval.formatTime(2.5)); // numpy's rint: half to even
    assertEquals("59s", InTrainingEval.formatTime(59.2));
    assertEquals("1m 00s", InTrainingEval.formatTime(59.6));
    assertEquals("3m 07s", InTrainingEval.formatTime(187));
    assertEquals("2h 05m 09s", InTrainingEval.formatTime(2 * 3600 + 5 * 60 + 9));
    assertEquals("1d 02h 03m", InTrainingEval.formatTime(86400 + 2 * 3600 + 3 * 60 + 59));
  }

  /** Metric names: EDM's and ours, two_step_ needing sample_steps, files the metrics need, image vs point data. */
  @Test
  void badEvalOptionsNameTheProblem() throws Exception {
    OptionException e = assertThrows(OptionException.class,
        () -> options(Map.of("eval.metrics", "[\"fid50k\"]")));
    assertTrue(e.getMessage().contains("eval.metrics.0") && e.getMessage().contains("fid50k"), e.getMessage());
    e = assertThrows(OptionException.class,
        () -> options(Map.of("eval.metrics", "[\"two_step_fid\"]", "sample_steps", "[]")));
    assertTrue(e.getMessage().contains("sample_steps"), e.getMessage());
    assertEquals(new EvalOptions.Metric("two_step_fid50k_full", 2, "fid", 50_000), EvalOptions.parse("two_step_fid50k_full"));
    assertEquals(new EvalOptions.Metric("fd-fmnist", 1, "fd-fmnist", 10_000), EvalOptions.parse("fd-fmnist"));
    TrainingOptions noDetector = options(Map.of("eval.metrics", "[\"fid50k_full\"]"));
    try (ImageFolderDataset data = ImageFolderDataset.open(dir.resolve("images")); TensorScope s = TensorScope.open()) {
      RunObjective obj = RunObjective.create(noDetector, (cfg, sEmb) -> Builders.network(cfg, 8, 3, sEmb), 0,
          Device.CPU);
      e = assertThrows(OptionException.class,
          () -> new InTrainingEval(noDetector, obj, data, RunDirectory.of(dir), Device.CPU, 1, l -> {}));
      assertTrue(e.getMessage().contains("eval.detector") && e.getMessage().contains("fid50k_full"), e.getMessage());
      TrainingOptions swd = options(Map.of("eval.metrics", "[\"swd\"]"));
      e = assertThrows(OptionException.class,
          () -> new InTrainingEval(swd, obj, data, RunDirectory.of(dir), Device.CPU, 1, l -> {}));
      assertTrue(e.getMessage().contains("swd"), e.getMessage());
    }
  }
}
