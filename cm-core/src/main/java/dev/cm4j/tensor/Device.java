package dev.cm4j.tensor;

import java.util.Locale;

/**
 * A device: the CPU, CUDA device {@code index}, or device {@code index} of libtorch's PrivateUse1 backend (an
 * out-of-tree device type; cm4j's tests register one that is not the CPU, so that a tensor left on the CPU by
 * mistake fails as it would on a GPU). Encoded for the C API as -1 (CPU), the CUDA index, or -16 - index
 * (PrivateUse1).
 *
 * @param type the device type
 * @param index the device index (-1 for the CPU)
 */
public record Device(Type type, int index) {
  /** Device types. */
  public enum Type { CPU, CUDA, PRIVATEUSE1 }

  /** The CPU. */
  public static final Device CPU = new Device(Type.CPU, -1);

  /** C API code of PrivateUse1 device 0; device n is this minus n (CM_DEVICE_PRIVATEUSE1_BASE). */
  private static final int PRIVATEUSE1_BASE = -16;
  /** libtorch's name of the PrivateUse1 device type (the test backend keeps it). */
  private static final String PRIVATEUSE1_NAME = "privateuseone";
  /** Device indices are a signed byte in libtorch. */
  private static final int MAX_INDEX = 127;

  public Device {
    if (type == null) throw new NullPointerException("device type");
    if (type == Type.CPU && index != -1) throw new IllegalArgumentException("the CPU has no index");
    if (type != Type.CPU && (index < 0 || index > MAX_INDEX)) {
      throw new IllegalArgumentException(type + " device index must be in 0.." + MAX_INDEX + ": " + index);
    }
  }

  /** CUDA device {@code index}. */
  public static Device cuda(int index) {
    return new Device(Type.CUDA, index);
  }

  /** Device {@code index} of the PrivateUse1 backend. */
  public static Device privateUse1(int index) {
    return new Device(Type.PRIVATEUSE1, index);
  }

  /** Whether this is an accelerator, i.e. any device but the CPU. */
  public boolean isAccelerator() {
    return type != Type.CPU;
  }

  /** Parses what {@link #toString()} prints: "cpu", "cuda" (= cuda:0), "cuda:N", "privateuseone[:N]". */
  public static Device parse(String s) {
    String t = s.trim().toLowerCase(Locale.ROOT);
    if (t.equals("cpu")) return CPU;
    int colon = t.indexOf(':');
    String name = colon < 0 ? t : t.substring(0, colon);
    Type type = switch (name) {
      case "cuda" -> Type.CUDA;
      case PRIVATEUSE1_NAME -> Type.PRIVATEUSE1;
      default -> throw new IllegalArgumentException("bad device '" + s
          + "' (expected cpu, cuda, cuda:N or " + PRIVATEUSE1_NAME + ":N)");
    };
    if (colon < 0) return new Device(type, 0);
    String n = t.substring(colon + 1);
    if (!n.matches("[0-9]{1,3}")) throw new IllegalArgumentException("bad device index in '" + s + "'");
    try {
      return new Device(type, Integer.parseInt(n));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("bad device '" + s + "': " + e.getMessage(), e);
    }
  }

  /** The C API code: -1 for the CPU, the CUDA index, or -16 - index for PrivateUse1. */
  public int code() {
    return switch (type) {
      case CPU -> -1;
      case CUDA -> index;
      case PRIVATEUSE1 -> PRIVATEUSE1_BASE - index;
    };
  }

  /** The device of a C API code (the inverse of {@link #code()}). */
  static Device ofCode(int code) {
    if (code == -1) return CPU;
    if (code >= 0 && code <= MAX_INDEX) return cuda(code);
    if (code <= PRIVATEUSE1_BASE && code >= PRIVATEUSE1_BASE - MAX_INDEX) return privateUse1(PRIVATEUSE1_BASE - code);
    throw new IllegalStateException("tensor is on a device type cm4j does not support (code " + code + ")");
  }

  @Override
  public String toString() {
    return switch (type) {
      case CPU -> "cpu";
      case CUDA -> "cuda:" + index;
      case PRIVATEUSE1 -> PRIVATEUSE1_NAME + ":" + index;
    };
  }
}
