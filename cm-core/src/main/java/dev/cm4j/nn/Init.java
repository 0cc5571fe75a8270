package dev.cm4j.nn;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;

/**
 * EDM's weight initialisation (networks.py {@code weight_init}): xavier/kaiming, uniform/normal, scaled by
 * {@code initWeight} (EDM's "zero" init is initWeight = 1e-5; attention uses sqrt(0.2)). Draws come from the default
 * CPU generator in the same order as EDM, so {@code Torch.manualSeed(s)} reproduces PyTorch's initial weights.
 *
 * @param mode "xavier_uniform", "xavier_normal", "kaiming_uniform" or "kaiming_normal"
 * @param initWeight factor on the weight
 * @param initBias factor on the bias
 */
public record Init(String mode, double initWeight, double initBias) {
  /** EDM's Linear/Conv2d default: kaiming_normal, weight ×1, bias ×0. */
  public static final Init DEFAULT = new Init("kaiming_normal", 1, 0);
  /** SongUNet's {@code init}: xavier_uniform. */
  public static final Init XAVIER = new Init("xavier_uniform", 1, 0);
  /** SongUNet's {@code init_zero}: xavier_uniform scaled by 1e-5. */
  public static final Init XAVIER_ZERO = new Init("xavier_uniform", 1e-5, 0);
  /** SongUNet's {@code init_attn}: xavier_uniform scaled by sqrt(0.2). */
  public static final Init XAVIER_ATTN = new Init("xavier_uniform", Math.sqrt(0.2), 0);

  public Init {
    if (!java.util.List.of("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal").contains(mode)) {
      throw new IllegalArgumentException("unknown init mode '" + mode + "'");
    }
  }

  /** A float32 CPU tensor drawn per the mode for the given fan-in/fan-out, times factor. */
  public Tensor draw(long[] shape, long fanIn, long fanOut, double factor) {
    try (TensorScope s = TensorScope.open()) {
      Tensor t = switch (mode) {
        case "xavier_uniform" -> uniform(shape).mul(Math.sqrt(6.0 / (fanIn + fanOut)));
        case "xavier_normal" -> Tensor.randn(shape).mul(Math.sqrt(2.0 / (fanIn + fanOut)));
        case "kaiming_uniform" -> uniform(shape).mul(Math.sqrt(3.0 / fanIn));
        default -> Tensor.randn(shape).mul(Math.sqrt(1.0 / fanIn));
      };
      return s.escape(t.mul(factor));
    }
  }

  private static Tensor uniform(long[] shape) {
    return Tensor.rand(shape, DType.FLOAT32, Device.CPU, null).mul(2.0).sub(1.0);
  }
}
