package dev.cm4j.jit;

import dev.cm4j.bindings.ffi.CmTorch;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TorchException;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Bridge to the package-private native plumbing of {@code dev.cm4j.tensor} (tensor handles, wrapping results,
 * loading the library), reached through a private lookup because cm-core is not modular (all its packages are
 * open to each other). Replace by a proper internal accessor in {@code dev.cm4j.tensor} when one exists.
 */
final class NativeAccess {
  private static final MethodHandle ENSURE_LOADED;
  private static final MethodHandle HANDLE;
  private static final MethodHandle WRAP;

  static {
    try {
      MethodHandles.Lookup tl = MethodHandles.privateLookupIn(Tensor.class, MethodHandles.lookup());
      Class<?> nat = tl.findClass("dev.cm4j.tensor.Native");
      MethodHandles.Lookup nl = MethodHandles.privateLookupIn(nat, MethodHandles.lookup());
      ENSURE_LOADED = nl.findStatic(nat, "ensureLoaded", MethodType.methodType(void.class));
      HANDLE = tl.findVirtual(Tensor.class, "handle", MethodType.methodType(MemorySegment.class));
      WRAP = tl.findStatic(Tensor.class, "wrap", MethodType.methodType(Tensor.class, MemorySegment.class));
      ENSURE_LOADED.invokeExact();
    } catch (Throwable e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private NativeAccess() {}

  /** Loads the native library (runs once; every class here calling CmTorch calls it in its static initialiser). */
  static void ensureLoaded() {
    // The static initialiser did the work.
  }

  /** The native handle of a live tensor (throws if it was released). */
  static MemorySegment handle(Tensor t) {
    if (t == null) throw new NullPointerException("tensor");
    try {
      return (MemorySegment) HANDLE.invokeExact(t);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException(e);
    }
  }

  /** Wraps a fresh handle returned by the C API as a Tensor owned like any new tensor (current scope or caller). */
  static Tensor wrap(MemorySegment h) {
    try {
      return (Tensor) WRAP.invokeExact(h);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException(e);
    }
  }

  /** Throws a TorchException with the library's message when rc is not CM_OK. */
  static void check(int rc) {
    if (rc != 0) throw new TorchException(lastError());
  }

  static String lastError() {
    MemorySegment p = CmTorch.cm_last_error();
    if (p.equals(MemorySegment.NULL)) return "unknown error";
    return p.reinterpret(1 << 20).getString(0);
  }

  /** Torch work must run on platform threads: libtorch keeps thread-local state (errors, grad mode). */
  static void requirePlatformThread() {
    if (Thread.currentThread().isVirtual()) {
      throw new IllegalStateException("native work on a virtual thread: libtorch keeps thread-local state; "
          + "use a platform thread");
    }
  }
}
