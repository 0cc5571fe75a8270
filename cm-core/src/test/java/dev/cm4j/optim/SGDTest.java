package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.optim.Optimizer.Impl;
import dev.cm4j.optim.TorchOptimRef.Case;
import dev.cm4j.optim.TorchOptimRef.GroupSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

class SGDTest {
  @Test
  void matchesTorchSGDOver25Steps() {
    List<Case> cases = List.of(
        new Case("sgd-plain", "SGD", "{\"lr\": 0.05}", null, true, 25,
            (g, impl) -> new SGD(g, SGD.Config.defaults().withLr(0.05).withImpl(impl))),
        new Case("sgd-momentum-dampening", "SGD", "{\"lr\": 0.05, \"momentum\": 0.9, \"dampening\": 0.1}", null, true,
            25, (g, impl) -> new SGD(g, SGD.Config.defaults().withLr(0.05).withMomentum(0.9, 0.1).withImpl(impl))),
        new Case("sgd-nesterov-wd", "SGD", "{\"lr\": 0.05, \"momentum\": 0.9, \"nesterov\": true, "
            + "\"weight_decay\": 0.01}", null, true, 25,
            (g, impl) -> new SGD(g, SGD.Config.defaults().withLr(0.05).withMomentum(0.9, 0).withNesterov(true)
                .withWeightDecay(0.01).withImpl(impl))),
        new Case("sgd-groups", "SGD", "{\"lr\": 0.05, \"momentum\": 0.5}",
            List.of(new GroupSpec(new int[] {1}, 0.1, 0.05), new GroupSpec(new int[] {0, 2, 3}, Double.NaN, Double.NaN)),
            true, 25, (g, impl) -> new SGD(g, SGD.Config.defaults().withLr(0.05).withMomentum(0.5, 0).withImpl(impl))));
    double worst = TorchOptimRef.check(cases, List.of(Impl.PER_TENSOR, Impl.FOREACH, Impl.FUSED), 1e-6);
    System.out.printf("[optim-parity] SGD worst rel error vs torch default: %.3e%n", worst);
  }

  @Test
  void nesterovNeedsMomentumWithoutDampening() {
    assertThrows(IllegalArgumentException.class, () -> SGD.Config.defaults().withNesterov(true));
    assertThrows(IllegalArgumentException.class,
        () -> SGD.Config.defaults().withMomentum(0.9, 0.1).withNesterov(true));
    assertEquals(1e-3, SGD.Config.defaults().lr());
  }
}
