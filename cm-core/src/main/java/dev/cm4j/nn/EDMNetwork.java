package dev.cm4j.nn;

import dev.cm4j.tensor.Tensor;

/**
 * A raw denoiser network F in EDM's sense: it knows nothing about σ; a preconditioner feeds it c_in·x and the noise
 * labels c_noise. Class and augment labels may be null.
 */
public interface EDMNetwork {
  /** F(x, noise labels [N], class labels [N, L] or null, augment labels [N, A] or null). */
  Tensor forward(Tensor x, Tensor noiseLabels, Tensor classLabels, Tensor augmentLabels);

  /** Image resolution (or 0 for non-image data). */
  int resolution();

  /** Channels of x (or the data dimension for non-image data). */
  int channels();

  /** Number of class labels (0: unconditional). */
  int labelDim();
}
