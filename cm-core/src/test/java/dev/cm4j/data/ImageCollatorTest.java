package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.image.Png;
import dev.cm4j.image.UInt8Image;
import dev.cm4j.tensor.TensorScope;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Decoding on several worker threads gives the single-threaded loader's batches and states, bit for bit. */
class ImageCollatorTest {
  @TempDir Path dir;

  /** A dataset_tool-style zip of n random RGB PNGs of size r; the images listed in corrupt are cut short. */
  static Path pngZip(Path file, int n, int r, long seed, int... corrupt) throws IOException {
    Random rnd = new Random(seed);
    try (OutputStream os = Files.newOutputStream(file); ZipOutputStream z = new ZipOutputStream(os)) {
      for (int i = 0; i < n; i++) {
        byte[] px = new byte[3 * r * r];
        rnd.nextBytes(px);
        byte[] png = Png.encode(new UInt8Image(3, r, r, px));
        for (int c : corrupt) if (c == i) png = java.util.Arrays.copyOf(png, png.length / 2);
        String idx = String.format("%08d", i);
        z.putNextEntry(new ZipEntry(idx.substring(0, 5) + "/img" + idx + ".png"));
        z.write(png);
        z.closeEntry();
      }
    }
    return file;
  }

  private record Run(List<float[]> xs, List<int[]> indices, List<boolean[]> flips, List<LoaderState> states) {}

  private static Run run(ImageDataset ds, LoaderConfig cfg, LoaderState from, int batches) {
    Run out = new Run(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
    try (Loader l = from == null ? Loader.open(ds, cfg) : Loader.open(ds, cfg, from)) {
      for (int i = 0; i < batches; i++) {
        try (TensorScope s = TensorScope.open()) {
          Batch b = l.next();
          out.xs().add(b.x().toFloatArray());
          out.indices().add(b.indices());
          out.flips().add(b.flipped());
          out.states().add(l.state());
        }
      }
    }
    return out;
  }

  private static void assertSame(Run a, Run b, String what) {
    assertEquals(a.xs().size(), b.xs().size());
    for (int i = 0; i < a.xs().size(); i++) {
      assertArrayEquals(a.indices().get(i), b.indices().get(i), what + " indices " + i);
      assertArrayEquals(a.flips().get(i), b.flips().get(i), what + " flips " + i);
      assertArrayEquals(a.xs().get(i), b.xs().get(i), what + " pixels " + i); // exact float equality
      assertEquals(a.states().get(i), b.states().get(i), what + " state " + i);
    }
  }

  @Test
  void oneAndThreeWorkersGiveBitEqualBatchesAndStates() throws Exception {
    try (ImageFolderDataset ds = ImageFolderDataset.open(pngZip(dir.resolve("d.zip"), 23, 16, 1))) {
      for (LoaderConfig base : new LoaderConfig[] {
          LoaderConfig.of(5, 7).withXflip(true), // straddles epochs (23 items, batches of 5)
          LoaderConfig.of(4, 3).withXflip(true).withResize(20, LoaderConfig.Resize.PAD),
          LoaderConfig.of(6, 9).withResize(11, LoaderConfig.Resize.BILINEAR).withPrefetch(0)}) {
        Run one = run(ds, base.withWorkers(1), null, 12);
        Run zero = run(ds, base.withWorkers(0), null, 12);
        Run three = run(ds, base.withWorkers(3), null, 12);
        assertSame(one, zero, "0 workers");
        assertSame(one, three, "3 workers");
        // Some images were flipped and some not, so the flip path was exercised both ways.
        if (base.xflip()) {
          long flips = one.flips().stream().mapToLong(f -> { int c = 0; for (boolean x : f) if (x) c++; return c; }).sum();
          assertTrue(flips > 5 && flips < 55, "flips " + flips);
        }
        // Resuming with 3 workers from a 1-worker state continues exactly where the 1-worker run went on.
        Run resumed = run(ds, base.withWorkers(3), one.states().get(4), 7);
        Run tail = new Run(one.xs().subList(5, 12), one.indices().subList(5, 12), one.flips().subList(5, 12),
            one.states().subList(5, 12));
        assertSame(tail, resumed, "resumed with 3 workers");
      }
    }
  }

  @Test
  void multiThreadedDecodingMatchesTheDatasetImages() throws Exception {
    try (ImageFolderDataset ds = ImageFolderDataset.open(pngZip(dir.resolve("d.zip"), 9, 8, 2))) {
      Run r = run(ds, LoaderConfig.of(9, 0).withShuffle(false).withWorkers(4), null, 1);
      float[] x = r.xs().get(0);
      for (int i = 0; i < 9; i++) {
        byte[] px = ds.image(i).data();
        for (int j = 0; j < px.length; j++) assertEquals((px[j] & 0xff) / 127.5f - 1f, x[i * 192 + j]);
      }
    }
  }

  @Test
  void theFirstFailingPositionIsReportedWhateverTheWorkers() throws Exception {
    try (ImageFolderDataset ds = ImageFolderDataset.open(pngZip(dir.resolve("bad.zip"), 12, 8, 3, 9, 5))) {
      for (int workers : new int[] {1, 3}) {
        try (Loader l = Loader.open(ds, LoaderConfig.of(12, 0).withShuffle(false).withWorkers(workers))) {
          DataException e = assertThrows(DataException.class, l::next);
          assertTrue(e.getMessage().contains("img00000005.png"), workers + ": " + e.getMessage());
        }
      }
    }
  }

  @Test
  void negativeWorkersAreRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> LoaderConfig.of(2, 0).withWorkers(-1));
    assertTrue(e.getMessage().contains("workers"));
  }
}
