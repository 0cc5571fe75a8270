package dev.cm4j.objectives;

import dev.cm4j.tensor.Tensor;

/** Per-sample distances between two batches, over all non-batch elements. */
public final class Distances {
  private Distances() {}

  /** ‖a − b‖₂² per sample. */
  public static Tensor sumOfSquares(Tensor a, Tensor b) {
    return a.sub(b).square().reshape(a.size(0), -1).sum(false, 1);
  }

  /** ‖a − b‖₂ per sample (ECT's c = 0). */
  public static Tensor l2(Tensor a, Tensor b) {
    return sumOfSquares(a, b).sqrt();
  }

  /** Mean squared error per sample (CM/CTM "l2"). */
  public static Tensor meanSquared(Tensor a, Tensor b) {
    return sumOfSquares(a, b).div((double) (a.numel() / a.size(0)));
  }

  /** Pseudo-Huber √(‖a − b‖₂² + c²) − c per sample (iCT, ECT c > 0). */
  public static Tensor pseudoHuber(Tensor a, Tensor b, double c) {
    return sumOfSquares(a, b).add(c * c).sqrt().sub(c);
  }
}
