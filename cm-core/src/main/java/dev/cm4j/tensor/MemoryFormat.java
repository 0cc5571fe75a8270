package dev.cm4j.tensor;

/**
 * How a tensor's elements are laid out in memory, for {@link Tensor#contiguous(MemoryFormat)} and
 * {@link Tensor#isContiguous(MemoryFormat)}. The sizes (and so the indexing) stay N, C, H, W either way; only the
 * strides differ.
 */
public enum MemoryFormat {
  /** Row-major: the last dimension varies fastest. */
  CONTIGUOUS(0),
  /** For a 4-D (N, C, H, W) tensor: channels vary fastest (NHWC order in memory). */
  CHANNELS_LAST(1),
  /** For a 5-D (N, C, D, H, W) tensor: channels vary fastest (NDHWC order in memory). */
  CHANNELS_LAST_3D(2);

  private final int code;

  MemoryFormat(int code) {
    this.code = code;
  }

  /** The C API code (CM_MEMORY_FORMAT_*). */
  public int code() {
    return code;
  }
}
