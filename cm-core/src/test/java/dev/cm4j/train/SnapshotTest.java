package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.data.Npy;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Snapshots carry what sampling needs, so they sample after the training data is moved or deleted. */
class SnapshotTest {
  static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream());

  /** A ring of 5 points per 2π, radius 3 (std ≈ 2.1), as a user's own .npy. */
  static Path ring(Path dir) {
    int n = 500;
    float[] p = new float[2 * n];
    for (int i = 0; i < n; i++) {
      double a = 2 * Math.PI * (i % 5) / 5;
      p[2 * i] = (float) (3 * Math.cos(a) + 0.1 * Math.sin(i));
      p[2 * i + 1] = (float) (3 * Math.sin(a) + 0.1 * Math.cos(i));
    }
    Path f = dir.resolve("ring5.npy");
    Npy.write(f, p, n, 2);
    return f;
  }

  static Path trainTiny(Path dir, Path data) {
    TrainingOptions o = Presets.get("toy2d-ect").with(Map.of("data", "{\"kind\": \"npy\", \"path\": \"" + data + "\"}",
        "duration_kimg", "0.128", "tick_kimg", "0.128", "batch", "64", "network.hidden", "16", "network.blocks", "1",
        "objective.denoise_kimg", "0.064", "sample_steps", "[0.1]"));
    try (Trainer t = Trainer.start(o, dir.resolve("runs"), QUIET)) {
      return t.run().runDir();
    }
  }

  static Path lastSnapshot(Path run) throws Exception {
    try (var s = Files.list(run)) {
      return s.filter(p -> p.getFileName().toString().matches("network-snapshot-\\d+\\.safetensors")).sorted()
          .reduce((a, b) -> b).orElseThrow();
    }
  }

  @Test
  void aSnapshotSamplesAfterItsDataIsDeleted(@TempDir Path dir) throws Exception {
    Path data = ring(dir);
    Path run = trainTiny(dir, data);
    Path snap = lastSnapshot(run);
    // the ring's std (2.1) is over 4x sigma_data 0.5: the run log says so at the start
    String log = Files.readString(run.resolve("log.txt"));
    assertTrue(log.contains("warning: precond.sigma_data 0.5000 is 0.2x the data's standard deviation 2.12"), log);
    float[] before;
    try (Snapshot s = Snapshot.load(snap); TensorScope sc = TensorScope.open()) {
      before = s.sample(32, new double[] {0.1}, 5).toFloatArray();
      assertEquals("2", s.metadata().get(Snapshot.ITEM_SHAPE));
      assertEquals("npy", s.metadata().get(Snapshot.DATA_KIND));
      assertEquals(0.5, Double.parseDouble(s.metadata().get(Snapshot.SIGMA_DATA)));
      assertEquals(2.12, Double.parseDouble(s.metadata().get(Snapshot.DATA_STD)), 0.05);
    }
    // point runs plot their 1-step and multistep samples
    assertTrue(Files.exists(run.resolve(snap.getFileName().toString()
        .replace("network-snapshot-", "samples-2step-").replace(".safetensors", ".png"))));
    Files.delete(data);
    try (Snapshot s = Snapshot.load(snap); TensorScope sc = TensorScope.open()) {
      assertTrue(s.samplesPoints());
      assertArrayEquals(new long[] {2}, s.itemShape());
      assertArrayEquals(before, s.sample(32, new double[] {0.1}, 5).toFloatArray(), 0f);
    }
  }

  /** Rewrites a snapshot without the given metadata keys (as an older cm4j wrote it), or with one replaced. */
  static Path rewrite(Path snap, Path to, Map<String, String> replace, String... drop) throws Exception {
    try (SafeTensorFile f = SafeTensors.read(snap); TensorScope sc = TensorScope.open()) {
      Map<String, String> meta = new LinkedHashMap<>(f.metadata());
      for (String k : drop) meta.remove(k);
      meta.putAll(replace);
      Map<String, Tensor> t = new LinkedHashMap<>();
      for (String k : f.names()) t.put(k, f.tensor(k));
      SafeTensors.write(to, t, meta);
    }
    return to;
  }

  @Test
  void anOldSnapshotFallsBackToItsDataAndSaysSoWhenTheDataIsGone(@TempDir Path dir) throws Exception {
    Path data = ring(dir);
    Path snap = lastSnapshot(trainTiny(dir, data));
    Path old = rewrite(snap, dir.resolve("old.safetensors"), Map.of(), Snapshot.ITEM_SHAPE, Snapshot.DATA_KIND,
        "resolution", "channels", Snapshot.SIGMA_DATA, Snapshot.DATA_STD);
    try (Snapshot s = Snapshot.load(old)) {
      assertArrayEquals(new long[] {2}, s.itemShape());
    }
    Files.delete(data);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Snapshot.load(old));
    assertTrue(e.getMessage().contains("old.safetensors") && e.getMessage().contains("older cm4j")
        && e.getMessage().contains("ring5.npy"), e.getMessage());
  }

  @Test
  void malformedShapeMetadataIsAClearError(@TempDir Path dir) throws Exception {
    Path snap = lastSnapshot(trainTiny(dir, ring(dir)));
    for (String bad : new String[] {"two", "0", "3,32,16", "1,2"}) {
      Path f = rewrite(snap, dir.resolve("bad.safetensors"), Map.of(Snapshot.ITEM_SHAPE, bad));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Snapshot.load(f));
      assertTrue(e.getMessage().contains("bad.safetensors") && e.getMessage().contains(bad), e.getMessage());
    }
  }

  @Test
  void aStateDictThatDoesNotFitNamesTheFileAndTheKeys(@TempDir Path dir) throws Exception {
    String options = Presets.get("toy2d-ect").toJson();
    Path file = dir.resolve("network-snapshot-000000256.safetensors");
    try (TensorScope s = TensorScope.open()) {
      SafeTensors.write(file, Map.of("bogus.weight", Tensor.zeros(new long[] {3, 2})),
          Map.of("training_options", options));
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Snapshot.load(file));
    String m = e.getMessage();
    assertTrue(m.contains(file.toString()), m);
    assertTrue(m.contains("does not fit") && m.contains("bogus.weight"), m);
  }
}
