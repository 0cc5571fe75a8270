package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.precond.TrigFlowPrecond;
import java.util.List;

/**
 * The preconditioning's constants (options.precond). Which preconditioning wraps the network is not an option: each
 * objective has exactly one (ect: EDM's with ECT's boundary, sct/scd: TrigFlow, ict/cd/ct: EDM's with the consistency
 * boundary, ctm: CTM's), so the old {@code precond.kind} key is gone; files that still carry it load when it names
 * the objective's own preconditioning (see {@link OptionBinder}).
 *
 * @param sigmaData σ_d, the data's standard deviation
 * @param sigmaMin σ_min, the smallest noise level (the boundary condition's)
 * @param sigmaMax σ_max, the largest noise level (the samplers' start)
 * @param timeLabel TrigFlow only: the network's time input, "identity" (c_noise = t) or "edm" (EDM's c_noise, for
 *     a network initialised from an EDM teacher)
 */
public record PrecondOptions(
    @JsonProperty("sigma_data") double sigmaData,
    @JsonProperty("sigma_min") double sigmaMin,
    @JsonProperty("sigma_max") double sigmaMax,
    @JsonProperty("time_label") String timeLabel) {
  public PrecondOptions {
    OptionException.positive("sigma_data", sigmaData);
    OptionException.finite("sigma_min", sigmaMin);
    OptionException.atLeast("sigma_min", sigmaMin, 0); // 0: EDM's boundary (ect only, TrainingOptions checks)
    OptionException.greater("sigma_max", sigmaMax, sigmaMin);
    OptionException.oneOf("time_label", timeLabel, List.of("identity", "edm"));
  }

  static PrecondOptions defaults() {
    return new PrecondOptions(0.5, 0.002, 80, "identity");
  }

  /** The TrigFlow time label. */
  TrigFlowPrecond.TimeLabel trigflowLabel() {
    return timeLabel.equals("edm") ? TrigFlowPrecond.TimeLabel.EDM : TrigFlowPrecond.TimeLabel.IDENTITY;
  }
}
