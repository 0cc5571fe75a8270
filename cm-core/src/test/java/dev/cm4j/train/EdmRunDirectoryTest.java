package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The run directory as EDM's tooling reads it: training_stats lines in stats.jsonl, and the -latest files. */
class EdmRunDirectoryTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * Each stats.jsonl line carries EDM's training_stats entries ({num, mean, std}) and a timestamp beside our fields;
   * Loss/loss summarises the tick's step losses, checked against the losses a step listener saw.
   */
  @Test
  void statsLinesAreTrainingStatsLines(@TempDir Path dir) throws Exception {
    List<Double> losses = new ArrayList<>();
    Path run;
    try (Trainer t = Trainer.start(TrainerTest.toy(0.512, "ect"), dir, TrainerTest.QUIET)) {
      t.setStepListener(new Trainer.StepListener() {
        @Override
        public void afterStep(long iteration, long images, dev.cm4j.tensor.Tensor loss) {
          losses.add(loss.item());
        }
      });
      run = t.run().runDir();
    }
    List<String> lines = Files.readAllLines(run.resolve("stats.jsonl"));
    assertEquals(2, lines.size()); // 512 images in ticks of 256, batch 64: 4 steps each
    for (int tick = 0; tick < 2; tick++) {
      JsonNode l = JSON.readTree(lines.get(tick));
      List<Double> mine = losses.subList(4 * tick, 4 * tick + 4);
      double mean = mine.stream().mapToDouble(d -> d).average().orElseThrow();
      double var = mine.stream().mapToDouble(d -> (d - mean) * (d - mean)).sum() / mine.size(); // population, as EDM
      JsonNode loss = l.get("Loss/loss");
      assertEquals(4.0, loss.get("num").asDouble());
      assertEquals(mean, loss.get("mean").asDouble(), 1e-6 * Math.abs(mean));
      assertEquals(Math.sqrt(var), loss.get("std").asDouble(), 1e-4 * Math.sqrt(var) + 1e-7);
      assertEquals(tick, l.get("Progress/tick").get("mean").asDouble());
      assertEquals(0.256 * (tick + 1), l.get("Progress/kimg").get("mean").asDouble(), 1e-12);
      for (String k : List.of("Progress/tick", "Progress/kimg", "Timing/total_sec", "Timing/sec_per_tick",
          "Timing/sec_per_kimg", "Timing/maintenance_sec", "Resources/cpu_mem_gb")) {
        JsonNode e = l.get(k);
        assertNotNull(e, k + " in " + lines.get(tick));
        assertEquals(1.0, e.get("num").asDouble(), k);
        assertEquals(0.0, e.get("std").asDouble(), k);
        assertTrue(e.get("mean").asDouble() >= 0, k);
      }
      assertEquals(l.get("Timing/sec_per_tick").get("mean").asDouble() / 0.256, l.get("Timing/sec_per_kimg").get("mean").asDouble(),
          1e-9);
      assertFalse(l.has("Resources/peak_gpu_mem_gb"), "a CPU run reports no GPU memory");
      // our own fields stay, with the same values
      assertEquals(loss.get("mean").asDouble(), l.get("loss").asDouble());
      assertEquals(tick, l.get("tick").asInt());
      assertEquals(l.get("time").asDouble(), l.get("timestamp").asDouble());
      List<String> keys = new ArrayList<>();
      l.fieldNames().forEachRemaining(keys::add);
      assertEquals("timestamp", keys.get(keys.size() - 1), "EDM writes the timestamp last");
    }
    double t0 = JSON.readTree(lines.get(0)).get("Timing/total_sec").get("mean").asDouble();
    double t1 = JSON.readTree(lines.get(1)).get("Timing/total_sec").get("mean").asDouble();
    assertTrue(t1 >= t0, t0 + " then " + t1);
    // the history of a training state keeps our flat records (LossPlot and resume read them)
    try (TrainingState st = TrainingState.open(run.resolve("training-state-000000512.safetensors"))) {
      assertEquals(2, st.history.size());
      assertFalse(st.history.get(0).containsKey("Loss/loss"));
    }
    assertTrue(Files.size(run.resolve("loss.png")) > 0);
  }

  /** After a run, the -latest names are links to the newest snapshot and state, and load as they do. */
  @Test
  void latestNamesFollowTheNewestFiles(@TempDir Path dir) throws Exception {
    Path run;
    try (Trainer t = Trainer.start(TrainerTest.toy(0.512, "ect"), dir, TrainerTest.QUIET)) {
      run = t.run().runDir();
    }
    Path snap = run.resolve("network-snapshot-latest.safetensors");
    Path state = run.resolve("training-state-latest.safetensors");
    assertTrue(Files.isSymbolicLink(snap) && Files.isSymbolicLink(state));
    assertEquals(Path.of("network-snapshot-000000512.safetensors"), Files.readSymbolicLink(snap));
    assertEquals(Path.of("training-state-000000512.safetensors"), Files.readSymbolicLink(state));
    assertArrayEquals(Files.readAllBytes(run.resolve("network-snapshot-000000512.safetensors")), Files.readAllBytes(snap));
    // resuming from the run directory still finds the numbered states (the -latest name is not one of them)
    assertEquals(run.resolve("training-state-000000512.safetensors"), RunDirectory.of(run).statesNewestFirst().get(0));
    try (var s = Files.list(run)) {
      assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary files left");
    }
  }

  /** markLatest replaces an existing link or copy; without links it copies; a bad name is an error. */
  @Test
  void markLatestLinksOrCopiesAndReplaces(@TempDir Path dir) throws Exception {
    RunDirectory rd = RunDirectory.of(dir);
    Files.writeString(rd.snapshot(100), "first");
    Files.writeString(rd.snapshot(200), "second");
    rd.markLatest(rd.snapshot(100));
    Path latest = dir.resolve("network-snapshot-latest.safetensors");
    assertEquals("first", Files.readString(latest));
    rd.markLatest(rd.snapshot(200));
    assertEquals("second", Files.readString(latest));
    assertEquals(Path.of("network-snapshot-000000200.safetensors"), Files.readSymbolicLink(latest));
    // the copy form (file systems without links) replaces a link, and is replaced in turn
    rd.markLatest(rd.snapshot(100), false);
    assertFalse(Files.isSymbolicLink(latest));
    assertEquals("first", Files.readString(latest));
    rd.markLatest(rd.snapshot(200), false);
    assertEquals("second", Files.readString(latest));
    Files.writeString(rd.state(300), "state");
    rd.markLatest(rd.state(300));
    assertEquals("state", Files.readString(dir.resolve("training-state-latest.safetensors")));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rd.markLatest(dir.resolve("log.txt")));
    assertTrue(e.getMessage().contains("log.txt"), e.getMessage());
  }
}
