package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Host transfer for every dtype: bytes in and out, Java arrays, dtype/device conversion, item. */
class DTypeRoundTripTest {
  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  private static byte[] bytes(int... v) {
    byte[] b = new byte[v.length];
    for (int i = 0; i < v.length; i++) b[i] = (byte) v[i];
    return b;
  }

  private static Tensor fromBytes(byte[] b, DType d, long... shape) {
    return Tensor.fromBytes(MemorySegment.ofArray(b), d, shape);
  }

  @Test
  void everyDtypeRoundTripsItsBytesAndDecodesToTheHandComputedValues() {
    // Little-endian encodings of known values, decoded by hand.
    record Case(DType dtype, byte[] data, double[] values) {}
    Case[] cases = {
      new Case(DType.UINT8, bytes(0, 1, 200, 255), new double[] {0, 1, 200, 255}),
      new Case(DType.INT8, bytes(0, 1, 0x80, 0xff), new double[] {0, 1, -128, -1}),
      new Case(DType.INT16, bytes(0x01, 0x00, 0xff, 0xff, 0x00, 0x80, 0x34, 0x12),
          new double[] {1, -1, -32768, 0x1234}),
      new Case(DType.INT32, bytes(0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x80),
          new double[] {Integer.MAX_VALUE, Integer.MIN_VALUE}),
      new Case(DType.INT64, bytes(0x02, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
          new double[] {2, -2}),
      // IEEE half: 0x3C00 = 1, 0xC000 = −2, 0x3800 = 0.5, 0x7BFF = 65504 (max), 0x0001 = 2^−24.
      new Case(DType.FLOAT16, bytes(0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b, 0x01, 0x00),
          new double[] {1, -2, 0.5, 65504, Math.pow(2, -24)}),
      // bfloat16 is the top half of a float32: 0x3F80 = 1, 0xC000 = −2, 0x3F00 = 0.5, 0x4049 = 3.140625.
      new Case(DType.BFLOAT16, bytes(0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f, 0x49, 0x40),
          new double[] {1, -2, 0.5, 3.140625}),
      new Case(DType.FLOAT32, bytes(0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc1), new double[] {1, -10}),
      new Case(DType.FLOAT64, bytes(0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0x04, 0xc0),
          new double[] {1, -2.5}),
      new Case(DType.BOOL, bytes(1, 0, 0, 1), new double[] {1, 0, 0, 1}),
    };
    for (Case c : cases) {
      int n = c.values.length;
      assertEquals(n * c.dtype.byteSize(), c.data.length, "case " + c.dtype);
      Tensor t = fromBytes(c.data, c.dtype, n);
      assertEquals(c.dtype, t.dtype());
      assertArrayEquals(new long[] {n}, t.shape());
      assertArrayEquals(c.data, t.toByteArray(), "bytes of " + c.dtype);
      assertArrayEquals(c.values, t.toDoubleArray(), 0.0, "values of " + c.dtype);
      // Re-encoding the decoded values in this dtype gives the same bytes.
      assertArrayEquals(c.data, Tensor.of(c.values).to(c.dtype).toByteArray(), "re-encoded " + c.dtype);
      // A 2-D shape over the same bytes, and an explicit CPU device.
      if (n % 2 == 0) {
        Tensor m = Tensor.fromBytes(MemorySegment.ofArray(c.data), c.dtype, new long[] {2, n / 2}, Device.CPU);
        assertArrayEquals(new long[] {2, n / 2}, m.shape());
        assertArrayEquals(c.data, m.toByteArray());
      }
    }
  }

  @Test
  void fromBytesRejectsAWrongByteCount() {
    assertThrows(TorchException.class, () -> fromBytes(new byte[7], DType.FLOAT32, 2));
    assertThrows(IllegalArgumentException.class, () -> fromBytes(new byte[8], DType.FLOAT32, -2));
    // Off-heap segments work too.
    try (var arena = java.lang.foreign.Arena.ofConfined()) {
      MemorySegment m = arena.allocate(8);
      m.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN).putFloat(0, 1.5f).putFloat(4, -3f);
      assertArrayEquals(new float[] {1.5f, -3f}, Tensor.fromBytes(m, DType.FLOAT32, 2).toFloatArray());
    }
  }

  @Test
  void javaArrayFactoriesAndExtractorsRoundTrip() {
    float[] f = {1.5f, -0.1f, Float.MAX_VALUE, Float.MIN_VALUE, Float.NaN, Float.NEGATIVE_INFINITY};
    Tensor tf = Tensor.of(f, 2, 3);
    assertEquals(DType.FLOAT32, tf.dtype());
    assertArrayEquals(f, tf.toFloatArray());
    double[] d = {Math.PI, -1e300, Double.MIN_VALUE, 0.1};
    Tensor td = Tensor.of(d);
    assertEquals(DType.FLOAT64, td.dtype());
    assertArrayEquals(d, td.toDoubleArray(), 0.0);
    long[] l = {Long.MAX_VALUE, Long.MIN_VALUE, 0, -7};
    Tensor tl = Tensor.of(l, 2, 2);
    assertEquals(DType.INT64, tl.dtype());
    assertArrayEquals(l, tl.toLongArray());
    int[] i = {Integer.MIN_VALUE, -1, 0, 123456789};
    Tensor ti = Tensor.of(i);
    assertEquals(DType.INT32, ti.dtype());
    assertArrayEquals(i, ti.toIntArray());
    boolean[] b = {true, false, true};
    Tensor tb = Tensor.of(b);
    assertEquals(DType.BOOL, tb.dtype());
    assertArrayEquals(b, tb.toBooleanArray());
    // Conversions between extractors: bool → numbers, numbers → bool (non-zero is true).
    assertArrayEquals(new double[] {1, 0, 1}, tb.toDoubleArray());
    assertArrayEquals(new boolean[] {true, true, false, true}, tl.toBooleanArray());
    assertArrayEquals(new long[] {1, 0, -3}, Tensor.of(new double[] {1.9, -0.5, -3.7}).toLongArray(), "truncates");
    // Raw bytes of float32 are the little-endian IEEE encoding.
    byte[] raw = Tensor.of(new float[] {1.5f, -3f}).toByteArray();
    ByteBuffer bb = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
    assertEquals(1.5f, bb.getFloat(0));
    assertEquals(-3f, bb.getFloat(4));
    assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[] {1, 2, 3}, 2, 2));
  }

  @Test
  void halfPrecisionConversionsRoundToNearestEven() {
    // bf16 keeps 8 significand bits: 1 + 2^−8 is a tie between 1 and 1 + 2^−7 → even (1);
    // 1 + 3·2^−8 ties between 1 + 2^−7 and 1 + 2^−6 → even (1 + 2^−6).
    float[] in = {1f + 0x1p-8f, 1f + 3 * 0x1p-8f, 1f + 0x1p-7f, 257f, 3.14159265f};
    float[] bf = Tensor.of(in).to(DType.BFLOAT16).toFloatArray();
    assertArrayEquals(new float[] {1f, 1f + 0x1p-6f, 1f + 0x1p-7f, 256f, 3.140625f}, bf);
    // f16 keeps 11 bits: 2049 ties between 2048 and 2050 → 2048; 70000 overflows to +inf.
    float[] h = Tensor.of(new float[] {2049f, 2051f, 70000f, 0.1f}).to(DType.FLOAT16).toFloatArray();
    assertArrayEquals(new float[] {2048f, 2052f, Float.POSITIVE_INFINITY, 0.0999755859375f}, h);
    // Round trip of representable values through every float type is exact.
    float[] exact = {0.5f, -2f, 1.25f, 96f, -0.0078125f};
    for (DType dt : new DType[] {DType.FLOAT16, DType.BFLOAT16, DType.FLOAT32, DType.FLOAT64}) {
      Tensor t = Tensor.of(exact).to(dt);
      assertEquals(dt, t.dtype());
      assertArrayEquals(exact, t.toFloatArray(), dt.toString());
      assertArrayEquals(exact, t.to(DType.FLOAT32).toFloatArray());
    }
  }

  @Test
  void toDtypeAndDeviceAndItem() {
    Tensor t = Tensor.of(new double[] {1.75, -2.5, 300});
    Tensor i32 = t.to(DType.INT32);
    assertEquals(DType.INT32, i32.dtype());
    assertArrayEquals(new int[] {1, -2, 300}, i32.toIntArray(), "float → int truncates toward zero");
    Tensor u8 = Tensor.of(new long[] {0, 255, 256, -1}).to(DType.UINT8);
    assertArrayEquals(new byte[] {0, (byte) 255, 0, (byte) 255}, u8.toByteArray(), "integer narrowing wraps");
    Tensor cpu = t.to(Device.CPU);
    assertEquals(Device.CPU, cpu.device());
    assertArrayEquals(t.toDoubleArray(), cpu.toDoubleArray(), 0.0);
    Tensor both = t.to(Device.CPU, DType.FLOAT32);
    assertEquals(DType.FLOAT32, both.dtype());
    assertArrayEquals(new float[] {1.75f, -2.5f, 300f}, both.toFloatArray());
    // As torch's to(): the same dtype aliases the storage; another dtype copies.
    Tensor alias = Tensor.of(new double[] {1, 2});
    alias.to(DType.FLOAT64).fill_(5.0);
    assertArrayEquals(new double[] {5, 5}, alias.toDoubleArray());
    alias.to(DType.FLOAT32).fill_(7.0);
    assertArrayEquals(new double[] {5, 5}, alias.toDoubleArray());
    if (!Torch.cudaIsAvailable()) {
      assertThrows(TorchException.class, () -> t.to(Device.cuda(0)));
    }

    assertEquals(-2.5, t.select(0, 1).item());
    assertEquals(300, t.select(0, 2).to(DType.INT64).itemLong());
    assertEquals(Long.MIN_VALUE, Tensor.of(new long[] {Long.MIN_VALUE}).itemLong(), "exact beyond 2^53");
    assertTrue(Tensor.of(new boolean[] {true}).itemBoolean());
    assertFalse(Tensor.scalar(0).itemBoolean());
    assertEquals(0.1f, Tensor.scalar(0.1).item(), 0.0, "a float32 0-D scalar holds the float rounding of 0.1");
    assertEquals(DType.BFLOAT16, Tensor.scalar(1.5, DType.BFLOAT16).dtype());
    assertEquals(1.5, Tensor.scalar(1.5, DType.BFLOAT16).item());
    assertThrows(TorchException.class, () -> t.item(), "item of a 3-element tensor");
  }

  @Test
  void emptyTensorsRoundTripAndReduce() {
    Tensor e = Tensor.of(new float[0]);
    assertArrayEquals(new long[] {0}, e.shape());
    assertEquals(0, e.numel());
    assertArrayEquals(new float[0], e.toFloatArray());
    assertArrayEquals(new byte[0], e.toByteArray());
    Tensor m = Tensor.zeros(new long[] {3, 0}, DType.FLOAT64, Device.CPU);
    assertEquals(0.0, m.sum().item(), "an empty sum is 0");
    assertArrayEquals(new double[] {0, 0, 0}, m.sum(false, 1).toDoubleArray(), "row sums of empty rows");
    assertTrue(Double.isNaN(m.mean().item()), "an empty mean is NaN");
    assertEquals(1.0, Tensor.of(new double[0]).prod().item(), "an empty product is 1");
    assertTrue(Tensor.of(new boolean[0]).all().itemBoolean());
    assertFalse(Tensor.of(new boolean[0]).any().itemBoolean());
    assertThrows(TorchException.class, () -> m.amax(false), "max of nothing");
  }

  @Test
  void creationFactoriesProduceTheirClosedForms() {
    assertArrayEquals(new double[] {0, 0, 0, 0}, Tensor.zeros(2, 2).toDoubleArray());
    assertArrayEquals(new double[] {1, 1, 1}, Tensor.ones(3).toDoubleArray());
    Tensor f = Tensor.full(new long[] {2}, 7, DType.INT64, Device.CPU);
    assertEquals(DType.INT64, f.dtype());
    assertArrayEquals(new long[] {7, 7}, f.toLongArray());
    assertArrayEquals(new long[] {0, 1, 2, 3, 4}, Tensor.arange(5).toLongArray());
    assertArrayEquals(new double[] {1, 1.5, 2, 2.5}, Tensor.arange(1, 3, 0.5, DType.FLOAT64, Device.CPU)
        .toDoubleArray(), 0.0);
    assertArrayEquals(new double[] {0, 0.25, 0.5, 0.75, 1}, Tensor.linspace(0, 1, 5, DType.FLOAT64, Device.CPU)
        .toDoubleArray(), 1e-15);
    Tensor like = Tensor.of(new long[] {5, 6}, 1, 2);
    assertArrayEquals(new long[] {1, 2}, like.zerosLike().shape());
    assertEquals(DType.INT64, like.onesLike().dtype());
    assertArrayEquals(new long[] {1, 1}, like.onesLike().toLongArray());
    assertArrayEquals(new long[] {1, 2}, like.emptyLike().shape());
    assertEquals(0, Tensor.scalar(3).dim());
  }
}
