package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * A queue of device work (a CUDA stream), as libtorch's {@code c10::Stream}: operations run in the order they were
 * queued on one stream, and different streams may overlap. Every thread has a current stream per device, on which
 * the operations it issues are queued; {@link #use()} changes it for a scope.
 *
 * <p>The CPU has exactly one stream (id 0), and every operation on it does nothing: CPU work runs in program order.
 * So code written for streams runs unchanged on the CPU. On a build or machine without CUDA, asking for a CUDA
 * stream fails with a {@link TorchException} that says CUDA is not available.
 *
 * <p>Instances come only from {@link #current}, {@link #defaultStream} and {@link #fromPool}; two instances are equal
 * when they name the same stream. Streams are never freed (CUDA keeps its pool streams for the process).
 */
public final class Stream {
  static {
    Native.ensureLoaded();
  }

  private final Device device;
  private final long id;

  private Stream(Device device, long id) {
    this.device = device;
    this.id = id;
  }

  /** This thread's current stream on device. */
  public static Stream current(Device device) {
    Objects.requireNonNull(device, "device");
    Native.Scratch s = Native.scratch();
    Native.check(cm_stream_current(device.code(), s.out));
    return new Stream(device, s.out.get(ValueLayout.JAVA_LONG, 0));
  }

  /** The default stream of device (the stream used when no other was made current). */
  public static Stream defaultStream(Device device) {
    Objects.requireNonNull(device, "device");
    Native.Scratch s = Native.scratch();
    Native.check(cm_stream_default(device.code(), s.out));
    return new Stream(device, s.out.get(ValueLayout.JAVA_LONG, 0));
  }

  /**
   * A stream from device's pool (libtorch hands its pool streams out round-robin, so two calls may return the same
   * stream). On the CPU this is the CPU's only stream.
   */
  public static Stream fromPool(Device device) {
    Objects.requireNonNull(device, "device");
    Native.Scratch s = Native.scratch();
    Native.check(cm_stream_from_pool(device.code(), s.out));
    return new Stream(device, s.out.get(ValueLayout.JAVA_LONG, 0));
  }

  /** The device this stream belongs to. */
  public Device device() {
    return device;
  }

  /** libtorch's id of this stream on its device (0 for the default stream). */
  public long id() {
    return id;
  }

  /**
   * Makes this stream the calling thread's current stream on its device until the returned scope is closed, which
   * makes the stream that was current before current again. Use with try-with-resources, and close on the same
   * thread (the current stream is per thread).
   */
  public Scope use() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_stream_exchange(device.code(), id, s.out));
    return new Scope(new Stream(device, s.out.get(ValueLayout.JAVA_LONG, 0)));
  }

  /**
   * Makes this stream wait for all work queued on {@code other} so far, without blocking the calling thread: work
   * queued on this stream afterwards starts only when that work is done ({@code torch.cuda.Stream.wait_stream}).
   * Both streams must be of one device type.
   */
  public void waitStream(Stream other) {
    Objects.requireNonNull(other, "other stream");
    Native.check(cm_stream_wait_stream(device.code(), id, other.device.code(), other.id));
  }

  /** Blocks the calling thread until all work queued on this stream is done. */
  public void synchronize() {
    Native.check(cm_stream_synchronize(device.code(), id));
  }

  /** Whether all work queued on this stream is done (always true on the CPU). */
  public boolean query() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_stream_query(device.code(), id, s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Stream other && other.device.equals(device) && other.id == id;
  }

  @Override
  public int hashCode() {
    return device.hashCode() * 31 + Long.hashCode(id);
  }

  @Override
  public String toString() {
    return "Stream(" + device + ", id " + id + ")";
  }

  /** The scope of {@link #use()}: closing it restores the stream that was current before. */
  public static final class Scope implements AutoCloseable {
    private final Stream previous;
    private final Thread thread = Thread.currentThread();
    private boolean closed;

    private Scope(Stream previous) {
      this.previous = previous;
    }

    /** The stream that was current before this scope and becomes current again when it closes. */
    public Stream previous() {
      return previous;
    }

    /**
     * Restores the previous stream (once; later calls do nothing).
     *
     * @throws IllegalStateException when called from another thread than the one that opened the scope
     */
    @Override
    public void close() {
      if (closed) return;
      if (Thread.currentThread() != thread) {
        throw new IllegalStateException("a stream scope must be closed on the thread that opened it (" + thread
            + "), not on " + Thread.currentThread());
      }
      closed = true;
      Native.Scratch s = Native.scratch();
      Native.check(cm_stream_exchange(previous.device.code(), previous.id, s.out));
    }
  }
}
