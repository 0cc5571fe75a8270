package dev.cm4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Keeps the harness runnable: one quick pass prints a well-formed line per op and variant. */
class OverheadTest {
  @Test
  void quickPassPrintsEveryMeasurement() {
    PrintStream old = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (PrintStream p = new PrintStream(buf, true, StandardCharsets.UTF_8)) {
      System.setOut(p);
      new Overhead(0.0, 1).run();
    } finally {
      System.setOut(old);
    }
    String[] lines = buf.toString(StandardCharsets.UTF_8).strip().split("\n");
    assertEquals(10, lines.length, String.join("\n", lines));
    for (String l : lines) {
      String[] f = l.split("\t");
      assertEquals(6, f.length, l);
      assertTrue(Double.parseDouble(f[2]) > 0, l);
    }
  }
}
