package dev.cm4j.nn;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.PythonRef;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class SongUNetTest {
  /** "key\t[shape]" lines of a state dict, in order. */
  static List<String> describe(Module m) {
    List<String> out = new ArrayList<>();
    for (var e : m.stateDict().entrySet()) {
      out.add(e.getKey() + "\t" + Arrays.toString(e.getValue().shape()));
    }
    return out;
  }

  static List<String> reference(String file) throws Exception {
    return Files.readAllLines(PythonRef.sharedReference().resolve(file)).stream().filter(l -> !l.isBlank() && !l.startsWith("#")).toList();
  }

  static void assertSameEntries(List<String> ref, List<String> mine) {
    var onlyRef = new java.util.TreeSet<>(ref);
    mine.forEach(onlyRef::remove);
    var onlyMine = new java.util.TreeSet<>(mine);
    ref.forEach(onlyMine::remove);
    assertTrue(onlyRef.isEmpty() && onlyMine.isEmpty() && ref.size() == mine.size(),
        "only in reference: " + onlyRef + "\nonly in cm4j: " + onlyMine);
  }

  @Test
  void ddpmppCifar10KeysShapesAndParameterCountMatchEdm() throws Exception {
    try (EDMPrecond net = EDMPrecond.edm(new SongUNet(SongUNet.Config.ddpmpp(32, 3, 0.13)))) {
      List<String> ref = reference("songunet-ddpmpp-cifar10-keys.tsv");
      List<String> mine = describe(net);
      assertSameEntries(ref, mine);
      assertEquals(55_732_739L, net.parameterCount());
    }
  }

  @Test
  void ncsnppCifar10KeysAndShapesMatchEdm() throws Exception {
    try (EDMPrecond net = EDMPrecond.edm(new SongUNet(SongUNet.Config.ncsnpp(32, 3, 0.13)))) {
      List<String> ref = reference("songunet-ncsnpp-cifar10-keys.tsv");
      assertSameEntries(ref, describe(net));
      assertEquals(56_395_523L, net.parameterCount());
    }
  }
}
