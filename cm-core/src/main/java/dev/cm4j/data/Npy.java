package dev.cm4j.data;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import java.io.IOException;
import java.io.OutputStream;
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

/**
 * NumPy's {@code .npy} format, versions 1.0, 2.0 and 3.0, for little-endian {@code float32}/{@code float64},
 * {@code uint8} and {@code int64} arrays in C order — what {@code np.save} writes for such an array.
 *
 * <p>Layout: the magic {@code \x93NUMPY}, a major and minor version byte, the header length (uint16 LE for 1.0,
 * uint32 LE for 2.0/3.0), then the header: a Python dict literal with exactly the keys {@code 'descr'},
 * {@code 'fortran_order'} and {@code 'shape'} (ASCII; UTF-8 in 3.0), padded with spaces and ending in a newline;
 * then the raw data. The parser is strict: any other dtype ({@code '>f4'}, {@code '<i8'}, {@code '|O'}, structured
 * dtypes), {@code fortran_order: True}, an unknown or missing key, malformed syntax, or data whose length differs
 * from what the shape says throws {@link DataException} naming the file and the problem.
 */
public final class Npy {
  private Npy() {}

  private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};

  /**
   * A float array read from a {@code .npy} file.
   *
   * @param dtype {@link DType#FLOAT32} ({@code '<f4'}), {@link DType#FLOAT64} ({@code '<f8'}), {@link DType#UINT8}
   *     ({@code '|u1'}) or {@link DType#INT64} ({@code '<i8'})
   * @param shape the shape (empty for a scalar)
   * @param data the raw little-endian C-order data
   */
  public record Array(DType dtype, long[] shape, byte[] data) {
    /** Number of elements. */
    public long numel() {
      long n = 1;
      for (long d : shape) n *= d;
      return n;
    }

    /** The values as floats (float64 values are rounded). */
    public float[] toFloatArray() {
      ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
      float[] v = new float[Math.toIntExact(numel())];
      if (dtype == DType.FLOAT32) b.asFloatBuffer().get(v);
      else for (int i = 0; i < v.length; i++) v[i] = (float) value(b, i);
      return v;
    }

    /** The values as doubles. */
    public double[] toDoubleArray() {
      ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
      double[] v = new double[Math.toIntExact(numel())];
      if (dtype == DType.FLOAT64) b.asDoubleBuffer().get(v);
      else for (int i = 0; i < v.length; i++) v[i] = value(b, i);
      return v;
    }

    private double value(ByteBuffer b, int i) {
      return switch (dtype) {
        case FLOAT32 -> b.getFloat(4 * i);
        case FLOAT64 -> b.getDouble(8 * i);
        case UINT8 -> b.get(i) & 0xff;
        case INT64 -> b.getLong(8 * i);
        default -> throw new IllegalStateException(dtype.toString());
      };
    }

    /** A CPU tensor with a copy of the data, in this array's dtype and shape. */
    public Tensor toTensor() {
      return Tensor.fromBytes(data, dtype, shape);
    }

    @Override
    public String toString() {
      return "Npy.Array(" + dtype + ", " + Arrays.toString(shape) + ")";
    }
  }

  /** Reads a {@code .npy} file. */
  public static Array read(Path file) {
    byte[] raw = readBytes(file);
    return parse(raw, file.toString());
  }

  /** A whole file's bytes; a missing or unreadable file is a {@link DataException} naming it. */
  static byte[] readBytes(Path file) {
    try {
      return Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new DataException(file.toString(), "file not found", e);
    } catch (IOException e) {
      throw new DataException(file.toString(), "cannot read: " + e, e);
    }
  }

  /** Parses the bytes of a {@code .npy} file; {@code name} is used in error messages. */
  public static Array parse(byte[] raw, String name) {
    if (raw.length < 10 || !Arrays.equals(raw, 0, 6, MAGIC, 0, 6)) {
      throw new DataException(name, "not a .npy file (missing the \\x93NUMPY magic)");
    }
    int major = raw[6] & 0xff;
    int minor = raw[7] & 0xff;
    if (minor != 0 || major < 1 || major > 3) {
      throw new DataException(name, "unsupported .npy format version " + major + "." + minor
          + " (1.0, 2.0 and 3.0 are supported)");
    }
    long headerLen;
    int start;
    if (major == 1) {
      headerLen = (raw[8] & 0xff) | (raw[9] & 0xff) << 8;
      start = 10;
    } else {
      if (raw.length < 12) throw new DataException(name, "truncated .npy header");
      headerLen = (raw[8] & 0xffL) | (raw[9] & 0xffL) << 8 | (raw[10] & 0xffL) << 16 | (raw[11] & 0xffL) << 24;
      start = 12;
    }
    if (start + headerLen > raw.length) {
      throw new DataException(name, "truncated .npy header (" + headerLen + " bytes announced)");
    }
    int dataStart = (int) (start + headerLen);
    String header = new String(raw, start, (int) headerLen,
        major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
    if (major < 3) {
      for (int k = 0; k < header.length(); k++) {
        if (header.charAt(k) > 127) throw new DataException(name, "non-ASCII byte in a version " + major
            + ".0 .npy header");
      }
    }
    Map<String, Object> dict;
    try {
      dict = new HeaderParser(header).parse();
    } catch (IllegalArgumentException e) {
      throw new DataException(name, "malformed .npy header " + quote(header) + ": " + e.getMessage(), e);
    }
    for (String k : dict.keySet()) {
      if (!k.equals("descr") && !k.equals("fortran_order") && !k.equals("shape")) {
        throw new DataException(name, "unexpected key '" + k + "' in the .npy header " + quote(header));
      }
    }
    for (String k : List.of("descr", "fortran_order", "shape")) {
      if (!dict.containsKey(k)) throw new DataException(name, "the .npy header lacks '" + k + "': " + quote(header));
    }
    if (!(dict.get("descr") instanceof String descr)) {
      throw new DataException(name, "'descr' is not a string (structured dtypes are not supported): "
          + quote(header));
    }
    DType dtype = switch (descr) {
      case "<f4" -> DType.FLOAT32;
      case "<f8" -> DType.FLOAT64;
      case "|u1" -> DType.UINT8;
      case "<i8" -> DType.INT64;
      default -> throw new DataException(name, "dtype '" + descr + "' is not supported (only little-endian "
          + "float32 '<f4', float64 '<f8', uint8 '|u1' and int64 '<i8')");
    };
    if (!(dict.get("fortran_order") instanceof Boolean fortran)) {
      throw new DataException(name, "'fortran_order' is not True or False: " + quote(header));
    }
    if (fortran) throw new DataException(name, "Fortran-order arrays are not supported (save a C-order array)");
    if (!(dict.get("shape") instanceof long[] shape)) {
      throw new DataException(name, "'shape' is not a tuple of integers: " + quote(header));
    }
    long count = 1;
    for (long d : shape) {
      count = Math.multiplyExact(count, d);
    }
    long bytes = Math.multiplyExact(count, (long) dtype.byteSize());
    long have = raw.length - dataStart;
    if (have != bytes) {
      throw new DataException(name, (have < bytes ? "truncated" : "trailing bytes") + ": shape "
          + Arrays.toString(shape) + " of " + descr + " needs " + bytes + " data bytes, the file has " + have);
    }
    if (bytes > Integer.MAX_VALUE - 8) throw new DataException(name, "array too large (" + bytes + " bytes)");
    return new Array(dtype, shape, Arrays.copyOfRange(raw, dataStart, raw.length));
  }

  private static String quote(String header) {
    String h = header.strip();
    return h.length() > 200 ? h.substring(0, 200) + "…" : h;
  }

  /** Parser for the header's Python dict literal (strings, True/False, integer tuples). */
  private static final class HeaderParser {
    private final String s;
    private int p;

    HeaderParser(String s) {
      this.s = s;
    }

    Map<String, Object> parse() {
      if (!s.endsWith("\n")) throw new IllegalArgumentException("the header does not end with a newline");
      ws();
      expect('{');
      Map<String, Object> m = new LinkedHashMap<>();
      ws();
      while (peek() != '}') {
        String k = string();
        ws();
        expect(':');
        ws();
        Object v = value();
        if (m.put(k, v) != null) throw new IllegalArgumentException("duplicate key '" + k + "'");
        ws();
        if (peek() == ',') {
          p++;
          ws();
        } else if (peek() != '}') {
          throw new IllegalArgumentException("expected ',' or '}' at offset " + p);
        }
      }
      p++;
      ws();
      if (p != s.length()) throw new IllegalArgumentException("unexpected text after the dict at offset " + p);
      return m;
    }

    private Object value() {
      char c = peek();
      if (c == '\'' || c == '"') return string();
      if (c == '(') return tuple();
      if (s.startsWith("True", p)) {
        p += 4;
        return Boolean.TRUE;
      }
      if (s.startsWith("False", p)) {
        p += 5;
        return Boolean.FALSE;
      }
      throw new IllegalArgumentException("unexpected value at offset " + p);
    }

    private long[] tuple() {
      expect('(');
      List<Long> v = new ArrayList<>();
      ws();
      boolean comma = false;
      while (peek() != ')') {
        int b = p;
        while (p < s.length() && Character.isDigit(s.charAt(p))) p++;
        if (b == p) throw new IllegalArgumentException("expected a non-negative integer at offset " + b);
        if (p - b > 18) throw new IllegalArgumentException("dimension too large at offset " + b);
        v.add(Long.parseLong(s.substring(b, p)));
        ws();
        comma = false;
        if (peek() == ',') {
          p++;
          comma = true;
          ws();
        } else if (peek() != ')') {
          throw new IllegalArgumentException("expected ',' or ')' at offset " + p);
        }
      }
      p++;
      if (v.size() == 1 && !comma) throw new IllegalArgumentException("a 1-tuple needs a trailing comma");
      return v.stream().mapToLong(Long::longValue).toArray();
    }

    private String string() {
      char q = peek();
      if (q != '\'' && q != '"') throw new IllegalArgumentException("expected a quoted string at offset " + p);
      int e = s.indexOf(q, p + 1);
      if (e < 0) throw new IllegalArgumentException("unterminated string at offset " + p);
      String r = s.substring(p + 1, e);
      if (r.indexOf('\\') >= 0) throw new IllegalArgumentException("escapes in strings are not supported");
      p = e + 1;
      return r;
    }

    private void ws() {
      while (p < s.length() && (s.charAt(p) == ' ' || s.charAt(p) == '\n' || s.charAt(p) == '\t')) p++;
    }

    private char peek() {
      if (p >= s.length()) throw new IllegalArgumentException("unexpected end of the header");
      return s.charAt(p);
    }

    private void expect(char c) {
      if (peek() != c) throw new IllegalArgumentException("expected '" + c + "' at offset " + p);
      p++;
    }
  }

  // ------------------------------------------------------------------------------------------ writing

  /** Writes a C-order float32 array as a version 1.0 {@code .npy} file ({@code '<f4'}). */
  public static void write(Path file, float[] data, long... shape) {
    ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(data);
    write(file, "<f4", b.array(), data.length, shape);
  }

  /** Writes a C-order float64 array as a version 1.0 {@code .npy} file ({@code '<f8'}). */
  public static void write(Path file, double[] data, long... shape) {
    ByteBuffer b = ByteBuffer.allocate(data.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    b.asDoubleBuffer().put(data);
    write(file, "<f8", b.array(), data.length, shape);
  }

  /** Writes an array (float32, float64, uint8 or int64) as a version 1.0 {@code .npy} file. */
  public static void write(Path file, Array a) {
    write(file, descr(a.dtype()), a.data(), a.numel(), a.shape());
  }

  /** Little-endian bytes of doubles (the data of a float64 {@link Array}). */
  public static byte[] encodeDoubles(double[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    b.asDoubleBuffer().put(v);
    return b.array();
  }

  /** The bytes of a version 1.0 {@code .npy} file holding the array. */
  public static byte[] encode(Array a) {
    java.io.ByteArrayOutputStream os = new java.io.ByteArrayOutputStream();
    try {
      writeTo(os, descr(a.dtype()), a.data(), a.numel(), a.shape());
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return os.toByteArray();
  }

  private static String descr(DType d) {
    return switch (d) {
      case FLOAT32 -> "<f4";
      case FLOAT64 -> "<f8";
      case UINT8 -> "|u1";
      case INT64 -> "<i8";
      default -> throw new IllegalArgumentException(".npy writing supports float32, float64, uint8 and int64, not " + d);
    };
  }

  private static void write(Path file, String descr, byte[] bytes, long n, long[] shape) {
    try (OutputStream os = Files.newOutputStream(file)) {
      writeTo(os, descr, bytes, n, shape);
    } catch (IOException e) {
      throw new DataException(file.toString(), "cannot write: " + e, e);
    }
  }

  private static void writeTo(OutputStream os, String descr, byte[] bytes, long n, long[] shape) throws IOException {
    long count = 1;
    for (long d : shape) {
      if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
      count *= d;
    }
    if (count != n) throw new IllegalArgumentException(n + " values do not fit shape " + Arrays.toString(shape));
    StringBuilder sh = new StringBuilder("(");
    for (int i = 0; i < shape.length; i++) sh.append(i > 0 ? ", " : "").append(shape[i]);
    if (shape.length == 1) sh.append(',');
    sh.append(')');
    String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
    int total = 10 + dict.length() + 1;
    int pad = (64 - total % 64) % 64;
    String header = dict + " ".repeat(pad) + "\n";
    if (header.length() > 65535) throw new IllegalArgumentException("header too long for .npy version 1.0");
    if (bytes.length != n * dtypeSize(descr)) {
      throw new IllegalArgumentException(bytes.length + " data bytes do not fit shape " + Arrays.toString(shape) + " of "
          + descr);
    }
    os.write(MAGIC);
    os.write(new byte[] {1, 0, (byte) header.length(), (byte) (header.length() >> 8)});
    os.write(header.getBytes(StandardCharsets.US_ASCII));
    os.write(bytes);
  }

  private static int dtypeSize(String descr) {
    return switch (descr) {
      case "<f4" -> 4;
      case "|u1" -> 1;
      default -> 8;
    };
  }
}
