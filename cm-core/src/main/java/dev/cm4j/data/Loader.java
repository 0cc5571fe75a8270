package dev.cm4j.data;

import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.HostStaging;
import dev.cm4j.tensor.Stream;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Batches a {@link Dataset} into float32 tensors: seeded shuffling, sharding, collation, optional resize/pad and
 * random x-flips, background prefetch, and an exactly resumable {@link LoaderState}.
 *
 * <p><b>Item stream.</b> Epoch e visits the dataset in permutation π_e — a Fisher–Yates shuffle driven by
 * {@code SplitMix64(derive(seed, e))} (the identity when {@code shuffle} is off), the same on every rank. The global
 * stream is π_0 followed by π_1, … (infinite mode) or π_e alone (finite mode); rank r of W takes stream positions
 * r, r + W, r + 2W, …, so within an epoch the shards are disjoint and together cover the dataset, and ranks stay
 * in lockstep. Batches are consecutive runs of a rank's stream and may straddle epochs (as with EDM's
 * {@code InfiniteSampler}, which this replaces with a plain per-epoch permutation instead of windowed shuffling).
 *
 * <p><b>Collation.</b> Image pixels u become {@code u / 127.5 − 1} (float arithmetic, bit-identical to EDM's
 * {@code images.to(torch.float32) / 127.5 - 1}); then the image is padded or bilinearly resized to
 * {@link LoaderConfig#resolution()} and, with {@code xflip}, mirrored horizontally when the next draw of the x-flip
 * generator (a {@link SplitMix64} seeded from the seed and the rank, one draw per image) has its top bit set. Labels
 * become float vectors (one-hot for classes). Points are passed through unchanged.
 *
 * <p><b>Threads and memory.</b> With {@code prefetch > 0} a daemon platform thread reads and collates batches into
 * plain Java arrays and hands them over through a queue of {@code prefetch} slots, so at most {@code prefetch + 1}
 * host batches exist at once; it never touches libtorch. With {@link LoaderConfig#workers()} ≥ 2 the images of a
 * batch are decoded on that many threads ({@code ImageCollator}), with results bit-identical to one thread.
 * Tensors are created by {@link #next()} on the calling
 * thread, so they belong to that thread's open {@link dev.cm4j.tensor.TensorScope} (or to the caller), copied in
 * through one reused native staging buffer. A loader is used from one thread; {@link #close()} stops the prefetch
 * thread, frees the staging buffer and drops a batch uploaded ahead.
 *
 * <p><b>Devices.</b> {@link #next(Device)} for a device other than the CPU (where libtorch has pinned host memory,
 * i.e. an accelerator backend is loaded) stages each batch in pinned host memory and uploads it with a non-blocking
 * copy on a side stream, one batch ahead: the call that returns batch k has already queued batch k + 1's upload, so
 * on CUDA that copy runs while step k computes. The consumer's stream waits for an upload on the device, never on
 * the host. The batch values are those of the CPU path, bit for bit.
 *
 * <p><b>Checkpoints.</b> {@link #state()} is the state after the last batch returned by {@link #next()} (not of the
 * prefetch thread nor of the batch uploaded ahead, which run ahead). A loader opened with that state returns exactly the batches the original
 * would have returned next, bit for bit.
 *
 * <p>Errors reading the dataset (a missing or corrupt file) are rethrown by {@link #next()} as the
 * {@link DataException} naming the file; the loader is then unusable.
 */
public final class Loader implements Iterator<Batch>, AutoCloseable {
  private final Dataset dataset;
  private final LoaderConfig cfg;
  private final Cursor cursor; // producer side
  private final int outRes; // images: output resolution
  private final int perItem; // floats per item in the output
  private final int labelDim; // 0 when labels are off or absent
  private final BlockingQueue<Object> queue; // null when synchronous
  private final Thread thread;
  private volatile boolean closed;
  private Object pending; // next host batch, END or a Failure
  private LoaderState state;
  private boolean failed;
  private final HostStaging staging = new HostStaging(); // consumer-side native staging buffer, freed by close()
  private Ahead ahead; // device batches: the next batch, its upload already queued
  private Stream sideStream; // the stream device uploads are queued on (null: the device has none)
  private Device streamDevice; // the device sideStream was chosen for
  private Boolean pinnedAvailable;
  private final ImageCollator collator; // images: decodes and converts a batch (on cfg.workers() threads)

  private static final Object END = new Object();

  private record Failure(Throwable error) {}

  private record HostBatch(float[] x, float[] labels, int[] indices, boolean[] flipped, LoaderState stateAfter) {}

  private Loader(Dataset dataset, LoaderConfig cfg, LoaderState resume) {
    this.dataset = Objects.requireNonNull(dataset, "dataset");
    this.cfg = Objects.requireNonNull(cfg, "cfg");
    if (dataset.size() == 0) throw new IllegalArgumentException("the dataset is empty");
    if (dataset instanceof ImageDataset im) {
      outRes = cfg.resolution() == 0 ? im.resolution() : cfg.resolution();
      if (cfg.resize() == LoaderConfig.Resize.PAD && outRes < im.resolution()) {
        throw new IllegalArgumentException("cannot pad " + im.resolution() + " down to " + outRes
            + " (use Resize.BILINEAR)");
      }
      perItem = im.channels() * outRes * outRes;
    } else {
      PointDataset pd = (PointDataset) dataset;
      if (cfg.xflip() || cfg.resolution() != 0) {
        throw new IllegalArgumentException("xflip and resolution apply to images, not to a point dataset");
      }
      outRes = 0;
      perItem = pd.dim();
    }
    labelDim = cfg.useLabels() ? dataset.labelDim() : 0;
    LoaderState s = resume != null ? resume : initialState(cfg, dataset.size());
    checkCompatible(s, cfg, dataset.size());
    this.state = s;
    this.cursor = new Cursor(s, cfg.infinite());
    collator = dataset instanceof ImageDataset im ? new ImageCollator(im, outRes, cfg.resize(), cfg.workers()) : null;
    if (cfg.prefetch() > 0) {
      queue = new ArrayBlockingQueue<>(cfg.prefetch());
      thread = Thread.ofPlatform().name("cm4j-loader").daemon(true).unstarted(this::produceLoop);
      thread.start();
    } else {
      queue = null;
      thread = null;
    }
  }

  /** A loader at the start of the stream. */
  public static Loader open(Dataset dataset, LoaderConfig cfg) {
    return new Loader(dataset, cfg, null);
  }

  /**
   * A loader resuming from a saved state.
   *
   * @throws IllegalArgumentException if the state belongs to a different seed, shuffle flag, shard or dataset size
   */
  public static Loader open(Dataset dataset, LoaderConfig cfg, LoaderState state) {
    return new Loader(dataset, cfg, Objects.requireNonNull(state, "state"));
  }

  /** The state at the start of the stream for a configuration and dataset size. */
  public static LoaderState initialState(LoaderConfig cfg, int datasetSize) {
    return new LoaderState(0, cfg.rank(), SplitMix64.derive(cfg.seed() ^ 0x6c6f61646572L, cfg.rank()), cfg.seed(),
        cfg.shuffle(), cfg.rank(), cfg.worldSize(), datasetSize);
  }

  private static void checkCompatible(LoaderState s, LoaderConfig cfg, int n) {
    if (s.seed() != cfg.seed() || s.shuffle() != cfg.shuffle() || s.rank() != cfg.rank()
        || s.worldSize() != cfg.worldSize() || s.datasetSize() != n) {
      throw new IllegalArgumentException("loader state " + s + " does not match this loader (seed " + cfg.seed()
          + ", shuffle " + cfg.shuffle() + ", rank " + cfg.rank() + " of " + cfg.worldSize() + ", dataset size " + n
          + ")");
    }
    if (s.epoch() < 0 || s.position() < 0 || s.position() >= Math.max(n, cfg.worldSize()) + (long) cfg.worldSize()) {
      throw new IllegalArgumentException("loader state " + s + " is out of range");
    }
  }

  /** The permutation of epoch e: Fisher–Yates driven by SplitMix64(derive(seed, e)), or the identity. */
  public static int[] permutation(int n, long seed, long epoch, boolean shuffle) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) p[i] = i;
    if (!shuffle) return p;
    SplitMix64 rng = new SplitMix64(SplitMix64.derive(seed, epoch));
    for (int i = n - 1; i > 0; i--) {
      int j = rng.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** The dataset. */
  public Dataset dataset() {
    return dataset;
  }

  /** The configuration. */
  public LoaderConfig config() {
    return cfg;
  }

  /** The shape of {@link Batch#x()} for a full batch. */
  public long[] batchShape() {
    if (dataset instanceof ImageDataset im) return new long[] {cfg.batchSize(), im.channels(), outRes, outRes};
    return new long[] {cfg.batchSize(), perItem};
  }

  /** The state after the last batch returned by {@link #next()}: resuming from it continues exactly there. */
  public LoaderState state() {
    return state;
  }

  // ------------------------------------------------------------------------------------------ consumer side

  /** False only in finite mode once the epoch is exhausted. */
  @Override
  public boolean hasNext() {
    if (ahead != null) return true;
    return peek() != END;
  }

  /** The next batch as CPU tensors. */
  @Override
  public Batch next() {
    return next(Device.CPU);
  }

  /**
   * The next batch on {@code device}. On the CPU it is collated on the host (the producer thread) and copied in
   * through one reused staging buffer. On another device (where pinned host memory exists) the batch is collated
   * into pinned host memory and uploaded with a non-blocking copy queued on a side stream, and before this method
   * returns it already queues the upload of the batch after it, so that copy overlaps the step that uses this one;
   * the calling thread's current stream waits (on the device, not the host) for the upload of the batch it gets.
   * {@link #state()} counts only the batches returned, never the one uploaded ahead.
   */
  public Batch next(Device device) {
    Objects.requireNonNull(device, "device");
    Ahead a = ahead;
    ahead = null;
    HostBatch hb;
    if (a != null) {
      hb = a.hb();
      if (!a.device().equals(device)) { // asked for another device than the one uploaded ahead: upload again
        a.close();
        a = null;
      }
    } else {
      hb = take();
    }
    Batch batch;
    if (uploadsAhead(device)) {
      try {
        if (a == null) a = upload(hb, device);
        Object n = peek(); // the next host batch (a failure or the end stays pending for the following call)
        if (n instanceof HostBatch next) {
          pending = null;
          ahead = upload(next, device);
        }
        batch = a.deliver();
      } catch (RuntimeException | Error e) {
        if (a != null) a.close();
        throw e;
      }
    } else {
      batch = toDevice(hb, device);
    }
    state = hb.stateAfter();
    return batch;
  }

  /** The next host batch, or the failure that ended the producer. */
  private HostBatch take() {
    Object o = peek();
    if (o == END) throw new NoSuchElementException("the epoch is exhausted (finite loader)");
    pending = null;
    if (o instanceof Failure f) {
      failed = true;
      if (f.error() instanceof RuntimeException re) throw re;
      if (f.error() instanceof Error er) throw er;
      throw new IllegalStateException("loader failed: " + f.error(), f.error());
    }
    return (HostBatch) o;
  }

  /** Whether batches for device go through pinned memory and are uploaded one batch ahead. */
  private boolean uploadsAhead(Device device) {
    if (device.type() == Device.Type.CPU) return false;
    if (pinnedAvailable == null) pinnedAvailable = dev.cm4j.tensor.Torch.pinnedMemoryAvailable();
    return pinnedAvailable;
  }

  /**
   * Queues the upload of a host batch: collated floats into pinned host memory, then a non-blocking copy on a side
   * stream of the device (the device's current stream when it has no pool). The pinned blocks come from libtorch's
   * pinned-memory cache, which hands a block out again only after the copies queued from it have completed, so a
   * buffer is never overwritten while its copy may still read it.
   */
  private Ahead upload(HostBatch hb, Device device) {
    if (!device.equals(streamDevice)) {
      streamDevice = device;
      try {
        sideStream = Stream.fromPool(device);
      } catch (RuntimeException e) {
        sideStream = null; // a backend without streams: the upload is queued ahead on the current stream
      }
    }
    int b = hb.indices().length;
    long[] shape = batchShape();
    shape[0] = b;
    Tensor x = null;
    Tensor y = null;
    try (TensorScope scope = TensorScope.open(); Stream.Scope use = sideStream == null ? null : sideStream.use()) {
      x = TensorScope.release(staging.floats(hb.x(), shape, Device.CPU).pinMemory().to(device, true));
      if (hb.labels() != null) {
        y = TensorScope.release(staging.floats(hb.labels(), new long[] {b, labelDim}, Device.CPU).pinMemory()
            .to(device, true));
      }
    } catch (RuntimeException | Error e) {
      if (x != null) x.close();
      throw e;
    }
    return new Ahead(hb, device, sideStream, x, y);
  }

  /** A batch whose upload was queued on stream (null: the current one), not yet handed out. */
  private record Ahead(HostBatch hb, Device device, Stream stream, Tensor x, Tensor y) implements AutoCloseable {
    /**
     * The batch for the calling thread's current stream, which first waits for the upload; the device memory is
     * marked as used on that stream, so the allocator does not reuse it for the side stream's next upload while the
     * step may still read it. The returned tensors belong to the caller's scope.
     */
    Batch deliver() {
      if (stream == null) return take(); // no streams: the work is ordered on the current stream already
      Stream current = Stream.current(device);
      if (!current.equals(stream)) {
        current.waitStream(stream);
        x.recordStream(current);
        if (y != null) y.recordStream(current);
      }
      return take();
    }

    private Batch take() {
      Tensor dx = x.detach();
      Tensor dy = y == null ? null : y.detach();
      close();
      return new Batch(dx, dy, hb.indices(), hb.flipped());
    }

    @Override
    public void close() {
      x.close();
      if (y != null) y.close();
    }
  }

  /** The CPU path: one reusable staging buffer, a synchronous copy. */
  private Batch toDevice(HostBatch hb, Device device) {
    int b = hb.indices().length;
    long[] shape = batchShape();
    shape[0] = b;
    Tensor x = staging.floats(hb.x(), shape, device);
    Tensor y = null;
    if (hb.labels() != null) {
      try {
        y = staging.floats(hb.labels(), new long[] {b, labelDim}, device);
      } catch (RuntimeException e) {
        x.close();
        throw e;
      }
    }
    return new Batch(x, y, hb.indices(), hb.flipped());
  }

  private Object peek() {
    if (closed) throw new IllegalStateException("loader is closed");
    if (failed) throw new IllegalStateException("loader failed earlier; open a new one");
    if (pending == null) {
      if (queue == null) {
        try {
          HostBatch hb = produce();
          pending = hb == null ? END : hb;
        } catch (RuntimeException | Error e) {
          pending = new Failure(e);
        }
      } else {
        try {
          pending = queue.take();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while waiting for a batch", e);
        }
      }
    }
    return pending;
  }

  /** Stops the prefetch thread and drops queued batches (tensors already returned are unaffected). */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    if (thread != null) {
      thread.interrupt();
      boolean interrupted = false;
      while (true) {
        try {
          thread.join();
          break;
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) Thread.currentThread().interrupt();
      queue.clear();
    }
    pending = null;
    if (ahead != null) {
      ahead.close();
      ahead = null;
    }
    staging.close();
    if (collator != null) collator.close();
  }

  // ------------------------------------------------------------------------------------------ producer side

  private void produceLoop() {
    try {
      while (!closed) {
        HostBatch hb = produce();
        queue.put(hb == null ? END : hb);
        if (hb == null) return;
      }
    } catch (InterruptedException e) {
      // closed
    } catch (Throwable t) {
      if (!closed) {
        try {
          queue.put(new Failure(t));
        } catch (InterruptedException ignored) {
          // closed
        }
      }
    }
  }

  /** Reads and collates the next batch; null at the end of a finite epoch. */
  private HostBatch produce() {
    int bs = cfg.batchSize();
    int[] idx = new int[bs];
    int b = 0;
    while (b < bs && cursor.hasNext()) idx[b++] = cursor.next();
    if (b == 0) return null;
    if (b < bs) idx = Arrays.copyOf(idx, b);
    float[] x = new float[b * perItem];
    boolean[] flipped = new boolean[b];
    if (collator != null) {
      if (cfg.xflip()) for (int k = 0; k < b; k++) flipped[k] = cursor.flip(); // one draw per image, in order
      collator.collate(idx, flipped, x);
    } else {
      PointDataset pd = (PointDataset) dataset;
      for (int k = 0; k < b; k++) pd.readPoint(idx[k], x, k * perItem);
    }
    float[] labels = null;
    if (labelDim > 0) {
      Labels l = dataset.labels().orElseThrow();
      labels = new float[b * labelDim];
      for (int k = 0; k < b; k++) l.write(idx[k], labels, k * labelDim);
    }
    return new HostBatch(x, labels, idx, flipped, cursor.snapshot());
  }

  /** The producer's position in the item stream. */
  private final class Cursor {
    private final boolean infinite;
    private final int n;
    private final int w;
    private final long endEpoch; // finite mode: the epoch at which to stop
    private long epoch;
    private long position;
    private final SplitMix64 flipRng;
    private int[] perm;
    private long permEpoch = -1;

    Cursor(LoaderState s, boolean infinite) {
      this.infinite = infinite;
      this.n = s.datasetSize();
      this.w = s.worldSize();
      this.epoch = s.epoch();
      this.position = s.position();
      this.flipRng = new SplitMix64(s.flipState());
      this.endEpoch = epoch + 1; // before normalising: a rank whose first position is past the end gets nothing
      normalise();
    }

    private void normalise() {
      while (position >= n) {
        position -= n;
        epoch++;
      }
    }

    boolean hasNext() {
      return infinite || epoch < endEpoch;
    }

    int next() {
      if (permEpoch != epoch) {
        perm = permutation(n, cfg.seed(), epoch, cfg.shuffle());
        permEpoch = epoch;
      }
      int i = perm[(int) position];
      position += w;
      normalise();
      return i;
    }

    boolean flip() {
      return flipRng.nextLong() < 0;
    }

    LoaderState snapshot() {
      return new LoaderState(epoch, position, flipRng.state(), cfg.seed(), cfg.shuffle(), cfg.rank(), w, n);
    }
  }
}
