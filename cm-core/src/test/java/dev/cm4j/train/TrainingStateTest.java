package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.tensor.Device;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training-state file: resume past a damaged newest state, malformed files, the objectives' random streams. */
class TrainingStateTest {
  static float[][] params(Trainer t) {
    return t.model().stateDict().values().stream().map(Tensor::toFloatArray).toArray(float[][]::new);
  }

  static double lastLoss(Path run) throws Exception {
    List<String> lines = Files.readAllLines(run.resolve("stats.jsonl"));
    return new ObjectMapper().readTree(lines.get(lines.size() - 1)).path("loss").asDouble();
  }

  @Test
  void aTruncatedNewestStateIsReportedAndTheOneBeforeResumesBitExactly(@TempDir Path dir) throws Exception {
    float[][] full;
    Path runA;
    try (Trainer a = Trainer.start(TrainerTest.toy(1.28, "ect"), dir.resolve("a"), TrainerTest.QUIET)) {
      runA = a.run().runDir();
      full = params(a);
    }
    Path runB;
    try (Trainer b = Trainer.start(TrainerTest.toy(0.768, "ect"), dir.resolve("b"), TrainerTest.QUIET)) {
      runB = b.run().runDir();
    }
    Path newest = runB.resolve("training-state-000000768.safetensors");
    assertTrue(Files.exists(runB.resolve("training-state-000000512.safetensors")));
    // a write cut short (kill -9 on a filesystem without atomic rename, a full disk): keep the first half
    long size = Files.size(newest);
    try (FileChannel ch = FileChannel.open(newest, StandardOpenOption.WRITE)) {
      ch.truncate(size / 2);
    }
    Path of = runB.resolve("training_options.json");
    Files.writeString(of, TrainingOptions.read(of).with(Map.of("duration_kimg", "1.28")).toJson());
    try (Trainer c = Trainer.resume(runB, TrainerTest.QUIET)) {
      assertEquals(512, c.images(), "resumed from the state before the damaged one");
      Trainer.Result r = c.run();
      assertEquals(1280, r.images());
      float[][] resumed = params(c);
      assertEquals(full.length, resumed.length);
      for (int i = 0; i < full.length; i++) assertArrayEquals(full[i], resumed[i], 0f, "tensor " + i);
    }
    assertEquals(lastLoss(runA), lastLoss(runB), 0.0, "the last tick's loss");
    String log = Files.readString(runB.resolve("log.txt"));
    assertTrue(log.contains("training state training-state-000000768.safetensors cannot be used"), log);
    assertTrue(log.contains("resumed " + runB.getFileName() + " at 0.5 kimg"), log);
  }

  /** Copies a state file with its metadata and tensor names edited. */
  static Path edit(Path src, Path dst, Consumer<Map<String, String>> meta, Consumer<Map<String, Tensor>> tensors)
      throws Exception {
    try (SafeTensorFile f = SafeTensors.read(src); TensorScope s = TensorScope.open()) {
      Map<String, String> m = new LinkedHashMap<>(f.metadata());
      Map<String, Tensor> t = new LinkedHashMap<>(f.loadAll());
      meta.accept(m);
      tensors.accept(t);
      SafeTensors.write(dst, t, m);
    }
    return dst;
  }

  @Test
  void malformedStatesAreRejectedNamingTheFileAndTheKey(@TempDir Path dir) throws Exception {
    Path run;
    try (Trainer t = Trainer.start(TrainerTest.toy(0.256, "ect"), dir.resolve("r"), TrainerTest.QUIET)) {
      run = t.run().runDir();
    }
    Path good = run.resolve("training-state-000000256.safetensors");
    record Case(String name, Consumer<Map<String, String>> meta, Consumer<Map<String, Tensor>> tensors,
        String message) {}
    Consumer<Map<String, Tensor>> same = t -> {};
    List<Case> cases = List.of(
        new Case("images", m -> m.put("images", "12x"), same, "metadata 'images' is '12x', not a count"),
        new Case("negative", m -> m.put("iteration", "-3"), same, "metadata 'iteration' is '-3', not a count"),
        new Case("no-tick", m -> m.remove("tick"), same, "metadata 'tick' is missing"),
        new Case("history", m -> m.put("history", "[1, 2"), same, "metadata 'history' is not a JSON list"),
        new Case("loader", m -> m.put("loader", "{\"epoch\": \"x\"}"), same, "metadata 'loader' is malformed"),
        new Case("loss-scale", m -> m.put("loss_scale", "65536"), same,
            "metadata 'loss_scale' is '65536', not \"scale,tracker\""),
        new Case("format", m -> m.put("format", "something"), same, "is not a cm4j training state"),
        new Case("objective-name", m -> {}, t -> t.put("objective.nodot", Tensor.zeros(1)),
            "tensor 'objective.nodot'"),
        new Case("stray", m -> {}, t -> t.put("stray", Tensor.zeros(1)), "tensor 'stray'"),
        new Case("no-rng", m -> {}, t -> t.remove("rng.cpu"), "lacks the tensor 'rng.cpu'"),
        new Case("rng-dtype", m -> {}, t -> t.put("rng.sample", Tensor.zeros(4)),
            "tensor 'rng.sample'"),
        new Case("older-random", m -> {
          m.put("objective_rng", "{\"cm\": \"AAAA\"}");
          m.put("objective_random", "{\"cm\": \"rO0ABXNyABBqYXZhLnV0aWwuUmFuZG9t\"}");
        }, t -> t.keySet().removeIf(k -> k.startsWith("rng.objective.")), "older cm4j"));
    for (Case c : cases) {
      Path bad = edit(good, run.resolve("bad-" + c.name() + ".safetensors"), c.meta(), c.tensors());
      RuntimeException e = assertThrows(IllegalArgumentException.class, () -> Trainer.resume(bad, TrainerTest.QUIET),
          c.name());
      assertTrue(e.getMessage().contains(bad.toString()), c.name() + ": " + e.getMessage());
      assertTrue(e.getMessage().contains(c.message()), c.name() + ": " + e.getMessage());
    }
    // a random stream of the wrong kind is caught when it is restored, also naming the file and the stream
    Path badStream = edit(good, run.resolve("bad-stream.safetensors"), m -> {},
        t -> t.put("rng.objective.noise", Tensor.of(new long[] {7}, 1)));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Trainer.resume(badStream, TrainerTest.QUIET));
    assertTrue(e.getMessage().contains(badStream.toString()) && e.getMessage().contains("random stream 'noise'"),
        e.getMessage());
    // a file that is not a safetensors file at all
    Path junk = Files.writeString(run.resolve("junk.safetensors"), "not a safetensors file");
    RuntimeException j = assertThrows(RuntimeException.class, () -> Trainer.resume(junk, TrainerTest.QUIET));
    assertTrue(j.getMessage().contains(junk.toString()), j.getMessage());
    // a run directory whose only state is damaged: every reason is given
    Files.writeString(good, "truncated");
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
        () -> Trainer.resume(run, TrainerTest.QUIET));
    assertTrue(none.getMessage().startsWith("no usable training state") && none.getMessage().contains(good.toString()),
        none.getMessage());
  }

  /** States of earlier versions kept the noise generator as base64 metadata; an ECT run resumes from them exactly. */
  @Test
  void anEarlierVersionsEctStateStillResumesBitExactly(@TempDir Path dir) throws Exception {
    float[][] full;
    try (Trainer a = Trainer.start(TrainerTest.toy(0.512, "ect"), dir.resolve("a"), TrainerTest.QUIET)) {
      a.run();
      full = params(a);
    }
    Path half;
    try (Trainer b = Trainer.start(TrainerTest.toy(0.256, "ect"), dir.resolve("b"), TrainerTest.QUIET)) {
      half = b.run().runDir();
    }
    Path state = half.resolve("training-state-000000256.safetensors");
    Path old = dir.resolve("old.safetensors");
    String[] oldNoise = new String[1];
    edit(state, old, m -> {}, t -> {
      byte[] noise = t.remove("rng.objective.noise").toByteArray();
      assertTrue(t.keySet().stream().noneMatch(k -> k.startsWith("rng.objective.")), t.keySet().toString());
      oldNoise[0] = java.util.Base64.getEncoder().encodeToString(noise);
    });
    edit(old, state, m -> {
      m.put("objective_rng", "{\"ect\": \"" + oldNoise[0] + "\"}");
      m.put("objective_random", "{}");
    }, t -> {});
    Path of = half.resolve("training_options.json");
    Files.writeString(of, TrainingOptions.read(of).with(Map.of("duration_kimg", "0.512")).toJson());
    try (Trainer c = Trainer.resume(half, TrainerTest.QUIET)) {
      assertEquals(256, c.images());
      c.run();
      float[][] resumed = params(c);
      for (int i = 0; i < full.length; i++) assertArrayEquals(full[i], resumed[i], 0f, "tensor " + i);
    }
  }

  @Test
  void everyObjectiveCarriesItsRandomStreamsAsPlainTensors() {
    String[] kinds = {"ect", "sct", "ict", "ct", "ctm"};
    for (String kind : kinds) {
      TrainingOptions o = TrainerTest.toy(0.256, "ect").with(Map.of("objective", "{\"kind\": \"" + kind + "\"}"));
      RunObjective.NetFactory nets = (cfg, se) -> Builders.network(cfg, 0, 2, se);
      try (TensorScope s = TensorScope.open()) {
        RunObjective a = RunObjective.create(o, nets, 1, Device.CPU);
        RunObjective b = RunObjective.create(o, nets, 2, Device.CPU);
        Map<String, Tensor> sa = a.randomState();
        assertTrue(sa.containsKey("noise"), kind + " " + sa.keySet());
        if (!kind.equals("ect") && !kind.equals("sct")) {
          Tensor pairs = sa.get("pairs");
          assertEquals(DType.INT64, pairs.dtype(), kind);
          assertEquals(1, pairs.numel(), kind);
        }
        assertEquals(DType.UINT8, sa.get("noise").dtype(), kind);
        for (String k : sa.keySet()) {
          assertFalse(java.util.Arrays.equals(sa.get(k).toByteArray(), b.randomState().get(k).toByteArray()),
              kind + " " + k + ": seeds 1 and 2 give different streams");
        }
        b.restoreRandomState(sa);
        for (String k : sa.keySet()) {
          assertArrayEquals(sa.get(k).toByteArray(), b.randomState().get(k).toByteArray(), kind + " " + k);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> b.restoreRandomState(Map.of()));
        assertTrue(e.getMessage().contains("random stream 'noise' is missing"), e.getMessage());
      }
    }
  }

  @Test
  void ictResumesBitExactlyWithItsPairStream(@TempDir Path dir) throws Exception {
    String ict = "{\"kind\": \"ict\", \"total_iterations\": 100}";
    float[][] full;
    try (Trainer a = Trainer.start(TrainerTest.toy(0.512, "ect").with(Map.of("objective", ict)), dir.resolve("a"),
        TrainerTest.QUIET)) {
      a.run();
      full = params(a);
    }
    Path half;
    try (Trainer b = Trainer.start(TrainerTest.toy(0.256, "ect").with(Map.of("objective", ict)), dir.resolve("b"),
        TrainerTest.QUIET)) {
      half = b.run().runDir();
    }
    Path of = half.resolve("training_options.json");
    Files.writeString(of, TrainingOptions.read(of).with(Map.of("duration_kimg", "0.512")).toJson());
    try (Trainer c = Trainer.resume(half, TrainerTest.QUIET)) {
      c.run();
      float[][] resumed = params(c);
      for (int i = 0; i < full.length; i++) assertArrayEquals(full[i], resumed[i], 0f, "ict tensor " + i);
    }
  }
}
