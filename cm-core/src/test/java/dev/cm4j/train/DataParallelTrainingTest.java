package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Multi-process data parallel training over Gloo on loopback: 2 processes × batch B end with the parameters of 1
 * process × batch 2B; only rank 0 writes; a killed rank makes the other exit non-zero within the timeout.
 */
class DataParallelTrainingTest {
  @TempDir Path dir;
  private final List<Process> started = new ArrayList<>();

  @AfterEach
  void killLeftovers() {
    for (Process p : started) p.destroyForcibly();
  }

  static TrainingOptions tiny(String preset, double kimg) {
    return Presets.get(preset).with(Map.of("network.hidden", "16", "network.blocks", "1", "data.size", "2000",
        "batch", "64", "duration_kimg", Double.toString(kimg), "tick_kimg", "0.064", "snap_ticks", "1000",
        "state_ticks", "1000", "threads", "1"));
  }

  Process worker(Path options, int rank, int world, int port, Path outdir, Path result, long timeoutSec)
      throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
    for (String k : System.getProperties().stringPropertyNames()) {
      if (k.startsWith("cm4j.")) cmd.add("-D" + k + "=" + System.getProperty(k));
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), DpWorker.class.getName(), options.toString(),
        outdir.toString(), result.toString()));
    ProcessBuilder pb = new ProcessBuilder(cmd)
        .redirectOutput(dir.resolve("w" + rank + ".out").toFile())
        .redirectError(dir.resolve("w" + rank + ".err").toFile());
    Map<String, String> env = pb.environment();
    env.put("OMP_NUM_THREADS", "1");
    env.put("RANK", Integer.toString(rank));
    env.put("WORLD_SIZE", Integer.toString(world));
    env.put("LOCAL_RANK", Integer.toString(rank));
    env.put("MASTER_ADDR", "127.0.0.1");
    env.put("MASTER_PORT", Integer.toString(port));
    env.put("CM4J_DIST_TIMEOUT_SEC", Long.toString(timeoutSec));
    Process p = pb.start();
    started.add(p);
    return p;
  }

  String log(int rank) throws IOException {
    return Files.readString(dir.resolve("w" + rank + ".out"), StandardCharsets.UTF_8) + "\n--- stderr:\n"
        + Files.readString(dir.resolve("w" + rank + ".err"), StandardCharsets.UTF_8);
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"toy2d-ect", "toy2d-sct"})
  void twoProcessesOfBatchBEqualOneProcessOfBatch2B(String preset) throws Exception {
    TrainingOptions opts = tiny(preset, 0.192); // 3 steps of 64
    Path single;
    try (Trainer t = Trainer.start(opts, dir.resolve("single"), new java.io.PrintStream(java.io.OutputStream.nullOutputStream()))) {
      assertEquals(3, t.run().iterations());
      single = dir.resolve("single.safetensors");
      SafeTensors.write(single, t.model().stateDict());
    }
    Path options = dir.resolve("options.json");
    Files.writeString(options, opts.toJson());
    int port = freePort();
    Process p0 = worker(options, 0, 2, port, dir.resolve("out0"), dir.resolve("r0.safetensors"), 60);
    Process p1 = worker(options, 1, 2, port, dir.resolve("out1"), dir.resolve("r1.safetensors"), 60);
    assertTrue(p0.waitFor(120, TimeUnit.SECONDS) && p1.waitFor(120, TimeUnit.SECONDS), "workers hung");
    assertEquals(0, p0.exitValue(), log(0));
    assertEquals(0, p1.exitValue(), log(1));
    try (TensorScope s = TensorScope.open()) {
      Map<String, Tensor> a = SafeTensors.loadAll(single);
      Map<String, Tensor> r0 = SafeTensors.loadAll(dir.resolve("r0.safetensors"));
      Map<String, Tensor> r1 = SafeTensors.loadAll(dir.resolve("r1.safetensors"));
      assertEquals(a.keySet(), r0.keySet());
      double worst = 0;
      for (String k : a.keySet()) {
        worst = Math.max(worst, a.get(k).sub(r0.get(k)).abs().amax(false).item());
        assertEquals(0.0, r0.get(k).sub(r1.get(k)).abs().amax(false).item(), 0.0, "ranks disagree on " + k);
      }
      assertTrue(worst <= 1e-5, preset + ": max |single − data parallel| = " + worst);
    }
    // only rank 0 wrote a run directory; rank 1's outdir was never created
    try (var s = Files.list(dir.resolve("out0"))) {
      Path run = s.findFirst().orElseThrow();
      assertTrue(Files.exists(run.resolve("log.txt")) && Files.exists(run.resolve("stats.jsonl")), log(0));
      assertTrue(Files.readString(run.resolve("log.txt")).contains("batch 64 (2 x 1 x 32)"), log(0));
    }
    assertFalse(Files.exists(dir.resolve("out1")), "rank 1 must not write");
  }

  /**
   * In-training evaluation with two processes: each samples its block of the seeds (51 + 50 of 101), rank 0 gathers
   * them and writes the same metric lines as one process (swd, 1 and 2 steps, point data).
   */
  @Test
  void evaluationSplitsTheSeedsOverTheRanksAndGathers() throws Exception {
    TrainingOptions opts = tiny("toy2d-ect", 0.192).with(Map.of("eval",
        "{\"metrics\": [\"swd\", \"two_step_swd\"], \"every_ticks\": 3, \"num_images\": 101, \"batch\": 16}"));
    Path singleRun;
    try (Trainer t = Trainer.start(opts, dir.resolve("single"),
        new java.io.PrintStream(java.io.OutputStream.nullOutputStream()))) {
      singleRun = t.run().runDir();
    }
    Path options = dir.resolve("options.json");
    Files.writeString(options, opts.toJson());
    int port = freePort();
    Process p0 = worker(options, 0, 2, port, dir.resolve("out0"), dir.resolve("r0.safetensors"), 60);
    Process p1 = worker(options, 1, 2, port, dir.resolve("out1"), dir.resolve("r1.safetensors"), 60);
    assertTrue(p0.waitFor(120, TimeUnit.SECONDS) && p1.waitFor(120, TimeUnit.SECONDS), "workers hung");
    assertEquals(0, p0.exitValue(), log(0));
    assertEquals(0, p1.exitValue(), log(1));
    Path run;
    try (var s = Files.list(dir.resolve("out0"))) {
      run = s.findFirst().orElseThrow();
    }
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    for (String name : List.of("swd", "two_step_swd")) {
      List<String> one = Files.readAllLines(singleRun.resolve("metric-" + name + ".jsonl"));
      List<String> two = Files.readAllLines(run.resolve("metric-" + name + ".jsonl"));
      assertEquals(1, one.size(), name);
      assertEquals(1, two.size(), name + ": rank 0 alone writes");
      double a = json.readTree(one.get(0)).at("/results/" + name).asDouble();
      double b = json.readTree(two.get(0)).at("/results/" + name).asDouble();
      assertTrue(Double.isFinite(a) && a > 0, one.get(0));
      assertEquals(2, json.readTree(two.get(0)).get("num_gpus").asInt());
      assertEquals(a, b, 1e-4 * a, name + ": one process vs two (models equal to ~1e-6)");
    }
    assertFalse(Files.exists(dir.resolve("out1")), "rank 1 must not write");
  }

  @Test
  void theParametersReallyTrain() throws Exception {
    // guards the equality test against a no-op: 3 steps move the parameters
    TrainingOptions opts = tiny("toy2d-ect", 0.192);
    try (Trainer t = Trainer.start(opts, dir.resolve("a"), new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        Trainer u = Trainer.start(opts.with(Map.of("duration_kimg", "0.064")), dir.resolve("b"),
            new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        TensorScope s = TensorScope.open()) {
      t.run();
      u.run();
      double diff = 0;
      for (var e : t.model().stateDict().entrySet()) {
        diff = Math.max(diff, e.getValue().sub(u.model().stateDict().get(e.getKey())).abs().amax(false).item());
      }
      assertTrue(diff > 1e-4, "3 steps vs 1 step differ by " + diff);
    }
  }

  @Test
  void killingOneRankMakesTheOtherExitNonZeroWithinTheTimeout() throws Exception {
    TrainingOptions opts = tiny("toy2d-ect", 500);
    Path options = dir.resolve("long.json");
    Files.writeString(options, opts.toJson());
    int port = freePort();
    long timeout = 20;
    Process p0 = worker(options, 0, 2, port, dir.resolve("k0"), dir.resolve("k0.safetensors"), timeout);
    Process p1 = worker(options, 1, 2, port, dir.resolve("k1"), dir.resolve("k1.safetensors"), timeout);
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (!log(0).contains("tick 1 ")) {
      assertTrue(System.nanoTime() < end && p0.isAlive() && p1.isAlive(), "no training progress: " + log(0) + log(1));
      Thread.sleep(100);
    }
    long t0 = System.nanoTime();
    p1.destroyForcibly(); // SIGKILL
    assertTrue(p0.waitFor(timeout + 30, TimeUnit.SECONDS), "rank 0 hung after rank 1 was killed: " + log(0));
    double sec = (System.nanoTime() - t0) / 1e9;
    assertNotEquals(0, p0.exitValue(), log(0));
    assertTrue(sec < timeout + 15, "rank 0 took " + sec + " s to fail");
    String err = log(0);
    assertTrue(err.contains("data-parallel step failed on rank 0 of 2"), err);
  }
}
