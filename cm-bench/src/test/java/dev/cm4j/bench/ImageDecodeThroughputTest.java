package dev.cm4j.bench;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.data.ImageFolderDataset;
import dev.cm4j.image.Png;
import dev.cm4j.tensor.Torch;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Keeps the decode benchmark runnable (one untimed pass) and its synthetic zip readable by ImageIO and us alike. */
class ImageDecodeThroughputTest {
  @Test
  void writesAReadableZipAndPrintsWellFormedLines(@TempDir Path dir) throws Exception {
    Path zip = dir.resolve("d.zip");
    ImageDecodeThroughput.writeZip(zip, 70, 1);
    try (ImageFolderDataset ds = ImageFolderDataset.open(zip)) {
      assertEquals(70, ds.size());
      assertEquals(64, ds.resolution());
      assertEquals(70, ds.labelDim());
    }
    byte[] hwc = new byte[2 * 3 * 3];
    for (int i = 0; i < hwc.length; i++) hwc[i] = (byte) (i * 13);
    byte[] chw = Png.decode(ImageDecodeThroughput.storedPng(hwc, 2, 3), "t").data();
    for (int c = 0; c < 3; c++) for (int p = 0; p < 6; p++) assertEquals(hwc[p * 3 + c], chw[c * 6 + p]);
    Torch.load();
    PrintStream old = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (PrintStream p = new PrintStream(buf, true, StandardCharsets.UTF_8)) {
      System.setOut(p);
      ImageDecodeThroughput.time(zip, new StepTimer(0, 0, 1), new int[] {1, 2});
    } finally {
      System.setOut(old);
    }
    String[] lines = buf.toString(StandardCharsets.UTF_8).strip().split("\n");
    assertEquals(3, lines.length);
    for (String l : lines) assertEquals(6, l.split("\t").length, l);
  }
}
