package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.optim.Optimizer.Impl;
import dev.cm4j.optim.TorchOptimRef.Case;
import dev.cm4j.optim.TorchOptimRef.GroupSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

class RAdamTest {
  @Test
  void matchesTorchRAdamOver25Steps() {
    // With β₂ = 0.999, ρ_t > 5 from t = 6 on: 25 steps cover the un-adapted and the rectified branch.
    List<Case> cases = List.of(
        new Case("radam-default", "RAdam", "{}", null, false, 25,
            (g, impl) -> new RAdam(g, RAdam.Config.defaults().withImpl(impl))),
        new Case("radam-ect", "RAdam", "{\"lr\": 0.01}", null, false, 25,
            (g, impl) -> new RAdam(g, RAdam.Config.defaults().withLr(0.01).withImpl(impl))),
        new Case("radam-l2-betas", "RAdam", "{\"lr\": 0.01, \"betas\": [0.9, 0.99], \"weight_decay\": 0.05}", null,
            false, 25, (g, impl) -> new RAdam(g, RAdam.Config.defaults().withLr(0.01).withBetas(0.9, 0.99)
                .withWeightDecay(0.05).withImpl(impl))),
        new Case("radam-decoupled", "RAdam", "{\"lr\": 0.01, \"weight_decay\": 0.1, \"decoupled_weight_decay\": true}",
            null, false, 25, (g, impl) -> new RAdam(g, RAdam.Config.defaults().withLr(0.01).withWeightDecay(0.1)
                .withDecoupledWeightDecay(true).withImpl(impl))),
        new Case("radam-groups", "RAdam", "{\"lr\": 0.01}",
            List.of(new GroupSpec(new int[] {2}, 0.05, 0.01), new GroupSpec(new int[] {0, 1, 3}, Double.NaN, Double.NaN)),
            false, 25, (g, impl) -> new RAdam(g, RAdam.Config.defaults().withLr(0.01).withImpl(impl))));
    double worst = TorchOptimRef.check(cases, List.of(Impl.PER_TENSOR, Impl.FOREACH), 1e-6);
    System.out.printf("[optim-parity] RAdam worst rel error vs torch default: %.3e%n", worst);
  }

  @Test
  void rectificationFollowsLiuEtAl() {
    // ρ_∞ = 2/(1−β₂) − 1 = 1999 for β₂ = 0.999; ρ_t ≤ 5 for the first steps (no adaptive step), r_t → 1 as t → ∞.
    assertEquals(1999, RAdam.rhoInf(0.999), 1e-9);
    assertEquals(0, RAdam.rectification(0.999, 1));
    assertEquals(0, RAdam.rectification(0.999, 5));
    assertTrue(RAdam.rectification(0.999, 6) > 0);
    double t = 6;
    double b = 0.999;
    double rhoT = 1999 - 2 * t * Math.pow(b, t) / (1 - Math.pow(b, t));
    assertEquals(Math.sqrt((rhoT - 4) * (rhoT - 2) * 1999 / (1995.0 * 1997 * rhoT)), RAdam.rectification(b, t), 1e-12);
    assertEquals(1, RAdam.rectification(b, 1e6), 1e-3);
  }
}
