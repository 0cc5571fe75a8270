package dev.cm4j.precond;

import dev.cm4j.nn.EDMNetwork;
import dev.cm4j.nn.Module;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;

/**
 * TrigFlow parameterisation (sCM, Lu & Song 2024, §3): x_t = cos t·x0 + sin t·z, t ∈ [0, π/2], and the consistency
 * function f(x_t, t) = cos t·x_t − sin t·σ_d·F(x_t/σ_d, c_noise(t)) (Eq. 5), which is also the diffusion model's
 * x0-prediction. The network F is the raw network's output times {@link #sign}, at noise label c_noise(t):
 *
 * <ul>
 *   <li>{@link TimeLabel#IDENTITY}: c_noise(t) = t — sCM's native TrigFlow network (§4.1), sign +1;
 *   <li>{@link TimeLabel#EDM}: an EDM-preconditioned network converted exactly (docs/algorithms/scm.md §1.4):
 *       F_trig(x_t/σ_d, t) = −F_EDM(x_t/σ_d, ln(σ_d tan t)/4), so an EDM teacher serves sCD.
 * </ul>
 */
public final class TrigFlowPrecond extends Module implements Denoiser {
  /** How t becomes the raw network's noise label. */
  public enum TimeLabel { IDENTITY, EDM }

  private final EDMNetwork net;
  private final double sigmaData;
  private final TimeLabel timeLabel;
  private final Tensor augmentLabels; // EDM AugmentPipe labels passed to every raw call, or null

  /** Wraps net (registered as child "model"). */
  public <N extends Module & EDMNetwork> TrigFlowPrecond(N net, double sigmaData, TimeLabel timeLabel) {
    this(net, (EDMNetwork) net, sigmaData, timeLabel, null);
  }

  private TrigFlowPrecond(Module model, EDMNetwork net, double sigmaData, TimeLabel timeLabel, Tensor augmentLabels) {
    child("model", model);
    this.net = net;
    this.sigmaData = sigmaData;
    this.timeLabel = timeLabel;
    this.augmentLabels = augmentLabels;
  }

  /**
   * A view of this model that passes augmentLabels [N, augment_dim] (EDM's AugmentPipe labels; null: this model) to
   * the raw network's augmentation input in every call, as EDM's losses do with {@code augment_labels}. It shares the
   * raw network and its weights.
   */
  public TrigFlowPrecond withAugmentLabels(Tensor augmentLabels) {
    if (augmentLabels == null) return this;
    return new TrigFlowPrecond(children().get("model"), net, sigmaData, timeLabel, augmentLabels);
  }

  /**
   * A TrigFlow view of an EDM-preconditioned network (σ_d taken from it). It shares the EDM model's raw network and
   * weights: close only one of the two wrappers.
   */
  public static TrigFlowPrecond fromEDM(EDMPrecond edm) {
    return new TrigFlowPrecond((Module) edm.network(), edm.network(), edm.sigmaData(), TimeLabel.EDM, null);
  }

  /** σ_d. */
  public double sigmaData() {
    return sigmaData;
  }

  /** The time-label convention. */
  public TimeLabel timeLabel() {
    return timeLabel;
  }

  /** The raw network. */
  public EDMNetwork network() {
    return net;
  }

  /** The sign that turns the raw network's output into F_trig. */
  public double sign() {
    return timeLabel == TimeLabel.EDM ? -1 : 1;
  }

  /** c_noise(t) for t [N]. */
  public Tensor noiseLabels(Tensor t) {
    return timeLabel == TimeLabel.EDM ? t.tan().mul(sigmaData).log().div(4.0) : t;
  }

  /** F_trig(x_t/σ_d, t): the network output in TrigFlow units, t [N]. */
  public Tensor rawF(Tensor xt, Tensor t, Tensor classLabels) {
    Tensor labels = classLabels == null ? null : classLabels.to(DType.FLOAT32).reshape(-1, net.labelDim());
    Tensor out = net.forward(xt.div(sigmaData), noiseLabels(t.flatten()), labels, augmentLabels);
    return timeLabel == TimeLabel.EDM ? out.neg() : out;
  }

  /** f(x_t, t) = cos t·x_t − sin t·σ_d·F_trig (consistency function / x0-prediction), t [N]. */
  public Tensor f(Tensor xt, Tensor t, Tensor classLabels) {
    Tensor tb = broadcast(t, xt);
    return tb.cos().mul(xt).sub(tb.sin().mul(sigmaData).mul(rawF(xt, t, classLabels)));
  }

  /** The same as {@link #f}: TrigFlow's x0-prediction, with t passed as the "sigma" argument. */
  @Override
  public Tensor denoise(Tensor xt, Tensor t, Tensor classLabels) {
    return f(xt, t, classLabels);
  }

  /** t [N] reshaped to broadcast against x ([N, 1, 1, 1] for images, [N, 1] for vectors). */
  public static Tensor broadcast(Tensor t, Tensor x) {
    long[] shape = new long[x.dim()];
    java.util.Arrays.fill(shape, 1);
    shape[0] = -1;
    return t.reshape(shape);
  }
}
