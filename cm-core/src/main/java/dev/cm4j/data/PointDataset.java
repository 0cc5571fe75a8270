package dev.cm4j.data;

/**
 * A dataset of float vectors of dimension {@link #dim()} (point clouds, toy 2-D distributions). The loader batches
 * them unchanged (no scaling, flipping or resizing) to float32 {@code [B, D]}.
 */
public non-sealed interface PointDataset extends Dataset {
  /** Dimension D of every point. */
  int dim();

  /** Copies point i to {@code dst[off .. off + D)}. Thread-safe. */
  void readPoint(int i, float[] dst, int off);

  @Override
  default long[] itemShape() {
    return new long[] {dim()};
  }

  @Override
  default PointItem item(int i) {
    float[] p = new float[dim()];
    readPoint(i, p, 0);
    return new PointItem(p, labels().map(l -> l.get(i)).orElse(new float[0]));
  }
}
