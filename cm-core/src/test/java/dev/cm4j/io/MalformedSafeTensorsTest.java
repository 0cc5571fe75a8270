package dev.cm4j.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Malformed files: specific cases with their messages, and a seeded sweep of mutated files. */
class MalformedSafeTensorsTest {
  @TempDir Path dir;

  /** Writes a file: the little-endian length of header, header (UTF-8), then dataBytes bytes 0, 1, 2, ... */
  static Path raw(Path dir, String name, String header, int dataBytes) throws IOException {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    return bytes(dir, name, h.length, h, dataBytes);
  }

  static Path bytes(Path dir, String name, long lengthField, byte[] header, int dataBytes) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(lengthField).put(header);
    for (int i = 0; i < dataBytes; i++) b.put((byte) i);
    Path f = dir.resolve(name);
    Files.write(f, b.array());
    return f;
  }

  private static String entry(String name, String dtype, String shape, long begin, long end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
        + end + "]}";
  }

  /** Asserts that reading f fails with a message naming the file, the tensor (if not null) and every part. */
  private static SafeTensorsException rejects(Path f, String tensor, String... parts) {
    SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> {
      try (SafeTensorFile r = SafeTensors.read(f)) {
        r.loadAll().values().forEach(Tensor::close);
      }
    });
    String m = e.getMessage();
    assertEquals(f, e.file());
    assertTrue(m.contains(f.toString()), () -> "message does not name the file: " + m);
    assertEquals(tensor, e.tensor(), m);
    if (tensor != null) assertTrue(m.contains("'" + tensor + "'"), () -> "message does not name the tensor: " + m);
    for (String p : parts) assertTrue(m.contains(p), () -> "message lacks \"" + p + "\": " + m);
    return e;
  }

  private Path hdr(String header, int dataBytes) throws IOException {
    return raw(dir, "case.safetensors", header, dataBytes);
  }

  @Test
  void lengthFieldAndFraming() throws IOException {
    Path tiny = dir.resolve("tiny.safetensors");
    Files.write(tiny, new byte[] {1, 2, 3});
    rejects(tiny, null, "3 bytes", "8-byte");
    Files.write(tiny, new byte[0]);
    rejects(tiny, null, "0 bytes");
    rejects(bytes(dir, "big.safetensors", 200_000_000L, "{}".getBytes(StandardCharsets.UTF_8), 0), null,
        "200000000", "limit");
    rejects(bytes(dir, "neg.safetensors", -1L, "{}".getBytes(StandardCharsets.UTF_8), 0), null,
        "18446744073709551615", "limit");
    rejects(bytes(dir, "long.safetensors", 50, "{}".getBytes(StandardCharsets.UTF_8), 10), null,
        "50 bytes", "only 12 follow");
    rejects(bytes(dir, "zero.safetensors", 0, new byte[0], 0), null, "JSON object", "nothing");
  }

  /** The UTF-8 message names the first byte of the first invalid sequence by its offset in bytes, not chars. */
  @Test
  void invalidUtf8IsLocatedByByteOffset() throws IOException {
    byte[] ok = "{\"__metadata__\":{\"note\":\"\u00e9\u20ac ".getBytes(StandardCharsets.UTF_8); // é, € take 2 + 3 bytes
    int n = ok.length; // 3 more than the number of chars before the bad bytes
    for (byte[] bad : List.of(new byte[] {(byte) 0xFF}, new byte[] {(byte) 0xC0, (byte) 0xAF}, // never valid; overlong
        new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, // a UTF-16 surrogate encoded in UTF-8
        new byte[] {(byte) 0x80})) { // a continuation byte without a lead byte
      byte[] h = Arrays.copyOf(ok, n + bad.length + 3);
      System.arraycopy(bad, 0, h, n, bad.length);
      System.arraycopy("\"}}".getBytes(StandardCharsets.UTF_8), 0, h, n + bad.length, 3);
      rejects(bytes(dir, "bad.safetensors", h.length, h, 0), null, "not valid UTF-8",
          String.format("header offset %d (file offset %d), byte 0x%02X", n, n + 8, bad[0] & 0xFF));
    }
    // A sequence cut short by the end of the header.
    byte[] cut = Arrays.copyOf(ok, n + 2);
    cut[n] = (byte) 0xE2;
    cut[n + 1] = (byte) 0x82;
    rejects(bytes(dir, "cut.safetensors", cut.length, cut, 0), null, "not valid UTF-8",
        String.format("header offset %d (file offset %d), byte 0xE2", n, n + 8));
  }

  @Test
  void headerSyntax() throws IOException {
    rejects(bytes(dir, "utf8.safetensors", 4, new byte[] {'{', (byte) 0xC3, (byte) 0x28, '}'}, 0), null, "UTF-8",
        "header offset 1 (file offset 9), byte 0xC3");
    rejects(hdr("hello", 0), null, "not valid JSON");
    rejects(hdr("[]", 0), null, "JSON object", "an array");
    rejects(hdr("\"x\"", 0), null, "JSON object", "a string");
    rejects(hdr("{} x", 0), null, "not valid JSON");
    rejects(hdr("{}{}", 0), null, "content after");
    rejects(hdr("{}\0\0\0\0\0\0", 0), null, "not valid JSON");
    rejects(hdr("{\"a\":", 0), null, "not valid JSON");
    rejects(hdr("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}", 1), null, "not valid JSON");
    rejects(hdr("{" + entry("t", "U8", "[1]", 0, 1) + ",'x':1}", 1), null, "not valid JSON");
    // Deep nesting is refused by the parser's limits, not by a StackOverflowError.
    rejects(hdr("{\"__metadata__\":" + "[".repeat(100_000) + "]".repeat(100_000) + "}", 0), null,
        "not valid JSON", "__metadata__", "nesting depth");
    rejects(hdr("{\"t\":" + "[".repeat(100_000) + "]".repeat(100_000) + "}", 0), "t", "not valid JSON");
  }

  @Test
  void tensorEntries() throws IOException {
    rejects(hdr("{\"t\":5}", 0), "t", "must be an object", "the integer 5");
    rejects(hdr("{\"t\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1), "t", "missing field 'dtype'");
    rejects(hdr("{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1), "t", "missing field 'shape'");
    rejects(hdr("{\"t\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1), "t", "missing field 'data_offsets'");
    rejects(hdr("{\"t\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", 1), "t", "'dtype' must be a string");
    rejects(hdr("{" + entry("t", "F31", "[1]", 0, 4) + "}", 4), "t", "unknown dtype 'F31'");
    rejects(hdr("{" + entry("t", "f32", "[1]", 0, 4) + "}", 4), "t", "unknown dtype 'f32'");
    rejects(hdr("{" + entry("t", "U8", "5", 0, 5) + "}", 5), "t", "'shape' must be an array", "integer 5");
    rejects(hdr("{" + entry("t", "U8", "[-1]", 0, 1) + "}", 1), "t", "'shape' entry 0 (-1) is negative");
    rejects(hdr("{" + entry("t", "U8", "[2,1.5]", 0, 3) + "}", 3), "t", "'shape' entry 1", "number 1.5");
    rejects(hdr("{" + entry("t", "U8", "[\"2\"]", 0, 2) + "}", 2), "t", "'shape' entry 0", "a string");
    rejects(hdr("{" + entry("t", "U8", "[4294967296,4294967296]", 0, 1) + "}", 1), "t", "64 bits");
    rejects(hdr("{" + entry("t", "F64", "[4611686018427387904]", 0, 1) + "}", 1), "t", "64 bits");
    rejects(hdr("{" + entry("t", "U8", "[1180591620717411303424]", 0, 1) + "}", 1), "t", "too large");
    rejects(hdr("{" + entry("t", "U8", "[1]", 0, -1) + "}", 1), "t", "'data_offsets' entry 1 (-1) is negative");
    rejects(hdr("{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1), "t",
        "'data_offsets' must have 2 entries, found 3");
    rejects(hdr("{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{}}}", 1), "t", "'data_offsets' must be");
    rejects(hdr("{" + entry("t", "U8", "[1]", 1, 0) + "}", 1), "t", "[1, 0]", "end before they begin");
    rejects(hdr("{" + entry("t", "F32", "[2]", 0, 4) + "}", 4), "t", "hold 4 bytes", "[2] of F32 needs 8");
    rejects(hdr("{" + entry("t", "F32", "[0]", 0, 4) + "}", 4), "t", "hold 4 bytes", "needs 0");
    rejects(hdr("{" + entry("t", "F4", "[3]", 0, 2) + "}", 2), "t", "whole number of bytes");
    rejects(hdr("{" + entry("t", "U8", "[1]", 0, 1) + "," + entry("t", "U8", "[1]", 1, 2) + "}", 2), "t",
        "duplicate key 't'");
    rejects(hdr("{\"t\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1), "t",
        "not valid JSON", "duplicate key 'dtype'");
  }

  @Test
  void dataLayout() throws IOException {
    rejects(hdr("{" + entry("a", "U8", "[2]", 0, 2) + "," + entry("b", "U8", "[2]", 3, 5) + "}", 5), "b",
        "[3, 5]", "gap", "'a'", "ends at 2");
    rejects(hdr("{" + entry("a", "U8", "[2]", 0, 2) + "," + entry("b", "U8", "[2]", 1, 3) + "}", 3), "b",
        "[1, 3]", "overlap tensor 'a'");
    rejects(hdr("{" + entry("a", "U8", "[2]", 2, 4) + "}", 4), "a", "gap", "start at 0");
    rejects(hdr("{" + entry("a", "U8", "[8]", 0, 8) + "}", 4), "a", "past the end", "4 bytes");
    rejects(hdr("{" + entry("a", "U8", "[2]", 0, 2) + "}", 3), null, "3 bytes after the header", "only 2",
        "trailing");
    rejects(hdr("{}", 1), null, "no tensors", "1 data bytes");
    rejects(hdr("{\"__metadata__\":{\"a\":\"b\"}}", 5), null, "no tensors");
  }

  @Test
  void metadata() throws IOException {
    rejects(hdr("{\"__metadata__\":[]}", 0), null, "__metadata__ must be an object", "an array");
    rejects(hdr("{\"__metadata__\":{\"a\":1}}", 0), null, "__metadata__ value of 'a' must be a string",
        "the integer 1");
    rejects(hdr("{\"__metadata__\":{\"a\":{}}}", 0), null, "'a'", "an object");
    rejects(hdr("{\"__metadata__\":{},\"__metadata__\":{}}", 0), null, "duplicate key '__metadata__'");
    rejects(hdr("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0), null, "__metadata__", "duplicate key 'a'");
  }

  @Test
  void acceptedVariantsFollowTheReference() throws IOException {
    // What the reference implementation accepts: null metadata, whitespace around the JSON, unknown fields, any
    // entry order, zero-size tensors anywhere, a leading-whitespace header.
    String h = "\n {\"__metadata__\":null, \"b\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[2,6],\"x\":[{}]},"
        + entry("a", "U8", "[2]", 0, 2) + "," + entry("z", "F32", "[0,3]", 2, 2) + "," + entry("", "U8", "[]", 6, 7)
        + "}\t\r\n  ";
    try (SafeTensorFile r = SafeTensors.read(hdr(h, 7)); TensorScope scope = TensorScope.open()) {
      assertEquals(List.of("", "a", "b", "z"), r.names());
      assertEquals(Map.of(), r.metadata());
      assertArrayEquals(new long[] {0, 1}, r.tensor("a").toLongArray());
      assertArrayEquals(new long[] {0x0302, 0x0504}, r.tensor("b").toLongArray());
      assertArrayEquals(new long[] {0, 3}, r.tensor("z").shape());
      assertEquals(6, r.tensor("").itemLong());
    }
  }

  // ------------------------------------------------------------------------------------------ mutation sweep

  private static final String[] NUMBERS = {"0", "1", "2", "3", "7", "8", "-1", "-8", "255", "65536", "4294967296",
      "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
      "99999999999999999999999", "1.0", "1e3", "-0", "00", "0x10", "NaN", "null", "\"4\"", "[]", "{}", "true"};
  private static final String[] DTYPES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL",
      "U16", "U32", "U64", "C64", "F8_E4M3", "F4", "F6_E2M3", "f32", "", "F32 ", "FLOAT", "\\u0046\\u0033\\u0032"};
  private static final byte[] CHARS = "{}[]\":, 0123456789-.eE\\nu\0\n\t".getBytes(StandardCharsets.ISO_8859_1);

  /** A valid file: several dtypes, 0-D and empty tensors, metadata. */
  private byte[] base() throws IOException {
    Random rnd = new Random(7);
    Path f = dir.resolve("base.safetensors");
    try (TensorScope scope = TensorScope.open()) {
      Map<String, Tensor> m = new LinkedHashMap<>();
      m.put("w", SafeTensorsTest.random(DType.FLOAT32, rnd, 3, 4));
      m.put("b", SafeTensorsTest.random(DType.BFLOAT16, rnd, 4));
      m.put("n", SafeTensorsTest.random(DType.INT64, rnd));
      m.put("e", SafeTensorsTest.random(DType.FLOAT16, rnd, 0, 2));
      m.put("m", SafeTensorsTest.random(DType.BOOL, rnd, 5));
      m.put("i", SafeTensorsTest.random(DType.INT8, rnd, 2, 3));
      SafeTensors.write(f, m, Map.of("format", "pt", "step", "12"));
    }
    return Files.readAllBytes(f);
  }

  private static byte[] reframe(String header, byte[] file, long oldN) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    int dataStart = (int) (8 + oldN);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + file.length - dataStart).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h).put(file, dataStart, file.length - dataStart);
    return b.array();
  }

  /** One seeded mutation of a valid file; desc receives a description. */
  private static byte[] mutate(byte[] file, Random rnd, StringBuilder desc) {
    long n = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    String header = new String(file, 8, (int) n, StandardCharsets.UTF_8);
    int kind = rnd.nextInt(10);
    byte[] out = file.clone();
    switch (kind) {
      case 0 -> { // random bytes in the header
        int k = 1 + rnd.nextInt(3);
        for (int i = 0; i < k; i++) {
          int at = 8 + rnd.nextInt((int) n);
          out[at] = (byte) rnd.nextInt(256);
          desc.append("byte@").append(at).append('=').append(out[at] & 0xff).append(' ');
        }
      }
      case 1 -> { // a JSON-significant character in the header
        int at = 8 + rnd.nextInt((int) n);
        out[at] = CHARS[rnd.nextInt(CHARS.length)];
        desc.append("char@").append(at).append('=').append(out[at] & 0xff);
      }
      case 2 -> { // a number replaced (offsets, shapes), the header reframed
        Matcher m = Pattern.compile("\\d+").matcher(header);
        List<int[]> runs = new ArrayList<>();
        while (m.find()) runs.add(new int[] {m.start(), m.end()});
        int[] r = runs.get(rnd.nextInt(runs.size()));
        String v = rnd.nextBoolean() ? NUMBERS[rnd.nextInt(NUMBERS.length)] : Integer.toString(rnd.nextInt(64));
        desc.append("number@").append(r[0]).append('=').append(v);
        out = reframe(header.substring(0, r[0]) + v + header.substring(r[1]), file, n);
      }
      case 3 -> { // a dtype replaced
        Matcher m = Pattern.compile("\"dtype\":\"([A-Z0-9]+)\"").matcher(header);
        List<int[]> runs = new ArrayList<>();
        while (m.find()) runs.add(new int[] {m.start(1), m.end(1)});
        int[] r = runs.get(rnd.nextInt(runs.size()));
        String v = DTYPES[rnd.nextInt(DTYPES.length)];
        desc.append("dtype@").append(r[0]).append('=').append(v);
        out = reframe(header.substring(0, r[0]) + v + header.substring(r[1]), file, n);
      }
      case 4 -> { // the length field
        long[] choices = {0, 1, n - 1, n + 1, n - 8, n + 8, file.length - 8, file.length, file.length + 1,
            100_000_000, 100_000_001, Long.MIN_VALUE, -1, Long.MAX_VALUE, 1L << 32, rnd.nextLong(),
            rnd.nextInt(file.length)};
        long v = choices[rnd.nextInt(choices.length)];
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
        desc.append("length=").append(Long.toUnsignedString(v));
      }
      case 5 -> { // truncation
        int len = rnd.nextInt(file.length);
        out = Arrays.copyOf(file, len);
        desc.append("truncate=").append(len);
      }
      case 6 -> { // extra bytes at the end
        int k = 1 + rnd.nextInt(16);
        out = Arrays.copyOf(file, file.length + k);
        desc.append("append=").append(k);
      }
      case 7 -> { // a piece of the header deleted, reframed
        int a = rnd.nextInt(header.length()), b = Math.min(header.length(), a + 1 + rnd.nextInt(12));
        desc.append("delete=").append(a).append("..").append(b);
        out = reframe(header.substring(0, a) + header.substring(b), file, n);
      }
      case 8 -> { // a piece of the header duplicated, reframed
        int a = rnd.nextInt(header.length()), b = Math.min(header.length(), a + 1 + rnd.nextInt(40));
        desc.append("dup=").append(a).append("..").append(b);
        out = reframe(header.substring(0, b) + header.substring(a), file, n);
      }
      default -> { // two tensors' offsets swapped (valid JSON, bad layout or a permutation)
        Matcher m = Pattern.compile("\"data_offsets\":\\[\\d+,\\d+\\]").matcher(header);
        List<String> offs = new ArrayList<>();
        while (m.find()) offs.add(m.group());
        String x = offs.get(rnd.nextInt(offs.size())), y = offs.get(rnd.nextInt(offs.size()));
        desc.append("swap ").append(x).append(" <-> ").append(y);
        out = reframe(header.replace(x, "\u0001").replace(y, x).replace("\u0001", y), file, n);
      }
    }
    desc.insert(0, "kind " + kind + ": ");
    return out;
  }

  @Test
  void mutatedFilesLoadOrFailWithSafeTensorsException() throws IOException {
    byte[] base = base();
    Random rnd = new Random(20261122L);
    Path f = dir.resolve("mutant.safetensors");
    int loaded = 0, rejected = 0;
    final int cases = 2000;
    for (int c = 0; c < cases; c++) {
      StringBuilder desc = new StringBuilder();
      byte[] m = mutate(base, rnd, desc);
      Files.write(f, m);
      try (SafeTensorFile r = SafeTensors.read(f); TensorScope scope = TensorScope.open()) {
        long covered = 0;
        for (String name : r.names()) {
          TensorInfo i = r.info(name);
          covered += i.byteSize();
          if (!i.isSupported()) continue;
          Tensor t = r.tensor(name);
          assertEquals(i.numel(), t.numel(), desc::toString);
          assertEquals(i.dtype(), t.dtype(), desc::toString);
        }
        assertEquals(r.dataBytes(), covered, desc::toString);
        loaded++;
      } catch (SafeTensorsException e) {
        assertTrue(e.getMessage().contains(f.toString()), e::getMessage);
        rejected++;
      } catch (Throwable t) {
        throw new AssertionError("case " + c + " (" + desc + ") threw " + t, t);
      }
    }
    System.out.println("mutation sweep: " + loaded + " loaded, " + rejected + " rejected");
    assertEquals(cases, loaded + rejected);
    assertTrue(loaded > 50 && rejected > 1000, "loaded " + loaded + ", rejected " + rejected);
  }
}
