package dev.cm4j.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * MNIST-style images from IDX files (see {@link Idx}): an image file {@code [N, R, R]} (magic 2051) and an optional
 * label file {@code [N]} (magic 2049) with class labels (label_dim = max + 1 = 10 for MNIST and Fashion-MNIST).
 * Images are 1-channel. Everything is read into memory at open (47 MB for the 60 000 training images).
 */
public final class IdxDataset implements ImageDataset {
  /** Where Debian's {@code dataset-fashion-mnist} package installs Fashion-MNIST. */
  public static final Path DEBIAN_FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

  private final byte[] images;
  private final int n;
  private final int resolution;
  private final Labels labels;

  private IdxDataset(byte[] images, int n, int resolution, Labels labels) {
    this.images = images;
    this.n = n;
    this.resolution = resolution;
    this.labels = labels;
  }

  /**
   * Opens an image file and (if {@code labelFile} is not null) its label file; both may be gzip-compressed.
   *
   * @throws DataException if a file is missing or malformed, the images are not square, or the counts differ
   */
  public static IdxDataset open(Path imageFile, Path labelFile) {
    Idx.Array im = Idx.read(imageFile, 3);
    int[] d = im.dims();
    if (d[1] != d[2]) {
      throw new DataException(imageFile.toString(), "images are " + d[1] + "×" + d[2] + ", not square");
    }
    Labels labels = null;
    if (labelFile != null) {
      Idx.Array lb = Idx.read(labelFile, 1);
      if (lb.dims()[0] != d[0]) {
        throw new DataException(labelFile.toString(), lb.dims()[0] + " labels for " + d[0] + " images in "
            + imageFile);
      }
      int[] c = new int[d[0]];
      for (int i = 0; i < c.length; i++) c[i] = lb.data()[i] & 0xff;
      labels = c.length == 0 ? null : Labels.classes(c);
    }
    return new IdxDataset(im.data(), d[0], d[1], labels);
  }

  /**
   * Opens the standard MNIST file layout in {@code dir}: {@code train-images-idx3-ubyte} and
   * {@code train-labels-idx1-ubyte} (or {@code t10k-*} for the test split), each optionally with {@code .gz}.
   */
  public static IdxDataset openStandard(Path dir, boolean train) {
    String p = train ? "train" : "t10k";
    return open(find(dir, p + "-images-idx3-ubyte"), find(dir, p + "-labels-idx1-ubyte"));
  }

  /** Fashion-MNIST from Debian's {@code dataset-fashion-mnist} package, if it is installed. */
  public static Optional<IdxDataset> debianFashionMnist(boolean train) {
    if (!Files.isDirectory(DEBIAN_FASHION_MNIST)) return Optional.empty();
    return Optional.of(openStandard(DEBIAN_FASHION_MNIST, train));
  }

  private static Path find(Path dir, String base) {
    Path raw = dir.resolve(base);
    if (Files.exists(raw)) return raw;
    Path gz = dir.resolve(base + ".gz");
    if (Files.exists(gz)) return gz;
    throw new DataException(raw.toString(), "file not found (nor " + gz.getFileName() + ")");
  }

  @Override
  public int size() {
    return n;
  }

  @Override
  public int channels() {
    return 1;
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
    int per = resolution * resolution;
    System.arraycopy(images, i * per, dst, off, per);
  }
}
