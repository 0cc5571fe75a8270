package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** cm train --nproc-per-node: a 2-worker run completes; a killed worker stops the launcher with no orphans. */
class LauncherTest {
  @TempDir Path dir;

  @AfterEach
  void noOrphans() {
    ProcessHandle.current().descendants().forEach(ProcessHandle::destroyForcibly);
  }

  static String[] args(Path outdir, String duration) {
    return new String[] {"train", "--nproc-per-node", "2", "--preset", "toy2d-ect", "--outdir", outdir.toString(),
        "--duration", duration, "--batch", "64", "--set", "tick_kimg=0.064", "--set", "network.hidden=16",
        "--set", "data.size=1000", "--threads", "1"};
  }

  @Test
  void twoWorkersTrainAndOnlyRankZeroWrites() throws Exception {
    MainTest.Out r = MainTest.run(args(dir.resolve("runs"), "0.000192"));
    assertEquals(0, r.code(), r.out() + r.err());
    assertTrue(r.out().contains("started 2 worker(s)"), r.out());
    assertTrue(r.out().contains("run directory:"), r.out());
    try (var s = Files.list(dir.resolve("runs"))) {
      List<Path> runs = s.toList();
      assertEquals(1, runs.size(), "one run directory, written by rank 0: " + runs);
      assertTrue(Files.readString(runs.get(0).resolve("log.txt")).contains("batch 64 (2 x 1 x 32)"));
    }
    assertEquals(0, ProcessHandle.current().children().count(), "workers left behind");
  }

  @Test
  void aKilledWorkerStopsTheOthersAndTheLauncherFails() throws Exception {
    CompletableFuture<MainTest.Out> run = CompletableFuture.supplyAsync(() -> MainTest.run(args(dir.resolve("k"), "1")));
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    List<ProcessHandle> kids;
    do {
      assertTrue(System.nanoTime() < end, "workers did not start");
      Thread.sleep(200);
      kids = ProcessHandle.current().children().toList();
    } while (kids.size() < 2 || !Files.exists(dir.resolve("k")) || !hasTick(dir.resolve("k")));
    kids.get(kids.size() - 1).destroyForcibly();
    MainTest.Out r = run.get(90, TimeUnit.SECONDS);
    assertEquals(1, r.code(), r.out() + r.err());
    assertTrue(r.err().matches("(?s).*rank \\d exited with code \\d+; stopped the other workers.*"), r.err());
    long alive = ProcessHandle.current().descendants().filter(ProcessHandle::isAlive).count();
    assertEquals(0, alive, "orphaned workers");
  }

  static boolean hasTick(Path outdir) {
    try (var s = Files.list(outdir)) {
      for (Path run : s.toList()) {
        Path stats = run.resolve("stats.jsonl");
        if (Files.exists(stats) && Files.size(stats) > 0) return true;
      }
      return false;
    } catch (java.io.IOException e) {
      return false;
    }
  }
}
