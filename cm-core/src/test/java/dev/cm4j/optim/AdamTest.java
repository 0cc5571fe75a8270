package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.optim.Optimizer.Impl;
import dev.cm4j.optim.TorchOptimRef.Case;
import dev.cm4j.optim.TorchOptimRef.GroupSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

class AdamTest {
  static final List<Impl> ALL = List.of(Impl.PER_TENSOR, Impl.FOREACH, Impl.FUSED);

  @Test
  void fusedKernelsAreRegistered() {
    assertNotNull(Foreach.find("aten::_fused_adam_", ""));
    assertNotNull(Foreach.find("aten::_fused_adamw_", ""));
  }

  @Test
  void matchesTorchAdamAndAdamWOver25Steps() {
    List<Case> cases = List.of(
        new Case("adam-default", "Adam", "{}", null, true, 25,
            (g, impl) -> new Adam(g, Adam.Config.defaults().withImpl(impl))),
        new Case("adam-lr-l2-betas", "Adam", "{\"lr\": 0.01, \"betas\": [0.8, 0.99], \"eps\": 1e-6, "
            + "\"weight_decay\": 0.05}", null, true, 25,
            (g, impl) -> new Adam(g, Adam.Config.defaults().withLr(0.01).withBetas(0.8, 0.99).withEps(1e-6)
                .withWeightDecay(0.05).withImpl(impl))),
        new Case("adam-amsgrad", "Adam", "{\"lr\": 0.01, \"amsgrad\": true, \"weight_decay\": 0.01}", null, true, 25,
            (g, impl) -> new Adam(g, Adam.Config.defaults().withLr(0.01).withAmsgrad(true).withWeightDecay(0.01)
                .withImpl(impl))),
        new Case("adam-groups", "Adam", "{\"lr\": 0.01}",
            List.of(new GroupSpec(new int[] {0, 3}, 0.03, Double.NaN), new GroupSpec(new int[] {1, 2}, Double.NaN, 0.1)),
            true, 25, (g, impl) -> new Adam(g, Adam.Config.defaults().withLr(0.01).withImpl(impl))),
        new Case("adamw-default", "AdamW", "{}", null, true, 25,
            (g, impl) -> new AdamW(g, AdamW.defaults().withImpl(impl))),
        new Case("adamw-amsgrad-lr", "AdamW", "{\"lr\": 0.02, \"weight_decay\": 0.1, \"amsgrad\": true}", null, true,
            25, (g, impl) -> new AdamW(g, AdamW.defaults().withLr(0.02).withWeightDecay(0.1).withAmsgrad(true)
                .withImpl(impl))),
        new Case("adam-decoupled-flag", "Adam", "{\"lr\": 0.01, \"weight_decay\": 0.1, "
            + "\"decoupled_weight_decay\": true}", null, true, 25,
            (g, impl) -> new Adam(g, Adam.Config.defaults().withLr(0.01).withWeightDecay(0.1)
                .withDecoupledWeightDecay(true).withImpl(impl))));
    double worst = TorchOptimRef.check(cases, ALL, 1e-6);
    System.out.printf("[optim-parity] Adam/AdamW worst rel error vs torch default: %.3e%n", worst);
  }

  @Test
  void defaultsAreTorchs() {
    Adam.Config c = Adam.Config.defaults();
    assertEquals(new Adam.Config(1e-3, 0.9, 0.999, 1e-8, 0, false, false, Impl.AUTO), c);
    Adam.Config w = AdamW.defaults();
    assertEquals(1e-2, w.weightDecay());
    assertTrue(w.decoupledWeightDecay());
    assertThrows(IllegalArgumentException.class, () -> c.withBetas(0.9, 1.0));
    assertThrows(IllegalArgumentException.class, () -> c.withLr(-1));
  }
}
