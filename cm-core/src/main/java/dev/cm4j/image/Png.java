package dev.cm4j.image;

import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/**
 * Reads and writes 8-bit images through {@code javax.imageio} (PNG for writing; any format ImageIO decodes — PNG,
 * JPEG, BMP, GIF — for reading). Pixels cross the boundary as {@link UInt8Image} (planar CHW).
 *
 * <p>Channel handling on reading follows what PIL + {@code np.array} give EDM's dataset code for the images
 * {@code dataset_tool.py} writes: 8-bit grayscale → 1 channel, gray + alpha → 2, RGB → 3, RGBA → 4. Two cases
 * differ from PIL on purpose: palette images are expanded to their colours (RGB, or RGBA when the palette has
 * alpha; 1 channel when every palette entry is gray) rather than returned as palette indices, and images with more
 * than 8 bits per sample are rejected. Errors are {@link UncheckedIOException}s whose message names the source.
 *
 * <p>The methods are thread-safe and never touch ImageIO's disk cache.
 */
public final class Png {
  private Png() {}

  // ------------------------------------------------------------------------------------------ reading

  /** Decodes an image file. */
  public static UInt8Image read(Path file) {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read image file " + file + ": " + e, e);
    }
    return decode(bytes, file.toString());
  }

  /** Decodes an encoded image; {@code name} (a file or zip entry) is used in error messages. */
  public static UInt8Image decode(byte[] encoded, String name) {
    BufferedImage img;
    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(encoded))) {
      Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
      if (!readers.hasNext()) throw new IOException("not an image in a format ImageIO can decode");
      ImageReader r = readers.next();
      try {
        r.setInput(in, true, true);
        img = r.read(0);
      } finally {
        r.dispose();
      }
    } catch (IOException | RuntimeException e) {
      throw new UncheckedIOException("cannot decode image " + name + ": " + e.getMessage(),
          e instanceof IOException io ? io : new IOException(e));
    }
    try {
      return fromBufferedImage(img);
    } catch (IllegalArgumentException e) {
      throw new UncheckedIOException("unsupported image " + name + ": " + e.getMessage(), new IOException(e));
    }
  }

  /** Converts a BufferedImage to planar 8-bit samples (see the class comment for the channel rules). */
  public static UInt8Image fromBufferedImage(BufferedImage img) {
    int w = img.getWidth();
    int h = img.getHeight();
    ColorModel cm = img.getColorModel();
    Raster r = img.getRaster();
    if (cm instanceof IndexColorModel icm) return fromIndexed(icm, r, w, h);
    int bands = r.getNumBands();
    for (int b = 0; b < bands; b++) {
      int bits = r.getSampleModel().getSampleSize(b);
      if (bits != 8) throw new IllegalArgumentException(bits + "-bit samples (only 8-bit images are supported)");
    }
    if (bands > 4) throw new IllegalArgumentException(bands + " bands");
    byte[] out = new byte[bands * h * w];
    int[] row = new int[w];
    for (int b = 0; b < bands; b++) {
      for (int y = 0; y < h; y++) {
        r.getSamples(0, y, w, 1, b, row);
        int o = (b * h + y) * w;
        for (int x = 0; x < w; x++) out[o + x] = (byte) row[x];
      }
    }
    return new UInt8Image(bands, h, w, out);
  }

  private static UInt8Image fromIndexed(IndexColorModel icm, Raster r, int w, int h) {
    int n = icm.getMapSize();
    boolean gray = true;
    for (int i = 0; i < n; i++) {
      if (icm.getRed(i) != icm.getGreen(i) || icm.getRed(i) != icm.getBlue(i)) gray = false;
    }
    boolean alpha = icm.hasAlpha();
    int c = gray && !alpha ? 1 : alpha ? 4 : 3;
    byte[] out = new byte[c * h * w];
    int[] row = new int[w];
    int plane = h * w;
    for (int y = 0; y < h; y++) {
      r.getSamples(0, y, w, 1, 0, row);
      for (int x = 0; x < w; x++) {
        int p = y * w + x;
        int idx = row[x];
        if (c == 1) {
          out[p] = (byte) icm.getRed(idx);
        } else {
          out[p] = (byte) icm.getRed(idx);
          out[plane + p] = (byte) icm.getGreen(idx);
          out[2 * plane + p] = (byte) icm.getBlue(idx);
          if (c == 4) out[3 * plane + p] = (byte) icm.getAlpha(idx);
        }
      }
    }
    return new UInt8Image(c, h, w, out);
  }

  // ------------------------------------------------------------------------------------------ writing

  /** A BufferedImage holding the samples: 1 channel → gray, 3 → RGB, 4 → RGBA. */
  public static BufferedImage toBufferedImage(UInt8Image img) {
    int type = switch (img.channels()) {
      case 1 -> BufferedImage.TYPE_BYTE_GRAY;
      case 3 -> BufferedImage.TYPE_3BYTE_BGR;
      case 4 -> BufferedImage.TYPE_4BYTE_ABGR;
      default -> throw new IllegalArgumentException(
          "cannot write a " + img.channels() + "-channel image (1, 3 or 4 channels are supported)");
    };
    int w = img.width();
    int h = img.height();
    BufferedImage bi = new BufferedImage(w, h, type);
    WritableRaster r = bi.getRaster();
    int[] row = new int[w];
    byte[] d = img.data();
    for (int b = 0; b < img.channels(); b++) {
      for (int y = 0; y < h; y++) {
        int o = (b * h + y) * w;
        for (int x = 0; x < w; x++) row[x] = d[o + x] & 0xff;
        r.setSamples(0, y, w, 1, b, row);
      }
    }
    return bi;
  }

  /** Encodes the image as PNG. */
  public static byte[] encode(UInt8Image img) {
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    write(img, bos, "<memory>");
    return bos.toByteArray();
  }

  /** Writes the image as a PNG file (parent directories must exist). */
  public static void write(UInt8Image img, Path file) {
    try (OutputStream os = Files.newOutputStream(file)) {
      write(img, os, file.toString());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write PNG " + file + ": " + e, e);
    }
  }

  private static void write(UInt8Image img, OutputStream os, String name) {
    BufferedImage bi = toBufferedImage(img);
    try (MemoryCacheImageOutputStream out = new MemoryCacheImageOutputStream(os)) {
      if (!ImageIO.write(bi, "png", out)) throw new IOException("no PNG writer available");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write PNG " + name + ": " + e, e);
    }
  }
}
