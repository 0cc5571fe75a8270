package dev.cm4j.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Round trips, atomic writes and the reader's API (interop, the reference file and malformed input: other tests). */
class SafeTensorsTest {
  @TempDir Path dir;

  /** A tensor of the given dtype and shape filled with seeded random bytes (bools: 0/1). */
  static Tensor random(DType dtype, Random rnd, long... shape) {
    long n = 1;
    for (long d : shape) n *= d;
    byte[] b = new byte[Math.toIntExact(n * dtype.byteSize())];
    rnd.nextBytes(b);
    if (dtype == DType.BOOL) for (int i = 0; i < b.length; i++) b[i] = (byte) (b[i] & 1);
    return Tensor.fromBytes(MemorySegment.ofArray(b), dtype, shape);
  }

  static final long[][] SHAPES = {{}, {0}, {1}, {7}, {3, 4}, {2, 0, 3}, {2, 3, 5}, {1, 1, 1, 1}};

  @Test
  void everyDtypeAndShapeRoundTripsBitExactly() throws IOException {
    Random rnd = new Random(1);
    try (TensorScope scope = TensorScope.open()) {
      Map<String, Tensor> in = new LinkedHashMap<>();
      for (DType d : DType.values()) {
        for (long[] s : SHAPES) in.put(d.safetensorsName() + "/" + Arrays.toString(s), random(d, rnd, s));
        // A non-contiguous tensor is written in row-major order.
        in.put(d.safetensorsName() + "/transposed", random(d, rnd, 3, 5).transpose(0, 1));
      }
      Path f = dir.resolve("all.safetensors");
      SafeTensors.write(f, in, Map.of("k", "v"));
      try (SafeTensorFile r = SafeTensors.read(f)) {
        assertEquals(in.size(), r.size());
        assertEquals(new ArrayList<>(new TreeMap<>(in).keySet()), r.names());
        assertEquals(Map.of("k", "v"), r.metadata());
        for (Map.Entry<String, Tensor> e : in.entrySet()) {
          Tensor want = e.getValue();
          TensorInfo info = r.info(e.getKey());
          assertEquals(want.dtype(), info.dtype(), e.getKey());
          assertArrayEquals(want.shape(), info.shape(), e.getKey());
          Tensor got = r.tensor(e.getKey());
          assertEquals(want.dtype(), got.dtype(), e.getKey());
          assertArrayEquals(want.shape(), got.shape(), e.getKey());
          assertArrayEquals(want.contiguous().toByteArray(), got.toByteArray(), e.getKey());
        }
      }
    }
  }

  @Test
  void largeAndNonContiguousTensorsAreStreamedInPieces() throws IOException {
    Random rnd = new Random(2);
    try (TensorScope scope = TensorScope.open()) {
      Map<String, Tensor> in = new TreeMap<>();
      for (DType d : DType.values()) {
        in.put(d + "-t", random(d, rnd, 7, 9, 5).permute(2, 0, 1)); // 315 elements, non-contiguous
        in.put(d + "-c", random(d, rnd, 101));
      }
      Path small = dir.resolve("small-chunks.safetensors");
      Path big = dir.resolve("one-chunk.safetensors");
      SafeTensors.write(small, in, null, 24); // pieces of 24 bytes: many per tensor, uneven tails
      SafeTensors.write(big, in, null);
      assertArrayEquals(Files.readAllBytes(big), Files.readAllBytes(small));
      Map<String, Tensor> out = SafeTensors.loadAll(small);
      for (String k : in.keySet()) {
        assertArrayEquals(in.get(k).contiguous().toByteArray(), out.get(k).toByteArray(), k);
      }
    }
  }

  @Test
  void fileLayoutFollowsTheFormat() throws IOException {
    try (TensorScope scope = TensorScope.open()) {
      Map<String, Tensor> in = new LinkedHashMap<>();
      in.put("zeta", Tensor.of(new float[] {1, 2, 3}));
      in.put("alpha", Tensor.of(new long[] {7}).reshape()); // 0-D
      in.put("mid", Tensor.of(new int[] {}, 0));
      Path f = dir.resolve("layout.safetensors");
      SafeTensors.write(f, in, Map.of("b", "2", "a", "1"));
      byte[] all = Files.readAllBytes(f);
      long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
      assertEquals(0, n % 8, "header padded to a multiple of 8");
      String h = new String(all, 8, (int) n, StandardCharsets.UTF_8);
      assertEquals("{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\"},"
          + "\"alpha\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
          + "\"mid\":{\"dtype\":\"I32\",\"shape\":[0],\"data_offsets\":[8,8]},"
          + "\"zeta\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]}}", h.stripTrailing());
      assertTrue(h.substring(h.stripTrailing().length()).chars().allMatch(c -> c == ' '));
      assertEquals(8 + n + 20, all.length);
      ByteBuffer data = ByteBuffer.wrap(all, (int) (8 + n), 20).order(ByteOrder.LITTLE_ENDIAN);
      assertEquals(7L, data.getLong());
      assertEquals(1f, data.getFloat());
      assertEquals(2f, data.getFloat());
      assertEquals(3f, data.getFloat());
    }
  }

  @Test
  void emptyFileAndMetadataOnlyFile() throws IOException {
    Path e = dir.resolve("empty.safetensors");
    SafeTensors.write(e, Map.of());
    assertEquals(16, Files.size(e)); // "{}" padded to 8
    try (SafeTensorFile r = SafeTensors.read(e)) {
      assertEquals(List.of(), r.names());
      assertEquals(Map.of(), r.metadata());
      assertEquals(0, r.dataBytes());
      assertTrue(r.loadAll().isEmpty());
    }
    Path m = dir.resolve("meta.safetensors");
    Map<String, String> meta = new TreeMap<>(Map.of("unicode", "héllo ✓ 𝄞", "quote", "a\"b\\c\n\t\u0001", "", "empty key"));
    SafeTensors.write(m, Map.of(), meta);
    try (SafeTensorFile r = SafeTensors.read(m)) {
      assertEquals(meta, r.metadata());
    }
  }

  @Test
  void writeReplacesAtomicallyAndLeavesNoTemporaryFiles() throws IOException {
    Path f = dir.resolve("w.safetensors");
    try (TensorScope scope = TensorScope.open()) {
      SafeTensors.write(f, Map.of("a", Tensor.of(new float[] {1})));
      try (SafeTensorFile open = SafeTensors.read(f)) {
        // Replacing a file that is open (mapped) is safe: the open file keeps the old contents.
        SafeTensors.write(f, Map.of("b", Tensor.of(new double[] {2, 3})));
        assertEquals(1f, open.tensor("a").item());
      }
      try (SafeTensorFile r = SafeTensors.read(f)) {
        assertEquals(List.of("b"), r.names());
      }
      byte[] before = Files.readAllBytes(f);
      // Failures before or during the write leave the target as it was and clean up.
      Tensor released = Tensor.of(new float[] {1});
      released.close();
      assertThrows(IllegalStateException.class, () -> SafeTensors.write(f, Map.of("x", released)));
      assertThrows(IllegalArgumentException.class,
          () -> SafeTensors.write(f, Map.of("__metadata__", Tensor.of(new float[] {1}))));
      Map<String, Tensor> withNull = new TreeMap<>();
      withNull.put("x", null);
      assertThrows(NullPointerException.class, () -> SafeTensors.write(f, withNull));
      Map<String, String> nullMeta = new TreeMap<>();
      nullMeta.put("k", null);
      assertThrows(NullPointerException.class, () -> SafeTensors.write(f, Map.of(), nullMeta));
      assertThrows(NoSuchFileException.class, () -> SafeTensors.write(dir.resolve("no/such/dir/x.safetensors"),
          Map.of("a", Tensor.of(new float[] {1}))));
      assertArrayEquals(before, Files.readAllBytes(f));
    }
    try (Stream<Path> s = Files.list(dir)) {
      assertEquals(List.of(f), s.toList(), "no temporary files left behind");
    }
  }

  @Test
  void readerApi() throws IOException {
    Path f = dir.resolve("api.safetensors");
    try (TensorScope scope = TensorScope.open()) {
      SafeTensors.write(f, Map.of("w", Tensor.ones(new long[] {2, 3}, DType.BFLOAT16, dev.cm4j.tensor.Device.CPU)));
    }
    SafeTensorFile r = SafeTensors.read(f);
    assertTrue(r.contains("w"));
    assertFalse(r.contains("v"));
    TensorInfo i = r.info("w");
    assertEquals("BF16", i.dtypeName());
    assertEquals(DType.BFLOAT16, i.dtype());
    assertEquals(6, i.numel());
    assertEquals(2, i.rank());
    assertEquals(12, i.byteSize());
    assertEquals(0, i.begin());
    assertEquals(12, i.end());
    SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> r.info("v"));
    assertEquals("v", e.tensor());
    assertEquals(f, e.file());
    assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("'v'"), e.getMessage());
    assertThrows(SafeTensorsException.class, () -> r.tensor("v"));
    try (Tensor t = r.tensor("w")) {
      assertArrayEquals(new float[] {1, 1, 1, 1, 1, 1}, t.toFloatArray());
    }
    r.close();
    r.close(); // idempotent
    IllegalStateException closed = assertThrows(IllegalStateException.class, () -> r.tensor("w"));
    assertTrue(closed.getMessage().contains("closed"));
    assertEquals(DType.BFLOAT16, r.info("w").dtype()); // the header stays available
    assertThrows(NoSuchFileException.class, () -> SafeTensors.read(dir.resolve("missing.safetensors")));
  }

  @Test
  void formatDtypesWithoutACm4jDtypeOpenButDoNotLoad() throws IOException {
    Path f = MalformedSafeTensorsTest.raw(dir, "u16.safetensors",
        "{\"u\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[2,6]},"
            + "\"v\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[6,8]},"
            + "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 8);
    try (SafeTensorFile r = SafeTensors.read(f)) {
      assertEquals(List.of("c", "u", "v"), r.names());
      assertFalse(r.info("u").isSupported());
      assertEquals("U16", r.info("u").dtypeName());
      assertEquals("F4", r.info("v").dtypeName());
      assertThrows(UnsupportedOperationException.class, () -> r.info("u").dtype());
      SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> r.tensor("u"));
      assertTrue(e.getMessage().contains("'u'") && e.getMessage().contains("U16"), e.getMessage());
      try (Tensor c = r.tensor("c")) {
        assertArrayEquals(new long[] {2}, c.shape());
      }
      try (TensorScope scope = TensorScope.open()) {
        assertThrows(SafeTensorsException.class, r::loadAll);
        assertEquals(0, scope.liveCount(), "loadAll closes what it made before failing");
      }
    }
  }
}
