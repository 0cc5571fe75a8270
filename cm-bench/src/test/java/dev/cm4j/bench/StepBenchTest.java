package dev.cm4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.Torch;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Keeps the step benchmarks runnable: one untimed pass of each prints a well-formed line; exports are complete. */
class StepBenchTest {
  private static final StepTimer ONCE = new StepTimer(0, 0, 1);

  @BeforeAll
  static void oneThread() {
    Torch.load();
    Torch.setNumThreads(1);
  }

  private static String capture(Runnable r) {
    PrintStream old = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (PrintStream p = new PrintStream(buf, true, StandardCharsets.UTF_8)) {
      System.setOut(p);
      r.run();
    } finally {
      System.setOut(old);
    }
    return buf.toString(StandardCharsets.UTF_8).strip();
  }

  private static void wellFormed(String out, String bench, int lines) {
    String[] l = out.split("\n");
    assertEquals(lines, l.length, out);
    for (String line : l) {
      String[] f = line.split("\t");
      assertEquals(6, f.length, line);
      assertEquals(bench, f[0], line);
      assertTrue(Double.parseDouble(f[3]) > 0, line);
    }
  }

  @Test
  void songUNetStepRuns() {
    wellFormed(capture(() -> SongUNetStep.time(SongUNetStep.named("small"), ONCE, true)), "songunet_small", 2);
  }

  @Test
  void objectiveStepsRun() {
    for (String o : ObjectiveStep.objectives()) {
      wellFormed(capture(() -> ObjectiveStep.time(o, ONCE, false)), o, 1);
    }
  }

  @Test
  void exportsHoldWeightsDrawsAndGradients(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("ect.safetensors");
    ObjectiveStep.export("ect", f);
    try (SafeTensorFile t = SafeTensors.read(f)) {
      assertTrue(t.names().contains("in.eps") && t.names().contains("out.loss"), t.names().toString());
      assertTrue(t.names().stream().anyMatch(n -> n.startsWith("grad.net.model.")), t.names().toString());
    }
    Path g = dir.resolve("small.safetensors");
    SongUNetStep.export(SongUNetStep.named("small"), g);
    try (SafeTensorFile t = SafeTensors.read(g)) {
      long state = t.names().stream().filter(n -> n.startsWith("model.")).count();
      long buffers = t.names().stream().filter(n -> n.startsWith("model.") && n.endsWith("resample_filter")).count();
      long grads = t.names().stream().filter(n -> n.startsWith("grad.")).count();
      assertEquals(146, state); // EDM's state dict of this config (the reference fixture's key count)
      assertEquals(state - buffers, grads);
      assertEquals("749891", t.metadata().get("parameter_count"));
    }
  }

  /** AYF and IMM exports: the draws, the outputs, and a gradient for every trained parameter (none for the teacher). */
  @Test
  void ayfAndImmExportsHoldDrawsAndEveryGradient(@TempDir Path dir) throws Exception {
    Path a = dir.resolve("ayf.safetensors");
    ObjectiveStep.export("ayf", a);
    try (SafeTensorFile t = SafeTensors.read(a)) {
      for (String n : List.of("in.n_a", "in.n_b", "in.u", "in.eps", "out.loss", "out.g", "out.norm")) {
        assertTrue(t.names().contains(n), n + " missing: " + t.names());
      }
      long params = t.names().stream().filter(n -> n.startsWith("student.") && !n.endsWith("resample_filter")).count();
      assertEquals(params, t.names().stream().filter(n -> n.startsWith("grad.student.")).count());
      assertTrue(t.names().stream().noneMatch(n -> n.startsWith("grad.teacher.")), t.names().toString());
      assertEquals("0.25", t.metadata().get("r"));
    }
    Path m = dir.resolve("imm.safetensors");
    ObjectiveStep.export("imm", m);
    try (SafeTensorFile t = SafeTensors.read(m)) {
      for (String n : List.of("in.u_t", "in.u_s", "in.eps", "out.loss", "out.mmd", "out.yt")) {
        assertTrue(t.names().contains(n), n + " missing: " + t.names());
      }
      long params = t.names().stream().filter(n -> n.startsWith("net.") && !n.endsWith("resample_filter")).count();
      assertEquals(params, t.names().stream().filter(n -> n.startsWith("grad.net.")).count());
      assertEquals(List.of(2L), java.util.Arrays.stream(t.info("out.loss").shape()).boxed().toList()); // 8 / M = 2 groups
    }
  }
}
