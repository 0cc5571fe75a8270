package dev.cm4j.bindings;

/** The cm4j native library (or the libtorch it needs) could not be found or loaded; the message says how to fix it. */
public final class NativeLoadException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public NativeLoadException(String message) {
    super(message);
  }

  public NativeLoadException(String message, Throwable cause) {
    super(message, cause);
  }
}
