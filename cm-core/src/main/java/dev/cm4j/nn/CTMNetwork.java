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
   * F with a per-sample guidance scale w [N] as a further input ({@link GuidanceEmbedding}, added to the noise
   * embedding; null: none, the plain network). Only a network that {@link #addGuidanceEmbedding() has the embedding}
   * takes a non-null w.
   */
  default Tensor forward(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels, Tensor augmentLabels,
      Tensor guidance) {
    if (guidance != null) {
      throw new IllegalArgumentException(getClass().getSimpleName() + " has no guidance-scale input: the guidance-"
          + "conditioned students are SongUNet, EDM2's U-Net and the toy MLP (objective.guidance_cond)");
    }
    return forward(x, noiseLabels, sNoiseLabels, classLabels, augmentLabels);
  }

  /** Whether this network has the guidance-scale embedding ({@link #addGuidanceEmbedding()}). */
  default boolean hasGuidanceEmbedding() {
    return false;
  }

  /**
   * Adds the zero-initialised guidance-scale embedding {@code map_guidance} ({@link GuidanceEmbedding}): the network
   * then takes w through {@link #forward(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)} and, until its weight
   * moves, computes exactly what it computed without it. Call it right after building the network, before loading
   * weights or moving it to a device.
   *
   * @throws IllegalArgumentException for a network without this input, or when it was added already
   */
  default void addGuidanceEmbedding() {
    throw new IllegalArgumentException(getClass().getSimpleName() + " has no guidance-scale input: the guidance-"
        + "conditioned students are SongUNet, EDM2's U-Net and the toy MLP (objective.guidance_cond)");
  }

  /**
   * The parameter name, relative to this network, of the weight at which CTM weighs its DSM term (sony/ctm's
   * {@code last_layer} in {@code calculate_adaptive_weight}: the ratio of the two losses' gradient norms there), or
   * null for the default: the last weight matrix or kernel outside the s path.
   */
  default String dsmLayer() {
    return null;
  }
}
