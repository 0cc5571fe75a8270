package dev.cm4j.tensor;

/**
 * A device: the CPU or CUDA device {@code index}. Encoded for the C API as -1 (CPU) or the CUDA index.
 *
 * @param type the device type
 * @param index the CUDA device index (-1 for the CPU)
 */
public record Device(Type type, int index) {
  /** Device types. */
  public enum Type { CPU, CUDA }

  /** The CPU. */
  public static final Device CPU = new Device(Type.CPU, -1);

  public Device {
    if (type == null) throw new NullPointerException("device type");
    if (type == Type.CPU && index != -1) throw new IllegalArgumentException("the CPU has no index");
    if (type == Type.CUDA && index < 0) throw new IllegalArgumentException("CUDA device index must be >= 0: " + index);
  }

  /** CUDA device {@code index}. */
  public static Device cuda(int index) {
    return new Device(Type.CUDA, index);
  }

  /** Parses "cpu", "cuda" (= cuda:0) or "cuda:N". */
  public static Device parse(String s) {
    String t = s.trim().toLowerCase(java.util.Locale.ROOT);
    if (t.equals("cpu")) return CPU;
    if (t.equals("cuda")) return cuda(0);
    if (t.startsWith("cuda:")) {
      try {
        return cuda(Integer.parseInt(t.substring(5)));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("bad device '" + s + "'");
      }
    }
    throw new IllegalArgumentException("bad device '" + s + "' (expected cpu, cuda or cuda:N)");
  }

  /** The C API code: -1 for the CPU, else the CUDA index. */
  public int code() {
    return type == Type.CPU ? -1 : index;
  }

  static Device ofCode(int code) {
    if (code == -1) return CPU;
    if (code >= 0) return cuda(code);
    throw new IllegalStateException("tensor is on a device type cm4j does not support (code " + code + ")");
  }

  @Override
  public String toString() {
    return type == Type.CPU ? "cpu" : "cuda:" + index;
  }
}
