package dev.cm4j.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * CIFAR-10 in its "binary version" ({@code cifar-10-batches-bin}): each file is a sequence of 3073-byte records,
 * one label byte (0..9) followed by a 32×32 RGB image stored planar (1024 red, 1024 green, 1024 blue bytes, rows
 * top to bottom) — already CHW. The training split is {@code data_batch_1.bin} … {@code data_batch_5.bin} in that
 * order (50 000 images), the test split {@code test_batch.bin} (10 000). Read into memory at open.
 */
public final class Cifar10Dataset implements ImageDataset {
  /** Bytes of one record. */
  public static final int RECORD = 1 + 3 * 32 * 32;

  private final byte[] images;
  private final int n;
  private final Labels labels;

  private Cifar10Dataset(byte[] images, int n, Labels labels) {
    this.images = images;
    this.n = n;
    this.labels = labels;
  }

  /** The training ({@code data_batch_1..5.bin}) or test ({@code test_batch.bin}) split in {@code dir}. */
  public static Cifar10Dataset open(Path dir, boolean train) {
    List<Path> files = new ArrayList<>();
    if (train) {
      for (int k = 1; k <= 5; k++) files.add(dir.resolve("data_batch_" + k + ".bin"));
    } else {
      files.add(dir.resolve("test_batch.bin"));
    }
    return open(files);
  }

  /**
   * The records of the given batch files, concatenated in order.
   *
   * @throws DataException naming the file if one is missing, is not a whole number of records, or has a label
   *     outside 0..9
   */
  public static Cifar10Dataset open(List<Path> files) {
    long total = 0;
    for (Path f : files) {
      long size;
      try {
        size = Files.size(f);
      } catch (NoSuchFileException e) {
        throw new DataException(f.toString(), "file not found", e);
      } catch (IOException e) {
        throw new DataException(f.toString(), "cannot read: " + e, e);
      }
      if (size == 0 || size % RECORD != 0) {
        throw new DataException(f.toString(), size + " bytes is not a whole number of " + RECORD
            + "-byte CIFAR-10 records (truncated, or not a CIFAR-10 binary batch)");
      }
      total += size / RECORD;
    }
    int n = Math.toIntExact(total);
    int per = RECORD - 1;
    byte[] images = new byte[Math.multiplyExact(n, per)];
    int[] classes = new int[n];
    int i = 0;
    for (Path f : files) {
      byte[] b;
      try {
        b = Files.readAllBytes(f);
      } catch (IOException e) {
        throw new DataException(f.toString(), "cannot read: " + e, e);
      }
      if (b.length % RECORD != 0 || i + b.length / RECORD > n) {
        throw new DataException(f.toString(), "file changed while it was being read");
      }
      for (int r = 0; r < b.length / RECORD; r++, i++) {
        int label = b[r * RECORD] & 0xff;
        if (label > 9) {
          throw new DataException(f.toString(), "record " + r + " has label " + label
              + " (CIFAR-10 labels are 0..9; is this a CIFAR-100 file?)");
        }
        classes[i] = label;
        System.arraycopy(b, r * RECORD + 1, images, i * per, per);
      }
    }
    return new Cifar10Dataset(images, n, n == 0 ? null : Labels.classes(classes, 10));
  }

  @Override
  public int size() {
    return n;
  }

  @Override
  public int channels() {
    return 3;
  }

  @Override
  public int resolution() {
    return 32;
  }

  @Override
  public Optional<Labels> labels() {
    return Optional.ofNullable(labels);
  }

  @Override
  public void readImage(int i, byte[] dst, int off) {
    Objects.checkIndex(i, n);
    System.arraycopy(images, i * (RECORD - 1), dst, off, RECORD - 1);
  }
}
