package dev.cm4j.io;

import dev.cm4j.tensor.DType;
import java.util.Arrays;
import java.util.Objects;

/**
 * What a safetensors header says about one tensor: its name, dtype, shape and where its bytes lie in the data
 * section. Immutable.
 *
 * <p>The dtype is kept as the header's string ({@link #dtypeName()}) because the format knows dtypes that cm4j
 * has no {@link DType} for (U16, U32, U64, C64, the float8/float6/float4 kinds): such a file opens and its other
 * tensors load, and {@link #dtype()} throws for these.
 */
public final class TensorInfo {
  private final String name;
  private final String dtypeName;
  private final DType dtype;
  private final long[] shape;
  private final long begin;
  private final long end;

  TensorInfo(String name, String dtypeName, DType dtype, long[] shape, long begin, long end) {
    this.name = name;
    this.dtypeName = dtypeName;
    this.dtype = dtype;
    this.shape = shape.clone();
    this.begin = begin;
    this.end = end;
  }

  /**
   * The tensor's name (its key in the header).
   *
   * @return the name
   */
  public String name() {
    return name;
  }

  /**
   * The dtype string of the header ("F32", "BF16", "U16", ...).
   *
   * @return the dtype as written in the file
   */
  public String dtypeName() {
    return dtypeName;
  }

  /**
   * Whether cm4j can load this tensor (its dtype has a {@link DType}).
   *
   * @return true when {@link #dtype()} succeeds
   */
  public boolean isSupported() {
    return dtype != null;
  }

  /**
   * The element type.
   *
   * @return the dtype
   * @throws UnsupportedOperationException when the format's dtype has no cm4j {@link DType} (see
   *     {@link #isSupported()})
   */
  public DType dtype() {
    if (dtype == null) {
      throw new UnsupportedOperationException("safetensors dtype " + dtypeName + " of tensor '"
          + SafeTensorsException.shorten(name) + "' is not supported by cm4j");
    }
    return dtype;
  }

  /**
   * The sizes of every dimension (empty for a 0-D tensor).
   *
   * @return a copy of the shape
   */
  public long[] shape() {
    return shape.clone();
  }

  /**
   * The number of dimensions.
   *
   * @return the rank
   */
  public int rank() {
    return shape.length;
  }

  /**
   * The number of elements (the product of the shape; 1 for a 0-D tensor).
   *
   * @return the element count
   */
  public long numel() {
    long n = 1;
    for (long d : shape) n *= d; // validated not to overflow when the header was read
    return n;
  }

  /**
   * Start of the tensor's bytes, relative to the start of the data section.
   *
   * @return the first data offset
   */
  public long begin() {
    return begin;
  }

  /**
   * End (exclusive) of the tensor's bytes, relative to the start of the data section.
   *
   * @return the second data offset
   */
  public long end() {
    return end;
  }

  /**
   * The number of data bytes ({@code end - begin}).
   *
   * @return the byte count
   */
  public long byteSize() {
    return end - begin;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorInfo t && name.equals(t.name) && dtypeName.equals(t.dtypeName)
        && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, dtypeName, Arrays.hashCode(shape), begin, end);
  }

  @Override
  public String toString() {
    return "TensorInfo[" + name + ", " + dtypeName + ", " + Arrays.toString(shape) + ", [" + begin + ", " + end
        + ")]";
  }
}
