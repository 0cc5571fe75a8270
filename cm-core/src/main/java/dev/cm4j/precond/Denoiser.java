package dev.cm4j.precond;

import dev.cm4j.tensor.Tensor;

/** A preconditioned model: D(x, σ) — the denoised estimate of x at noise level σ (EDM's precond contract). */
public interface Denoiser {
  /** D(x, σ [N]), class labels [N, L] or null. */
  Tensor denoise(Tensor x, Tensor sigma, Tensor classLabels);
}
