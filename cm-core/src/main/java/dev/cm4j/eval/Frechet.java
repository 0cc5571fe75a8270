package dev.cm4j.eval;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;

/**
 * The Fréchet distance between two Gaussians, the number behind FID:
 * {@code ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^{1/2}}, in float64.
 *
 * <p>The trace of the matrix square root comes from symmetric eigendecompositions (LAPACK through libtorch's
 * {@code linalg_eigh}): with {@code Σ₁ = V Λ Vᵀ} and {@code A = V Λ^{1/2} Vᵀ}, {@code Σ₁Σ₂} is similar to the
 * symmetric positive semi-definite {@code A Σ₂ A}, so {@code tr (Σ₁Σ₂)^{1/2} = Σᵢ √λᵢ(A Σ₂ A)}. Eigenvalues that
 * rounding makes slightly negative are clamped to 0. EDM computes the same quantity with
 * {@code scipy.linalg.sqrtm} (Schur method) and keeps the real part.
 */
public final class Frechet {
  private Frechet() {}

  /** The Fréchet distance between two feature distributions of the same dimension. */
  public static double distance(GaussianStats a, GaussianStats b) {
    if (a.dim() != b.dim()) {
      throw new IllegalArgumentException("feature dimensions differ: " + a.dim() + " and " + b.dim());
    }
    int d = a.dim();
    double m = 0;
    for (int i = 0; i < d; i++) {
      double diff = a.mu()[i] - b.mu()[i];
      m += diff * diff;
    }
    double tr = 0;
    for (int i = 0; i < d; i++) tr += a.sigma()[i * d + i] + b.sigma()[i * d + i];
    return m + tr - 2 * traceSqrtProduct(a.sigma(), b.sigma(), d);
  }

  /** {@code tr (S₁S₂)^{1/2}} for symmetric positive semi-definite S₁, S₂ (row-major d×d). */
  static double traceSqrtProduct(double[] s1, double[] s2, int d) {
    try (TensorScope s = TensorScope.open()) {
      Tensor a = symmetric(Tensor.of(s1, d, d));
      Tensor b = symmetric(Tensor.of(s2, d, d));
      Tensor.Eigh e = a.eigh();
      Tensor root = e.eigenvectors().mul(e.eigenvalues().clampMin(0).sqrt().unsqueeze(0))
          .matmul(e.eigenvectors().transpose(0, 1));
      Tensor m = symmetric(root.matmul(b).matmul(root));
      return m.eigh().eigenvalues().clampMin(0).sqrt().sum().item();
    }
  }

  private static Tensor symmetric(Tensor x) {
    return x.add(x.transpose(0, 1)).mul(0.5);
  }
}
