package dev.cm4j.optim;

import dev.cm4j.nn.Module;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.Collection;

/**
 * Gradient sanitising before the optimizer step, as EDM/ECT and EDM2 do: in every gradient NaN → nan, +∞ → posinf,
 * −∞ → neginf (torch.nan_to_num(grad, out=grad)).
 *
 * @param nan the value for NaN
 * @param posinf the value for +∞
 * @param neginf the value for −∞
 */
public record NanToNum(double nan, double posinf, double neginf) {
  /** EDM's training loop and ECT's (docs/algorithms/ect.md §2, "gradient hygiene"): NaN → 0, +∞ → 1e5, −∞ → −1e5. */
  public static final NanToNum ECT = new NanToNum(0, 1e5, -1e5);

  /** EDM's training loop, the same values as ECT's. */
  public static final NanToNum EDM = ECT;

  /** EDM2's {@code force_finite} (and ECT's ImageNet branch): NaN and ±∞ → 0. */
  public static final NanToNum EDM2 = new NanToNum(0, 0, 0);

  /** Sanitises the gradients of a module's parameters in place. */
  public void apply(Module module) {
    apply(module.parameters());
  }

  /** Sanitises the gradients of params in place (parameters without a gradient are skipped). */
  public void apply(Collection<Tensor> params) {
    try (GradMode ng = GradMode.noGrad(); TensorScope s = TensorScope.open()) {
      for (Tensor p : params) {
        Tensor g = p.grad();
        if (g != null) g.nanToNum_(nan, posinf, neginf);
      }
    }
  }
}
