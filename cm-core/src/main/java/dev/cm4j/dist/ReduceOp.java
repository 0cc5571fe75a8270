package dev.cm4j.dist;

/** How an all-reduce combines the ranks' values. */
public enum ReduceOp {
  /** Elementwise sum. */
  SUM(0),
  /** Elementwise mean over the ranks: the sum divided by the world size (floating-point tensors only). */
  AVG(1),
  /** Elementwise product. */
  PRODUCT(2),
  /** Elementwise minimum. */
  MIN(3),
  /** Elementwise maximum. */
  MAX(4);

  private final int code;

  ReduceOp(int code) {
    this.code = code;
  }

  /** The C API code (CM_DIST_*). */
  int code() {
    return code;
  }
}
