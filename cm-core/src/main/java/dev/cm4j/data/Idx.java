package dev.cm4j.data;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed (detected from the gzip magic
 * bytes, not the file name). Layout: a magic number {@code 0x00 0x00 type ndim}, then {@code ndim} big-endian
 * uint32 sizes, then the data, row-major. Only unsigned bytes (type {@code 0x08}) are supported; the data must be
 * exactly as long as the sizes say.
 */
public final class Idx {
  private Idx() {}

  /** IDX type code of unsigned bytes. */
  public static final int UBYTE = 0x08;

  /**
   * A decoded IDX array of unsigned bytes.
   *
   * @param dims the sizes, outermost first
   * @param data the values, row-major ({@code & 0xff} to read)
   */
  public record Array(int[] dims, byte[] data) {
    /** The magic number of an unsigned-byte array with this many dimensions (2049 for labels, 2051 images). */
    public int magic() {
      return (UBYTE << 8) | dims.length;
    }

    @Override
    public String toString() {
      return "Idx.Array" + Arrays.toString(dims);
    }
  }

  /**
   * Reads an IDX file of unsigned bytes with {@code expectedDims} dimensions (1 for labels, 3 for images; 0 accepts
   * any). A missing, truncated or malformed file throws {@link DataException} naming it.
   */
  public static Array read(Path file, int expectedDims) {
    byte[] raw = Npy.readBytes(file);
    if (raw.length >= 2 && (raw[0] & 0xff) == 0x1f && (raw[1] & 0xff) == 0x8b) {
      try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw), 1 << 16)) {
        raw = in.readAllBytes();
      } catch (IOException e) {
        throw new DataException(file.toString(), "corrupt gzip stream: " + e.getMessage(), e);
      }
    }
    return parse(raw, file.toString(), expectedDims);
  }

  /** Parses the bytes of an (uncompressed) IDX file; {@code name} is used in error messages. */
  public static Array parse(byte[] raw, String name, int expectedDims) {
    if (raw.length < 4) throw new DataException(name, "too short for an IDX header (" + raw.length + " bytes)");
    if (raw[0] != 0 || raw[1] != 0) {
      throw new DataException(name, "bad IDX magic number 0x%02x%02x%02x%02x (expected 0x0000 then type and rank)"
          .formatted(raw[0], raw[1], raw[2], raw[3]));
    }
    int type = raw[2] & 0xff;
    int ndim = raw[3] & 0xff;
    if (type != UBYTE) {
      throw new DataException(name, "IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)"
          .formatted(type));
    }
    if (expectedDims > 0 && ndim != expectedDims) {
      throw new DataException(name, "IDX magic number %d says %d dimensions, expected %d (magic %d)".formatted(
          (type << 8) | ndim, ndim, expectedDims, (UBYTE << 8) | expectedDims));
    }
    if (ndim == 0) throw new DataException(name, "IDX array with zero dimensions");
    if (raw.length < 4 + 4 * ndim) throw new DataException(name, "truncated IDX header");
    int[] dims = new int[ndim];
    long count = 1;
    for (int d = 0; d < ndim; d++) {
      int o = 4 + 4 * d;
      long v = ((raw[o] & 0xffL) << 24) | ((raw[o + 1] & 0xff) << 16) | ((raw[o + 2] & 0xff) << 8) | (raw[o + 3] & 0xff);
      if (v > Integer.MAX_VALUE) throw new DataException(name, "IDX size " + v + " is too large");
      dims[d] = (int) v;
      count *= v;
      if (count > Integer.MAX_VALUE - 8) throw new DataException(name, "IDX array too large");
    }
    int start = 4 + 4 * ndim;
    long have = raw.length - start;
    if (have != count) {
      throw new DataException(name, (have < count ? "truncated" : "trailing bytes") + ": sizes "
          + Arrays.toString(dims) + " need " + count + " bytes of data, the file has " + have);
    }
    return new Array(dims, Arrays.copyOfRange(raw, start, raw.length));
  }
}
