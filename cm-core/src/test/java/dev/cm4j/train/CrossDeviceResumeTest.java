package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training state records the device type that wrote it; on the same type it resumes bit-exactly (the other tests),
 * on another type with a note that the random streams start afresh. The other type is simulated by relabelling a CPU
 * state as a CUDA one (with a CUDA-sized default-generator state), which is what such a file looks like.
 */
class CrossDeviceResumeTest {
  @Test
  void aStateRecordsItsDeviceAndOneFromAnotherDeviceTypeResumesWithANote(@TempDir Path dir) throws Exception {
    Path run;
    try (Trainer t = Trainer.start(TrainerTest.toy(0.256, "ect"), dir, TrainerTest.QUIET)) {
      run = t.run().runDir();
    }
    Path state = RunDirectory.of(run).statesNewestFirst().get(0);
    Map<String, Tensor> weights = new LinkedHashMap<>();
    try (TensorScope s = TensorScope.open()) {
      Map<String, Tensor> all = new LinkedHashMap<>();
      Map<String, String> meta;
      try (SafeTensorFile f = SafeTensors.read(state)) {
        meta = new LinkedHashMap<>(f.metadata());
        for (String n : f.names()) all.put(n, f.tensor(n));
      }
      assertEquals("cpu", meta.get("device"));
      assertTrue(all.keySet().stream().noneMatch(n -> n.startsWith("rng.device.")), "a CPU run has no device rng");
      for (var e : all.entrySet()) {
        if (e.getKey().startsWith("model.")) weights.put(e.getKey().substring(6), s.keep(e.getValue().clone()));
      }
      // the same state as a CUDA run would write it: device "cuda", a Philox state (16 bytes) per generator
      meta.put("device", "cuda");
      byte[] philox = new byte[16];
      all.put("rng.device.cuda", Tensor.fromBytes(philox, DType.UINT8, 16));
      all.put("rng.sample", Tensor.fromBytes(philox, DType.UINT8, 16));
      all.put("rng.objective.noise", Tensor.fromBytes(philox, DType.UINT8, 16));
      SafeTensors.write(state, all, meta);
    }
    // restoring the 16-byte states into CPU generators would throw: they are left as seeded, with a note
    try (Trainer t = Trainer.resume(run, TrainerTest.QUIET); TensorScope s = TensorScope.open()) {
      for (var e : t.model().stateDict().entrySet()) {
        assertArrayEquals(weights.get(e.getKey()).toFloatArray(), e.getValue().toFloatArray(), 0f, e.getKey());
      }
    }
    String log = Files.readString(run.resolve("log.txt"));
    assertTrue(log.contains("was written on cuda and resumes on cpu") && log.contains("random streams"), log);
    for (Tensor w : weights.values()) w.close();
  }

  @Test
  void aDeviceTypeThatIsNotANameIsRejected(@TempDir Path dir) throws Exception {
    Path run;
    try (Trainer t = Trainer.start(TrainerTest.toy(0.256, "ect"), dir, TrainerTest.QUIET)) {
      run = t.run().runDir();
    }
    Path state = RunDirectory.of(run).statesNewestFirst().get(0);
    try (TensorScope s = TensorScope.open()) {
      Map<String, Tensor> all = new LinkedHashMap<>();
      Map<String, String> meta;
      try (SafeTensorFile f = SafeTensors.read(state)) {
        meta = new LinkedHashMap<>(f.metadata());
        for (String n : f.names()) all.put(n, f.tensor(n));
      }
      meta.put("device", "CUDA 0!");
      SafeTensors.write(state, all, meta);
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TrainingState.open(state).close());
    assertTrue(e.getMessage().contains("metadata 'device'") && e.getMessage().contains(state.toString()),
        e.getMessage());
  }
}
