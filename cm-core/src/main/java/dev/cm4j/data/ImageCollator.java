package dev.cm4j.data;

import dev.cm4j.image.Resample;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The host-side image path of a {@link Loader} batch: reads (decodes) each image of the batch, converts its pixels
 * u to {@code u / 127.5 − 1}, pads or resizes it to the output resolution and mirrors it when asked — on the
 * producing thread alone, or spread over {@code workers} threads (the producing thread plus {@code workers − 1}
 * daemon pool threads, EDM's {@code --workers} DataLoader processes in spirit).
 *
 * <p>Threads take the batch's images one at a time from a shared counter, and each image is written only to its
 * own slot of the output, from its own index and flip decision alone; so the result is bit-identical for any
 * number of workers and any scheduling. When several images fail to read, the error of the first failing batch
 * position is thrown, as a single thread would. Memory: one decoded image and one float plane of scratch per
 * thread; batches themselves are bounded by the loader's prefetch queue.
 */
final class ImageCollator implements AutoCloseable {
  private final ImageDataset dataset;
  private final int outRes;
  private final LoaderConfig.Resize resize;
  private final int perItem;
  private final ExecutorService pool; // null with fewer than two workers
  private final int poolThreads;

  /**
   * @param workers threads decoding a batch; 0 or 1: the calling (producing) thread alone
   */
  ImageCollator(ImageDataset dataset, int outRes, LoaderConfig.Resize resize, int workers) {
    this.dataset = dataset;
    this.outRes = outRes;
    this.resize = resize;
    this.perItem = dataset.channels() * outRes * outRes;
    poolThreads = Math.max(0, workers - 1);
    if (workers > 1) {
      AtomicInteger n = new AtomicInteger();
      pool = Executors.newFixedThreadPool(workers - 1,
          r -> Thread.ofPlatform().name("cm4j-decode-" + n.getAndIncrement()).daemon(true).unstarted(r));
    } else {
      pool = null;
    }
  }

  /**
   * Fills {@code out[k · perItem ..]} with image {@code idx[k]}, mirrored where {@code flip[k]}.
   *
   * @throws DataException of the first batch position whose image cannot be read
   * @throws IllegalStateException when the calling thread is interrupted while waiting for the workers
   */
  void collate(int[] idx, boolean[] flip, float[] out) {
    int b = idx.length;
    if (pool == null || b < 2) {
      Scratch s = new Scratch();
      for (int k = 0; k < b; k++) one(idx[k], flip[k], out, k, s);
      return;
    }
    AtomicInteger next = new AtomicInteger();
    RuntimeException[] errors = new RuntimeException[b];
    Runnable task = () -> {
      Scratch s = new Scratch();
      for (int k = next.getAndIncrement(); k < b; k = next.getAndIncrement()) {
        try {
          one(idx[k], flip[k], out, k, s);
        } catch (RuntimeException e) {
          errors[k] = e;
        }
      }
    };
    List<Future<?>> helpers = new ArrayList<>();
    int extra = Math.min(b - 1, poolThreads);
    for (int t = 0; t < extra; t++) helpers.add(pool.submit(task));
    task.run();
    boolean interrupted = false;
    for (Future<?> f : helpers) {
      try {
        f.get();
      } catch (InterruptedException e) {
        interrupted = true;
        next.set(b); // let the helpers stop early
      } catch (ExecutionException e) {
        Throwable c = e.getCause();
        if (c instanceof Error er) throw er;
        throw new IllegalStateException("image decoding failed: " + c, c);
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while decoding a batch");
    }
    for (RuntimeException e : errors) if (e != null) throw e;
  }

  private static final class Scratch {
    byte[] pixels;
    float[] plane;
  }

  private void one(int item, boolean flip, float[] out, int k, Scratch s) {
    int c = dataset.channels();
    int r = dataset.resolution();
    int in = c * r * r;
    if (s.pixels == null) s.pixels = new byte[in];
    byte[] pixels = s.pixels;
    dataset.readImage(item, pixels, 0);
    int o = k * perItem;
    if (outRes == r) {
      for (int j = 0; j < in; j++) out[o + j] = (pixels[j] & 0xff) / 127.5f - 1f;
    } else if (resize == LoaderConfig.Resize.PAD) {
      int lo = (outRes - r) / 2;
      Arrays.fill(out, o, o + perItem, -1f);
      for (int ch = 0; ch < c; ch++) {
        for (int y = 0; y < r; y++) {
          int src = (ch * r + y) * r;
          int d = o + (ch * outRes + y + lo) * outRes + lo;
          for (int xx = 0; xx < r; xx++) out[d + xx] = (pixels[src + xx] & 0xff) / 127.5f - 1f;
        }
      }
    } else {
      if (s.plane == null) s.plane = new float[in];
      float[] plane = s.plane;
      for (int j = 0; j < in; j++) plane[j] = (pixels[j] & 0xff) / 127.5f - 1f;
      Resample.bilinear(plane, 0, c, r, r, out, o, outRes, outRes);
    }
    if (flip) {
      for (int row = 0; row < c * outRes; row++) {
        int a = o + row * outRes;
        for (int i = 0, j = outRes - 1; i < j; i++, j--) {
          float t = out[a + i];
          out[a + i] = out[a + j];
          out[a + j] = t;
        }
      }
    }
  }

  /** Stops the pool threads. */
  @Override
  public void close() {
    if (pool != null) pool.shutdownNow();
  }
}
