package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.cli.MainTest.Out;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The toy2d-ayf workflow on the command line (docs/algorithms/ayf.md §6): without a teacher, a clear error naming
 * objective.teacher; then {@code cm train --preset toy2d-meanflow}, and {@code cm train --preset toy2d-ayf --set
 * objective.teacher=<its snapshot>} trains and writes its own snapshot, which {@code cm sample} samples.
 */
class AyfWorkflowTest {
  @TempDir Path dir;

  static final String[] SMALL = {"--duration", "0.000256", "--batch", "64", "--set", "tick_kimg=0.128", "--set",
      "network.hidden=16", "--set", "network.blocks=1", "--set", "data.size=1000"};

  static String[] args(String preset, Path runs, String... extra) {
    String[] base = {"train", "--preset", preset, "--outdir", runs.toString()};
    String[] a = java.util.Arrays.copyOf(base, base.length + SMALL.length + extra.length);
    System.arraycopy(SMALL, 0, a, base.length, SMALL.length);
    System.arraycopy(extra, 0, a, base.length + SMALL.length, extra.length);
    return a;
  }

  static Path lastSnapshot(Path runs) throws Exception {
    try (var s = Files.walk(runs)) {
      return s.filter(p -> p.getFileName().toString().startsWith("network-snapshot-")).sorted()
          .reduce((a, b) -> b).orElseThrow();
    }
  }

  @Test
  void toy2dAyfNeedsATeacherAndTrainsFromAMeanflowRun() throws Exception {
    Out none = MainTest.run(args("toy2d-ayf", dir.resolve("none")));
    assertNotEquals(0, none.code());
    assertTrue(none.err().contains("objective.teacher") && none.err().contains("toy2d-meanflow"), none.err());

    Out teacher = MainTest.run(args("toy2d-meanflow", dir.resolve("teacher")));
    assertEquals(0, teacher.code(), teacher.err());
    Path t = lastSnapshot(dir.resolve("teacher"));
    Out student = MainTest.run(args("toy2d-ayf", dir.resolve("student"), "--set", "objective.teacher=" + t));
    assertEquals(0, student.code(), student.err());
    Path s = lastSnapshot(dir.resolve("student"));
    Out sample = MainTest.run("sample", "--snapshot", s.toString(), "--steps", "2", "--t-mid", "0.5", "--n", "16", "--out",
        dir.resolve("points.npy").toString());
    assertEquals(0, sample.code(), sample.err());
    assertTrue(Files.size(dir.resolve("points.npy")) > 16 * 2 * 4, "16 sampled points");
  }
}
