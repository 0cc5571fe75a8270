package dev.cm4j.data;

import dev.cm4j.tensor.Tensor;

/**
 * One batch from a {@link Loader}. The tensors were created on the thread that called {@link Loader#next()}: they
 * belong to its innermost open {@link dev.cm4j.tensor.TensorScope}, or — with no scope open — to the caller, who
 * closes them ({@link #close()} closes both).
 *
 * @param x float32 images {@code [B, C, R, R]} in [−1, 1] ({@code u / 127.5 − 1} of the uint8 pixels), or points
 *     {@code [B, D]} as stored
 * @param labels float32 labels {@code [B, labelDim]} (one-hot for class labels), or null when the dataset is
 *     unlabelled or labels are off
 * @param indices the dataset index of each item
 * @param flipped whether each image was x-flipped
 */
public record Batch(Tensor x, Tensor labels, int[] indices, boolean[] flipped) implements AutoCloseable {
  /** Number of items. */
  public int size() {
    return indices.length;
  }

  /** Closes both tensors (only needed when they are not owned by a scope). */
  @Override
  public void close() {
    x.close();
    if (labels != null) labels.close();
  }
}
