package dev.cm4j.optim;

import dev.cm4j.nn.Module;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_ (Pascanu et al. 2013): the total norm
 * ‖(‖g₁‖_p, …, ‖g_n‖_p)‖_p over every gradient; all gradients are multiplied by min(max_norm/(total + 1e-6), 1).
 *
 * @param maxNorm the largest allowed total norm
 * @param normType p (2 by default; {@code Double.POSITIVE_INFINITY} for the max-norm)
 */
public record ClipGradNorm(double maxNorm, double normType) {
  public ClipGradNorm {
    if (!(maxNorm >= 0)) throw new IllegalArgumentException("invalid max_norm: " + maxNorm);
    if (!(normType > 0)) throw new IllegalArgumentException("invalid norm_type: " + normType);
  }

  /** Clipping of the Euclidean total norm at maxNorm. */
  public static ClipGradNorm of(double maxNorm) {
    return new ClipGradNorm(maxNorm, 2.0);
  }

  /**
   * Clips the gradients of a module's parameters; returns the total norm before clipping as a 0-dim tensor on the
   * gradients' device (see {@link #apply(Collection)}).
   */
  public Tensor apply(Module module) {
    return apply(module.parameters());
  }

  /**
   * Clips the gradients of params (those without a gradient are ignored); returns the total norm before clipping, a
   * 0-dim float32 tensor on the first gradient's device (a CPU zero when no parameter has a gradient), owned by the
   * caller's scope. Nothing is read on the host: clipping never waits for the device; call {@code item()} on the
   * result to see the norm.
   */
  public Tensor apply(Collection<Tensor> params) {
    try (GradMode ng = GradMode.noGrad(); TensorScope s = TensorScope.open()) {
      LinkedHashMap<String, List<Tensor>> groups = gradsByDeviceAndDtype(params);
      if (groups.isEmpty()) return s.escape(Tensor.zeros(new long[0], dev.cm4j.tensor.DType.FLOAT32, Device.CPU));
      Tensor total = totalNorm(groups, normType);
      Tensor clipCoef = total.add(1e-6).reciprocal().mul(maxNorm);
      Tensor clamped = clipCoef.clampMax(1.0);
      for (List<Tensor> gs : groups.values()) {
        Foreach.mul_(gs, clamped.to(gs.get(0).device()));
      }
      return s.escape(total);
    }
  }

  /** The total p-norm of the gradients of params (torch.nn.utils.get_total_norm), without clipping. */
  public static double totalNorm(Collection<Tensor> params, double normType) {
    try (GradMode ng = GradMode.noGrad(); TensorScope s = TensorScope.open()) {
      LinkedHashMap<String, List<Tensor>> groups = gradsByDeviceAndDtype(params);
      return groups.isEmpty() ? 0.0 : totalNorm(groups, normType).item();
    }
  }

  private static Tensor totalNorm(LinkedHashMap<String, List<Tensor>> groups, double normType) {
    List<Tensor> norms = new ArrayList<>();
    dev.cm4j.tensor.Device first = null;
    for (List<Tensor> gs : groups.values()) {
      if (first == null) first = gs.get(0).device();
      norms.addAll(Foreach.norm(gs, normType));
    }
    List<Tensor> onFirst = new ArrayList<>(norms.size());
    for (Tensor n : norms) onFirst.add(n.to(first));
    return Tensor.stack(onFirst, 0).norm(normType, false);
  }

  /** The gradients of params grouped by device and dtype, in order of first appearance (as torch groups them). */
  private static LinkedHashMap<String, List<Tensor>> gradsByDeviceAndDtype(Collection<Tensor> params) {
    LinkedHashMap<String, List<Tensor>> groups = new LinkedHashMap<>();
    for (Tensor p : params) {
      Tensor g = p.grad();
      if (g == null) continue;
      groups.computeIfAbsent(g.device() + "/" + g.dtype(), k -> new ArrayList<>()).add(g);
    }
    return groups;
  }
}
