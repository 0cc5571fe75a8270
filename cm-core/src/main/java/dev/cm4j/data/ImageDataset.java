package dev.cm4j.data;

import dev.cm4j.image.UInt8Image;

/**
 * A dataset of equally-shaped, square 8-bit images {@code [C, R, R]} (R = {@link #resolution()}), as EDM's
 * {@code Dataset}: {@code resolution}, {@code num_channels} and {@code label_dim} are its metadata.
 */
public non-sealed interface ImageDataset extends Dataset {
  /** Number of channels C (1 grayscale, 3 RGB). */
  int channels();

  /** Height = width of every image. */
  int resolution();

  /**
   * Copies image i (planar CHW, {@code C·R·R} bytes) to {@code dst[off ..]}. Thread-safe. A file that is missing,
   * corrupt or has the wrong shape throws {@link DataException} naming it.
   */
  void readImage(int i, byte[] dst, int off);

  /** Image i as a new {@link UInt8Image}. */
  default UInt8Image image(int i) {
    int r = resolution();
    byte[] b = new byte[channels() * r * r];
    readImage(i, b, 0);
    return new UInt8Image(channels(), r, r, b);
  }

  @Override
  default long[] itemShape() {
    return new long[] {channels(), resolution(), resolution()};
  }

  @Override
  default ImageItem item(int i) {
    return new ImageItem(image(i), labels().map(l -> l.get(i)).orElse(new float[0]));
  }
}
