package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Inference mode (thread-local, c10::InferenceMode): no autograd bookkeeping at all for the block. Tensors made
 * inside cannot later be used in autograd. Guards nest and close in reverse order on the thread that opened them.
 */
public final class InferenceMode implements AutoCloseable {
  static {
    Native.ensureLoaded();
  }

  private MemorySegment guard;
  private final Thread thread = Thread.currentThread();

  private InferenceMode(boolean enabled) {
    Native.Scratch s = Native.scratch();
    Native.check(cm_inference_mode_enter(enabled ? 1 : 0, s.out));
    guard = s.out.get(ValueLayout.ADDRESS, 0);
  }

  /** Enters inference mode until close. */
  public static InferenceMode enter() {
    return new InferenceMode(true);
  }

  /** Leaves inference mode (if on) until close. */
  public static InferenceMode exit() {
    return new InferenceMode(false);
  }

  /** Whether inference mode is on for this thread. */
  public static boolean isEnabled() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_is_inference_mode(s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  @Override
  public void close() {
    if (guard == null) return;
    if (Thread.currentThread() != thread) throw new IllegalStateException("inference mode closed on another thread");
    MemorySegment g = guard;
    guard = null;
    Native.check(cm_guard_exit(g));
  }
}
