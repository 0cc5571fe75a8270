package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.image.Png;
import dev.cm4j.image.PyPng;
import dev.cm4j.image.UInt8Image;
import dev.cm4j.testing.PythonRef;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderDatasetTest {
  @TempDir Path dir;

  @Test
  void folderAndZipMatchEdmOrderImagesAndLabels() throws Exception {
    // Python (independent PNG encoder) writes a dataset_tool-style folder with awkward names, its zip, and what EDM's
    // ImageFolderDataset would yield: sorted names, CHW images, labels.
    PythonRef.run(PyPng.CODE + """
        import sys, os, json, zipfile
        d = os.path.join(sys.argv[1], 'ds'); rng = np.random.default_rng(3)
        names = ['00000/img00000001.png', '00000/img00000000.png', '00001/img00001000.png', 'B.png', 'a10.png',
                 'a9.png', 'a/x.PNG']
        labels = {}
        for k, n in enumerate(names):
            os.makedirs(os.path.dirname(os.path.join(d, n)), exist_ok=True)
            enc(os.path.join(d, n), rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), 2); labels[n] = int(k % 4)
        open(os.path.join(d, 'notes.txt'), 'w').write('not an image')
        json.dump({'labels': [[n, labels[n]] for n in names]}, open(os.path.join(d, 'dataset.json'), 'w'))
        with zipfile.ZipFile(os.path.join(sys.argv[1], 'ds.zip'), 'w') as z:
            for root, _, files in os.walk(d):
                for f in files:
                    p = os.path.join(root, f); z.write(p, os.path.relpath(p, d))
        order = sorted(names)                                  # EDM: sorted(fnames), PIL-readable extensions
        imgs = np.stack([dec(os.path.join(d, n)).transpose(2, 0, 1) for n in order])
        open(os.path.join(sys.argv[1], 'order.txt'), 'w').write('\\n'.join(order))
        open(os.path.join(sys.argv[1], 'images.raw'), 'wb').write(imgs.tobytes())
        open(os.path.join(sys.argv[1], 'labels.raw'), 'wb').write(bytes(labels[n] for n in order))
        """, dir.toString());
    List<String> order = Files.readAllLines(dir.resolve("order.txt"));
    byte[] images = Files.readAllBytes(dir.resolve("images.raw"));
    byte[] labels = Files.readAllBytes(dir.resolve("labels.raw"));
    for (Path p : new Path[] {dir.resolve("ds"), dir.resolve("ds.zip")}) {
      try (ImageFolderDataset ds = ImageFolderDataset.open(p)) {
        assertEquals(order, ds.fileNames(), p.toString());
        assertEquals(3, ds.channels());
        assertEquals(6, ds.resolution());
        assertEquals(4, ds.labelDim());
        for (int i = 0; i < ds.size(); i++) {
          assertArrayEquals(Arrays.copyOfRange(images, i * 108, (i + 1) * 108), ds.image(i).data(), p + " " + i);
          assertEquals(labels[i], ds.labels().orElseThrow().classOf(i));
        }
      }
      try (ImageFolderDataset ds = ImageFolderDataset.open(p, false)) {
        assertEquals(0, ds.labelDim());
      }
    }
  }

  private Path folder(String name, int n, int h, int w) throws Exception {
    Path d = dir.resolve(name);
    Files.createDirectories(d);
    for (int i = 0; i < n; i++) Png.write(UInt8Image.zeros(1, h, w), d.resolve("img%02d.png".formatted(i)));
    return d;
  }

  @Test
  void vectorLabelsAndNullLabels() throws Exception {
    Path d = folder("vec", 2, 3, 3);
    Files.writeString(d.resolve("dataset.json"),
        "{\"labels\": [[\"img01.png\", [0.5, 2]], [\"img00.png\", [1, -1.25]]]}");
    try (ImageFolderDataset ds = ImageFolderDataset.open(d)) {
      assertEquals(2, ds.labelDim());
      assertArrayEquals(new float[] {1, -1.25f}, ds.item(0).label());
      assertArrayEquals(new float[] {0.5f, 2}, ds.item(1).label());
    }
    Files.writeString(d.resolve("dataset.json"), "{\"labels\": null}");
    try (ImageFolderDataset ds = ImageFolderDataset.open(d)) {
      assertTrue(ds.labels().isEmpty());
    }
  }

  private static void assertFails(Path expectedFile, Runnable r, String fragment) {
    DataException e = assertThrows(DataException.class, r::run);
    assertTrue(e.getMessage().contains(expectedFile.toString()), e.getMessage());
    assertTrue(e.getMessage().contains(fragment), e.getMessage());
  }

  @Test
  void problemsAreReportedWithTheFile() throws Exception {
    Path d = folder("bad", 3, 4, 4);
    Files.writeString(d.resolve("dataset.json"), "{\"labels\": [[\"img00.png\", 1], [\"img01.png\", 0]]}");
    assertFails(d.resolve("dataset.json"), () -> ImageFolderDataset.open(d), "no label for image img02.png");
    Files.writeString(d.resolve("dataset.json"), "{\"labels\": [[\"img00.png\", 1], ");
    assertFails(d.resolve("dataset.json"), () -> ImageFolderDataset.open(d), "malformed JSON");
    Files.delete(d.resolve("dataset.json"));

    Png.write(UInt8Image.zeros(3, 4, 4), d.resolve("img01.png")); // a colour image among gray ones
    try (ImageFolderDataset ds = ImageFolderDataset.open(d)) {
      ds.readImage(0, new byte[16], 0);
      assertFails(d.resolve("img01.png"), () -> ds.readImage(1, new byte[16], 0), "shape [3, 4, 4]");
      Files.delete(d.resolve("img02.png"));
      assertFails(d.resolve("img02.png"), () -> ds.readImage(2, new byte[16], 0), "not found");
    }

    Path rect = folder("rect", 1, 4, 5);
    assertFails(rect.resolve("img00.png"), () -> ImageFolderDataset.open(rect), "square");
    Path empty = dir.resolve("empty");
    Files.createDirectories(empty);
    assertFails(empty, () -> ImageFolderDataset.open(empty), "no image files");
    Path webp = folder("webp", 1, 2, 2);
    Files.write(webp.resolve("x.webp"), new byte[4]);
    assertFails(webp, () -> ImageFolderDataset.open(webp), ".webp is not supported");
    Path zip = dir.resolve("broken.zip");
    Files.write(zip, "PK not really a zip".getBytes(StandardCharsets.US_ASCII));
    assertFails(zip, () -> ImageFolderDataset.open(zip), "zip");
    assertFails(dir.resolve("absent"), () -> ImageFolderDataset.open(dir.resolve("absent")), "not found");
  }
}
