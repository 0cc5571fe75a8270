package dev.cm4j.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.TorchException;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** In-process checks: a world of one, the store, argument errors and the environment. */
class DistTest {
  @Test
  void glooIsBuiltAndNcclIsNotInTheCpuBuild() {
    assertTrue(Backend.GLOO.isAvailable());
    assertFalse(Backend.NCCL.isAvailable());
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aWorldOfOneRunsEveryCollective() throws IOException {
    int port = DistMultiProcessTest.freePort();
    try (ProcessGroup pg = ProcessGroup.init(Backend.GLOO, "127.0.0.1", port, 0, 1, Duration.ofSeconds(20));
        TensorScope scope = TensorScope.open()) {
      assertEquals(0, pg.rank());
      assertEquals(1, pg.worldSize());
      Tensor t = Tensor.of(new float[] {1, 2, 3}, 3);
      pg.allReduce_(t, ReduceOp.SUM);
      pg.allReduce_(t, ReduceOp.AVG);
      pg.broadcast_(t, 0);
      pg.barrier();
      assertArrayEquals(new float[] {1, 2, 3}, t.toFloatArray());
      List<Tensor> g = pg.allGather(t);
      assertEquals(1, g.size());
      assertArrayEquals(new float[] {1, 2, 3}, g.get(0).toFloatArray());
      assertEquals(2.5, pg.allReduce(2.5, ReduceOp.SUM));
      new GradientBucketer(pg, 8).average_(List.of(t, Tensor.of(new float[] {4}, 1)));
      assertArrayEquals(new float[] {1, 2, 3}, t.toFloatArray());

      // argument errors are exceptions, and the group stays usable
      TorchException e = assertThrows(TorchException.class, () -> pg.allReduce_(Tensor.arange(3), ReduceOp.AVG));
      assertTrue(e.getMessage().contains("AVG needs a floating-point tensor"), e.getMessage());
      e = assertThrows(TorchException.class, () -> pg.broadcast_(t, 1));
      assertTrue(e.getMessage().contains("root must be in [0, 1)"), e.getMessage());
      pg.allReduce_(t, ReduceOp.MAX);

      // the store
      Store s = pg.store();
      s.set("k", new byte[] {1, 2, 3});
      assertArrayEquals(new byte[] {1, 2, 3}, s.get("k"));
      byte[] big = new byte[1000];
      for (int i = 0; i < big.length; i++) big[i] = (byte) i;
      s.set("big", big);
      assertArrayEquals(big, s.get("big"));
      s.setString("empty", "");
      assertEquals("", s.getString("empty"));
      assertEquals(5, s.add("n", 5));
      assertEquals(3, s.add("n", -2));
      assertTrue(s.check("k", "big"));
      assertFalse(s.check("k", "absent"));
      long t0 = System.nanoTime();
      e = assertThrows(TorchException.class, () -> s.waitFor(Duration.ofMillis(500), "absent"));
      assertTrue((System.nanoTime() - t0) / 1e9 < 10);
      assertTrue(e.getMessage().toLowerCase().contains("timeout") || e.getMessage().contains("timed out"),
          e.getMessage());
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void ncclInTheCpuBuildIsAClearError() throws IOException {
    int port = DistMultiProcessTest.freePort();
    try (Store s = Store.tcp("127.0.0.1", port, 1, true, Duration.ofSeconds(10))) {
      TorchException e = assertThrows(TorchException.class,
          () -> ProcessGroup.create(Backend.NCCL, s, 0, 1, Duration.ofSeconds(5)));
      assertTrue(e.getMessage().contains("nccl backend is not available"), e.getMessage());
      // the store still serves a gloo group afterwards
      try (ProcessGroup pg = ProcessGroup.create(Backend.GLOO, s, 0, 1, Duration.ofSeconds(10))) {
        pg.barrier();
      }
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aRendezvousWhosePeersNeverComeTimesOut() throws IOException {
    int port = DistMultiProcessTest.freePort();
    long t0 = System.nanoTime();
    TorchException e = assertThrows(TorchException.class,
        () -> ProcessGroup.init(Backend.GLOO, "127.0.0.1", port, 0, 2, Duration.ofSeconds(2)));
    double s = (System.nanoTime() - t0) / 1e9;
    assertTrue(s < 20, "took " + s + " s");
    assertTrue(e.getMessage().contains("TCPStore"), e.getMessage());
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aClientWithoutMasterTimesOut() throws IOException {
    int port = DistMultiProcessTest.freePort();
    long t0 = System.nanoTime();
    TorchException e = assertThrows(TorchException.class,
        () -> Store.tcp("127.0.0.1", port, 2, false, Duration.ofSeconds(2)));
    double s = (System.nanoTime() - t0) / 1e9;
    assertTrue(s < 20, "took " + s + " s");
    assertTrue(e.getMessage().contains("client of 127.0.0.1:" + port), e.getMessage());
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aMasterOnPortZeroGetsAFreePort() {
    try (Store s = Store.tcp("127.0.0.1", 0, 1, true, Duration.ofSeconds(10))) {
      assertTrue(s.port() > 0, "port " + s.port());
      assertEquals("127.0.0.1", s.host());
      s.setString("a", "b");
      assertEquals("b", s.getString("a"));
    }
    TorchException e = assertThrows(TorchException.class,
        () -> Store.tcp("127.0.0.1", 0, 2, false, Duration.ofSeconds(1)));
    assertTrue(e.getMessage().contains("needs the master's port"), e.getMessage());
  }

  @Test
  void argumentsAreCheckedBeforeAnythingNative() {
    assertThrows(IllegalArgumentException.class,
        () -> ProcessGroup.init(Backend.GLOO, "127.0.0.1", 1, 2, 2, Duration.ofSeconds(1)));
    assertThrows(IllegalArgumentException.class,
        () -> ProcessGroup.init(Backend.GLOO, "127.0.0.1", 1, 0, 1, Duration.ZERO));
    assertThrows(NullPointerException.class, () -> new GradientBucketer(null, 1));
    assertEquals(Backend.NCCL, Backend.parse("NCCL"));
  }

  @Test
  void torchrunEnvironmentIsParsed() {
    var s = ProcessGroup.EnvSpec.parse(Map.of("RANK", "3", "WORLD_SIZE", "4", "LOCAL_RANK", "1", "MASTER_ADDR",
        "10.0.0.1", "MASTER_PORT", "29500"));
    assertEquals(new ProcessGroup.EnvSpec(3, 4, 1, "10.0.0.1", 29500), s);
    var noLocal = ProcessGroup.EnvSpec.parse(Map.of("RANK", "2", "WORLD_SIZE", "4", "MASTER_ADDR", "h",
        "MASTER_PORT", "1"));
    assertEquals(2, noLocal.localRank());
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> ProcessGroup.EnvSpec.parse(Map.of("RANK", "0", "MASTER_PORT", "1")));
    assertTrue(e.getMessage().contains("WORLD_SIZE, MASTER_ADDR not set"), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> ProcessGroup.EnvSpec.parse(Map.of("RANK", "x",
        "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1")));
    assertTrue(e.getMessage().contains("RANK is not an integer"), e.getMessage());
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void fromEnvironmentJoinsAWorldOfOne() throws IOException {
    int port = DistMultiProcessTest.freePort();
    Map<String, String> env = Map.of("RANK", "0", "WORLD_SIZE", "1", "MASTER_ADDR", "127.0.0.1", "MASTER_PORT",
        Integer.toString(port));
    try (ProcessGroup pg = ProcessGroup.fromEnvironment(env, Backend.GLOO, Duration.ofSeconds(10))) {
      assertEquals(0, pg.localRank());
      assertEquals(1.0, pg.allReduce(1.0, ReduceOp.SUM));
    }
  }
}
