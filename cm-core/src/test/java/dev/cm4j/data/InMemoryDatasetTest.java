package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import org.junit.jupiter.api.Test;

/** InMemoryImageDataset, InMemoryPointDataset and Labels. */
class InMemoryDatasetTest {
  @Test
  void imagesFromTensorsCopiesAndHeads() {
    try (TensorScope s = TensorScope.open()) {
      Tensor t = Tensor.arange(0, 2 * 3 * 2 * 2, 1, DType.UINT8, dev.cm4j.tensor.Device.CPU).reshape(2, 3, 2, 2);
      InMemoryImageDataset ds = InMemoryImageDataset.fromTensor(t, Labels.classes(new int[] {1, 0}, 2));
      assertEquals(2, ds.size());
      assertEquals(3, ds.channels());
      assertEquals(2, ds.resolution());
      assertEquals(12 + 5, ds.image(1).get(1, 0, 1));
      assertArrayEquals(new float[] {0, 1}, ds.item(0).label());
      InMemoryImageDataset copy = InMemoryImageDataset.copyOf(ds);
      assertEquals(ds.image(1), copy.image(1));
      InMemoryImageDataset head = InMemoryImageDataset.head(ds, 1);
      assertEquals(1, head.size());
      assertEquals(1, head.labels().orElseThrow().classOf(0));
      assertThrows(IllegalArgumentException.class,
          () -> InMemoryImageDataset.fromTensor(Tensor.zeros(2, 3, 2, 2), null)); // float, not uint8
      assertThrows(IllegalArgumentException.class,
          () -> InMemoryImageDataset.fromTensor(t.reshape(2, 3, 4, 1), null)); // not square
    }
    assertThrows(IllegalArgumentException.class, () -> new InMemoryImageDataset(new byte[7], 2, 1, 2, null));
    assertThrows(IllegalArgumentException.class,
        () -> new InMemoryImageDataset(new byte[8], 2, 1, 2, Labels.classes(new int[] {0}, 1)));
    assertThrows(IndexOutOfBoundsException.class,
        () -> new InMemoryImageDataset(new byte[8], 2, 1, 2, null).readImage(2, new byte[4], 0));
  }

  @Test
  void pointsFromTensors() {
    try (TensorScope s = TensorScope.open()) {
      InMemoryPointDataset ds = InMemoryPointDataset.fromTensor(
          Tensor.of(new double[] {1, 2, 3, 4, 5, 6}, 3, 2), Labels.vectors(new float[] {9, 8, 7}, 1));
      assertEquals(3, ds.size());
      assertEquals(2, ds.dim());
      assertArrayEquals(new long[] {2}, ds.itemShape());
      assertArrayEquals(new float[] {5, 6}, ds.item(2).point());
      assertArrayEquals(new float[] {7}, ds.item(2).label());
    }
    assertThrows(IllegalArgumentException.class, () -> new InMemoryPointDataset(new float[5], 2, null));
  }

  @Test
  void labelsOneHotVectorsAndEdmLabelDim() {
    Labels c = Labels.classes(new int[] {2, 0, 5});
    assertEquals(6, c.dim()); // EDM: max + 1
    assertTrue(c.isClassIndex());
    float[] v = new float[8];
    c.write(0, v, 1);
    assertArrayEquals(new float[] {0, 0, 0, 1, 0, 0, 0, 0}, v);
    assertThrows(IllegalArgumentException.class, () -> Labels.classes(new int[] {3}, 3));
    Labels f = Labels.vectors(new float[] {1, 2, 3, 4}, 2);
    assertFalse(f.isClassIndex());
    assertArrayEquals(new float[] {3, 4}, f.get(1));
    assertArrayEquals(new float[] {3, 4}, f.subset(new int[] {1}).get(0));
    assertThrows(IllegalStateException.class, () -> f.classOf(0));
  }
}
