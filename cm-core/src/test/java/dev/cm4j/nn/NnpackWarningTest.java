package dev.cm4j.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where NNPACK cannot initialise (no AVX2, or a virtual CPU that hides its caches), libtorch logs "Could not
 * initialize NNPACK!" on every CPU convolution backward unless NNPACK is disabled; the native library disables it
 * there when it is loaded, silently (native/src/device.cpp). A child JVM runs convolution backward passes and its
 * stderr must have no such line (before the fix: 2 per pass here). On hardware NNPACK supports there is none either
 * way.
 */
class NnpackWarningTest {
  static final int PASSES = 6;

  /**
   * The child: {@value #PASSES} forward + backward passes of a 1×1 convolution on a batch of 2 with one thread, then
   * "done" on stdout. That is the case in which libtorch's backend choice passes oneDNN by and asks NNPACK (SongUNet's
   * skip and attention projections in a single-threaded step of batch 8).
   */
  public static void main(String[] args) {
    Torch.setNumThreads(1);
    try (TensorScope scope = TensorScope.open();
        Conv2d conv = new Conv2d(4, 8, 1, Init.XAVIER)) {
      Tensor x = Tensor.randn(2, 4, 8, 8).requiresGrad_(true);
      for (int i = 0; i < PASSES; i++) {
        try (TensorScope step = TensorScope.open()) {
          conv.forward(x).square().sum().backward();
        }
      }
    }
    System.out.println("done");
  }

  @Test
  void convolutionBackwardLogsNoNnpackWarningPerCall(@TempDir Path dir) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
    for (String k : System.getProperties().stringPropertyNames()) {
      if (k.startsWith("cm4j.")) cmd.add("-D" + k + "=" + System.getProperty(k));
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), NnpackWarningTest.class.getName()));
    Path out = dir.resolve("out.txt");
    Path err = dir.resolve("err.txt");
    Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("child did not finish within 120 s");
    }
    String stderr = Files.readString(err);
    assertEquals(0, p.exitValue(), () -> "child failed:\n" + stderr);
    assertTrue(Files.readString(out).contains("done"), () -> "child did not finish its passes:\n" + stderr);
    long lines = stderr.lines().filter(l -> l.contains("NNPACK")).count();
    assertEquals(0, lines, () -> lines + " NNPACK lines for " + PASSES + " convolution backward passes:\n" + stderr);
  }
}
