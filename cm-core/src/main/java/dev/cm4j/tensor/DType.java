package dev.cm4j.tensor;

/** Tensor element types, each with its c10::ScalarType code and safetensors name. */
public enum DType {
  UINT8(0, 1, "U8"),
  INT8(1, 1, "I8"),
  INT16(2, 2, "I16"),
  INT32(3, 4, "I32"),
  INT64(4, 8, "I64"),
  FLOAT16(5, 2, "F16"),
  FLOAT32(6, 4, "F32"),
  FLOAT64(7, 8, "F64"),
  BOOL(11, 1, "BOOL"),
  BFLOAT16(15, 2, "BF16");

  private final int code;
  private final int byteSize;
  private final String safetensorsName;

  DType(int code, int byteSize, String safetensorsName) {
    this.code = code;
    this.byteSize = byteSize;
    this.safetensorsName = safetensorsName;
  }

  /** The c10::ScalarType code used by the C API. */
  public int code() {
    return code;
  }

  /** Bytes per element. */
  public int byteSize() {
    return byteSize;
  }

  /** The dtype string of the safetensors format ("F32", "BF16", ...). */
  public String safetensorsName() {
    return safetensorsName;
  }

  /** True for floating-point types. */
  public boolean isFloatingPoint() {
    return this == FLOAT16 || this == FLOAT32 || this == FLOAT64 || this == BFLOAT16;
  }

  /** The dtype with the given c10 code. */
  public static DType ofCode(int code) {
    for (DType d : values()) if (d.code == code) return d;
    throw new IllegalArgumentException("unsupported dtype code " + code);
  }

  /** The dtype with the given safetensors name. */
  public static DType ofSafetensorsName(String name) {
    for (DType d : values()) if (d.safetensorsName.equals(name)) return d;
    throw new IllegalArgumentException("unsupported safetensors dtype '" + name + "'");
  }
}
