package dev.cm4j.data;

import dev.cm4j.image.Png;
import dev.cm4j.image.UInt8Image;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A direct PNG decoder for the images of datasets: the common, simple PNGs that {@code dataset_tool.py} and most
 * tools write — non-interlaced, 8-bit gray, gray + alpha, RGB or RGBA, or palette images of 1, 2, 4 or 8 bits
 * without transparency — decoded with one reused {@link Inflater} straight into planar CHW bytes, several times
 * faster than {@code javax.imageio}. Every other PNG (interlaced, 16-bit or low-bit gray, any {@code tRNS} chunk)
 * is handed to {@link Png#decode}, so the result is always the one {@link Png} defines, channel rules included:
 * palette images become 1 channel when every palette colour is gray, else RGB.
 *
 * <p>Chunk CRCs are checked; a truncated or corrupt file throws {@link DataException} naming it. One instance
 * decodes on one thread at a time (it owns the inflater and a scratch buffer); {@link #forThread()} gives each
 * thread its own.
 */
public final class PngDecoder {
  private static final long SIGNATURE = 0x89504e470d0a1a0aL;
  private static final ThreadLocal<PngDecoder> PER_THREAD = ThreadLocal.withInitial(PngDecoder::new);

  private final Inflater inflater = new Inflater();
  private final CRC32 crc = new CRC32();
  private byte[] raw = new byte[0]; // the inflated, filtered scanlines

  /** A new decoder (not thread-safe). */
  public PngDecoder() {}

  /** This thread's decoder. */
  public static PngDecoder forThread() {
    return PER_THREAD.get();
  }

  /** True when the bytes start with the PNG signature. */
  public static boolean isPng(byte[] b) {
    if (b.length < 8) return false;
    long s = 0;
    for (int i = 0; i < 8; i++) s = (s << 8) | (b[i] & 0xff);
    return s == SIGNATURE;
  }

  /**
   * Decodes an image file's bytes: PNGs on the direct path where it applies, anything else (other PNGs, JPEG, …)
   * through {@link Png#decode}.
   *
   * @param name the file, for messages
   * @throws DataException when the file is corrupt, truncated or not a readable image
   */
  public UInt8Image decode(byte[] file, String name) {
    UInt8Image im = isPng(file) ? decodeDirect(file, name) : null;
    if (im != null) return im;
    try {
      return Png.decode(file, name);
    } catch (java.io.UncheckedIOException e) {
      throw new DataException(name, e.getMessage(), e);
    }
  }

  /**
   * Decodes a PNG on the direct path, or returns null when it is outside it (see the class comment).
   *
   * @throws DataException when the file is corrupt or truncated
   */
  public UInt8Image decodeDirect(byte[] png, String name) {
    if (!isPng(png)) throw new DataException(name, "not a PNG file (bad signature)");
    int width = 0;
    int height = 0;
    int depth = 0;
    int colour = -1;
    byte[] palette = null;
    int need = 0;
    int got = 0;
    boolean sawIdat = false;
    boolean sawEnd = false;
    inflater.reset();
    int p = 8;
    while (p < png.length) {
      if (png.length - p < 12) throw new DataException(name, "truncated PNG (incomplete chunk at byte " + p + ")");
      int len = readInt(png, p);
      int type = readInt(png, p + 4);
      if (len < 0 || len > png.length - p - 12) {
        throw new DataException(name, "truncated PNG (chunk " + typeName(type) + " of " + Integer.toUnsignedString(len)
            + " bytes at byte " + p + ")");
      }
      crc.reset();
      crc.update(png, p + 4, len + 4);
      if ((int) crc.getValue() != readInt(png, p + 8 + len)) {
        throw new DataException(name, "corrupt PNG (CRC mismatch in chunk " + typeName(type) + ")");
      }
      int d = p + 8;
      switch (type) {
        case 0x49484452 -> { // IHDR
          if (p != 8 || len != 13) throw new DataException(name, "corrupt PNG (bad IHDR chunk)");
          width = readInt(png, d);
          height = readInt(png, d + 4);
          depth = png[d + 8];
          colour = png[d + 9];
          if (width <= 0 || height <= 0 || png[d + 10] != 0 || png[d + 11] != 0) {
            throw new DataException(name, "corrupt PNG (IHDR: " + width + "×" + height + ", compression "
                + png[d + 10] + ", filter " + png[d + 11] + ")");
          }
          boolean simple = png[d + 12] == 0 && switch (colour) {
            case 0, 2, 4, 6 -> depth == 8;
            case 3 -> depth == 1 || depth == 2 || depth == 4 || depth == 8;
            default -> false;
          };
          if (!simple) return null; // interlaced, 16-bit, low-bit gray or invalid: ImageIO decides
          long bytes = (long) height * (1 + rowBytes(width, depth, colour));
          if (bytes > Integer.MAX_VALUE - 16) throw new DataException(name, "image too large: " + width + "×" + height);
          need = (int) bytes;
          if (raw.length < need) raw = new byte[need];
        }
        case 0x504c5445 -> { // PLTE
          if (len % 3 != 0 || len == 0 || len > 768) throw new DataException(name, "corrupt PNG (bad PLTE chunk)");
          palette = java.util.Arrays.copyOfRange(png, d, d + len);
        }
        case 0x74524e53 -> { // tRNS: transparency changes the channel count; leave it to ImageIO
          return null;
        }
        case 0x49444154 -> { // IDAT
          if (colour < 0) throw new DataException(name, "corrupt PNG (IDAT before IHDR)");
          sawIdat = true;
          if (got < need && len > 0) {
            inflater.setInput(png, d, len);
            try {
              while (got < need && !inflater.needsInput() && !inflater.finished()) {
                int n = inflater.inflate(raw, got, need - got);
                if (n == 0 && inflater.needsDictionary()) {
                  throw new DataException(name, "corrupt PNG (image data needs a preset dictionary)");
                }
                got += n;
              }
            } catch (DataFormatException e) {
              throw new DataException(name, "corrupt PNG image data: " + e.getMessage(), e);
            }
          }
        }
        case 0x49454e44 -> sawEnd = true; // IEND
        default -> {
          if ((png[p + 4] & 0x20) == 0) { // critical chunk we do not know
            throw new DataException(name, "unsupported critical PNG chunk " + typeName(type));
          }
        }
      }
      p += 12 + len;
      if (sawEnd) break;
    }
    if (colour < 0) throw new DataException(name, "corrupt PNG (no IHDR chunk)");
    if (!sawIdat) throw new DataException(name, "corrupt PNG (no image data)");
    if (got < need) {
      throw new DataException(name, "truncated PNG image data (" + got + " of " + need + " bytes)");
    }
    if (colour == 3 && palette == null) throw new DataException(name, "corrupt PNG (palette image without PLTE)");
    unfilter(width, height, depth, colour, name);
    return colour == 3 ? expandPalette(width, height, depth, palette, name) : planar(width, height, colour);
  }

  private static int channelsOf(int colour) {
    return switch (colour) {
      case 0, 3 -> 1;
      case 4 -> 2;
      case 2 -> 3;
      default -> 4;
    };
  }

  private static int rowBytes(int width, int depth, int colour) {
    return (int) (((long) width * channelsOf(colour) * depth + 7) / 8);
  }

  /** Undoes the per-row filters (types 0–4 of the PNG specification) in place. */
  private void unfilter(int width, int height, int depth, int colour, String name) {
    int rb = rowBytes(width, depth, colour);
    int bpp = Math.max(1, channelsOf(colour) * depth / 8);
    byte[] r = raw;
    for (int y = 0; y < height; y++) {
      int f = y * (rb + 1);
      int s = f + 1; // this row
      int u = s - rb - 1; // the row above (y > 0)
      int type = r[f];
      switch (type) {
        case 0 -> { }
        case 1 -> {
          for (int i = bpp; i < rb; i++) r[s + i] += r[s + i - bpp];
        }
        case 2 -> {
          if (y > 0) for (int i = 0; i < rb; i++) r[s + i] += r[u + i];
        }
        case 3 -> {
          if (y > 0) {
            for (int i = 0; i < bpp; i++) r[s + i] += (byte) ((r[u + i] & 0xff) >>> 1);
            for (int i = bpp; i < rb; i++) r[s + i] += (byte) (((r[s + i - bpp] & 0xff) + (r[u + i] & 0xff)) >>> 1);
          } else {
            for (int i = bpp; i < rb; i++) r[s + i] += (byte) ((r[s + i - bpp] & 0xff) >>> 1);
          }
        }
        case 4 -> {
          if (y > 0) {
            for (int i = 0; i < bpp; i++) r[s + i] += r[u + i]; // paeth(0, b, 0) = b
            for (int i = bpp; i < rb; i++) {
              r[s + i] += (byte) paeth(r[s + i - bpp] & 0xff, r[u + i] & 0xff, r[u + i - bpp] & 0xff);
            }
          } else {
            for (int i = bpp; i < rb; i++) r[s + i] += r[s + i - bpp]; // paeth(a, 0, 0) = a
          }
        }
        default -> throw new DataException(name, "corrupt PNG (filter type " + type + " in row " + y + ")");
      }
    }
  }

  private static int paeth(int a, int b, int c) {
    int pa = Math.abs(b - c);
    int pb = Math.abs(a - c);
    int pc = Math.abs(a + b - 2 * c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
  }

  private UInt8Image planar(int w, int h, int colour) {
    int c = channelsOf(colour);
    int plane = w * h;
    byte[] out = new byte[c * plane];
    byte[] r = raw;
    int rb = w * c + 1;
    for (int y = 0; y < h; y++) {
      int s = y * rb + 1;
      int o = y * w;
      if (c == 1) {
        System.arraycopy(r, s, out, o, w);
      } else if (c == 3) {
        for (int x = 0; x < w; x++, s += 3) {
          out[o + x] = r[s];
          out[plane + o + x] = r[s + 1];
          out[2 * plane + o + x] = r[s + 2];
        }
      } else {
        for (int x = 0; x < w; x++) {
          for (int ch = 0; ch < c; ch++) out[ch * plane + o + x] = r[s++];
        }
      }
    }
    return new UInt8Image(c, h, w, out);
  }

  private UInt8Image expandPalette(int w, int h, int depth, byte[] pal, String name) {
    int entries = pal.length / 3;
    boolean gray = true;
    for (int i = 0; i < entries; i++) {
      if (pal[3 * i] != pal[3 * i + 1] || pal[3 * i] != pal[3 * i + 2]) gray = false;
    }
    int c = gray ? 1 : 3;
    int plane = w * h;
    byte[] out = new byte[c * plane];
    int rb = rowBytes(w, depth, 3) + 1;
    int perByte = 8 / depth;
    int mask = (1 << depth) - 1;
    for (int y = 0; y < h; y++) {
      int s = y * rb + 1;
      for (int x = 0; x < w; x++) {
        int idx = depth == 8 ? raw[s + x] & 0xff
            : ((raw[s + x / perByte] & 0xff) >>> (8 - depth * (x % perByte + 1))) & mask;
        if (idx >= entries) {
          throw new DataException(name, "corrupt PNG (palette index " + idx + " of " + entries + " at x " + x
              + ", y " + y + ")");
        }
        int o = y * w + x;
        out[o] = pal[3 * idx];
        if (c == 3) {
          out[plane + o] = pal[3 * idx + 1];
          out[2 * plane + o] = pal[3 * idx + 2];
        }
      }
    }
    return new UInt8Image(c, h, w, out);
  }

  private static int readInt(byte[] b, int i) {
    return ((b[i] & 0xff) << 24) | ((b[i + 1] & 0xff) << 16) | ((b[i + 2] & 0xff) << 8) | (b[i + 3] & 0xff);
  }

  private static String typeName(int type) {
    StringBuilder s = new StringBuilder(4);
    for (int k = 24; k >= 0; k -= 8) {
      int ch = (type >>> k) & 0xff;
      s.append(ch >= 32 && ch < 127 ? (char) ch : '?');
    }
    return s.toString();
  }
}
