package dev.cm4j.tensor;

import dev.cm4j.bindings.NativeLibrary;
import dev.cm4j.bindings.ffi.CmTorch;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The thin layer between the safe API and the generated bindings: loads the library, keeps one reusable
 * off-heap scratch segment per platform thread (for out-parameters, shapes and handle arrays), and turns
 * error statuses into {@link TorchException}s.
 */
final class Native {
  static {
    NativeLibrary.load();
    // cm4j's caching CPU allocator unless cm4j.cpuAllocator / CM4J_CPU_ALLOCATOR says "default" (see CpuAllocator).
    if (CpuAllocator.configuredChoice().equals("caching")) CpuAllocator.enable(CpuAllocator.Settings.defaults());
    dev.cm4j.tensor.internal.NativeInterop.install(new InteropAccess());
  }

  private Native() {}

  /**
   * Forces the library to load. Every class that calls the generated bindings runs this in its static initialiser,
   * because the bindings resolve symbols lazily through the loader lookup and must not be touched before the library
   * is loaded.
   */
  static void ensureLoaded() {
    // The static initialiser above did the work.
  }

  static final int OUT_SLOTS = 64;
  private static final long SCRATCH_BYTES = 64 * 1024;
  private static final long ARGS_BASE = OUT_SLOTS * 8L;

  /**
   * Per-thread state: the scratch segment (out-pointer slots at the start, then a bump region for argument arrays)
   * and the thread's scope bookkeeping, so that the per-op path needs one ThreadLocal lookup for both.
   */
  static final class Scratch {
    /** The platform thread this state belongs to. */
    final Thread thread = Thread.currentThread();
    /** The innermost open {@link TensorScope} of this thread, or null. */
    TensorScope scope;
    /** A closed scope's (emptied) handle array, reused by the next scope this thread opens. */
    Tensor[] spareOwned;
    final MemorySegment seg = Arena.ofAuto().allocate(SCRATCH_BYTES, 16);
    /** First out slot (8 bytes), the most common out-parameter. */
    final MemorySegment out = seg.asSlice(0, 8);
    /** Second out slot. */
    final MemorySegment out2 = seg.asSlice(8, 8);
    /** All out slots. */
    final MemorySegment outs = seg.asSlice(0, ARGS_BASE);
    private long off = ARGS_BASE;

    MemorySegment longs(long[] v) {
      long bytes = v.length * 8L;
      MemorySegment m = bump(bytes);
      MemorySegment.copy(v, 0, m, ValueLayout.JAVA_LONG, 0, v.length);
      return m;
    }

    MemorySegment doubles(double[] v) {
      long bytes = v.length * 8L;
      MemorySegment m = bump(bytes);
      MemorySegment.copy(v, 0, m, ValueLayout.JAVA_DOUBLE, 0, v.length);
      return m;
    }

    /** An array of tensor handles; null entries become NULL (optional tensors). */
    MemorySegment handles(List<Tensor> ts, boolean allowNull, String what) {
      if (ts == null) throw new NullPointerException(what + " is null");
      MemorySegment m = bump(ts.size() * 8L);
      for (int i = 0; i < ts.size(); i++) {
        Tensor t = ts.get(i);
        if (t == null && !allowNull) throw new NullPointerException(what + " entry " + i + " is null");
        m.setAtIndex(ValueLayout.ADDRESS, i, t == null ? MemorySegment.NULL : t.handle());
      }
      return m;
    }

    MemorySegment handles(Tensor[] ts, boolean allowNull, String what) {
      if (ts == null) throw new NullPointerException(what + " is null");
      return handles(java.util.Arrays.asList(ts), allowNull, what);
    }

    MemorySegment bytes(long n) {
      return bump(n);
    }

    private MemorySegment bump(long bytes) {
      long aligned = (bytes + 15) & ~15L;
      if (off + aligned > SCRATCH_BYTES) {
        // Rare large argument: a GC-managed segment of its own.
        return Arena.ofAuto().allocate(Math.max(bytes, 1), 16);
      }
      MemorySegment m = seg.asSlice(off, Math.max(bytes, 0));
      off += aligned;
      return m;
    }

    Scratch reset() {
      off = ARGS_BASE;
      return this;
    }
  }

  /**
   * Created on the thread that asks first. A virtual thread has a ThreadLocal map of its own, so its first call
   * always lands here: refusing it once here keeps the check off the per-op path.
   */
  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(() -> {
    if (Thread.currentThread().isVirtual()) {
      throw new IllegalStateException("tensor work on a virtual thread: libtorch keeps thread-local state "
          + "(grad mode, autocast, errors); use a platform thread");
    }
    return new Scratch();
  });

  /** The calling thread's scratch, reset. Torch work must run on platform threads (libtorch keeps TLS state). */
  static Scratch scratch() {
    return SCRATCH.get().reset();
  }

  /** The calling thread's state without resetting the scratch (scope bookkeeping). Refuses virtual threads. */
  static Scratch state() {
    return SCRATCH.get();
  }

  /** Throws a TorchException carrying libtorch's message when rc is not CM_OK. */
  static void check(int rc) {
    if (rc != 0) throw new TorchException(lastError());
  }

  static String lastError() {
    MemorySegment p = CmTorch.cm_last_error();
    if (p.equals(MemorySegment.NULL)) return "unknown error";
    return p.reinterpret(1 << 20).getString(0);
  }

  /** A C string as a Java string (reads up to the NUL). */
  static String cString(MemorySegment p) {
    return p.reinterpret(1 << 20).getString(0);
  }

  static MemorySegment handleAt(MemorySegment outs, int i) {
    return outs.getAtIndex(ValueLayout.ADDRESS, i);
  }
}
