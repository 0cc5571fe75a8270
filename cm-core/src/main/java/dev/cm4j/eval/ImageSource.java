package dev.cm4j.eval;

import dev.cm4j.data.DataException;
import dev.cm4j.data.ImageDataset;
import dev.cm4j.data.ImageFolderDataset;
import dev.cm4j.data.Npy;
import dev.cm4j.data.Npz;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.train.Snapshot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Where evaluation images come from, delivered as uint8 batches [B, C, H, W] (0..255): samples of a network
 * snapshot, an {@code .npz} of images (EDM/ADM style: one uint8 array [N, H, W, C]), a folder of PNGs, or a dataset.
 */
public interface ImageSource {
  /** Number of images. */
  long size();

  /** Calls sink with consecutive batches of at most {@code batch} images; each batch is freed after the call. */
  void forEach(int batch, Consumer<Tensor> sink);

  /**
   * Generated images in [−1, 1] to uint8 as EDM's generate.py does: {@code (x · 127.5 + 128).clip(0, 255)}, truncated
   * to an integer.
   */
  static Tensor toUInt8(Tensor x) {
    return x.mul(127.5).add(128.0).clamp(0, 255).to(DType.UINT8);
  }

  /**
   * n samples of a snapshot: 1 step plus one per intermediate time; image i drawn by its own generator seeded
   * seed + i (latent, class, re-noising: {@link Snapshot#sample(int, double[], long, long)}), so the images do not
   * depend on the batch size.
   */
  static ImageSource snapshot(Snapshot s, int n, double[] mids, long seed) {
    if (s.itemShape().length != 3) throw new IllegalArgumentException("the snapshot does not generate images");
    return new ImageSource() {
      public long size() {
        return n;
      }

      public void forEach(int batch, Consumer<Tensor> sink) {
        for (int i = 0; i < n; i += batch) {
          try (TensorScope sc = TensorScope.open()) {
            sink.accept(toUInt8(s.sample(Math.min(batch, n - i), mids, seed, i)));
          }
        }
      }
    };
  }

  /** Images of a dataset (the first {@code limit}). */
  static ImageSource dataset(ImageDataset d, int limit) {
    int n = Math.min(limit, d.size());
    return new ImageSource() {
      public long size() {
        return n;
      }

      public void forEach(int batch, Consumer<Tensor> sink) {
        for (int i = 0; i < n; i += batch) {
          int b = Math.min(batch, n - i);
          int[] idx = new int[b];
          for (int k = 0; k < b; k++) idx[k] = i + k;
          try (TensorScope sc = TensorScope.open()) {
            sink.accept(FmnistClassifier.images(d, idx));
          }
        }
      }
    };
  }

  /** A folder of PNG images (sorted by name). */
  static ImageSource folder(Path dir) {
    return dataset(ImageFolderDataset.open(dir), Integer.MAX_VALUE);
  }

  /**
   * Images in an {@code .npz}: the array {@code samples} if present, else {@code arr_0}, else the only array; uint8
   * [N, H, W, C] (channels last, as EDM/ADM sample files) or [N, H, W] (grayscale).
   */
  static ImageSource npz(Path file) {
    Map<String, Npy.Array> m = Npz.read(file);
    Npy.Array a = m.containsKey("samples") ? m.get("samples") : m.containsKey("arr_0") ? m.get("arr_0")
        : m.size() == 1 ? m.values().iterator().next() : null;
    if (a == null) throw new DataException(file.toString(), "which array holds the images? (has " + m.keySet()
        + "; expected 'samples' or 'arr_0')");
    if (a.dtype() != DType.UINT8 || (a.shape().length != 4 && a.shape().length != 3)) {
      throw new DataException(file.toString(), "images must be uint8 [N, H, W, C] or [N, H, W], got " + a);
    }
    long[] sh = a.shape().length == 4 ? a.shape() : new long[] {a.shape()[0], a.shape()[1], a.shape()[2], 1};
    if (sh[3] != 1 && sh[3] != 3) throw new DataException(file.toString(), "images need 1 or 3 channels, got " + sh[3]);
    byte[] data = a.data();
    long per = sh[1] * sh[2] * sh[3];
    return new ImageSource() {
      public long size() {
        return sh[0];
      }

      public void forEach(int batch, Consumer<Tensor> sink) {
        for (long i = 0; i < sh[0]; i += batch) {
          long b = Math.min(batch, sh[0] - i);
          try (TensorScope sc = TensorScope.open()) {
            Tensor nhwc = Tensor.fromBytes(data, Math.toIntExact(i * per), Math.toIntExact(b * per), DType.UINT8,
                new long[] {b, sh[1], sh[2], sh[3]}, Device.CPU);
            sink.accept(nhwc.permute(0, 3, 1, 2).contiguous());
          }
        }
      }
    };
  }

  /** A path: an .npz file or a folder of PNGs. */
  static ImageSource path(Path p) {
    if (Files.isDirectory(p)) return folder(p);
    if (p.getFileName().toString().endsWith(".npz")) return npz(p);
    throw new IllegalArgumentException("image source " + p + " is neither a folder of PNGs nor an .npz file");
  }
}
