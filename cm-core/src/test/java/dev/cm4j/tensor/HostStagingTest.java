package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The array entry points that replace MemorySegment outside the native packages: HostStaging, fromBytes(byte[]). */
class HostStagingTest {
  @Test
  void stagedFloatsRoundTripAcrossGrowthAndReuse() {
    try (HostStaging s = new HostStaging(); TensorScope scope = TensorScope.open()) {
      float[] small = {1, 2, 3, 4, 5, 6};
      Tensor a = s.floats(small, new long[] {2, 3}, Device.CPU);
      float[] big = new float[1000];
      for (int i = 0; i < big.length; i++) big[i] = i * 0.5f;
      Tensor b = s.floats(big, new long[] {10, 100}, Device.CPU); // grows the buffer
      Tensor c = s.floats(new float[] {-1, -2}, new long[] {2}, Device.CPU); // reuses it
      assertArrayEquals(small, a.toFloatArray(), "a tensor owns a copy, not the staging buffer");
      assertArrayEquals(new long[] {2, 3}, a.shape());
      assertArrayEquals(big, b.toFloatArray());
      assertArrayEquals(new float[] {-1, -2}, c.toFloatArray());
    }
  }

  @Test
  void badUseIsAClearError() {
    HostStaging s = new HostStaging();
    assertThrows(NullPointerException.class, () -> s.floats(null, new long[] {1}, Device.CPU));
    RuntimeException e = assertThrows(RuntimeException.class, () -> s.floats(new float[3], new long[] {2}, Device.CPU));
    assertTrue(e.getMessage().contains("bytes"), e.getMessage());
    s.close();
    s.close(); // idempotent
    IllegalStateException closed =
        assertThrows(IllegalStateException.class, () -> s.floats(new float[1], new long[] {1}, Device.CPU));
    assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
  }

  @Test
  void fromBytesTakesTheRequestedSliceOfAnArray() {
    byte[] b = new byte[12];
    for (int i = 0; i < b.length; i++) b[i] = (byte) (i + 1);
    try (TensorScope scope = TensorScope.open()) {
      Tensor all = Tensor.fromBytes(b, DType.UINT8, 3, 4);
      assertArrayEquals(b, all.toByteArray());
      Tensor mid = Tensor.fromBytes(b, 4, 6, DType.UINT8, new long[] {2, 3}, Device.CPU);
      assertArrayEquals(new byte[] {5, 6, 7, 8, 9, 10}, mid.toByteArray());
      assertArrayEquals(new long[] {2, 3}, mid.shape());
      Tensor f = Tensor.fromBytes(new byte[] {0, 0, (byte) 0x80, 0x3f}, DType.FLOAT32, 1); // 1.0f, little-endian
      assertEquals(1.0f, f.toFloatArray()[0]);
      assertThrows(IndexOutOfBoundsException.class,
          () -> Tensor.fromBytes(b, 10, 4, DType.UINT8, new long[] {4}, Device.CPU));
    }
  }
}
