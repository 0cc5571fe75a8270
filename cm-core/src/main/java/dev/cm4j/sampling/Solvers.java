package dev.cm4j.sampling;

import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import java.util.List;

/** PF-ODE solvers on per-sample noise-level sequences, shared by the distillation objectives (CD, CTM). */
public final class Solvers {
  private Solvers() {}

  /**
   * EDM's Heun steps (Karras et al. 2022, Alg. 1 without the Euler special case) through the levels σ_0 → σ_1 → …,
   * each level a per-sample tensor [N]; 2 denoiser calls per step, under no-grad:
   * d = (x − D(x, σ_j))/σ_j, x' = x + (σ_{j+1} − σ_j)·d, d' = (x' − D(x', σ_{j+1}))/σ_{j+1}, x ← x + (σ_{j+1} − σ_j)·(d + d')/2.
   */
  public static Tensor heun(Denoiser teacher, Tensor x, List<Tensor> levels, Tensor labels) {
    try (GradMode g = GradMode.noGrad()) {
      Tensor xs = x;
      for (int j = 0; j + 1 < levels.size(); j++) {
        // one scope per step: the two teacher passes' intermediates are freed before the next step runs, so the
        // working set stays small (only the new x_s leaves the scope)
        try (dev.cm4j.tensor.TensorScope s = dev.cm4j.tensor.TensorScope.open()) {
          Tensor tj = levels.get(j);
          Tensor tn = levels.get(j + 1);
          Tensor tjb = TrigFlowPrecond.broadcast(tj, xs);
          Tensor tnb = TrigFlowPrecond.broadcast(tn, xs);
          Tensor d = xs.sub(teacher.denoise(xs, tj, labels)).div(tjb);
          Tensor xp = xs.add(d.mul(tnb.sub(tjb)));
          Tensor dp = xp.sub(teacher.denoise(xp, tn, labels)).div(tnb);
          xs = s.escape(xs.add(d.add(dp).mul(0.5).mul(tnb.sub(tjb))));
        }
      }
      return xs;
    }
  }
}
