package dev.cm4j.image;

import java.util.Arrays;

/**
 * An 8-bit image in planar CHW order: {@code data[(c * height + y) * width + x]}, values 0..255 stored as bytes
 * (read them with {@code & 0xff}). This is the layout EDM's datasets yield (PIL's HWC array transposed to CHW).
 *
 * @param channels number of channels (1 grayscale, 3 RGB, 4 RGBA; 2 gray + alpha)
 * @param height rows
 * @param width columns
 * @param data the samples, {@code channels * height * width} bytes (not copied)
 */
public record UInt8Image(int channels, int height, int width, byte[] data) {
  public UInt8Image {
    if (channels < 1 || height < 1 || width < 1) {
      throw new IllegalArgumentException("bad image shape [" + channels + ", " + height + ", " + width + "]");
    }
    if (data == null) throw new NullPointerException("data");
    if ((long) channels * height * width != data.length) {
      throw new IllegalArgumentException("image of shape [" + channels + ", " + height + ", " + width + "] needs "
          + (long) channels * height * width + " bytes, got " + data.length);
    }
  }

  /** A black image of the given shape. */
  public static UInt8Image zeros(int channels, int height, int width) {
    return new UInt8Image(channels, height, width, new byte[Math.multiplyExact(Math.multiplyExact(channels, height),
        width)]);
  }

  /** The sample at (c, y, x) as 0..255. */
  public int get(int c, int y, int x) {
    return data[(c * height + y) * width + x] & 0xff;
  }

  /** The shape as {@code [C, H, W]}. */
  public long[] shape() {
    return new long[] {channels, height, width};
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof UInt8Image i && i.channels == channels && i.height == height && i.width == width
        && Arrays.equals(i.data, data);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * (31 * channels + height) + width) + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return "UInt8Image[%d, %d, %d]".formatted(channels, height, width);
  }
}
