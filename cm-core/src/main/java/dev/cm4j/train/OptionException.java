package dev.cm4j.train;

import java.util.Locale;

/**
 * A training option that is unknown, of the wrong type or out of range. {@link #key()} is the dotted path of the option
 * ("optimizer.lr", "ema.0.beta"); the message is {@code "<key>: <problem>"}. Section records throw it with their own
 * field name; the binder re-throws it with the full path.
 */
public final class OptionException extends IllegalArgumentException {
  private final String key;
  private final String problem;

  public OptionException(String key, String problem) {
    super(key + ": " + problem);
    this.key = key;
    this.problem = problem;
  }

  /** The option's dotted path. */
  public String key() {
    return key;
  }

  /** What is wrong with it (the message without the path). */
  public String problem() {
    return problem;
  }

  /** The same problem at {@code prefix.key}. */
  OptionException under(String prefix) {
    return prefix.isEmpty() ? this : new OptionException(prefix + "." + key, problem);
  }

  // ---------------------------------------------------------------------------------------------- range checks

  /** A number as the user wrote it: integers without ".0". */
  static String show(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
    return Double.toString(v).toLowerCase(Locale.ROOT);
  }

  static void positive(String key, double v) {
    if (!(v > 0)) throw new OptionException(key, "must be > 0, got " + show(v));
  }

  static void atLeast(String key, double v, double min) {
    if (!(v >= min)) throw new OptionException(key, "must be >= " + show(min) + ", got " + show(v));
  }

  static void greater(String key, double v, double min) {
    if (!(v > min)) throw new OptionException(key, "must be > " + show(min) + ", got " + show(v));
  }

  static void within(String key, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) {
      throw new OptionException(key, "must be in [" + show(lo) + ", " + show(hi) + "], got " + show(v));
    }
  }

  static void oneOf(String key, String v, java.util.List<String> allowed) {
    if (!allowed.contains(v)) {
      throw new OptionException(key, "must be one of " + String.join(", ", allowed) + ", got \"" + v + "\"");
    }
  }

  static void finite(String key, double v) {
    if (!Double.isFinite(v)) throw new OptionException(key, "must be finite, got " + show(v));
  }
}
