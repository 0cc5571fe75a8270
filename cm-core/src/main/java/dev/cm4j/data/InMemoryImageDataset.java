package dev.cm4j.data;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;

/** Images held in one byte array, {@code [N, C, R, R]} row-major (planar per image). */
public final class InMemoryImageDataset implements ImageDataset {
  private final byte[] data;
  private final int n;
  private final int channels;
  private final int resolution;
  private final Labels labels; // nullable

  /**
   * Wraps (does not copy) {@code data}, {@code n × channels × resolution²} bytes.
   *
   * @param labels the labels, or null for an unlabelled dataset
   */
  public InMemoryImageDataset(byte[] data, int n, int channels, int resolution, Labels labels) {
    Objects.requireNonNull(data, "data");
    if (n < 0 || channels < 1 || resolution < 1) {
      throw new IllegalArgumentException("bad shape [" + n + ", " + channels + ", " + resolution + ", " + resolution
          + "]");
    }
    if ((long) n * channels * resolution * resolution != data.length) {
      throw new IllegalArgumentException(data.length + " bytes do not fit [" + n + ", " + channels + ", "
          + resolution + ", " + resolution + "]");
    }
    if (labels != null && labels.size() != n) {
      throw new IllegalArgumentException(labels.size() + " labels for " + n + " images");
    }
    this.data = data;
    this.n = n;
    this.channels = channels;
    this.resolution = resolution;
    this.labels = labels;
  }

  /**
   * Copies a uint8 tensor {@code [N, C, R, R]} (any device) into memory.
   *
   * @param labels the labels, or null
   */
  public static InMemoryImageDataset fromTensor(Tensor images, Labels labels) {
    long[] sh = images.shape();
    if (sh.length != 4 || sh[2] != sh[3]) {
      throw new IllegalArgumentException("expected uint8 images [N, C, R, R], got " + Arrays.toString(sh));
    }
    if (images.dtype() != DType.UINT8) throw new IllegalArgumentException("expected uint8 images, got "
        + images.dtype());
    byte[] b;
    try (Tensor t = images.to(Device.CPU).contiguous()) {
      b = t.toByteArray();
    }
    return new InMemoryImageDataset(b, Math.toIntExact(sh[0]), Math.toIntExact(sh[1]), Math.toIntExact(sh[2]),
        labels);
  }

  /** Reads every image of {@code source} into memory (e.g. to avoid decoding PNGs every epoch). */
  public static InMemoryImageDataset copyOf(ImageDataset source) {
    int per = source.channels() * source.resolution() * source.resolution();
    byte[] b = new byte[Math.multiplyExact(per, source.size())];
    for (int i = 0; i < source.size(); i++) source.readImage(i, b, i * per);
    return new InMemoryImageDataset(b, source.size(), source.channels(), source.resolution(),
        source.labels().orElse(null));
  }

  /** The first {@code count} items (EDM's {@code max_size}, without its random subset). */
  public static InMemoryImageDataset head(ImageDataset source, int count) {
    int m = Math.min(count, source.size());
    int per = source.channels() * source.resolution() * source.resolution();
    byte[] b = new byte[Math.multiplyExact(per, m)];
    int[] idx = new int[m];
    for (int i = 0; i < m; i++) {
      source.readImage(i, b, i * per);
      idx[i] = i;
    }
    return new InMemoryImageDataset(b, m, source.channels(), source.resolution(),
        source.labels().map(l -> l.subset(idx)).orElse(null));
  }

  @Override
  public int size() {
    return n;
  }

  @Override
  public int channels() {
    return channels;
  }

  @Override
  public int resolution() {
    return resolution;
  }

  @Override
  public Optional<Labels> labels() {
    return Optional.ofNullable(labels);
  }

  @Override
  public void readImage(int i, byte[] dst, int off) {
    Objects.checkIndex(i, n);
    int per = channels * resolution * resolution;
    System.arraycopy(data, i * per, dst, off, per);
  }
}
