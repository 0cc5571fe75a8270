package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ProgressTest {
  @Test
  void barShowsFractionRateEtaAndLoss() {
    String l = Progress.line(8000, 32000, 40, 0.12345, 20);
    assertEquals("[#####---------------]  25.0%  8.0/32.0 kimg  40 img/s  ETA 0h10m00s  loss 0.1235", l);
    assertTrue(Progress.line(0, 100, 0, 1, 10).contains("ETA --"));
    assertTrue(Progress.line(10, 100, 5, Double.NaN, 10).endsWith("loss --"), "no tick has ended yet");
    assertTrue(Progress.line(100, 100, 5, 1, 10).startsWith("[##########] 100.0%"));
  }

  @Test
  void drawsInPlaceOnlyWhenEnabledAndClears() {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    PrintStream ps = new PrintStream(b, true, StandardCharsets.UTF_8);
    Progress off = new Progress(ps, false);
    off.update(1, 10, 1, 1);
    off.clear();
    assertEquals(0, b.size());
    Progress on = new Progress(ps, true);
    on.update(1, 10, 1, 1);
    on.update(2, 10, 1, 1); // within a second: not redrawn
    String s = b.toString(StandardCharsets.UTF_8);
    assertTrue(s.startsWith("\r[") && s.indexOf("\r[", 1) < 0, s);
    on.clear();
    assertTrue(b.toString(StandardCharsets.UTF_8).endsWith("\r\033[K"));
  }
}
