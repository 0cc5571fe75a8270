package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.eval.FeatureNetwork;
import dev.cm4j.eval.FeatureStats;
import dev.cm4j.eval.GaussianStats;
import dev.cm4j.eval.ImageSource;
import dev.cm4j.eval.KernelDistance;
import dev.cm4j.eval.Metrics;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.TestDevice;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training, sampling, checkpoints and feature extraction with model and data on the test device
 * ({@link TestDevice}: not the CPU, refusing any operation that mixes its tensors with CPU tensors, as CUDA does, so a
 * stray CPU tensor fails with the operation's name). Each objective (ECT past its denoising stage, sCT with its JVP,
 * sCD, CTM with DSM, CD, CT, iCT) takes a full step through the Trainer, with its EMA and target updates, a snapshot
 * and a training state; the state resumes for a second step, the snapshot loads onto the device and samples in one and
 * two steps. The test device computes with the CPU's kernels and its generator produces the CPU generator's stream
 * for the same seed, so with the same seeds every result must equal the CPU run's: to 1e-6 here (the CPU run is
 * deterministic; the tolerance only covers kernels that may split work differently). No training step may make a
 * host round trip (the device library counts device-to-host copies, item() reads and waiting operations).
 */
class TestDeviceTrainingTest {
  @TempDir static Path dir;
  static Device device;

  @BeforeAll
  static void setUp() throws Exception {
    device = TestDevice.device();
    dev.cm4j.tensor.Torch.manualSeed(42);
    try (var t = new dev.cm4j.precond.EDMPrecond(new dev.cm4j.nn.MLPDenoiser(
        new dev.cm4j.nn.MLPDenoiser.Config(2, 32, 1, 32, 0, false)), 0.5, 0.002, 80,
        dev.cm4j.precond.EDMPrecond.Boundary.EDM); var s = TensorScope.open()) {
      TrainerObjectivesTest.teacher = dir.resolve("teacher.safetensors");
      SafeTensors.write(TrainerObjectivesTest.teacher, t.stateDict());
    }
  }

  /** One step (64 images) per run, a tick per step: each step ends with a snapshot and a state. */
  static Map<String, TrainingOptions> cases(double kimg) {
    Map<String, String> tick = Map.of("tick_kimg", "0.064", "snap_ticks", "1", "state_ticks", "1",
        "duration_kimg", Double.toString(kimg));
    Map<String, TrainingOptions> runs = new LinkedHashMap<>();
    runs.put("ect", TrainerTest.toy(kimg, "ect").with(Map.of("objective.denoise_kimg", "0", "clip_grad_norm", "1")));
    runs.put("sct", TrainerTest.toy(kimg, "sct"));
    runs.put("ict", TrainerTest.toy(kimg, "ect").with(Map.of("objective", "{\"kind\": \"ict\"}")));
    for (String k : List.of("scd", "cd", "ct", "ctm")) runs.put(k, TrainerObjectivesTest.forKind(k, kimg));
    runs.put("ctm", runs.get("ctm").with(Map.of("objective.dsm", "true")));
    runs.replaceAll((k, o) -> o.with(tick));
    return runs;
  }

  /** What a run leaves: the trained weights, the EMA snapshot's weights, and samples of the snapshot on the device. */
  record Outcome(Path runDir, Map<String, float[]> weights, Map<String, float[]> snapshot, float[] oneStep,
      float[] twoStep) {}

  static TrainingOptions on(TrainingOptions o, Device d) {
    return o.with(Map.of("device", d.toString()));
  }

  /** The reads of the device inside each step, as the device library names them. */
  static Trainer.StepListener syncCounter(List<String> syncs) {
    return new Trainer.StepListener() {
      @Override
      public void beforeStep(long iteration, long images) {
        TestDevice.resetCounters();
      }

      @Override
      public void afterStep(long iteration, long images, Tensor loss) {
        long n = TestDevice.hostSyncs();
        if (n != 0) syncs.add("step " + iteration + ": " + n + " host round trips, last " + TestDevice.lastSync());
      }
    };
  }

  static Map<String, float[]> floats(Map<String, Tensor> sd) {
    Map<String, float[]> m = new LinkedHashMap<>();
    for (var e : sd.entrySet()) m.put(e.getKey(), e.getValue().to(DType.FLOAT32).toFloatArray());
    return m;
  }

  static Outcome outcome(Trainer t, Path runDir, Device d, double mid) throws Exception {
    try (TensorScope s = TensorScope.open()) {
      Map<String, float[]> w = floats(t.model().stateDict());
      for (Tensor p : t.model().stateDict().values()) assertEquals(d, p.device(), "the model lives on " + d);
      Path snap;
      try (var f = Files.list(runDir)) {
        snap = f.filter(p -> p.getFileName().toString().matches("network-snapshot-\\d+\\.safetensors")).sorted()
            .reduce((a, b) -> b).orElseThrow();
      }
      Map<String, float[]> sn;
      try (SafeTensorFile f = SafeTensors.read(snap)) { // device-independent: read on the CPU
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (String n : f.names()) m.put(n, f.tensor(n));
        sn = floats(m);
      }
      float[] one;
      float[] two;
      try (Snapshot sp = Snapshot.load(snap, d)) {
        Tensor a = sp.sample(32, new double[0], 11);
        Tensor b = sp.sample(32, new double[] {mid}, 11);
        assertEquals(d, a.device());
        one = a.toFloatArray();
        two = b.toFloatArray();
      }
      return new Outcome(runDir, w, sn, one, two);
    }
  }

  /**
   * Runs o on the CPU and on the test device: weights after the run, the EMA snapshot and the 1- and 2-step samples
   * (2-step at mid) agree to 1e-6, no host round trip happens inside a step, and (checkMoved) the run moved the
   * weights away from their initial values, so the comparison is of trained steps.
   */
  static void assertStepOnTestDeviceEqualsCpu(TrainingOptions o, Path dir, double mid, boolean checkMoved)
      throws Exception {
    Device device = TestDevice.device();
    Outcome cpu;
    Outcome dev;
    List<String> syncs = new ArrayList<>();
    try (Trainer t = Trainer.start(on(o, Device.CPU), dir.resolve("cpu"), TrainerTest.QUIET)) {
      cpu = outcome(t, t.run().runDir(), Device.CPU, mid);
    }
    try (Trainer t = Trainer.start(on(o, device), dir.resolve("dev"), TrainerTest.QUIET)) {
      t.setStepListener(syncCounter(syncs));
      dev = outcome(t, t.run().runDir(), device, mid);
    }
    assertClose(cpu.weights(), dev.weights(), "weights after a step");
    assertClose(cpu.snapshot(), dev.snapshot(), "EMA snapshot");
    assertClose(cpu.oneStep(), dev.oneStep(), "1-step samples");
    assertClose(cpu.twoStep(), dev.twoStep(), "2-step samples");
    if (checkMoved) {
      Map<String, float[]> init = new LinkedHashMap<>();
      try (Trainer t = Trainer.start(on(o.with(Map.of("duration_kimg", "0.001")), Device.CPU), dir.resolve("init"),
          TrainerTest.QUIET); TensorScope s = TensorScope.open()) {
        init.putAll(floats(t.model().stateDict()));
      }
      double moved = 0;
      for (var e : init.entrySet()) {
        float[] a = e.getValue();
        float[] b = cpu.weights().get(e.getKey());
        for (int i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i] - b[i]));
      }
      assertTrue(moved > 1e-6, "the step moved the weights by " + moved);
    }
    assertEquals(List.of(), syncs, "host round trips inside the training step");
  }

  static void assertClose(Map<String, float[]> cpu, Map<String, float[]> dev, String what) {
    assertEquals(cpu.keySet(), dev.keySet(), what);
    for (var e : cpu.entrySet()) assertClose(e.getValue(), dev.get(e.getKey()), what + " " + e.getKey());
  }

  static void assertClose(float[] cpu, float[] dev, String what) {
    assertEquals(cpu.length, dev.length, what);
    for (int i = 0; i < cpu.length; i++) {
      assertEquals(cpu[i], dev[i], 1e-6 * Math.max(1, Math.abs(cpu[i])), what + " [" + i + "]");
    }
  }

  @Test
  void everyObjectiveTrainsSamplesAndResumesOnTheTestDeviceAsOnTheCpu() throws Exception {
    Map<String, TrainingOptions> one = cases(0.064);
    List<String> syncs = new ArrayList<>();
    for (var e : one.entrySet()) {
      String kind = e.getKey();
      double mid = kind.equals("sct") || kind.equals("scd") ? 0.8 : 0.821;
      Outcome cpu;
      Outcome dev;
      try (Trainer t = Trainer.start(on(e.getValue(), Device.CPU), dir.resolve("cpu-" + kind), TrainerTest.QUIET)) {
        Path r = t.run().runDir();
        cpu = outcome(t, r, Device.CPU, mid);
      }
      try (Trainer t = Trainer.start(on(e.getValue(), device), dir.resolve("dev-" + kind), TrainerTest.QUIET)) {
        List<String> mine = new ArrayList<>();
        t.setStepListener(syncCounter(mine));
        Path r = t.run().runDir();
        for (String s : mine) syncs.add(kind + " " + s);
        dev = outcome(t, r, device, mid);
      }
      assertClose(cpu.weights(), dev.weights(), kind + " weights after a step");
      assertClose(cpu.snapshot(), dev.snapshot(), kind + " EMA snapshot");
      assertClose(cpu.oneStep(), dev.oneStep(), kind + " 1-step samples");
      assertClose(cpu.twoStep(), dev.twoStep(), kind + " 2-step samples");
      // resume both runs from their states for a second step (target networks, EMA, optimizer and random streams
      // come back from the state on the device)
      Map<String, float[]> resumed = new LinkedHashMap<>();
      for (Outcome o : List.of(cpu, dev)) {
        Path of = o.runDir().resolve("training_options.json");
        Files.writeString(of, TrainingOptions.read(of).with(Map.of("duration_kimg", "0.128")).toJson());
        try (Trainer t = Trainer.resume(o.runDir(), TrainerTest.QUIET); TensorScope s = TensorScope.open()) {
          if (o == dev) {
            List<String> mine = new ArrayList<>();
            t.setStepListener(syncCounter(mine));
            t.run();
            for (String x : mine) syncs.add(kind + " resumed " + x);
            assertClose(resumed, floats(t.model().stateDict()), kind + " weights after the resumed step");
          } else {
            t.run();
            resumed.putAll(floats(t.model().stateDict()));
          }
        }
      }
    }
    assertEquals(List.of(), syncs, "host round trips inside training steps");
  }

  @Test
  void resumeOnTheSameDeviceTypeIsBitExact() throws Exception {
    TrainingOptions o = on(cases(0.128).get("ctm"), device);
    Map<String, float[]> full;
    try (Trainer t = Trainer.start(o, dir.resolve("full"), TrainerTest.QUIET); TensorScope s = TensorScope.open()) {
      t.run();
      full = floats(t.model().stateDict());
    }
    Path half;
    try (Trainer t = Trainer.start(on(cases(0.064).get("ctm"), device), dir.resolve("half"), TrainerTest.QUIET)) {
      half = t.run().runDir();
    }
    Path of = half.resolve("training_options.json");
    Files.writeString(of, TrainingOptions.read(of).with(Map.of("duration_kimg", "0.128")).toJson());
    try (Trainer t = Trainer.resume(half, TrainerTest.QUIET); TensorScope s = TensorScope.open()) {
      t.run();
      Map<String, float[]> r = floats(t.model().stateDict());
      for (var e : full.entrySet()) assertArrayEquals(e.getValue(), r.get(e.getKey()), 0f, e.getKey());
    }
    String log = Files.readString(half.resolve("log.txt"));
    assertFalse(log.contains("random streams"), "same device type: no note\n" + log);
  }

  @Test
  void aStateMovesBetweenTheDeviceAndTheCpuWithANote() throws Exception {
    for (Device[] pair : new Device[][] {{device, Device.CPU}, {Device.CPU, device}}) {
      TrainingOptions o = on(cases(0.064).get("ect"), pair[0]);
      Path run;
      Map<String, float[]> written;
      try (Trainer t = Trainer.start(o, dir.resolve("move-" + pair[0].type()), TrainerTest.QUIET);
          TensorScope s = TensorScope.open()) {
        run = t.run().runDir();
        written = floats(t.model().stateDict());
      }
      TrainingOptions moved = on(TrainingOptions.read(run.resolve("training_options.json")), pair[1])
          .with(Map.of("duration_kimg", "0.128"));
      try (Trainer t = Trainer.resume(moved, run, TrainerTest.QUIET); TensorScope s = TensorScope.open()) {
        for (Tensor p : t.model().stateDict().values()) assertEquals(pair[1], p.device());
        assertClose(written, floats(t.model().stateDict()), "weights moved " + pair[0] + " -> " + pair[1]);
        t.run();
      }
      String log = Files.readString(run.resolve("log.txt"));
      String from = TrainingState.typeName(pair[0]);
      String to = TrainingState.typeName(pair[1]);
      assertTrue(log.contains("was written on " + from + " and resumes on " + to) && log.contains("random streams"),
          log);
    }
  }

  @Test
  void mixedPrecisionAndTheSkipGuardRunOnTheDevice() throws Exception {
    // bf16 autocast keeps the step free of host reads; fp16 (the scaler's found-inf flag) and nan_guard skip (the
    // step's loss) decide on the device whether the step applies (masked optimizer/EMA updates), so no read either
    Map<String, Long> allowed = Map.of("bf16", 0L, "fp16", 0L, "skip", 0L);
    for (var e : allowed.entrySet()) {
      TrainingOptions o = on(cases(0.128).get("sct"), device).with(e.getKey().equals("skip")
          ? Map.of("nan_guard", "skip") : Map.of("precision", e.getKey()));
      List<Long> perStep = new ArrayList<>();
      try (Trainer t = Trainer.start(o, dir.resolve("prec-" + e.getKey()), TrainerTest.QUIET)) {
        t.setStepListener(new Trainer.StepListener() {
          @Override
          public void beforeStep(long iteration, long images) {
            TestDevice.resetCounters();
          }

          @Override
          public void afterStep(long iteration, long images, Tensor loss) {
            perStep.add(TestDevice.hostSyncs());
          }
        });
        Trainer.Result r = t.run();
        assertEquals(2, r.iterations(), e.getKey());
        assertTrue(Double.isFinite(r.lastLoss()), e.getKey() + " loss " + r.lastLoss());
      }
      for (long n : perStep) assertTrue(n <= e.getValue(), e.getKey() + ": host round trips per step " + perStep);
    }
  }

  /** A stand-in detector: uint8 images → tanh of a fixed random projection, computed where the images are. */
  static final class StandIn implements FeatureNetwork {
    final Tensor w;

    StandIn(Device d) {
      try (Generator g = Generator.cpu(3)) {
        w = TensorScope.release(Tensor.randn(new long[] {12, 3 * 8 * 8}, DType.FLOAT32, Device.CPU, g).to(d));
      }
    }

    @Override
    public Tensor features(Tensor images) {
      Tensor x = images.to(w.device()).to(DType.FLOAT32).div(127.5).sub(1.0).flatten(1, -1);
      return x.matmul(w.transpose(0, 1)).mul(0.1).tanh();
    }

    @Override
    public String name() {
      return "stand-in";
    }

    @Override
    public void close() {
      w.close();
    }
  }

  static ImageSource images(long seed) {
    return new ImageSource() {
      public long size() {
        return 96;
      }

      public void forEach(int batch, Consumer<Tensor> sink) {
        try (Generator g = Generator.cpu(seed)) {
          for (int i = 0; i < 96; i += batch) {
            try (TensorScope s = TensorScope.open()) {
              sink.accept(Tensor.randint(0, 256, new long[] {Math.min(batch, 96 - i), 3, 8, 8}, DType.UINT8,
                  Device.CPU, g));
            }
          }
        }
      }
    };
  }

  @Test
  void fidAndKidFeaturesOnTheTestDeviceEqualTheCpus() {
    try (TensorScope s = TensorScope.open(); StandIn cpuNet = new StandIn(Device.CPU);
        StandIn devNet = new StandIn(device)) {
      GaussianStats a = Metrics.stats(cpuNet, images(5), 32);
      GaussianStats b = Metrics.stats(devNet, images(5), 32);
      assertEquals(96, b.count());
      for (int i = 0; i < a.mu().length; i++) assertEquals(a.mu()[i], b.mu()[i], 1e-6, "mu " + i);
      for (int i = 0; i < a.sigma().length; i++) assertEquals(a.sigma()[i], b.sigma()[i], 1e-6, "sigma " + i);
      Tensor fc = Metrics.features(cpuNet, images(5), 32);
      Tensor fd = Metrics.features(devNet, images(5), 32);
      Tensor gc = Metrics.features(cpuNet, images(6), 32);
      Tensor gd = Metrics.features(devNet, images(6), 32);
      assertEquals(KernelDistance.kid(fc, gc, 10, 50, 1), KernelDistance.kid(fd, gd, 10, 50, 1), 1e-6);
    }
  }

  @Test
  void aTorchScriptDetectorLoadsOntoTheTestDeviceAndMatchesTheCpu() {
    String py = """
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
                return self.fc(h)
        torch.jit.script(Det().eval()).save(sys.argv[1])
        """;
    Path det = dir.resolve("det.pt");
    dev.cm4j.testing.PythonRef.run(py, det.toString());
    try (TensorScope s = TensorScope.open();
        dev.cm4j.eval.TorchScriptDetector c = dev.cm4j.eval.TorchScriptDetector.load(det, Device.CPU);
        dev.cm4j.eval.TorchScriptDetector d = dev.cm4j.eval.TorchScriptDetector.load(det, device)) {
      GaussianStats a = Metrics.stats(c, images(8), 32);
      GaussianStats b = Metrics.stats(d, images(8), 32);
      for (int i = 0; i < a.mu().length; i++) assertEquals(a.mu()[i], b.mu()[i], 1e-6, "mu " + i);
      for (int i = 0; i < a.sigma().length; i++) assertEquals(a.sigma()[i], b.sigma()[i], 1e-6, "sigma " + i);
    }
  }
}
