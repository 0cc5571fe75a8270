package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.train.PosthocEma;
import dev.cm4j.train.Presets;
import dev.cm4j.train.Snapshot;
import dev.cm4j.train.Trainer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** cm phema: reconstructs post-hoc EMA profiles of a run into loadable network snapshots. */
class PhemaCommandTest {
  @TempDir Path dir;

  @Test
  void writesLoadableSnapshots() throws Exception {
    var opts = Presets.get("toy2d-ect").with(Map.of("duration_kimg", "0.256", "tick_kimg", "0.256", "batch", "64",
        "network.hidden", "32", "network.blocks", "1", "data.size", "2000", "ema",
        "[{\"kind\": \"power\", \"sigma_rel\": 0.05, \"snapshot_kimg\": 0.064},"
            + " {\"kind\": \"power\", \"sigma_rel\": 0.10, \"snapshot_kimg\": 0.064}]"));
    Path run;
    try (Trainer t = Trainer.start(opts, dir.resolve("runs"), new PrintStream(new ByteArrayOutputStream()))) {
      run = t.run().runDir();
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = Main.run(new String[] {"phema", "--in", run.toString(), "--std", "0.07,0.15", "--std", "0.1", "--out",
        dir.resolve("ph").toString()}, new PrintStream(out), new PrintStream(err));
    assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
    assertTrue(out.toString(StandardCharsets.UTF_8).contains("8 stored snapshots"), out.toString());
    for (String std : new String[] {"0.070", "0.100", "0.150"}) {
      Path f = dir.resolve("ph").resolve("phema-000000256-" + std + ".safetensors");
      assertTrue(Files.exists(f), f.toString());
      try (Snapshot s = Snapshot.load(f); TensorScope sc = TensorScope.open()) {
        assertEquals(Double.parseDouble(std), Double.parseDouble(s.metadata().get(PosthocEma.STD_KEY)));
        Tensor x = s.sample(8, new double[0], 3);
        assertTrue(x.isfinite().all().itemBoolean());
      }
    }

    err.reset();
    assertEquals(2, Main.run(new String[] {"phema", "--in", run.toString(), "--out", "x"}, new PrintStream(out),
        new PrintStream(err)));
    assertEquals(1, Main.run(new String[] {"phema", "--in", run.toString(), "--std", "0.5", "--out", "x"},
        new PrintStream(out), new PrintStream(err)));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("--std must be in"), err.toString());
    err.reset();
    assertEquals(1, Main.run(new String[] {"phema", "--in", dir.toString(), "--std", "0.1", "--out", "x"},
        new PrintStream(out), new PrintStream(err)));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("no stored post-hoc EMA snapshots"), err.toString());
  }
}
