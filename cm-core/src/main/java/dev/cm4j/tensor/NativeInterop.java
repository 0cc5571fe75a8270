package dev.cm4j.tensor;

import java.lang.foreign.MemorySegment;

/**
 * Access to the tensor layer's native plumbing for cm4j's own packages that add native features on top of it
 * ({@code dev.cm4j.dist}, {@code dev.cm4j.jit}): tensor handles, wrapping fresh handles, error checks. Not a stable
 * API for applications.
 */
public final class NativeInterop {
  static {
    Native.ensureLoaded();
  }

  private NativeInterop() {}

  /** Loads the native library (idempotent); call from the static initialiser of any class that calls the bindings. */
  public static void ensureLoaded() {
    Native.ensureLoaded();
  }

  /** The native handle of a live tensor (throws if it was released). */
  public static MemorySegment handle(Tensor t) {
    if (t == null) throw new NullPointerException("tensor");
    return t.handle();
  }

  /** Wraps a fresh handle returned by the C API as a Tensor owned like any new tensor (current scope or caller). */
  public static Tensor wrap(MemorySegment h) {
    return Tensor.wrap(h);
  }

  /** Throws a TorchException with the library's message when rc is not CM_OK. */
  public static void check(int rc) {
    Native.check(rc);
  }

  /** Refuses virtual threads: libtorch keeps thread-local state (errors, grad mode). */
  public static void requirePlatformThread() {
    if (Thread.currentThread().isVirtual()) {
      throw new IllegalStateException("native work on a virtual thread: libtorch keeps thread-local state; "
          + "use a platform thread");
    }
  }

  /**
   * Calls a C API function that takes a {@code cm_stack} of arguments and leaves its results on it (such as
   * {@code cm_jit_call}): args are pushed and results converted as {@link Op#call} does. {@code what} names the
   * callee in error messages.
   */
  public static java.util.List<Object> callOnStack(String what, Object[] args,
      java.util.function.ToIntFunction<MemorySegment> call) {
    return Op.callOnStack(what, args, call);
  }
}
