package dev.cm4j.data;

import dev.cm4j.image.UInt8Image;
import java.util.Optional;

/**
 * A finite, indexable dataset: {@link #size()} items, each an 8-bit image ({@link ImageDataset}) or a float vector
 * ({@link PointDataset}), with an optional label. Items are addressed by index {@code 0 .. size() − 1}; reading an
 * item must be thread-safe (the {@link Loader} reads on its prefetch thread) and must not use libtorch.
 *
 * <p>Implementations in this package: {@link ImageFolderDataset} (EDM's zip/folder format), {@link Cifar10Dataset},
 * {@link IdxDataset} (MNIST, Fashion-MNIST), {@link InMemoryImageDataset}, {@link InMemoryPointDataset} (also from
 * {@code .npy} point clouds via {@link PointClouds}) and the {@link Toy2D} distributions.
 */
public sealed interface Dataset permits ImageDataset, PointDataset {
  /** Number of items. */
  int size();

  /** Shape of one item: {@code [C, H, W]} for images, {@code [D]} for points. */
  long[] itemShape();

  /** The labels, if the dataset has them. */
  Optional<Labels> labels();

  /** Length of a label vector; 0 when the dataset is unlabelled (EDM's {@code label_dim}). */
  default int labelDim() {
    return labels().map(Labels::dim).orElse(0);
  }

  /** Item i with its label. */
  Item item(int i);

  /** One item: an image or a point, with its label vector (empty when the dataset has no labels). */
  sealed interface Item permits ImageItem, PointItem {
    /** The label vector (one-hot for class labels); length {@link Dataset#labelDim()}, 0 if unlabelled. */
    float[] label();
  }

  /**
   * An image item.
   *
   * @param image the image, planar CHW
   * @param label the label vector (empty when unlabelled)
   */
  record ImageItem(UInt8Image image, float[] label) implements Item {}

  /**
   * A point item.
   *
   * @param point the coordinates
   * @param label the label vector (empty when unlabelled)
   */
  record PointItem(float[] point, float[] label) implements Item {}
}
