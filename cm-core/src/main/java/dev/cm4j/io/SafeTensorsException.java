package dev.cm4j.io;

import java.nio.file.Path;

/**
 * A safetensors file is malformed, or a request does not fit it (an unknown tensor name, a dtype cm4j cannot
 * represent). The message names the file and, where one is involved, the tensor; both are also available as
 * {@link #file()} and {@link #tensor()}.
 *
 * <p>I/O failures (a missing file, a read error) are reported as {@link java.io.IOException}s instead.
 */
public class SafeTensorsException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The file concerned (not serialized: Path is not Serializable). */
  private final transient Path file;
  /** The tensor concerned, or null. */
  private final String tensor;

  /**
   * Creates an exception about file (and tensor, which may be null).
   *
   * @param file the file concerned
   * @param tensor the tensor concerned, or null when the problem is not about one tensor
   * @param problem what is wrong, without the file and tensor names (they are prepended)
   */
  public SafeTensorsException(Path file, String tensor, String problem) {
    this(file, tensor, problem, null);
  }

  /**
   * Creates an exception about file (and tensor, which may be null) with a cause.
   *
   * @param file the file concerned
   * @param tensor the tensor concerned, or null when the problem is not about one tensor
   * @param problem what is wrong, without the file and tensor names (they are prepended)
   * @param cause the underlying exception, or null
   */
  public SafeTensorsException(Path file, String tensor, String problem, Throwable cause) {
    super(format(file, tensor, problem), cause);
    this.file = file;
    this.tensor = tensor;
  }

  private static String format(Path file, String tensor, String problem) {
    StringBuilder b = new StringBuilder("safetensors file ").append(file);
    if (tensor != null) b.append(", tensor '").append(shorten(tensor)).append('\'');
    return b.append(": ").append(problem).toString();
  }

  /** Very long names (a hostile header) are cut so that messages stay readable. */
  static String shorten(String s) {
    return s.length() <= 200 ? s : s.substring(0, 200) + "…(" + s.length() + " chars)";
  }

  /**
   * The file concerned.
   *
   * @return the path the file was opened or written with
   */
  public Path file() {
    return file;
  }

  /**
   * The tensor concerned.
   *
   * @return the tensor's name, or null when the problem is not about one tensor
   */
  public String tensor() {
    return tensor;
  }
}
