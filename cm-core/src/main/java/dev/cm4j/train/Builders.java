package dev.cm4j.train;

import dev.cm4j.data.Dataset;
import dev.cm4j.nn.Module;
import dev.cm4j.optim.EMA;
import dev.cm4j.optim.Optimizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the run's objects from the typed sections of {@link TrainingOptions}: dataset, raw network, optimizer and
 * EMA rules. Every value comes from the bound options (defaults were filled in when they were bound).
 */
public final class Builders {
  private Builders() {}

  /** The training dataset described by data options. */
  public static Dataset dataset(DataOptions d) {
    return d.open();
  }

  /** The training dataset, with its labels when {@code labels} (options.cond). */
  public static Dataset dataset(DataOptions d, boolean labels) {
    return d.open(labels);
  }

  /** The raw network for data of the given resolution and channels (0 resolution: point data of that dimension). */
  public static Module network(NetworkOptions n, int resolution, int channels, boolean sEmbedding) {
    return n.build(resolution, channels, sEmbedding);
  }

  /** The optimizer over a module's parameters. */
  public static Optimizer optimizer(OptimizerOptions o, Module m) {
    return o.build(m);
  }

  /** EMA rules from options. */
  public static List<EMA.Beta> emaRules(List<EmaOptions> ema) {
    List<EMA.Beta> rules = new ArrayList<>();
    for (EmaOptions e : ema) rules.add(e.rule());
    return rules;
  }
}
