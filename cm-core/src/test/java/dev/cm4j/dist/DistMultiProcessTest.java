package dev.cm4j.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Gloo process groups across two worker JVMs on 127.0.0.1 (see {@link DistWorker}). */
class DistMultiProcessTest {
  @TempDir Path dir;

  private final List<Worker> started = new ArrayList<>();

  /** A launched worker JVM whose stdout and stderr go to files. */
  record Worker(int rank, Process process, Path out, Path err) {
    String stdout() {
      return read(out);
    }

    String stderr() {
      return read(err);
    }

    Map<String, String> results() {
      Map<String, String> m = new HashMap<>();
      for (String line : stdout().split("\n")) {
        int i = line.indexOf('=');
        if (i > 0) m.put(line.substring(0, i), line.substring(i + 1));
      }
      return m;
    }

    private static String read(Path p) {
      try {
        return Files.readString(p, StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    String describe() {
      return "rank " + rank + " stdout:\n" + stdout() + "\nstderr:\n" + stderr();
    }
  }

  @AfterEach
  void killLeftovers() {
    for (Worker w : started) w.process().destroyForcibly();
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }

  Worker launch(String scenario, int rank, int world, int port, long timeoutMs) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xss4m"));
    for (String k : System.getProperties().stringPropertyNames()) {
      if (k.startsWith("cm4j.")) cmd.add("-D" + k + "=" + System.getProperty(k));
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), DistWorker.class.getName(), scenario,
        Integer.toString(rank), Integer.toString(world), Integer.toString(port), Long.toString(timeoutMs)));
    Path out = dir.resolve(scenario + "-" + rank + ".out");
    Path err = dir.resolve(scenario + "-" + rank + ".err");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
    pb.environment().put("OMP_NUM_THREADS", "1");
    Worker w = new Worker(rank, pb.start(), out, err);
    started.add(w);
    return w;
  }

  List<Worker> launchAll(String scenario, int world, long timeoutMs) throws IOException {
    int port = freePort();
    List<Worker> ws = new ArrayList<>();
    for (int r = 0; r < world; r++) ws.add(launch(scenario, r, world, port, timeoutMs));
    return ws;
  }

  static int await(Worker w, long seconds) throws InterruptedException {
    if (!w.process().waitFor(seconds, TimeUnit.SECONDS)) {
      w.process().destroyForcibly();
      fail("worker did not finish within " + seconds + " s: " + w.describe());
    }
    return w.process().exitValue();
  }

  static void awaitOk(List<Worker> ws, long seconds) throws InterruptedException {
    for (Worker w : ws) assertEquals(0, await(w, seconds), () -> "worker failed: " + w.describe());
  }

  static void awaitLine(Worker w, String text, long seconds) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!w.stdout().contains(text)) {
      if (System.nanoTime() > end) fail("worker never printed " + text + ": " + w.describe());
      if (!w.process().isAlive()) fail("worker ended before printing " + text + ": " + w.describe());
      Thread.sleep(50);
    }
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void collectivesOverTwoProcessesGiveExactValues() throws Exception {
    List<Worker> ws = launchAll("collectives", 2, 30_000);
    awaitOk(ws, 100);
    for (Worker w : ws) {
      Map<String, String> m = w.results();
      String ctx = w.describe();
      assertEquals(Integer.toString(w.rank()), m.get("rank"), ctx);
      assertEquals("2", m.get("world"), ctx);
      // rank 0 holds i, rank 1 holds 2i (i = 1..6)
      assertEquals("3.0,6.0,9.0,12.0,15.0,18.0", m.get("allreduce_sum"), ctx);
      assertEquals("1.5,3.0,4.5,6.0,7.5,9.0", m.get("allreduce_avg"), ctx);
      assertEquals("2.0,8.0,18.0,32.0,50.0,72.0", m.get("allreduce_product"), ctx);
      assertEquals("1.0,2.0,3.0,4.0,5.0,6.0", m.get("allreduce_min"), ctx);
      assertEquals("2.0,4.0,6.0,8.0,10.0,12.0", m.get("allreduce_max"), ctx);
      assertEquals("1.0,21.0", m.get("list_a"), ctx);
      assertEquals("3.0,6.0,9.0,12.0,15.0,18.0", m.get("list_b"), ctx);
      assertEquals("[2, 7]", m.get("int_max"), ctx);
      assertEquals("2.0,4.0,6.0,8.0,10.0,12.0", m.get("broadcast"), ctx);
      assertEquals("0.0", m.get("broadcast_list_1"), ctx);
      assertEquals("[0.0, 0.0, 1.0]", m.get("broadcast_list_2"), ctx);
      assertEquals("[0.0, 0.0];[1.0, 10.0]", m.get("allgather"), ctx);
      assertEquals("1.0", m.get("scalar_avg"), ctx);
      assertEquals("1.5", m.get("scalar_max"), ctx);
      assertEquals("from 0;from 1", m.get("store"), ctx);
      assertEquals("true", m.get("store_add"), ctx);
      assertEquals("2", m.get("store_counter"), ctx);
    }
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void bucketedGradientAveragingEqualsTheLocalMean() throws Exception {
    List<Worker> ws = launchAll("bucket", 2, 30_000);
    awaitOk(ws, 100);
    try (TensorScope scope = TensorScope.open()) {
      List<Tensor> g0 = DistWorker.grads(0);
      List<Tensor> g1 = DistWorker.grads(1);
      for (Worker w : ws) {
        Map<String, String> m = w.results();
        String ctx = w.describe();
        // 256-byte buckets: 3 + 20 + 1 float32 (96 B) together, the 300 float32 (1200 B) alone,
        // the float64 tensors (64 + 56 B) together; the last float32 alone (dtype change)
        assertEquals("[[0, 1, 2], [3], [4, 5], [6]]", m.get("plan_small"), ctx);
        assertEquals("[[0, 1, 2, 3], [4, 5], [6]]", m.get("plan_default"), ctx);
        for (int i = 0; i < g0.size(); i++) {
          Tensor mean = g0.get(i).add(g1.get(i)).div(2.0);
          assertEquals(DistWorker.bits(mean), m.get("avg_" + i), "gradient " + i + " of " + ctx);
        }
        assertEquals("[0.0, 0.0]", m.get("unused_grad"), ctx);
        assertEquals("true", m.get("bucketed_equals_per_tensor"), ctx);
      }
      assertEquals(DType.FLOAT64, g0.get(4).dtype());
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aPeerThatExitsMakesTheOtherFailFastNotHang() throws Exception {
    List<Worker> ws = launchAll("exit-early", 2, 10_000);
    assertEquals(0, await(ws.get(1), 50), () -> ws.get(1).describe());
    long t0 = System.nanoTime();
    int rc = await(ws.get(0), 25);
    long waitedMs = (System.nanoTime() - t0) / 1_000_000;
    Worker w = ws.get(0);
    assertNotEquals(0, rc, w::describe);
    assertTrue(w.stderr().contains("ERROR") && w.stderr().contains("allreduce failed"), w::describe);
    assertTrue(w.stderr().contains("rank 0 of 2"), w::describe);
    long failedAfter = Long.parseLong(w.results().get("failed_after_ms"));
    assertTrue(failedAfter < 10_000 + 6_000, "failed after " + failedAfter + " ms: " + w.describe());
    assertTrue(waitedMs < 25_000);
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aPeerThatStopsParticipatingMakesTheOtherFailWithinTheTimeout() throws Exception {
    List<Worker> ws = launchAll("stall", 2, 4_000);
    awaitLine(ws.get(1), "STALLING", 40);
    Worker w = ws.get(0);
    int rc = await(w, 25);
    assertNotEquals(0, rc, w::describe);
    assertTrue(w.stderr().contains("ERROR") && w.stderr().contains("allreduce failed"), w::describe);
    long failedAfter = Long.parseLong(w.results().get("failed_after_ms"));
    // the collective timeout is 4 s: it fires at about 4 s (and at most the 5 s wait slack later)
    assertTrue(failedAfter >= 3_000 && failedAfter < 4_000 + 6_000, "failed after " + failedAfter + " ms: "
        + w.describe());
    ws.get(1).process().destroyForcibly();
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void killingAPeerDuringACollectiveMakesTheOtherFail() throws Exception {
    List<Worker> ws = launchAll("kill", 2, 10_000);
    awaitLine(ws.get(1), "READY", 40);
    awaitLine(ws.get(0), "WAITING", 40);
    Thread.sleep(300); // rank 0 is now blocked in the barrier
    ws.get(1).process().destroyForcibly().waitFor();
    Worker w = ws.get(0);
    int rc = await(w, 25);
    assertNotEquals(0, rc, w::describe);
    assertTrue(w.stderr().contains("ERROR") && w.stderr().contains("failed (rank 0 of 2"), w::describe);
    long failedAfter = Long.parseLong(w.results().get("failed_after_ms"));
    assertTrue(failedAfter < 10_000 + 6_000, "failed after " + failedAfter + " ms: " + w.describe());
  }
}
