package dev.cm4j.train;

import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Torch;
import java.util.Locale;

/**
 * The device a process computes on, from a user's device string: "auto", "cpu", "cuda" or "cuda:N". Training,
 * sampling and evaluation resolve it the same way, so that every command binds the same device for the same spec.
 */
public final class Devices {
  private Devices() {}

  /** The accepted forms, for messages. */
  public static final String FORMS = "auto, cpu, cuda or cuda:N";

  /**
   * The device for spec: "auto" is {@code cuda:localRank} when CUDA is available and the CPU otherwise; "cuda" is
   * {@code cuda:localRank} as well (one GPU per process, as a launcher starts them); "cuda:N" is device N; "cpu" the
   * CPU. Asking for CUDA where there is none, or for a device index past the last GPU, throws naming the spec.
   *
   * @param localRank this process's index on its machine (LOCAL_RANK; 0 for a single process)
   */
  public static Device resolve(String spec, int localRank) {
    if (localRank < 0) throw new IllegalArgumentException("local rank must be >= 0, got " + localRank);
    Device d = parse(spec, localRank);
    if (d.type() != Device.Type.CUDA) return d;
    if (!Torch.cudaIsAvailable()) {
      if (spec.strip().equalsIgnoreCase("auto")) return Device.CPU;
      throw new IllegalArgumentException("device \"" + spec + "\": CUDA is not available (a CPU-only libtorch, or no "
          + "GPU visible); use the device cpu");
    }
    int n = Torch.cudaDeviceCount();
    if (d.index() >= n) {
      throw new IllegalArgumentException("device \"" + spec + "\" resolves to " + d + " but this machine has " + n
          + " CUDA device" + (n == 1 ? "" : "s"));
    }
    return d;
  }

  /** {@link #resolve(String, int)} with LOCAL_RANK from the environment (0 when unset). */
  public static Device resolve(String spec) {
    return resolve(spec, localRank(System.getenv("LOCAL_RANK")));
  }

  /** LOCAL_RANK's value (null or empty: 0); a malformed value throws naming it. */
  static int localRank(String v) {
    if (v == null || v.isBlank()) return 0;
    try {
      int r = Integer.parseInt(v.strip());
      if (r < 0) throw new NumberFormatException();
      return r;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("LOCAL_RANK must be a non-negative integer, got \"" + v + "\"");
    }
  }

  /**
   * The device spec names without asking libtorch what exists ("auto" reads as cuda:localRank): the syntax check
   * of options files, which must not depend on the machine that reads them.
   */
  static Device parse(String spec, int localRank) {
    String t = spec.strip().toLowerCase(Locale.ROOT);
    if (t.equals("auto") || t.equals("cuda")) return Device.cuda(localRank);
    if (t.equals("cpu")) return Device.CPU;
    if (t.startsWith("cuda:")) {
      if (t.substring(5).matches("\\d{1,4}")) return Device.cuda(Integer.parseInt(t.substring(5)));
    } else if (!t.isEmpty()) {
      try {
        return Device.parse(t); // a device type the tensor layer knows besides these (e.g. a test device)
      } catch (IllegalArgumentException e) {
        // reported below
      }
    }
    throw new IllegalArgumentException("bad device \"" + spec + "\" (expected " + FORMS + ")");
  }

  /** Checks an option's device string, throwing {@link OptionException} at key. */
  static void check(String key, String spec) {
    try {
      parse(spec, 0);
    } catch (IllegalArgumentException e) {
      throw new OptionException(key, "must be one of " + FORMS + ", got \"" + spec + "\"");
    }
  }
}
