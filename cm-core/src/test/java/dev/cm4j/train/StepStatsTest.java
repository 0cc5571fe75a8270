package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The per-step statistics: device values outlive the step's scope and are read once, at the tick. */
class StepStatsTest {
  @Test
  void keepsTheLatestValueOfEachKeyInFirstSeenOrder() {
    try (StepStats s = new StepStats()) {
      for (int step = 0; step < 3; step++) {
        try (TensorScope sc = TensorScope.open()) { // a step's scope: its tensors are freed at its end
          s.put("stage", step);
          s.put("logvar", Tensor.of(new float[] {step, step + 1f}, 2)); // a vector: its mean
          s.put("norm", Tensor.of(new float[] {10f * step}, 1).sum().requiresGrad_(false));
        }
      }
      Map<String, Double> h = s.toHost();
      assertEquals(List.of("stage", "logvar", "norm"), List.copyOf(h.keySet()));
      assertEquals(2.0, h.get("stage"));
      assertEquals(2.5, h.get("logvar"));
      assertEquals(20.0, h.get("norm"));
    }
  }

  @Test
  void aValueWithAGraphIsDetached() {
    try (StepStats s = new StepStats(); TensorScope sc = TensorScope.open()) {
      Tensor w = Tensor.of(new float[] {3f}, 1).requiresGrad_(true);
      s.put("sq", w.mul(w).sum());
      assertEquals(9.0, s.toHost().get("sq"));
    }
  }
}
