package dev.cm4j.nn;

import dev.cm4j.tensor.Tensor;

/**
 * A raw network with a second time input s (Consistency Trajectory Models): F(x, c_noise(t), c_noise(s), labels).
 * With s = t it is an ordinary EDM network (CTM's DSM and diffusion modes call it that way).
 */
public interface CTMNetwork extends EDMNetwork {
  /** F(x, noise labels of t [N], noise labels of s [N], class labels or null, augment labels or null). */
  Tensor forward(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels, Tensor augmentLabels);

  /** Whether this network has the s-embedding path (otherwise the s input is rejected). */
  boolean hasSEmbedding();

  /**
   * The parameter name, relative to this network, of the weight at which CTM weighs its DSM term (sony/ctm's
   * {@code last_layer} in {@code calculate_adaptive_weight}: the ratio of the two losses' gradient norms there), or
   * null for the default: the last weight matrix or kernel outside the s path.
   */
  default String dsmLayer() {
    return null;
  }
}
