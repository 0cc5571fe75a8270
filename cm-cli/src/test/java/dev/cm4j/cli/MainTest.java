package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Torch;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
  record Out(int code, String out, String err) {}

  static Out run(String... args) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int code = Main.run(args, new PrintStream(o, true, StandardCharsets.UTF_8), new PrintStream(e, true, StandardCharsets.UTF_8));
    return new Out(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
  }

  /**
   * The structure of {@code cm info}, on any machine: each line present once, the libtorch version the loaded
   * library reports, and the CUDA and device lines consistent with what libtorch says about CUDA here.
   */
  @Test
  void infoPrintsVersionsDevicesAndThreads() {
    Out r = run("info");
    assertEquals(0, r.code(), r.err());
    Map<String, String> lines = new LinkedHashMap<>();
    for (String l : r.out().split("\n")) {
      Matcher m = Pattern.compile("(\\w+) +(.+)").matcher(l);
      assertTrue(m.matches(), () -> "not a 'name  value' line: '" + l + "'");
      if (!m.group(1).equals("build") && !m.group(1).equals("gpu")) assertNull(lines.put(m.group(1), m.group(2)), () -> "twice: " + l);
    }
    assertEquals(List.of("cm4j", "libtorch", "native", "java", "threads", "allocator", "cuda", "devices"),
        List.copyOf(lines.keySet()), r.out());
    assertTrue(lines.get("cm4j").matches("\\S+ \\(C API \\d+\\)"), r.out());
    assertTrue(lines.get("libtorch").startsWith(Torch.libtorchVersion() + " ("), r.out());
    assertTrue(lines.get("threads").matches("intra-op [1-9]\\d*, inter-op [1-9]\\d*"), r.out());
    assertTrue(lines.get("allocator").startsWith("cm4j caching (blocks >= 256 KiB"), r.out());
    if (Torch.cudaIsAvailable()) {
      int n = Torch.cudaDeviceCount();
      assertTrue(n > 0, "CUDA available with no device");
      assertEquals(n + " device(s)", lines.get("cuda"), r.out());
      assertEquals("cpu, cuda:0.." + (n - 1), lines.get("devices"), r.out());
      for (int i = 0; i < n; i++) {
        assertTrue(r.out().contains("\ngpu         cuda:" + i + "  "), r.out());
      }
    } else {
      assertEquals(Main.cudaBuild(Torch.buildConfig()) ? "not available (CUDA build of libtorch, but no GPU visible)"
          : "not available (CPU build of libtorch)", lines.get("cuda"), r.out());
      assertEquals("cpu", lines.get("devices"), r.out());
      assertFalse(r.out().contains("\ngpu "), r.out());
    }
  }

  /** On this CPU build of libtorch: the exact cuda and devices lines, and no gpu line. */
  @Test
  void infoOnACpuBuildSaysSo() {
    org.junit.jupiter.api.Assumptions.assumeFalse(Main.cudaBuild(Torch.buildConfig()), "a CUDA build of libtorch");
    Out r = run("info");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("\ncuda        not available (CPU build of libtorch)\ndevices     cpu\n"), r.out());
    assertFalse(r.out().contains("gpu"), r.out());
  }

  @Test
  void cudaBuildAndGpuLinesFormatLibtorchsFacts() {
    assertFalse(Main.cudaBuild("Build settings: BLAS_INFO=mkl, TORCH_VERSION=2.13.0, USE_CUDA=0, USE_CUDNN=OFF"));
    assertFalse(Main.cudaBuild("USE_CUDA=OFF, USE_NCCL=OFF"));
    assertTrue(Main.cudaBuild("CUDA_VERSION=13.0, USE_CUDA=ON, USE_CUDNN=ON"));
    assertTrue(Main.cudaBuild("USE_CUDA=1,"));
    assertFalse(Main.cudaBuild("no settings"));
    assertEquals("2 device(s)", Main.cudaLine(2, "USE_CUDA=ON"));
    assertEquals("not available (CPU build of libtorch)", Main.cudaLine(0, "USE_CUDA=0"));
    assertEquals("not available (CUDA build of libtorch, but no GPU visible)", Main.cudaLine(0, "USE_CUDA=ON"));
    assertEquals("cuda:1  NVIDIA H100 80GB HBM3, 79.2 GiB, capability 9.0",
        Main.gpuLine(new Main.Gpu(1, "NVIDIA H100 80GB HBM3", 85_045_870_592L, 9, 0)));
    assertEquals("cuda:0  (name, memory and capability not readable in this build)",
        Main.gpuLine(new Main.Gpu(0, null, -1, -1, -1)));
  }

  @Test
  void deviceFlagErrorsAreOneLine() {
    Out bad = run("train", "--preset", "toy2d-ect", "--device", "cdua", "-n");
    assertEquals(2, bad.code());
    assertEquals("cm train: --device: bad device 'cdua' (expected auto, cpu, cuda or cuda:N) (try 'cm train --help')",
        bad.err().strip());
    Out sample = run("sample", "--snapshot", "x.safetensors", "--device", "gpu0");
    assertEquals(2, sample.code());
    assertEquals(1, sample.err().strip().lines().count(), sample.err());
    assertTrue(sample.err().contains("--device: bad device 'gpu0'"), sample.err());
    Out eval = run("eval", "--images", "x.npz", "--device", "cuda:x");
    assertEquals(2, eval.code());
    assertTrue(eval.err().contains("--device: bad device 'cuda:x'"), eval.err());
    Out nproc = run("train", "--preset", "toy2d-ect", "--nproc-per-node", "two");
    assertEquals(2, nproc.code());
    assertTrue(nproc.err().contains("--nproc-per-node: not an integer: 'two'"), nproc.err());
    if (DeviceSpec.cudaCount() == 0) {
      Out cuda = run("sample", "--snapshot", "x.safetensors", "--device", "cuda:1");
      assertEquals(1, cuda.code());
      assertEquals("cm sample: --device cuda:1: CUDA is not available here (CPU build of libtorch, or no GPU visible); "
          + "use --device cpu or auto", cuda.err().strip());
    }
  }

  @Test
  void trainHelpNamesTheDeviceAndCudaFlags() {
    Out r = run("train", "--help");
    assertEquals(0, r.code(), r.err());
    for (String f : new String[] {"--device", "--tf32", "--bench", "--channels-last", "--nproc-per-node"}) {
      assertTrue(r.out().contains(f), f + " missing:\n" + r.out());
    }
    assertTrue(r.out().contains("one per visible GPU"), r.out());
  }

  @Test
  void cudaSwitchesAreDescribedAndNotedOffCuda() {
    CudaSwitches all = new CudaSwitches(true, true, true);
    assertEquals("--tf32 --bench --channels-last", all.describe());
    assertEquals("none", CudaSwitches.NONE.describe());
    assertEquals("--tf32 and --bench have no effect on cpu (CUDA only)", all.noteFor(dev.cm4j.tensor.Device.CPU));
    assertEquals("--bench has no effect on cpu (CUDA only)",
        new CudaSwitches(false, true, false).noteFor(dev.cm4j.tensor.Device.CPU));
    assertNull(new CudaSwitches(false, false, true).noteFor(dev.cm4j.tensor.Device.CPU));
    assertNull(all.noteFor(dev.cm4j.tensor.Device.cuda(0)));
    assertEquals(java.util.Map.of(), CudaSwitches.NONE.overrides());
    assertEquals(java.util.Map.of("channels_last", "true"), all.overrides());
  }

  /** --channels-last sets the training option channels_last (it is false without the flag). */
  @Test
  void channelsLastBecomesTheTrainingOption() throws Exception {
    Out with = run("train", "--preset", "toy2d-ect", "--channels-last", "--dry-run");
    assertEquals(0, with.code(), with.err());
    assertTrue(with.out().contains("\"channels_last\" : true"), with.out());
    Out without = run("train", "--preset", "toy2d-ect", "--dry-run");
    assertEquals(0, without.code(), without.err());
    assertTrue(without.out().contains("\"channels_last\" : false"), without.out());
  }

  /** --tf32 and --bench set libtorch's global flags (they exist in a CPU build too); no flag restores the defaults. */
  @Test
  void cudaSwitchesSetLibtorchFlags() {
    var sink = new java.io.PrintStream(java.io.OutputStream.nullOutputStream());
    try {
      new CudaSwitches(true, true, false).apply(sink);
      assertTrue(dev.cm4j.tensor.Cuda.allowTf32Matmul());
      assertTrue(dev.cm4j.tensor.Cuda.allowTf32Cudnn());
      assertTrue(dev.cm4j.tensor.Cuda.cudnnBenchmark());
    } finally {
      CudaSwitches.NONE.apply(sink);
    }
    assertFalse(dev.cm4j.tensor.Cuda.allowTf32Matmul());
    assertFalse(dev.cm4j.tensor.Cuda.cudnnBenchmark());
  }

  /** --device maps to the training option 'device' (the same as --set device=...). */
  @Test
  void deviceFlagIsTheDeviceTrainingOption() {
    Out viaFlag = run("train", "--preset", "toy2d-ect", "--device", "CPU", "-n");
    Out viaSet = run("train", "--preset", "toy2d-ect", "--set", "device=\"cpu\"", "-n");
    assertEquals(viaSet.code(), viaFlag.code(), viaFlag.err() + viaSet.err());
    assertEquals(viaSet.out(), viaFlag.out());
    assertEquals(viaSet.err().replace("--set", ""), viaFlag.err().replace("--set", ""));
  }

  @Test
  void dryRunPrintsTheOptionsWithFlagsAndOverridesApplied() {
    Out r = run("train", "--preset", "cifar10-ect", "--batch", "256", "--lr", "2e-4", "--set", "objective.q=4", "-n");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("\"batch\" : 256"), r.out());
    assertTrue(r.out().contains("\"lr\" : 2.0E-4") || r.out().contains("\"lr\" : 0.0002"), r.out());
    assertTrue(r.out().contains("\"q\" : 4"), r.out());
  }

  @Test
  void dryRunPrintsEveryDefaultAndTyposAreErrors() {
    Out r = run("train", "--preset", "cifar10-ect", "--set", "objective.weighting=edm2", "-n");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("\"weighting\" : \"edm2\""), r.out());
    assertTrue(r.out().contains("\"model_channels\" : 128"), r.out()); // a network default the preset leaves out
    assertTrue(r.out().contains("\"init_from\" : null"), r.out());
    assertFalse(r.out().contains("\"precond\" : {\n    \"kind\""), r.out());
    Out typo = run("train", "--preset", "cifar10-ect", "--set", "objective.P_men=-1", "-n");
    assertEquals(1, typo.code());
    assertEquals("cm train: objective.P_men: unknown; did you mean objective.P_mean?", typo.err().strip());
    Out range = run("train", "--preset", "cifar10-ect", "--lr", "-1", "-n");
    assertEquals(1, range.code());
    assertEquals("cm train: optimizer.lr: must be > 0, got -1", range.err().strip());
  }

  @Test
  void errorsAreOneLineWithANonZeroExit() {
    Out unknown = run("frobnicate");
    assertEquals(2, unknown.code());
    assertTrue(unknown.err().startsWith("cm: unknown command 'frobnicate'"));
    Out badFlag = run("train", "--no-such-flag");
    assertEquals(2, badFlag.code());
    Out badPreset = run("train", "--preset", "nope", "-n");
    assertEquals(1, badPreset.code());
    assertEquals(1, badPreset.err().strip().lines().count(), badPreset.err());
    assertTrue(badPreset.err().contains("unknown preset 'nope'"));
  }

  @Test
  void trainRunsAToyPresetIntoARunDirectory(@TempDir Path dir) throws Exception {
    Out r = run("train", "--preset", "toy2d-ect", "--outdir", dir.toString(), "--duration", "0.000256",
        "--set", "tick_kimg=0.128", "--set", "network.hidden=16", "--set", "data.size=1000", "--batch", "64");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("run directory:"), r.out());
    try (var s = Files.list(dir)) {
      Path run = s.findFirst().orElseThrow();
      assertTrue(Files.exists(run.resolve("loss.png")));
      assertTrue(Files.exists(run.resolve("stats.jsonl")));
    }
  }
}
