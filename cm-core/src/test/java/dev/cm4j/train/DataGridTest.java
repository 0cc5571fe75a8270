package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.data.ImageFolderDataset;
import dev.cm4j.image.Png;
import dev.cm4j.image.UInt8Image;
import dev.cm4j.testing.Fixtures;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A new run writes data.png, a grid of training images, into its run directory. */
class DataGridTest {
  private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

  @Test
  void startingARunWritesTheTrainingImageGrid(@TempDir Path dir) throws Exception {
    Path zip = Fixtures.reference("imagenet64-layout.zip"); // 10 RGB 64×64 images
    TrainingOptions o = Presets.get("fmnist-ect-tiny").with(Map.of("data.kind", "\"folder\"", "data.path",
        "\"" + zip + "\"", "data.resolution", "0", "data.grid", "6"));
    Path run;
    try (Trainer t = Trainer.start(o, dir, QUIET)) {
      run = t.runDir();
    }
    UInt8Image grid = Png.read(run.resolve("data.png"));
    assertArrayEquals(new long[] {3, 2 * 64, 3 * 64}, grid.shape()); // ⌈√6⌉ = 3 columns, 2 rows
    // Each tile is one of the dataset's images, and the six tiles are six different images.
    try (ImageFolderDataset ds = ImageFolderDataset.open(zip)) {
      Set<Integer> seen = new HashSet<>();
      for (int tile = 0; tile < 6; tile++) {
        byte[] t = new byte[3 * 64 * 64];
        for (int c = 0; c < 3; c++) {
          for (int y = 0; y < 64; y++) {
            System.arraycopy(grid.data(), (c * 128 + (tile / 3) * 64 + y) * 192 + (tile % 3) * 64, t,
                (c * 64 + y) * 64, 64);
          }
        }
        int match = -1;
        for (int i = 0; i < ds.size(); i++) if (java.util.Arrays.equals(ds.image(i).data(), t)) match = i;
        assertTrue(match >= 0, "tile " + tile + " is not a training image");
        seen.add(match);
      }
      assertEquals(6, seen.size());
    }
  }

  @Test
  void aSmallDatasetIsCycled(@TempDir Path dir) {
    try (ImageFolderDataset ds = ImageFolderDataset.open(Fixtures.reference("imagenet64-layout.zip"))) {
      Trainer.writeDataGrid(ds, 12, 3, dir.resolve("g.png"));
      assertArrayEquals(new long[] {3, 3 * 64, 4 * 64}, Png.read(dir.resolve("g.png")).shape());
    }
  }
}
