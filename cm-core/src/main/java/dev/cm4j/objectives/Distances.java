package dev.cm4j.objectives;

import dev.cm4j.jit.ScriptModule;
import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Tensor;
import java.util.Arrays;

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

  /**
   * LPIPS (Zhang et al. 2018) per sample, through a user-supplied TorchScript file of an LPIPS network called as
   * {@code lpips(a, b)} on NCHW images in [−1, 1] and returning one distance per sample (e.g. {@code [N, 1, 1, 1]}
   * as the {@code lpips} package's {@code LPIPS(net='vgg')}); CTM's distance for images. With {@code resize > 0}
   * both inputs are first resized bilinearly to {@code resize × resize} (CTM upsamples to 224 before LPIPS).
   * Differentiable with respect to a and b through TorchScript autograd; freeze the network's own parameters with
   * {@link ScriptModule#requiresGrad(boolean) requiresGrad(false)} and put it in eval mode.
   */
  public static Tensor lpips(ScriptModule lpips, Tensor a, Tensor b, int resize) {
    if (a.dim() != 4 || !Arrays.equals(a.shape(), b.shape())) {
      throw new IllegalArgumentException("LPIPS needs two equally shaped NCHW batches, got "
          + Arrays.toString(a.shape()) + " and " + Arrays.toString(b.shape()));
    }
    if (resize > 0 && (a.size(2) != resize || a.size(3) != resize)) {
      a = F.interpolate(a, resize, resize, F.Interpolation.BILINEAR, false);
      b = F.interpolate(b, resize, resize, F.Interpolation.BILINEAR, false);
    }
    Tensor d = lpips.forward(a, b);
    if (d.numel() != a.size(0)) {
      throw new IllegalArgumentException("LPIPS network " + lpips.path() + " returned shape "
          + Arrays.toString(d.shape()) + ", expected one distance per sample (" + a.size(0) + ")");
    }
    return d.reshape(a.size(0));
  }
}
