package dev.cm4j.optim;

import dev.cm4j.nn.Module;
import java.util.List;

/**
 * AdamW (Loshchilov &amp; Hutter 2019, Algorithm 2) as torch.optim.AdamW: Adam with decoupled weight decay
 * θ ← θ·(1 − lr·λ) before the Adam step; λ defaults to 1e-2.
 */
public final class AdamW extends Adam {
  /** torch.optim.AdamW's defaults: Adam's, with weight decay 1e-2, decoupled. */
  public static Config defaults() {
    return Config.defaults().withWeightDecay(1e-2).withDecoupledWeightDecay(true);
  }

  /** AdamW over parameter groups (the config's weight decay is applied decoupled). */
  public AdamW(List<ParamGroup> groups, Config config) {
    super(groups, config.withDecoupledWeightDecay(true));
  }

  /** AdamW over a module's trainable parameters. */
  public AdamW(Module module, Config config) {
    this(ParamGroup.single(ParamRef.of(module)), config);
  }
}
