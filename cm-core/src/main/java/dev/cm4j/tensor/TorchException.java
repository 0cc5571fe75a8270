package dev.cm4j.tensor;

/** A libtorch operation failed; the message is libtorch's (without its C++ backtrace). */
public class TorchException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public TorchException(String message) {
    super(message);
  }

  public TorchException(String message, Throwable cause) {
    super(message, cause);
  }
}
