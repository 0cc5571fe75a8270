package dev.cm4j.train;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.List;

/**
 * Dynamic loss scaling for fp16 training, with the semantics of {@code torch.amp.GradScaler}: the loss is multiplied
 * by the scale before backward; before clipping and the optimizer step the gradients are multiplied by the float32
 * reciprocal of the scale and checked; a non-finite gradient skips the step and multiplies the scale by
 * {@code backoff} (resetting the growth count); {@code interval} consecutive good steps multiply it by {@code growth}.
 * Defaults: scale 2¹⁶, growth 2, backoff 0.5, interval 2000.
 */
final class LossScaler {
  private final double growth;
  private final double backoff;
  private final int interval;
  private double scale;
  private int tracker;

  LossScaler(double initScale, double growth, double backoff, int interval) {
    if (!(initScale > 0) || !(growth > 1) || !(backoff > 0 && backoff < 1) || interval < 1) {
      throw new IllegalArgumentException("bad loss-scaler settings");
    }
    this.scale = initScale;
    this.growth = growth;
    this.backoff = backoff;
    this.interval = interval;
  }

  /** torch.amp.GradScaler's defaults. */
  static LossScaler defaults() {
    return new LossScaler(65536.0, 2.0, 0.5, 2000);
  }

  double scale() {
    return scale;
  }

  int tracker() {
    return tracker;
  }

  void restore(double scale, int tracker) {
    this.scale = scale;
    this.tracker = tracker;
  }

  /**
   * Unscales the gradients in place (by the float32 reciprocal of the scale) and reports whether any is non-finite.
   */
  boolean unscale(List<Tensor> params) {
    try (TensorScope s = TensorScope.open()) {
      Tensor found = unscaleFoundInf(params);
      return found != null && found.item() > 0;
    }
  }

  /**
   * Unscales the gradients in place and returns the found-inf flag as a 0-dim float32 tensor on the gradients' device
   * (1: some gradient has a non-finite element; null when no parameter has a gradient), as
   * torch._amp_foreach_non_finite_check_and_unscale_ does: nothing is read on the host, so the check does not wait for
   * the device.
   */
  Tensor unscaleFoundInf(List<Tensor> params) {
    float inv = (float) (1.0 / (float) scale);
    Tensor found = null;
    for (Tensor p : params) {
      Tensor g = p.grad();
      if (g == null) continue;
      g.mul_(inv);
      Tensor bad = g.isfinite().logicalNot().any().to(dev.cm4j.tensor.DType.FLOAT32);
      found = found == null ? bad : found.maximum(bad);
    }
    return found;
  }

  /** Adjusts the scale after a step: backoff when non-finite gradients were found, growth after interval good steps. */
  void update(boolean foundInf) {
    if (foundInf) {
      scale = (float) (scale * backoff);
      tracker = 0;
    } else if (++tracker == interval) {
      scale = (float) (scale * growth);
      tracker = 0;
    }
  }
}
