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
      if (!m.group(1).equals("build")) assertNull(lines.put(m.group(1), m.group(2)), () -> "twice: " + l);
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
    } else {
      assertEquals("not available", lines.get("cuda"), r.out());
      assertEquals("cpu", lines.get("devices"), r.out());
    }
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
