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
  private static final dev.cm4j.tensor.Op UNSCALE =
      dev.cm4j.tensor.Op.of("aten::_amp_foreach_non_finite_check_and_unscale_", "");
  private static final dev.cm4j.tensor.Op UPDATE = dev.cm4j.tensor.Op.of("aten::_amp_update_scale_", "");

  private final double growth;
  private final double backoff;
  private final int interval;
  private double scale; // the host's copy while the scale is not on a device
  private int tracker;
  private Tensor scaleT; // float32 0-dim on the device once used there
  private Tensor trackerT; // int32 0-dim, likewise

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

  /** The scale (a host read when it lives on a device: for checkpoints and reports). */
  double scale() {
    return scaleT == null ? scale : scaleT.item();
  }

  /** Consecutive good steps since the last growth or backoff (a host read when on a device). */
  int tracker() {
    return trackerT == null ? tracker : (int) trackerT.itemLong();
  }

  void restore(double scale, int tracker) {
    this.scale = scale;
    this.tracker = tracker;
    release();
  }

  private void release() {
    if (scaleT != null) scaleT.close();
    if (trackerT != null) trackerT.close();
    scaleT = null;
    trackerT = null;
  }

  /**
   * The scale as a float32 0-dim tensor on device (GradScaler's {@code _scale}), owned by this scaler: multiply the
   * loss by it without reading it on the host. The scale moves to device on first use.
   */
  Tensor scale(dev.cm4j.tensor.Device device) {
    if (scaleT == null || !scaleT.device().equals(device)) {
      double sc = scale();
      int tr = tracker();
      release();
      scaleT = TensorScope.release(Tensor.full(new long[0], sc, dev.cm4j.tensor.DType.FLOAT32, device));
      trackerT = TensorScope.release(Tensor.full(new long[0], tr, dev.cm4j.tensor.DType.INT32, device));
    }
    return scaleT;
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
   * (1: some gradient has a non-finite element; null when no parameter has a gradient), with libtorch's
   * {@code _amp_foreach_non_finite_check_and_unscale_} as GradScaler.unscale_ does: nothing is read on the host.
   */
  Tensor unscaleFoundInf(List<Tensor> params) {
    List<Tensor> grads = new java.util.ArrayList<>();
    for (Tensor p : params) if (p.grad() != null) grads.add(p.grad());
    if (grads.isEmpty()) return null;
    dev.cm4j.tensor.Device device = grads.get(0).device();
    Tensor found = Tensor.zeros(new long[0], dev.cm4j.tensor.DType.FLOAT32, device);
    Tensor inv = scale(device).to(dev.cm4j.tensor.DType.FLOAT64).reciprocal().to(dev.cm4j.tensor.DType.FLOAT32);
    UNSCALE.call(grads, found, inv);
    return found;
  }

  /** Adjusts the scale after a step: backoff when non-finite gradients were found, growth after interval good steps. */
  void update(boolean foundInf) {
    if (scaleT == null) {
      if (foundInf) {
        scale = (float) (scale * backoff);
        tracker = 0;
      } else if (++tracker == interval) {
        scale = (float) (scale * growth);
        tracker = 0;
      }
      return;
    }
    try (TensorScope s = TensorScope.open()) {
      update(Tensor.full(new long[0], foundInf ? 1 : 0, dev.cm4j.tensor.DType.FLOAT32, scaleT.device()));
    }
  }

  /**
   * {@link #update(boolean)} on the device, from the found-inf flag of {@link #unscaleFoundInf} (non-zero: backoff),
   * with libtorch's {@code _amp_update_scale_} as GradScaler.update does: no host read.
   */
  void update(Tensor foundInf) {
    Tensor sc = scale(foundInf.device());
    UPDATE.call(sc, trackerT, foundInf.to(dev.cm4j.tensor.DType.FLOAT32), growth, backoff, (long) interval);
  }
}
