package dev.cm4j.bench;

import dev.cm4j.data.Batch;
import dev.cm4j.data.ImageFolderDataset;
import dev.cm4j.data.Loader;
import dev.cm4j.data.LoaderConfig;
import dev.cm4j.image.Png;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Decoding + collating a 64×64 PNG zip in the layout of EDM's {@code dataset_tool.py}, run by
 * {@code bench/image_decode.sh}: uncompressed PNGs (deflate level 0, as dataset_tool saves with
 * {@code compress_level=0}) stored in the zip under {@code 00000/img00000000.png} names, with dataset.json labels.
 *
 * <p>Lines ({@link StepTimer} format, ms per image; only the wall columns count, the work runs on other threads):
 * <ul>
 *   <li>{@code loader/workers<n>}: {@code LoaderConfig.of(64, 0).withXflip(true)} (shuffled, labels, 2 batches
 *       prefetched) with {@code workers} n, drained into CPU tensors by a consumer that does nothing else;
 *   <li>{@code imageio/1thread}: {@code javax.imageio} decoding the same entries on one thread (the path the direct
 *       decoder replaced), for scale.
 * </ul>
 * Usage: {@code ImageDecodeThroughput ZIP [count [warmupSteps,warmupSeconds,reps]]}; writes ZIP with count images
 * (default 4096) when it does not exist.
 */
public final class ImageDecodeThroughput {
  private ImageDecodeThroughput() {}

  static final int BATCH = 64;
  static final int RES = 64;

  public static void main(String[] args) throws IOException {
    Path zip = Path.of(args[0]);
    int count = args.length > 1 ? Integer.parseInt(args[1]) : 4096;
    StepTimer timer = StepTimer.parse(args.length > 2 ? args[2] : null, new StepTimer(2, 2.0, 7));
    if (!Files.exists(zip)) writeZip(zip, count, 0);
    Torch.load();
    time(zip, timer, new int[] {1, 2});
  }

  static void time(Path zip, StepTimer timer, int[] workers) {
    try (ImageFolderDataset ds = ImageFolderDataset.open(zip)) {
      int batches = Math.max(1, Math.min(20, ds.size() / BATCH));
      for (int w : workers) {
        try (Loader loader = Loader.open(ds, LoaderConfig.of(BATCH, 0).withXflip(true).withWorkers(w))) {
          timer.measure("loader", "workers" + w, batches * BATCH, () -> {
            for (int i = 0; i < batches; i++) {
              try (var s = TensorScope.open(); Batch b = loader.next()) {
                // consumed
              }
            }
          });
        }
      }
      int n = Math.min(ds.size(), 256);
      java.util.zip.ZipFile z;
      try {
        z = new java.util.zip.ZipFile(zip.toFile());
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      try (z) {
        byte[][] files = new byte[n][];
        for (int i = 0; i < n; i++) files[i] = z.getInputStream(z.getEntry(ds.fileNames().get(i))).readAllBytes();
        timer.measure("imageio", "1thread", n, () -> {
          for (byte[] f : files) Png.decode(f, "bench");
        });
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
  }

  /** Writes count synthetic RGB images (smooth gradients plus noise) as dataset_tool would store them. */
  static void writeZip(Path file, int count, long seed) throws IOException {
    Random rnd = new Random(seed);
    StringBuilder labels = new StringBuilder("{\"labels\": [");
    try (OutputStream os = Files.newOutputStream(file); ZipOutputStream z = new ZipOutputStream(os)) {
      z.setMethod(ZipOutputStream.STORED);
      for (int i = 0; i < count; i++) {
        byte[] hwc = new byte[RES * RES * 3];
        int a = rnd.nextInt(8) + 1;
        int b = rnd.nextInt(8) + 1;
        for (int y = 0; y < RES; y++) {
          for (int x = 0; x < RES; x++) {
            int o = (y * RES + x) * 3;
            hwc[o] = (byte) Math.clamp(x * a + rnd.nextInt(16), 0, 255);
            hwc[o + 1] = (byte) Math.clamp(y * b + rnd.nextInt(16), 0, 255);
            hwc[o + 2] = (byte) Math.clamp((x + y) * 2 + rnd.nextInt(16), 0, 255);
          }
        }
        String idx = String.format("%08d", i);
        String name = idx.substring(0, 5) + "/img" + idx + ".png";
        stored(z, name, storedPng(hwc, RES, RES));
        labels.append(i == 0 ? "" : ", ").append("[\"").append(name).append("\", ").append(i % 1000).append(']');
      }
      stored(z, "dataset.json", labels.append("]}").toString().getBytes(StandardCharsets.UTF_8));
    }
  }

  private static void stored(ZipOutputStream z, String name, byte[] data) throws IOException {
    ZipEntry e = new ZipEntry(name);
    CRC32 crc = new CRC32();
    crc.update(data);
    e.setSize(data.length);
    e.setCompressedSize(data.length);
    e.setCrc(crc.getValue());
    z.putNextEntry(e);
    z.write(data);
    z.closeEntry();
  }

  /** An RGB PNG with filter 0 on every row and deflate level 0. */
  static byte[] storedPng(byte[] hwc, int h, int w) {
    byte[] raw = new byte[h * (1 + 3 * w)];
    for (int y = 0; y < h; y++) System.arraycopy(hwc, y * 3 * w, raw, y * (1 + 3 * w) + 1, 3 * w);
    Deflater d = new Deflater(Deflater.NO_COMPRESSION);
    d.setInput(raw);
    d.finish();
    ByteArrayOutputStream idat = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    while (!d.finished()) idat.write(buf, 0, d.deflate(buf));
    d.end();
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    png.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10});
    byte[] ihdr = new byte[13];
    putInt(ihdr, 0, w);
    putInt(ihdr, 4, h);
    ihdr[8] = 8;
    ihdr[9] = 2;
    chunk(png, "IHDR", ihdr);
    chunk(png, "IDAT", idat.toByteArray());
    chunk(png, "IEND", new byte[0]);
    return png.toByteArray();
  }

  private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
    byte[] len = new byte[4];
    putInt(len, 0, data.length);
    out.writeBytes(len);
    byte[] t = type.getBytes(StandardCharsets.US_ASCII);
    out.writeBytes(t);
    out.writeBytes(data);
    CRC32 crc = new CRC32();
    crc.update(t);
    crc.update(data);
    byte[] c = new byte[4];
    putInt(c, 0, (int) crc.getValue());
    out.writeBytes(c);
  }

  private static void putInt(byte[] b, int i, int v) {
    b[i] = (byte) (v >>> 24);
    b[i + 1] = (byte) (v >>> 16);
    b[i + 2] = (byte) (v >>> 8);
    b[i + 3] = (byte) v;
  }
}
