package dev.cm4j.cli;

import dev.cm4j.data.Npy;
import dev.cm4j.data.Npz;
import dev.cm4j.eval.ImageSource;
import dev.cm4j.image.Png;
import dev.cm4j.image.UInt8Image;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.train.ScatterPlot;
import dev.cm4j.train.Snapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * {@code cm sample} outputs beyond a grid: images to a folder of PNGs (EDM's generate.py layout) or an .npz; points to
 * an .npy or .npz (float32 [N, D]) or a scatter plot.
 */
final class SampleWriter {
  private SampleWriter() {}

  /**
   * Writes n samples in batches: to {@code target.npz} as one uint8 array {@code samples} [N, H, W, C], or into the
   * directory {@code target} as {@code 000000.png, 000001.png, ...}. Images are converted as EDM's generate.py does.
   */
  static void write(Snapshot s, int n, double[] mids, long seed, int batch, Path target) {
    long[] item = s.itemShape();
    if (item.length != 3) throw new IllegalArgumentException("image outputs need image data; this snapshot samples points");
    int c = (int) item[0];
    int h = (int) item[1];
    int w = (int) item[2];
    boolean npz = target.getFileName().toString().endsWith(".npz");
    byte[] all = npz ? new byte[Math.multiplyExact(n, c * h * w)] : null;
    if (!npz) {
      try {
        Files.createDirectories(target);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot create " + target + ": " + e.getMessage(), e);
      }
    }
    int[] next = {0};
    ImageSource.snapshot(s, n, mids, seed).forEach(batch, u8 -> {
      int b = (int) u8.shape()[0];
      if (npz) {
        byte[] nhwc = u8.permute(0, 2, 3, 1).contiguous().toByteArray();
        System.arraycopy(nhwc, 0, all, next[0] * c * h * w, nhwc.length);
      } else {
        byte[] chw = u8.contiguous().toByteArray();
        for (int i = 0; i < b; i++) {
          byte[] one = new byte[c * h * w];
          System.arraycopy(chw, i * one.length, one, 0, one.length);
          Png.write(new UInt8Image(c, h, w, one), target.resolve(String.format(Locale.ROOT, "%06d.png", next[0] + i)));
        }
      }
      next[0] += b;
    });
    if (npz) {
      Npz.write(target, Map.of("samples", new Npy.Array(DType.UINT8, new long[] {n, h, w, c}, all)), false);
    }
  }

  /**
   * n point samples [N, D] as a row-major float array, drawn in batches; sample i by its own generator seeded
   * seed + i (as image sampling does), so the samples do not depend on the batch size.
   */
  static float[] samplePoints(Snapshot s, int n, double[] mids, long seed, int batch) {
    long[] item = s.itemShape();
    if (item.length != 1) throw new IllegalArgumentException("point outputs need point data; this snapshot samples images");
    int d = (int) item[0];
    float[] all = new float[Math.multiplyExact(n, d)];
    for (int i = 0; i < n; i += batch) {
      try (TensorScope sc = TensorScope.open()) {
        float[] part = s.sample(Math.min(batch, n - i), mids, seed, i).contiguous().toFloatArray();
        System.arraycopy(part, 0, all, i * d, part.length);
      }
    }
    return all;
  }

  /** Writes n point samples to target.npy (one float32 [N, D] array) or target.npz (the same, key "samples"). */
  static void writePoints(Snapshot s, int n, double[] mids, long seed, int batch, Path target) {
    float[] all = samplePoints(s, n, mids, seed, batch);
    long[] shape = {n, s.itemShape()[0]};
    if (target.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".npz")) {
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(all.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
      b.asFloatBuffer().put(all);
      Npz.write(target, Map.of("samples", new Npy.Array(DType.FLOAT32, shape, b.array())), false);
    } else {
      Npy.write(target, all, shape);
    }
  }

  /** Writes a scatter plot of n point samples. */
  static void scatter(Snapshot s, int n, double[] mids, long seed, int batch, Path target) {
    float[] all = samplePoints(s, n, mids, seed, batch);
    try (TensorScope sc = TensorScope.open()) {
      ScatterPlot.write(Tensor.of(all, n, s.itemShape()[0]), target);
    }
  }
}
