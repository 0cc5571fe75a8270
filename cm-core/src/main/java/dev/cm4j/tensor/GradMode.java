package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.ValueLayout;

/**
 * Grad mode (thread-local): {@code try (var g = GradMode.noGrad()) { ... }} disables graph recording for the block
 * and restores the previous mode on close, also when the block throws.
 */
public final class GradMode implements AutoCloseable {
  static {
    Native.ensureLoaded();
  }

  private final boolean previous;
  private boolean closed;

  private GradMode(boolean enabled) {
    Native.Scratch s = Native.scratch();
    Native.check(cm_set_grad_enabled(enabled ? 1 : 0, s.out));
    previous = s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  /** Disables gradient recording until close. */
  public static GradMode noGrad() {
    return new GradMode(false);
  }

  /** Enables gradient recording until close. */
  public static GradMode enableGrad() {
    return new GradMode(true);
  }

  /** Whether gradient recording is on for this thread. */
  public static boolean isEnabled() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_is_grad_enabled(s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  /** Sets the mode and returns the previous one. */
  public static boolean set(boolean enabled) {
    Native.Scratch s = Native.scratch();
    Native.check(cm_set_grad_enabled(enabled ? 1 : 0, s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    set(previous);
  }
}
