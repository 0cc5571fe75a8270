package dev.cm4j.data;

/**
 * A dataset file is missing, unreadable or malformed. The message always names the file (and, inside an archive,
 * the entry); {@link #file()} returns it.
 */
public final class DataException extends RuntimeException {
  private final String file;

  /** An error about {@code file} (a path, or {@code archive!entry}). */
  public DataException(String file, String message) {
    super(file + ": " + message);
    this.file = file;
  }

  /** An error about {@code file} caused by {@code cause}. */
  public DataException(String file, String message, Throwable cause) {
    super(file + ": " + message, cause);
    this.file = file;
  }

  /** The file (or {@code archive!entry}) the error is about. */
  public String file() {
    return file;
  }
}
