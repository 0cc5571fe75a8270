package dev.cm4j.learning;

import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import java.util.Random;

/**
 * The toy target of the learning tests: eight isotropic Gaussians (std {@value #STD}) centred on a circle of radius
 * {@value #RADIUS}, so the data has σ_d ≈ 0.5 per coordinate (variance R²/2 + s² = 0.2475) like the preconditioners
 * assume; with an exact sampler, its exact EDM denoiser (the posterior mean) and the best mode-less imitation.
 *
 * <p>The modes are narrow on purpose: neighbouring centres are 0.536 apart (10.7 std), so a sample within 3 std of a
 * centre is unambiguously "in a mode" and a distribution without modes cannot fake that (see {@link #modelessRing}).
 */
final class Toy {
  static final int MODES = 8;
  static final double RADIUS = 0.7;
  static final double STD = 0.05;
  static final double[][] CENTERS = new double[MODES][2];

  static {
    for (int k = 0; k < MODES; k++) {
      CENTERS[k][0] = RADIUS * Math.cos(2 * Math.PI * k / MODES);
      CENTERS[k][1] = RADIUS * Math.sin(2 * Math.PI * k / MODES);
    }
  }

  private Toy() {}

  /** n exact samples as a row-major [n, 2] array. */
  static double[] sample(int n, Random r) {
    double[] a = new double[2 * n];
    for (int i = 0; i < n; i++) {
      int k = r.nextInt(MODES);
      a[2 * i] = CENTERS[k][0] + STD * r.nextGaussian();
      a[2 * i + 1] = CENTERS[k][1] + STD * r.nextGaussian();
    }
    return a;
  }

  static Tensor batch(int n, Random r) {
    return Tensor.of(sample(n, r), n, 2).to(DType.FLOAT32);
  }

  /**
   * n samples of the same ring with the modes smeared out: a uniform angle and the data's radial profile
   * (radius RADIUS + STD·N(0, 1)). It has the right mean, covariance, radius and radial spread, only no modes — the
   * best a model that has not resolved the modes can do.
   */
  static double[] modelessRing(int n, Random r) {
    double[] a = new double[2 * n];
    for (int i = 0; i < n; i++) {
      double th = 2 * Math.PI * r.nextDouble();
      double rad = RADIUS + STD * r.nextGaussian();
      a[2 * i] = rad * Math.cos(th);
      a[2 * i + 1] = rad * Math.sin(th);
    }
    return a;
  }

  /**
   * The exact denoiser of the mixture: D(x, σ) = Σ_k w_k(x)·(μ_k + s²/(s² + σ²)·(x − μ_k)), with responsibilities
   * w_k ∝ exp(−‖x − μ_k‖²/(2(s² + σ²))).
   */
  static final Denoiser EXACT = (x, sigma, labels) -> {
    Tensor xd = x.to(DType.FLOAT64);
    Tensor var = TrigFlowPrecond.broadcast(sigma.to(DType.FLOAT64), xd).square().add(STD * STD); // [N,1]
    double[] c = new double[2 * MODES];
    for (int k = 0; k < MODES; k++) {
      c[2 * k] = CENTERS[k][0];
      c[2 * k + 1] = CENTERS[k][1];
    }
    Tensor mu = Tensor.of(c, MODES, 2);                               // [K,2]
    Tensor diff = xd.unsqueeze(1).sub(mu.unsqueeze(0));                // [N,K,2]
    Tensor logits = diff.square().sum(false, 2).div(var.mul(-2.0));   // [N,K]
    Tensor w = logits.softmax(1).unsqueeze(2);                         // [N,K,1]
    Tensor shrink = var.rdiv(STD * STD).unsqueeze(2);                  // [N,1,1]
    Tensor comp = mu.unsqueeze(0).add(diff.mul(shrink));               // [N,K,2]
    return comp.mul(w).sum(false, 1).to(x.dtype());
  };
}
