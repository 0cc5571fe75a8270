package dev.cm4j.eval;

import dev.cm4j.tensor.Tensor;

/**
 * A network that maps images to feature vectors for FID/KID-style metrics. Input: uint8 images [N, C, H, W] with
 * values 0..255 (the convention of EDM's metrics); output: features [N, D] (any floating dtype).
 */
public interface FeatureNetwork extends AutoCloseable {
  /** Features of a batch of uint8 images [N, C, H, W]. */
  Tensor features(Tensor images);

  /** A short name for reports ("inception-v3", "fmnist-classifier"). */
  String name();

  @Override
  void close();
}
