package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.testing.PythonRef;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** IdxDataset and the Idx reader. */
class IdxDatasetTest {
  @TempDir Path dir;

  @Test
  void readsSyntheticRawAndGzipFilesWrittenByPython() throws Exception {
    PythonRef.run("""
        import sys, os, gzip, struct, numpy as np
        d = sys.argv[1]; rng = np.random.default_rng(1)
        im = rng.integers(0, 256, (7, 5, 5), dtype=np.uint8); lb = rng.integers(0, 4, 7, dtype=np.uint8)
        lb[3] = 3                                                   # label_dim = 4
        imb = struct.pack('>IIII', 2051, 7, 5, 5) + im.tobytes(); lbb = struct.pack('>II', 2049, 7) + lb.tobytes()
        open(os.path.join(d, 'train-images-idx3-ubyte'), 'wb').write(imb)
        open(os.path.join(d, 'train-labels-idx1-ubyte'), 'wb').write(lbb)
        os.makedirs(os.path.join(d, 'gz'))
        gzip.open(os.path.join(d, 'gz', 'train-images-idx3-ubyte.gz'), 'wb').write(imb)
        gzip.open(os.path.join(d, 'gz', 'train-labels-idx1-ubyte.gz'), 'wb').write(lbb)
        open(os.path.join(d, 'images.raw'), 'wb').write(im.tobytes())
        open(os.path.join(d, 'labels.raw'), 'wb').write(lb.tobytes())
        """, dir.toString());
    byte[] im = Files.readAllBytes(dir.resolve("images.raw"));
    byte[] lb = Files.readAllBytes(dir.resolve("labels.raw"));
    for (Path d : new Path[] {dir, dir.resolve("gz")}) {
      IdxDataset ds = IdxDataset.openStandard(d, true);
      assertEquals(7, ds.size());
      assertEquals(1, ds.channels());
      assertEquals(5, ds.resolution());
      assertEquals(4, ds.labelDim());
      assertArrayEquals(new long[] {1, 5, 5}, ds.itemShape());
      for (int i = 0; i < 7; i++) {
        assertArrayEquals(java.util.Arrays.copyOfRange(im, i * 25, i * 25 + 25), ds.image(i).data());
        assertEquals(lb[i], ds.labels().orElseThrow().classOf(i));
        Dataset.ImageItem item = ds.item(i);
        assertEquals(1f, item.label()[lb[i]]);
      }
    }
    IdxDataset unlabelled = IdxDataset.open(dir.resolve("train-images-idx3-ubyte"), null);
    assertEquals(0, unlabelled.labelDim());
    assertEquals(0, unlabelled.item(0).label().length);
  }

  private Path write(String name, byte[] b) throws Exception {
    Path p = dir.resolve(name);
    Files.write(p, b);
    return p;
  }

  private static byte[] idx(int magic, int[] dims, int dataBytes) {
    ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + dataBytes);
    b.putInt(magic);
    for (int d : dims) b.putInt(d);
    return b.array();
  }

  private static void assertNames(Path file, Runnable r, String fragment) {
    DataException e = assertThrows(DataException.class, r::run);
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    assertTrue(e.getMessage().contains(fragment), e.getMessage());
    assertEquals(file.toString(), e.file());
  }

  @Test
  void malformedFilesAreRejectedNamingTheFile() throws Exception {
    Path labels = write("labels", idx(2049, new int[] {2}, 2));
    Path good = write("good", idx(2051, new int[] {2, 3, 3}, 18));
    Path rank2 = write("rank2", idx(2050, new int[] {2, 9}, 18));
    assertNames(rank2, () -> IdxDataset.open(rank2, labels), "2 dimensions, expected 3");
    Path floats = write("floats", idx(0x00000D03, new int[] {2, 3, 3}, 72));
    assertNames(floats, () -> IdxDataset.open(floats, labels), "type 0x0d");
    Path magic = write("magic", idx(0x01000803, new int[] {2, 3, 3}, 18));
    assertNames(magic, () -> IdxDataset.open(magic, labels), "magic");
    Path truncated = write("truncated", java.util.Arrays.copyOf(idx(2051, new int[] {2, 3, 3}, 18), 30));
    assertNames(truncated, () -> IdxDataset.open(truncated, labels), "truncated");
    Path trailing = write("trailing", idx(2051, new int[] {2, 3, 3}, 19));
    assertNames(trailing, () -> IdxDataset.open(trailing, labels), "trailing");
    Path nonSquare = write("nonsquare", idx(2051, new int[] {2, 3, 4}, 24));
    assertNames(nonSquare, () -> IdxDataset.open(nonSquare, labels), "square");
    Path three = write("three", idx(2049, new int[] {3}, 3));
    assertNames(three, () -> IdxDataset.open(good, three), "3 labels for 2 images");
    Path missing = dir.resolve("missing");
    assertNames(missing, () -> IdxDataset.open(missing, labels), "not found");
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
      gz.write(idx(2051, new int[] {2, 3, 3}, 18));
    }
    byte[] gzBytes = bos.toByteArray();
    Path badGzip = write("bad.gz", java.util.Arrays.copyOf(gzBytes, gzBytes.length - 12));
    assertNames(badGzip, () -> IdxDataset.open(badGzip, labels), "gzip");
    assertEquals(2, IdxDataset.open(good, labels).size());
  }

  @Test
  void debianFashionMnistMatchesAnIndependentParse() throws Exception {
    Assumptions.assumeTrue(Files.isDirectory(IdxDataset.DEBIAN_FASHION_MNIST),
        "dataset-fashion-mnist is not installed");
    IdxDataset train = IdxDataset.debianFashionMnist(true).orElseThrow();
    IdxDataset test = IdxDataset.debianFashionMnist(false).orElseThrow();
    assertEquals(60000, train.size());
    assertEquals(10000, test.size());
    assertEquals(28, train.resolution());
    assertEquals(10, train.labelDim());
    String out = PythonRef.run("""
        import gzip, sys, numpy as np
        d = sys.argv[1]
        im = np.frombuffer(gzip.open(d + '/t10k-images-idx3-ubyte.gz').read(), np.uint8, offset=16).reshape(-1, 784)
        lb = np.frombuffer(gzip.open(d + '/t10k-labels-idx1-ubyte.gz').read(), np.uint8, offset=8)
        print(' '.join(str(v) for v in lb[:20])); print(int(im[1234].astype(np.int64).sum()), int(im[9999, 400]))
        """, IdxDataset.DEBIAN_FASHION_MNIST.toString());
    String[] lines = out.strip().split("\n");
    String[] labels = lines[0].split(" ");
    for (int i = 0; i < 20; i++) assertEquals(Integer.parseInt(labels[i]), test.labels().orElseThrow().classOf(i));
    String[] stats = lines[1].split(" ");
    byte[] img = test.image(1234).data();
    long sum = 0;
    for (byte b : img) sum += b & 0xff;
    assertEquals(Long.parseLong(stats[0]), sum);
    assertEquals(Integer.parseInt(stats[1]), test.image(9999).get(0, 400 / 28, 400 % 28));
  }
}
