package dev.cm4j.data;

import java.util.Arrays;

/**
 * The labels of a dataset: either class indices (fed to networks as one-hot vectors of length {@link #dim()}, as
 * EDM does for integer labels) or float vectors of length {@link #dim()}. Immutable.
 */
public final class Labels {
  private final int size;
  private final int dim;
  private final int[] classes; // class indices, or null
  private final float[] vectors; // size * dim, or null

  private Labels(int size, int dim, int[] classes, float[] vectors) {
    this.size = size;
    this.dim = dim;
    this.classes = classes;
    this.vectors = vectors;
  }

  /** Class labels in {@code [0, numClasses)}; the array is copied. */
  public static Labels classes(int[] classes, int numClasses) {
    if (numClasses < 1) throw new IllegalArgumentException("numClasses must be >= 1: " + numClasses);
    for (int i = 0; i < classes.length; i++) {
      if (classes[i] < 0 || classes[i] >= numClasses) {
        throw new IllegalArgumentException("label " + classes[i] + " of item " + i + " is outside [0, " + numClasses
            + ")");
      }
    }
    return new Labels(classes.length, numClasses, classes.clone(), null);
  }

  /** Class labels with EDM's {@code label_dim = max(label) + 1}; the array is copied. */
  public static Labels classes(int[] classes) {
    if (classes.length == 0) throw new IllegalArgumentException("no labels");
    int max = Arrays.stream(classes).max().getAsInt();
    return classes(classes, max + 1);
  }

  /** Float label vectors, {@code size × dim} row-major; the array is copied. */
  public static Labels vectors(float[] vectors, int dim) {
    if (dim < 1 || vectors.length % dim != 0) {
      throw new IllegalArgumentException(vectors.length + " values are not a whole number of " + dim + "-vectors");
    }
    return new Labels(vectors.length / dim, dim, null, vectors.clone());
  }

  /** Number of labelled items. */
  public int size() {
    return size;
  }

  /** Length of a label vector (the number of classes for class labels). */
  public int dim() {
    return dim;
  }

  /** True for class labels (one-hot encoded by {@link #write}). */
  public boolean isClassIndex() {
    return classes != null;
  }

  /** The class of item i (class labels only). */
  public int classOf(int i) {
    if (classes == null) throw new IllegalStateException("these labels are vectors, not class indices");
    return classes[i];
  }

  /** Writes item i's label vector (one-hot for class labels) to {@code dst[off .. off + dim)}. */
  public void write(int i, float[] dst, int off) {
    if (i < 0 || i >= size) throw new IndexOutOfBoundsException("label " + i + " of " + size);
    if (classes != null) {
      Arrays.fill(dst, off, off + dim, 0f);
      dst[off + classes[i]] = 1f;
    } else {
      System.arraycopy(vectors, i * dim, dst, off, dim);
    }
  }

  /** Item i's label vector. */
  public float[] get(int i) {
    float[] v = new float[dim];
    write(i, v, 0);
    return v;
  }

  /** The labels of the given items, in order. */
  public Labels subset(int[] items) {
    if (classes != null) {
      int[] c = new int[items.length];
      for (int k = 0; k < items.length; k++) c[k] = classes[items[k]];
      return new Labels(items.length, dim, c, null);
    }
    float[] v = new float[items.length * dim];
    for (int k = 0; k < items.length; k++) System.arraycopy(vectors, items[k] * dim, v, k * dim, dim);
    return new Labels(items.length, dim, null, v);
  }
}
