package dev.cm4j.image;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Sample grids: a batch of images in [−1, 1] laid out row-major in a grid with a given number of columns and
 * saved as one PNG (EDM's {@code save_image_grid} with {@code drange=[-1, 1]}). Pixel mapping:
 * {@code u = clamp(rint((x + 1) · 127.5), 0, 255)} in float32 arithmetic with round-half-even, bit-identical to
 * EDM's numpy code and the exact inverse of the loader's {@code x = u / 127.5 − 1}; NaN maps to 0. Cells past the
 * last image are black.
 */
public final class ImageGrid {
  private ImageGrid() {}

  /** One value in [−1, 1] to 0..255. */
  public static int toUInt8(float x) {
    float u = (float) Math.rint((x + 1f) * 127.5f);
    if (!(u >= 0)) return 0; // also NaN
    return u > 255 ? 255 : (int) u;
  }

  /**
   * Converts a batch {@code [N, C, H, W]} (any float dtype, any device) in [−1, 1] to 8-bit images. The tensor is
   * copied to the host; it is not modified or closed.
   */
  public static List<UInt8Image> toImages(Tensor images) {
    long[] sh = images.shape();
    if (sh.length != 4) {
      throw new IllegalArgumentException("expected images [N, C, H, W], got shape " + Arrays.toString(sh));
    }
    int n = Math.toIntExact(sh[0]);
    int c = Math.toIntExact(sh[1]);
    int h = Math.toIntExact(sh[2]);
    int w = Math.toIntExact(sh[3]);
    float[] v;
    if (images.dtype() == DType.FLOAT32 && images.device().equals(Device.CPU)) {
      v = images.toFloatArray();
    } else {
      try (Tensor t = images.detach().to(Device.CPU, DType.FLOAT32)) {
        v = t.toFloatArray();
      }
    }
    int per = c * h * w;
    List<UInt8Image> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      byte[] d = new byte[per];
      for (int j = 0; j < per; j++) d[j] = (byte) toUInt8(v[i * per + j]);
      out.add(new UInt8Image(c, h, w, d));
    }
    return out;
  }

  /** Lays equally-shaped images out row-major in a grid of {@code cols} columns (and ⌈n / cols⌉ rows). */
  public static UInt8Image grid(List<UInt8Image> images, int cols) {
    if (images.isEmpty()) throw new IllegalArgumentException("no images");
    if (cols < 1) throw new IllegalArgumentException("cols must be >= 1: " + cols);
    UInt8Image first = images.get(0);
    int c = first.channels();
    int h = first.height();
    int w = first.width();
    int rows = (images.size() + cols - 1) / cols;
    int gh = Math.multiplyExact(rows, h);
    int gw = Math.multiplyExact(cols, w);
    byte[] g = new byte[Math.multiplyExact(Math.multiplyExact(c, gh), gw)];
    for (int k = 0; k < images.size(); k++) {
      UInt8Image im = images.get(k);
      if (im.channels() != c || im.height() != h || im.width() != w) {
        throw new IllegalArgumentException("image " + k + " has shape " + Arrays.toString(im.shape()) + ", image 0 "
            + Arrays.toString(first.shape()));
      }
      int y0 = (k / cols) * h;
      int x0 = (k % cols) * w;
      for (int ch = 0; ch < c; ch++) {
        for (int y = 0; y < h; y++) {
          System.arraycopy(im.data(), (ch * h + y) * w, g, (ch * gh + y0 + y) * gw + x0, w);
        }
      }
    }
    return new UInt8Image(c, gh, gw, g);
  }

  /** The grid of a batch {@code [N, C, H, W]} in [−1, 1] (C = 1 gray, 3 RGB). */
  public static UInt8Image grid(Tensor images, int cols) {
    return grid(toImages(images), cols);
  }

  /** Saves a batch {@code [N, C, H, W]} in [−1, 1] as a PNG grid with {@code cols} columns (C = 1 or 3). */
  public static void save(Tensor images, int cols, Path png) {
    Png.write(grid(images, cols), png);
  }
}
