package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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

  @Test
  void infoPrintsVersionsDevicesAndThreads() {
    Out r = run("info");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("libtorch    2.13.0"), r.out());
    assertTrue(r.out().contains("cuda        not available"), r.out());
    assertTrue(r.out().contains("threads     intra-op"), r.out());
    assertTrue(r.out().contains("allocator   cm4j caching (blocks >= 256 KiB"), r.out());
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
