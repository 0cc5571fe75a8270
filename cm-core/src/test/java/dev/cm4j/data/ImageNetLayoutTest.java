package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.image.UInt8Image;
import dev.cm4j.testing.Fixtures;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The ImageNet-64 zip layout as EDM's own dataset_tool.py writes it (tools/make_imagenet_layout_fixture.py: class
 * folders of JPEGs → center-crop 64×64 → {@code 00000/img00000000.png} stored PNGs + dataset.json labels) is read
 * with the names, labels and pixels that PIL reads from it.
 */
class ImageNetLayoutTest {
  @Test
  void readsDatasetToolZipLikePil() throws Exception {
    JsonNode expected = new ObjectMapper().readTree(Files.readAllBytes(
        Fixtures.reference("imagenet64-layout-expected.json")));
    Npy.Array pixels = Npy.read(Fixtures.reference("imagenet64-layout-pixels.npy")); // [N, 64, 64, 3] HWC
    List<String> names = new ArrayList<>();
    expected.get("names").forEach(n -> names.add(n.asText()));
    int n = names.size();
    assertEquals(10, n);
    assertArrayEquals(new long[] {n, 64, 64, 3}, pixels.shape());
    try (ImageFolderDataset ds = ImageFolderDataset.open(Fixtures.reference("imagenet64-layout.zip"))) {
      assertEquals(names, ds.fileNames());
      assertEquals("00000/img00000000.png", ds.fileNames().get(0));
      assertEquals(3, ds.channels());
      assertEquals(64, ds.resolution());
      assertEquals(3, ds.labelDim()); // three class folders → classes 0..2
      Labels labels = ds.labels().orElseThrow();
      assertTrue(labels.isClassIndex());
      for (int i = 0; i < n; i++) {
        assertEquals(expected.get("labels").get(i).asInt(), labels.classOf(i), "label " + i);
        UInt8Image im = ds.image(i);
        byte[] hwc = pixels.data();
        int base = i * 64 * 64 * 3;
        for (int y = 0; y < 64; y++) {
          for (int x = 0; x < 64; x++) {
            for (int c = 0; c < 3; c++) {
              if (hwc[base + (y * 64 + x) * 3 + c] != im.data()[(c * 64 + y) * 64 + x]) {
                fail("image " + i + " differs from PIL at c " + c + ", y " + y + ", x " + x);
              }
            }
          }
        }
      }
      // The pixels are not trivially equal: the images differ from each other.
      assertFalse(java.util.Arrays.equals(ds.image(0).data(), ds.image(1).data()));
    }
  }

  @Test
  void labelsReachTheLoaderAsOneHot() {
    try (ImageFolderDataset ds = ImageFolderDataset.open(Fixtures.reference("imagenet64-layout.zip"));
        Loader l = Loader.open(ds, LoaderConfig.of(10, 0).withShuffle(false).withInfinite(false));
        var scope = dev.cm4j.tensor.TensorScope.open()) {
      Batch b = l.next();
      assertArrayEquals(new long[] {10, 3, 64, 64}, b.x().shape());
      assertArrayEquals(new long[] {10, 3}, b.labels().shape());
      float[] y = b.labels().toFloatArray();
      Labels labels = ds.labels().orElseThrow();
      for (int i = 0; i < 10; i++) {
        for (int k = 0; k < 3; k++) assertEquals(labels.classOf(i) == k ? 1f : 0f, y[i * 3 + k]);
      }
    }
  }
}
