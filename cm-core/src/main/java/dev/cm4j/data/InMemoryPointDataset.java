package dev.cm4j.data;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;

/** Points held in one float array, {@code [N, D]} row-major. */
public final class InMemoryPointDataset implements PointDataset {
  private final float[] data;
  private final int n;
  private final int dim;
  private final Labels labels; // nullable

  /**
   * Wraps (does not copy) {@code data}, {@code n × dim} floats.
   *
   * @param labels the labels, or null for an unlabelled dataset
   */
  public InMemoryPointDataset(float[] data, int dim, Labels labels) {
    Objects.requireNonNull(data, "data");
    if (dim < 1 || data.length % dim != 0) {
      throw new IllegalArgumentException(data.length + " values are not a whole number of " + dim + "-vectors");
    }
    this.data = data;
    this.n = data.length / dim;
    this.dim = dim;
    if (labels != null && labels.size() != n) {
      throw new IllegalArgumentException(labels.size() + " labels for " + n + " points");
    }
    this.labels = labels;
  }

  /**
   * Copies a floating-point tensor {@code [N, D]} (any device) into memory as float32.
   *
   * @param labels the labels, or null
   */
  public static InMemoryPointDataset fromTensor(Tensor points, Labels labels) {
    long[] sh = points.shape();
    if (sh.length != 2) throw new IllegalArgumentException("expected points [N, D], got " + Arrays.toString(sh));
    float[] v;
    try (Tensor t = points.detach().to(Device.CPU, DType.FLOAT32)) {
      v = t.toFloatArray();
    }
    return new InMemoryPointDataset(v, Math.toIntExact(sh[1]), labels);
  }

  @Override
  public int size() {
    return n;
  }

  @Override
  public int dim() {
    return dim;
  }

  @Override
  public Optional<Labels> labels() {
    return Optional.ofNullable(labels);
  }

  @Override
  public void readPoint(int i, float[] dst, int off) {
    Objects.checkIndex(i, n);
    System.arraycopy(data, i * dim, dst, off, dim);
  }
}
