package dev.cm4j.tensor.internal;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.Torch;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * The tensor layer's native plumbing for the cm-core packages that add native features of their own on top of it
 * ({@code dev.cm4j.dist}, {@code dev.cm4j.jit}): the handle of a tensor, wrapping a fresh handle, status checks and
 * calls through a {@code cm_stack}.
 *
 * <p>This package is not exported by the {@code dev.cm4j.core} module, so no code outside cm-core can compile
 * against it (on the module path it cannot reach it reflectively either). Inside cm-core, which packages may use
 * it is a rule checked by {@code NativeAccessRuleTest} (see {@code docs/architecture.md}).
 *
 * <p>The operations are implemented in {@code dev.cm4j.tensor}, which installs them here when the native library
 * is loaded; this keeps {@code Tensor}'s handle accessors package-private.
 */
public final class NativeInterop {
  /** What the tensor package provides; installed once by the tensor layer as the library loads. */
  public interface Access {
    /** The native handle of a live tensor (throws if it was released). */
    MemorySegment handle(Tensor t);

    /** Wraps a fresh non-NULL handle as a Tensor owned like any new tensor (current scope, else a cleaner). */
    Tensor wrap(MemorySegment h);

    /** Throws the tensor layer's exception with the library's message when rc is not CM_OK. */
    void check(int rc);

    /** Pushes args on this thread's {@code cm_stack}, runs call on it and converts the results left on it. */
    List<Object> callOnStack(String what, Object[] args, ToIntFunction<MemorySegment> call);
  }

  private static volatile Access access;

  private NativeInterop() {}

  /**
   * Called once by the tensor layer while it loads the native library.
   *
   * @throws IllegalStateException on a second call
   */
  public static synchronized void install(Access a) {
    if (a == null) throw new NullPointerException("access");
    if (access != null) throw new IllegalStateException("native access is already installed");
    access = a;
  }

  private static Access access() {
    Access a = access;
    if (a == null) {
      Torch.load(); // initialises the tensor layer, which installs its access
      a = access;
      if (a == null) throw new IllegalStateException("the tensor layer did not install its native access");
    }
    return a;
  }

  /** Loads the native library (idempotent); call from the static initialiser of any class that calls the bindings. */
  public static void ensureLoaded() {
    access();
  }

  /** The native handle of a live tensor (throws if it was released). */
  public static MemorySegment handle(Tensor t) {
    if (t == null) throw new NullPointerException("tensor");
    return access().handle(t);
  }

  /** Wraps a fresh handle returned by the C API as a Tensor owned like any new tensor (current scope or caller). */
  public static Tensor wrap(MemorySegment h) {
    if (h == null) throw new NullPointerException("handle");
    return access().wrap(h);
  }

  /** Throws a TorchException with the library's message when rc is not CM_OK. */
  public static void check(int rc) {
    access().check(rc);
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
   * {@code cm_jit_call}): args are pushed and results converted as {@code Op.call} does. {@code what} names the
   * callee in error messages.
   */
  public static List<Object> callOnStack(String what, Object[] args, ToIntFunction<MemorySegment> call) {
    return access().callOnStack(what, args, call);
  }
}
