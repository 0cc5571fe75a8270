package dev.cm4j.optim;

import java.util.List;
import java.util.Objects;

/**
 * A parameter group (torch.optim's {@code param_groups} entry): parameters with their own learning rate and/or weight
 * decay; NaN means "the optimizer's default".
 *
 * @param params the parameters
 * @param lr this group's learning rate, or NaN for the optimizer's
 * @param weightDecay this group's weight decay, or NaN for the optimizer's
 */
public record ParamGroup(List<ParamRef> params, double lr, double weightDecay) {
  public ParamGroup {
    params = List.copyOf(Objects.requireNonNull(params, "params"));
    if (!Double.isNaN(lr) && lr < 0) throw new IllegalArgumentException("invalid learning rate: " + lr);
    if (!Double.isNaN(weightDecay) && weightDecay < 0) {
      throw new IllegalArgumentException("invalid weight_decay value: " + weightDecay);
    }
  }

  /** A group that uses the optimizer's hyperparameters. */
  public static ParamGroup of(List<ParamRef> params) {
    return new ParamGroup(params, Double.NaN, Double.NaN);
  }

  /** One group holding every parameter, with the optimizer's hyperparameters. */
  public static List<ParamGroup> single(List<ParamRef> params) {
    return List.of(of(params));
  }

  /** This group with its own learning rate. */
  public ParamGroup withLr(double lr) {
    return new ParamGroup(params, lr, weightDecay);
  }

  /** This group with its own weight decay (e.g. 0 for biases and gains). */
  public ParamGroup withWeightDecay(double weightDecay) {
    return new ParamGroup(params, lr, weightDecay);
  }
}
