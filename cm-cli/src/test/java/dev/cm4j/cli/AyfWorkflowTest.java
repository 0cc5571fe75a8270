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

  static Path firstSnapshot(Path runs) throws Exception {
    try (var s = Files.walk(runs)) {
      return s.filter(p -> p.getFileName().toString().startsWith("network-snapshot-")).sorted().findFirst()
          .orElseThrow();
    }
  }

  /**
   * Guidance-scale conditioning and γ-sampling on the command line (docs/algorithms/ayf.md §2.1, §3): toy2d-ayf with
   * objective.guidance_cond (autoguided by the teacher's first snapshot) trains 2 iterations; {@code cm sample}
   * samples it at a given --guidance and --gamma (the scale changes the points; the same seed reproduces them);
   * --gamma outside [0, 1], --gamma on a MeanFlow snapshot and --guide on a guidance-conditioned one are errors.
   */
  @Test
  void guidanceConditionedStudentSamplesAtAGivenScaleAndGamma() throws Exception {
    Out teacher = MainTest.run(args("toy2d-meanflow", dir.resolve("teacher")));
    assertEquals(0, teacher.code(), teacher.err());
    Path t = lastSnapshot(dir.resolve("teacher"));
    Path weak = firstSnapshot(dir.resolve("teacher"));
    String[] a = args("toy2d-ayf", dir.resolve("student"), "--set", "objective.teacher=" + t, "--set",
        "objective.guide=" + weak, "--set", "objective.guidance_cond=true", "--set", "objective.guidance=2",
        "--set", "objective.sample_gamma=0.5", "--set", "ema=[]", "--set", "optimizer.lr=0.05"); // w has an effect
    a[java.util.Arrays.asList(a).indexOf("--duration") + 1] = "0.000128"; // 2 iterations of 64
    Out student = MainTest.run(a);
    assertEquals(0, student.code(), student.err());
    Path s = lastSnapshot(dir.resolve("student"));
    byte[][] pts = new byte[3][];
    String[][] runs = {{"--guidance", "1.5", "--gamma", "0.7"}, {"--guidance", "1.5", "--gamma", "0.7"},
        {"--guidance", "2.5", "--gamma", "0.7"}};
    for (int i = 0; i < runs.length; i++) {
      Path out = dir.resolve("points" + i + ".npy");
      Out r = MainTest.run("sample", "--snapshot", s.toString(), "--steps", "2", "--t-mid", "0.5", "--n", "16",
          "--seed", "4", runs[i][0], runs[i][1], runs[i][2], runs[i][3], "--out", out.toString());
      assertEquals(0, r.code(), r.err());
      pts[i] = Files.readAllBytes(out);
      assertTrue(pts[i].length > 16 * 2 * 4, "16 sampled points");
    }
    assertArrayEquals(pts[0], pts[1], "the same seed, scale and γ give the same points");
    assertFalse(java.util.Arrays.equals(pts[0], pts[2]), "the guidance scale conditions the samples");
    Out bad = MainTest.run("sample", "--snapshot", s.toString(), "--gamma", "1.5", "--out",
        dir.resolve("x.npy").toString());
    assertNotEquals(0, bad.code());
    assertTrue(bad.err().contains("--gamma"), bad.err());
    Out mf = MainTest.run("sample", "--snapshot", t.toString(), "--gamma", "0.5", "--out",
        dir.resolve("y.npy").toString());
    assertNotEquals(0, mf.code());
    assertTrue(mf.err().contains("ayf"), mf.err());
    Out guide = MainTest.run("sample", "--snapshot", s.toString(), "--guide", s.toString(), "--out",
        dir.resolve("z.npy").toString());
    assertNotEquals(0, guide.code());
    assertTrue(guide.err().contains("guidance-conditioned"), guide.err());
  }
}
