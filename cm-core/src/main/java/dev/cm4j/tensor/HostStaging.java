package dev.cm4j.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A reusable off-heap buffer for turning Java arrays into tensors repeatedly (a data loader's batches): each call
 * copies the array into the buffer, grown as needed, and the tensor is created from it, which saves the staging
 * allocation {@link Tensor#of(float[], long...)} makes per call. Not thread-safe: one consumer thread at a time;
 * {@link #close()} frees the buffer (tensors already made own copies and stay valid).
 */
public final class HostStaging implements AutoCloseable {
  private final Arena arena = Arena.ofShared();
  private MemorySegment buffer;
  private boolean closed;

  /** An empty staging buffer; it grows on first use. */
  public HostStaging() {}

  /** A float32 tensor on device with a copy of v (row-major), whose element count must match shape. */
  public Tensor floats(float[] v, long[] shape, Device device) {
    if (v == null) throw new NullPointerException("data");
    if (closed) throw new IllegalStateException("staging buffer is closed");
    long bytes = 4L * v.length;
    if (buffer == null || buffer.byteSize() < bytes) buffer = arena.allocate(Math.max(bytes, 64), 64);
    MemorySegment.copy(v, 0, buffer, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, v.length);
    return Tensor.fromBytes(buffer.asSlice(0, bytes), DType.FLOAT32, shape, device);
  }

  /** Frees the buffer (idempotent). */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    buffer = null;
    arena.close();
  }
}
