package dev.cm4j.cli;

import dev.cm4j.data.Npy;
import dev.cm4j.data.Npz;
import dev.cm4j.eval.ImageSource;
import dev.cm4j.image.Png;
import dev.cm4j.image.UInt8Image;
import dev.cm4j.tensor.DType;
import dev.cm4j.train.Snapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/** {@code cm sample} outputs beyond a grid: a folder of PNGs (EDM's generate.py layout) or an .npz. */
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
}
