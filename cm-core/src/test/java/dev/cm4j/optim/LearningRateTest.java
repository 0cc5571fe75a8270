package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.testing.PythonRef;
import org.junit.jupiter.api.Test;

class LearningRateTest {
  @Test
  void constantIsConstant() {
    LearningRate lr = new LearningRate.Constant(1e-4);
    assertEquals(1e-4, lr.at(0));
    assertEquals(1e-4, lr.at(1L << 40));
  }

  @Test
  void linearWarmupRampsThenHolds() {
    LearningRate lr = new LearningRate.LinearWarmup(2e-4, 10_000);
    assertEquals(0, lr.at(0));
    assertEquals(1e-4, lr.at(5_000), 1e-18);
    assertEquals(2e-4, lr.at(10_000));
    assertEquals(2e-4, lr.at(50_000));
    // EDM's max(rampup, 1e-8): without warm-up the rate is 0 at t = 0 and full from t = 1 on
    assertEquals(0, new LearningRate.LinearWarmup(3e-4, 0).at(0));
    assertEquals(3e-4, new LearningRate.LinearWarmup(3e-4, 0).at(1));
  }

  @Test
  void inverseSqrtFollowsEdm2() {
    // α_ref / √max(t/t_ref, 1): flat until t_ref, then ∝ 1/√t.
    LearningRate lr = new LearningRate.InverseSqrt(1e-2, 1000, 0);
    assertEquals(1e-2, lr.at(0));
    assertEquals(1e-2, lr.at(1000));
    assertEquals(1e-2 / 2, lr.at(4000), 1e-18);
    assertEquals(1e-2 / 10, lr.at(100_000), 1e-18);
    LearningRate ramp = new LearningRate.InverseSqrt(1e-2, 1000, 100);
    assertEquals(0, ramp.at(0));
    assertEquals(0.5e-2, ramp.at(50), 1e-18);
  }

  @Test
  void edm2ScheduleInImagesMatchesEdm2sFunction() {
    long batch = 2048;
    long[] nimg = {0, 2048, 1_000_000, 10_000_000, 143_360_000, 143_362_048, 500_000_000, 8L << 30};
    LearningRate lr = LearningRate.InverseSqrt.edm2(100e-4, 70e3, batch, 10);
    StringBuilder py = new StringBuilder("""
        import numpy as np
        def learning_rate_schedule(cur_nimg, batch_size, ref_lr=100e-4, ref_batches=70e3, rampup_Mimg=10):
            lr = ref_lr
            if ref_batches > 0:
                lr /= np.sqrt(max(cur_nimg / (ref_batches * batch_size), 1))
            if rampup_Mimg > 0:
                lr *= min(cur_nimg / (rampup_Mimg * 1e6), 1)
            return lr
        """);
    for (long n : nimg) py.append("print(repr(float(learning_rate_schedule(").append(n).append(", ").append(batch)
        .append("))))\n");
    String[] ref = PythonRef.run(py.toString()).trim().split("\n");
    for (int i = 0; i < nimg.length; i++) {
      assertEquals(Double.parseDouble(ref[i]), lr.at(nimg[i]), "cur_nimg " + nimg[i]);
    }
  }

  @Test
  void cosineWithWarmup() {
    LearningRate lr = new LearningRate.Cosine(1e-3, 1e-5, 1100, 100);
    assertEquals(0, lr.at(0));
    assertEquals(0.5e-3, lr.at(50), 1e-18);
    assertEquals(1e-3, lr.at(100), 1e-18);
    assertEquals((1e-3 + 1e-5) / 2, lr.at(600), 1e-15);
    assertEquals(1e-5, lr.at(1100), 1e-18);
    assertEquals(1e-5, lr.at(5000), 1e-18);
    // torch.optim.lr_scheduler.CosineAnnealingLR's closed form: η_min + (η − η_min)(1 + cos(πt/T))/2
    LearningRate c = LearningRate.Cosine.of(0.1, 200);
    for (long t = 0; t <= 200; t += 7) {
      assertEquals(0.1 * (1 + Math.cos(Math.PI * t / 200)) / 2, c.at(t), 1e-15);
    }
    assertThrows(IllegalArgumentException.class, () -> new LearningRate.Cosine(1, 0, 10, 10));
  }
}
