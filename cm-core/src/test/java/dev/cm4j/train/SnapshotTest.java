package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading a network snapshot whose tensors do not fit the network of its own options. */
class SnapshotTest {
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
