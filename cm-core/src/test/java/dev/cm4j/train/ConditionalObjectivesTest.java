package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.data.ClassGaussians;
import dev.cm4j.data.Dataset;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Module;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.sampling.ClassLabels;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Class conditioning of every objective on tiny labelled 8×8 images with a class-conditional SongUNet: the loss (its
 * student, target and teacher calls) and the sampler read the labels, and options.cond resolves network.label_dim
 * from the data with clear errors.
 */
class ConditionalObjectivesTest {
  static final int C = 3;
  static final int RES = 8;

  static final String NET = "{\"arch\": \"ddpmpp\", \"model_channels\": 16, \"channel_mult\": [1], \"num_blocks\": 1,"
      + " \"attn_resolutions\": [], \"dropout\": 0, \"label_dim\": " + C + "}";

  static TrainingOptions opts(String kind, Path teacher) {
    String t = teacher == null ? "" : ", \"teacher\": \"" + teacher + "\"";
    String[] oc = switch (kind) {
      case "ect" -> new String[] {"{\"kind\": \"ect\"}", "{\"sigma_data\": 0.5, \"sigma_min\": 0.002, \"sigma_max\": 80}"};
      case "sct" -> new String[] {"{\"kind\": \"sct\"}", "{\"sigma_data\": 0.5, \"sigma_max\": 80}"};
      case "scd" -> new String[] {"{\"kind\": \"scd\"" + t + ", \"warmup_iterations\": 2, \"init_from_teacher\": false}",
          "{\"sigma_data\": 0.5, \"sigma_max\": 80, \"time_label\": \"edm\"}"};
      case "ict" -> new String[] {"{\"kind\": \"ict\", \"total_iterations\": 100}",
          "{\"sigma_data\": 0.5, \"sigma_min\": 0.002, \"sigma_max\": 80}"};
      case "ct" -> new String[] {"{\"kind\": \"ct\", \"total_iterations\": 100}",
          "{\"sigma_data\": 0.5, \"sigma_min\": 0.002, \"sigma_max\": 80}"};
      case "cd" -> new String[] {"{\"kind\": \"cd\"" + t + ", \"total_iterations\": 100}",
          "{\"sigma_data\": 0.5, \"sigma_min\": 0.002, \"sigma_max\": 80}"};
      default -> new String[] {"{\"kind\": \"ctm\"" + t + ", \"num_levels\": 6, \"max_heun_steps\": 2}",
          "{\"sigma_data\": 0.5, \"sigma_min\": 0.002, \"sigma_max\": 80}"};
    };
    return TrainingOptions.fromJson("{\"network\": " + NET + ", \"objective\": " + oc[0] + ", \"precond\": " + oc[1]
        + ", \"optimizer\": {\"kind\": \"adam\", \"lr\": 1e-4}, \"data\": {\"kind\": \"cifar10\", \"path\": \"unused\"},"
        + " \"cond\": true, \"batch\": 4, \"duration_kimg\": 1}");
  }

  static RunObjective create(TrainingOptions o) {
    Torch.manualSeed(3);
    RunObjective r = RunObjective.create(o, (cfg, s) -> Builders.network(cfg, RES, 3, s), 11, Device.CPU);
    perturb(r.model());
    return r;
  }

  /**
   * Adds the same small noise to every parameter: EDM's zero-initialised output layers make a fresh network's output
   * independent of its input and labels.
   */
  static void perturb(Module m) {
    try (dev.cm4j.tensor.GradMode gm = dev.cm4j.tensor.GradMode.noGrad(); TensorScope s = TensorScope.open();
        Generator g = Generator.create(Device.CPU, 5)) {
      for (var e : m.namedParameters().entrySet()) {
        Tensor p = e.getValue().get();
        p.add_(Tensor.randn(p.shape(), p.dtype(), Device.CPU, g).mul(0.05));
      }
    }
  }

  static Tensor oneHot(int... k) {
    return ClassLabels.oneHot(k, C, Device.CPU);
  }

  /** One training step: the loss and the gradient, all parameters' gradients flattened in state-dict order. */
  record Step(double loss, double[] grad) {
    double maxAbs() {
      return java.util.Arrays.stream(grad).map(Math::abs).max().orElse(0);
    }

    double maxDiff(Step o) {
      double d = 0;
      for (int i = 0; i < grad.length; i++) d = Math.max(d, Math.abs(grad[i] - o.grad[i]));
      return d;
    }
  }

  static Step step(RunObjective obj, Tensor x, Tensor labels) {
    try (StepStats st = new StepStats()) {
      Tensor l = obj.loss(x, labels, 5, 5 * 4, st).mean();
      l.backward();
      java.util.List<Double> g = new java.util.ArrayList<>();
      for (var e : obj.model().namedParameters().entrySet()) {
        Tensor gr = e.getValue().get().grad();
        if (gr != null) for (float v : gr.toFloatArray()) g.add((double) v);
      }
      return new Step(l.item(), g.stream().mapToDouble(Double::doubleValue).toArray());
    }
  }

  @Test
  void everyObjectiveFeedsTheLabelsToItsLossAndSampler(@TempDir Path dir) throws Exception {
    Path teacher = dir.resolve("teacher.safetensors");
    try (TensorScope s = TensorScope.open()) {
      TrainingOptions o = opts("ect", null);
      Torch.manualSeed(9);
      try (EDMPrecond t = new EDMPrecond(RunObjective.asNet(Builders.network(o.network(), RES, 3, false)), 0.5, 0.002,
          80, EDMPrecond.Boundary.EDM)) {
        perturb(t);
        SafeTensors.write(teacher, t.stateDict());
      }
    }
    for (String kind : List.of("ect", "sct", "scd", "ict", "ct", "cd", "ctm")) {
      try (TensorScope s = TensorScope.open(); Generator g = Generator.create(Device.CPU, 4)) {
        Tensor x = Tensor.rand(new long[] {4, 3, RES, RES}, DType.FLOAT32, Device.CPU, g).mul(2).sub(1);
        Tensor a = oneHot(0, 1, 2, 0);
        Tensor b = oneHot(2, 0, 1, 1);
        TrainingOptions o = opts(kind, teacher);
        RunObjective r1 = create(o);
        RunObjective r2 = create(o);
        RunObjective r3 = create(o);
        assertEquals(C, r1.labelDim, kind);
        Step la = step(r1, x, a);
        Step la2 = step(r2, x, a);
        Step lb = step(r3, x, b);
        assertEquals(la.loss(), la2.loss(), 1e-6 * Math.abs(la.loss()), kind + ": the same labels give the same loss");
        assertTrue(la.maxAbs() > 0, kind + ": a gradient");
        assertTrue(la.maxDiff(la2) <= 1e-6 * la.maxAbs(), kind + ": the same labels give the same gradient");
        assertTrue(la.maxDiff(lb) > 1e-3 * la.maxAbs(), kind + ": other labels change the gradient (max difference "
            + la.maxDiff(lb) + " of " + la.maxAbs() + ")");
        if (!kind.startsWith("sc")) { // sCT/sCD's loss value is the normalised tangent's size, by design nearly constant
          assertTrue(Math.abs(la.loss() - lb.loss()) > 1e-6 * Math.abs(la.loss()), kind + ": other labels change the "
              + "loss (" + la.loss() + ")");
        }

        Module m = r1.model();
        m.eval();
        Tensor z = Tensor.randn(new long[] {4, 3, RES, RES}, DType.FLOAT32, Device.CPU, g);
        g.setSeed(1);
        float[] sa = r1.sample(m, z, new double[] {1.0}, a, 1, null, g).toFloatArray();
        g.setSeed(1);
        float[] sa2 = r1.sample(m, z, new double[] {1.0}, a, 1, null, g).toFloatArray();
        g.setSeed(1);
        float[] sb = r1.sample(m, z, new double[] {1.0}, b, 1, null, g).toFloatArray();
        assertArrayEquals(sa, sa2, 0f, kind);
        assertFalse(java.util.Arrays.equals(sa, sb), kind + ": the sampler reads the labels");
        g.setSeed(1);
        float[] guided = r1.sample(m, z, new double[0], a, 2, null, g).toFloatArray();
        g.setSeed(1);
        float[] plain = r1.sample(m, z, new double[0], a, 1, null, g).toFloatArray();
        g.setSeed(1);
        float[] uncond = r1.sample(m, z, new double[0], a.zerosLike(), 1, null, g).toFloatArray();
        for (int i = 0; i < plain.length; i += 37) { // w = 2: 2·D(c) − D(∅)
          assertEquals(2 * plain[i] - uncond[i], guided[i], 1e-4 * (1 + Math.abs(guided[i])), kind + " element " + i);
        }
        r1.model().close();
        r2.model().close();
        r3.model().close();
      }
    }
  }

  @Test
  void aLabelledImageFolderTrainsAndSamplesConditionally(@TempDir Path dir) throws Exception {
    Path data = java.nio.file.Files.createDirectories(dir.resolve("data"));
    StringBuilder json = new StringBuilder("{\"labels\": [");
    java.util.Random rnd = new java.util.Random(1);
    for (int i = 0; i < 12; i++) {
      byte[] px = new byte[3 * RES * RES];
      rnd.nextBytes(px);
      dev.cm4j.image.Png.write(new dev.cm4j.image.UInt8Image(3, RES, RES, px), data.resolve("img" + i + ".png"));
      json.append(i == 0 ? "" : ", ").append("[\"img").append(i).append(".png\", ").append(i % C).append("]");
    }
    java.nio.file.Files.writeString(data.resolve("dataset.json"), json.append("]}").toString());
    TrainingOptions o = opts("ect", null).with(Map.of("network.label_dim", "0", "network.label_dropout", "0.1",
        "data", "{\"kind\": \"folder\", \"path\": \"" + data + "\", \"grid\": 6}", "duration_kimg", "0.008",
        "tick_kimg", "0.004", "snap_ticks", "1", "state_ticks", "1"));
    Path run;
    try (Trainer t = Trainer.start(o, dir.resolve("runs"), TrainerTest.QUIET)) {
      assertEquals(2, t.run().iterations());
      run = t.runDir();
    }
    assertEquals(C, TrainingOptions.read(run.resolve("training_options.json")).tree().path("network").path("label_dim")
        .asInt());
    Path snap;
    try (var f = java.nio.file.Files.list(run)) {
      snap = f.filter(p -> p.getFileName().toString().startsWith("network-snapshot-")).sorted().reduce((a, b) -> b)
          .orElseThrow();
    }
    try (Snapshot s = Snapshot.load(snap); TensorScope sc = TensorScope.open()) {
      assertEquals(C, s.labelDim());
      assertArrayEquals(new int[] {0, 1, 2, 0, 1}, s.classes(0, 5, 0), "balanced by default");
      s.setSampling(ClassLabels.of(2), 1, null);
      assertArrayEquals(new long[] {5, 3, RES, RES}, s.sample(5, new double[0], 1).shape());
      // EDM's per-image seeds: image i's latent, class and re-noising come from seed + i, whatever the batching
      s.setSampling(ClassLabels.RANDOM, 1, null);
      double[] mids = {0.5};
      float[] whole = s.sample(7, mids, 3).toFloatArray();
      float[] split = Tensor.cat(java.util.List.of(s.sample(4, mids, 3, 0), s.sample(3, mids, 3, 4)), 0).toFloatArray();
      assertArrayEquals(whole, split, 1e-5f, "batches of 4 + 3 give the batch of 7 (to the convolutions' rounding)");
      int[] k = s.classes(0, 7, 3);
      assertArrayEquals(k, java.util.stream.IntStream.concat(java.util.Arrays.stream(s.classes(0, 4, 3)),
          java.util.Arrays.stream(s.classes(4, 3, 3))).toArray());
      int per = 3 * RES * RES;
      for (int i = 0; i < 7; i++) { // image i alone with its drawn class as a fixed class: the same image
        s.setSampling(ClassLabels.of(k[i]), 1, null);
        float[] one = s.sample(1, mids, 3, i).toFloatArray();
        assertArrayEquals(one, java.util.Arrays.copyOfRange(whole, i * per, (i + 1) * per), 1e-5f, "image " + i);
      }
      s.setSampling(null, 1.5, null); // trained with label dropout: classifier-free guidance allowed
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> s.setSampling(ClassLabels.of(C), 1, null));
      assertTrue(e.getMessage().contains("class " + C + " does not exist"), e.getMessage());
    }
  }

  @Test
  void condResolvesLabelDimFromTheDataWithClearErrors() {
    Dataset labelled = new ClassGaussians(4, 2, 0.2).dataset(100, 1, 1);
    TrainingOptions toy = Presets.get("toy2d-ect").with(Map.of("cond", "true"));
    assertFalse(Presets.get("toy2d-ect").cond(), "cond defaults to false");
    assertEquals(4, Trainer.conditioned(toy, labelled).tree().path("network").path("label_dim").asInt());
    assertEquals(4, Trainer.conditioned(toy.with(Map.of("network.label_dim", "4")), labelled).tree().path("network")
        .path("label_dim").asInt());
    OptionException mismatch = assertThrows(OptionException.class,
        () -> Trainer.conditioned(toy.with(Map.of("network.label_dim", "7")), labelled));
    assertEquals("network.label_dim", mismatch.key());
    assertTrue(mismatch.getMessage().contains("7") && mismatch.getMessage().contains("4 classes"), mismatch.getMessage());
    OptionException unlabelled = assertThrows(OptionException.class,
        () -> Trainer.conditioned(toy, toy.data().open(true)));
    assertEquals("cond", unlabelled.key());
    assertTrue(unlabelled.getMessage().contains("eight-gaussians") && unlabelled.getMessage().contains("no labels"),
        unlabelled.getMessage());
    OptionException noCond = assertThrows(OptionException.class, () -> Trainer.conditioned(
        Presets.get("toy2d-ect").with(Map.of("network.label_dim", "4")), labelled));
    assertEquals("network.label_dim", noCond.key());
    // without cond the options are untouched, labelled data or not
    TrainingOptions plain = Presets.get("toy2d-ect");
    assertSame(plain, Trainer.conditioned(plain, labelled));
  }

  @Test
  void optionsFilesWithoutCondLoadUnconditional() throws Exception {
    for (String f : List.of("v0-cifar10-ect.json", "v0-toy2d-sct.json")) {
      try (var in = getClass().getResourceAsStream("/options/" + f)) {
        TrainingOptions o = TrainingOptions.fromJson(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
        assertFalse(o.cond(), f);
        assertTrue(o.toJson().contains("\"cond\" : false"), f);
      }
    }
  }
}
