package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;

/**
 * The training objective (options.objective), chosen by {@code kind}. Each kind's record lives with its run adapter
 * and takes its defaults from the library's objective config; keys of one kind are unknown to another.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.EXISTING_PROPERTY, property = "kind", visible = true)
@JsonSubTypes({
    @JsonSubTypes.Type(value = EctObjective.Options.class, name = "ect"),
    @JsonSubTypes.Type(value = SctObjective.Options.class, names = {"sct", "scd"}),
    @JsonSubTypes.Type(value = IctObjective.Options.class, name = "ict"),
    @JsonSubTypes.Type(value = CmObjective.Options.class, names = {"cd", "ct"}),
    @JsonSubTypes.Type(value = CtmObjective.Options.class, name = "ctm"),
    @JsonSubTypes.Type(value = MeanFlowObjective.Options.class, name = "meanflow"),
    @JsonSubTypes.Type(value = AyfObjective.Options.class, name = "ayf"),
    @JsonSubTypes.Type(value = ImmObjective.Options.class, name = "imm")})
public sealed interface ObjectiveOptions
    permits EctObjective.Options, SctObjective.Options, IctObjective.Options, CmObjective.Options, CtmObjective.Options,
    MeanFlowObjective.Options, AyfObjective.Options, ImmObjective.Options {
  /** ect | sct | scd | ict | cd | ct | ctm | meanflow | ayf | imm. */
  String kind();

  /** The preconditioning this objective trains with (the old options' precond.kind, which it replaces). */
  String precondition();

  /** Distillation objectives: the teacher network's config (null: options.network). */
  default NetworkOptions teacherNetwork() {
    return null;
  }

  /** Distillation objectives: the teacher's safetensors file (null for training from data only). */
  default String teacher() {
    return null;
  }
}
