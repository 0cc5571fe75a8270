package dev.cm4j.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs Python code in the reference venv (torch 2.13 on the same libtorch, numpy, scipy, safetensors), found
 * through the CM4J_PYTHON environment variable or the cm4j.python system property (scripts/test.sh sets it up).
 * A test that needs it fails when it is missing, rather than silently skipping.
 */
public final class PythonRef {
  private PythonRef() {}

  /** The reference interpreter. */
  public static String python() {
    String p = System.getProperty("cm4j.python");
    if (p == null || p.isBlank()) p = System.getenv("CM4J_PYTHON");
    if (p == null || p.isBlank()) {
      fail("the reference Python is not configured: run tests through scripts/test.sh, or set CM4J_PYTHON to "
          + "the python of scripts/setup-venv.sh");
    }
    return p;
  }

  /** Runs a script with arguments; returns stdout; fails the test on a non-zero exit (with stderr). */
  public static String run(String script, String... args) {
    try {
      Path f = Files.createTempFile("cm4j-ref", ".py");
      Files.writeString(f, script);
      List<String> cmd = new ArrayList<>(List.of(python(), f.toString()));
      cmd.addAll(List.of(args));
      ProcessBuilder pb = new ProcessBuilder(cmd);
      pb.environment().put("OMP_NUM_THREADS", "1");
      Process p = pb.start();
      byte[] out = p.getInputStream().readAllBytes();
      byte[] err = p.getErrorStream().readAllBytes();
      if (!p.waitFor(300, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        fail("reference Python timed out");
      }
      Files.deleteIfExists(f);
      assertEquals(0, p.exitValue(), () -> "reference Python failed:\n" + new String(err, StandardCharsets.UTF_8));
      return new String(out, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new RuntimeException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RuntimeException(e);
    }
  }
}
