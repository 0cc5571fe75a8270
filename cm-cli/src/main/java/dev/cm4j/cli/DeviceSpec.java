package dev.cm4j.cli;

import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Torch;
import java.util.Locale;

/**
 * The {@code --device} flag of {@code cm train}, {@code cm sample} and {@code cm eval}: {@code auto}, {@code cpu},
 * {@code cuda} or {@code cuda:N}. {@code auto} is {@code cuda:LOCAL_RANK} when CUDA is available and the CPU
 * otherwise; {@code cuda} is {@code cuda:0}, as in PyTorch.
 *
 * <p>Coordinator: the training loop resolves its {@code device} option with {@code dev.cm4j.train.Devices.resolve}
 * (branch traindev). This class keeps the CLI's own checks (syntax first, then what this machine has) so that
 * {@code cm sample} and {@code cm eval} can resolve without a run; its rules are the ones that method states.
 *
 * @param text the flag's value as given, lower-cased and trimmed
 */
record DeviceSpec(String text) {
  /** The default of every command. */
  static final DeviceSpec AUTO = new DeviceSpec("auto");

  /** Parses the flag's value; a bad value is a one-line error naming it. */
  static DeviceSpec parse(String value) {
    String t = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
    if (t.equals("auto") || t.equals("cpu") || t.equals("cuda")) return new DeviceSpec(t);
    if (t.startsWith("cuda:")) {
      String n = t.substring(5);
      if (!n.isEmpty() && n.chars().allMatch(c -> c >= '0' && c <= '9') && n.length() <= 4) return new DeviceSpec(t);
    }
    throw new IllegalArgumentException("--device: bad device '" + value + "' (expected auto, cpu, cuda or cuda:N)");
  }

  /** True for {@code auto}. */
  boolean isAuto() {
    return text.equals("auto");
  }

  /**
   * The device this spec names on a machine with {@code cudaCount} CUDA devices (0: none, or a CPU build of
   * libtorch), for the worker with local rank {@code localRank}. Naming CUDA where there is none, or an index past
   * the last device, is an error that says what there is.
   */
  Device resolve(int localRank, int cudaCount) {
    if (localRank < 0) throw new IllegalArgumentException("LOCAL_RANK must be >= 0: " + localRank);
    switch (text) {
      case "cpu":
        return Device.CPU;
      case "auto":
        if (cudaCount == 0) return Device.CPU;
        if (localRank >= cudaCount) {
          throw new IllegalArgumentException("--device auto: local rank " + localRank + " has no GPU (" + cudaCount
              + " CUDA device(s) visible); start at most " + cudaCount + " worker(s) per node or pass --device cpu");
        }
        return Device.cuda(localRank);
      default:
        Device d = Device.parse(text);
        if (cudaCount == 0) {
          throw new IllegalArgumentException("--device " + text + ": CUDA is not available here "
              + "(CPU build of libtorch, or no GPU visible); use --device cpu or auto");
        }
        if (d.index() >= cudaCount) {
          throw new IllegalArgumentException("--device " + text + ": only " + cudaCount
              + " CUDA device(s) visible (cuda:0.." + (cudaCount - 1) + ")");
        }
        return d;
    }
  }

  /** Resolves on this machine: LOCAL_RANK from the environment (0 if unset), CUDA as libtorch reports it. */
  Device resolveHere() {
    return resolve(localRank(), cudaCount());
  }

  /** The number of CUDA devices libtorch sees (it honours CUDA_VISIBLE_DEVICES); 0 on a CPU build. */
  static int cudaCount() {
    return Torch.cudaIsAvailable() ? Torch.cudaDeviceCount() : 0;
  }

  /** LOCAL_RANK as the launcher (or torchrun, SLURM wrappers) set it; 0 when unset. */
  static int localRank() {
    String v = System.getenv("LOCAL_RANK");
    if (v == null || v.isBlank()) return 0;
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("LOCAL_RANK is not a number: '" + v + "'");
    }
  }

  @Override
  public String toString() {
    return text;
  }
}
