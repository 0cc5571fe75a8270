package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.Module;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * lr_decay_batches (ECT imgnet's --decay: EDM2's learning_rate_schedule) and precond.sigma_min 0 (ECT imgnet's Precond:
 * EDM's boundary in every mode).
 */
class LrDecayTest {
  /** locuslab/ect imgnet 75aa88a training/ct_training_loop.py learning_rate_schedule, written out again. */
  static double upstream(long curNimg, int batchSize, double refLr, double refBatches, double rampupKimg) {
    double lr = refLr;
    if (refBatches > 0) lr /= Math.sqrt(Math.max(curNimg / (refBatches * batchSize), 1));
    if (rampupKimg > 0) lr *= Math.min(curNimg / (rampupKimg * 1e3), 1);
    return lr;
  }

  @Test
  void theDecayIsEdm2sInverseSquareRoot() {
    TrainingOptions o = Presets.get("imagenet64-ect-s");
    assertEquals(2000, o.lrDecayBatches());
    double lr = o.optimizer().lr();
    int b = o.batch(); // 128
    for (long it : new long[] {0, 1, 1999, 2000, 2001, 8000, 100_000}) {
      long images = it * b;
      assertEquals(upstream(images, b, lr, 2000, 0), TrainingLoop.lrAt(o, lr, images), 1e-15, "iteration " + it);
    }
    assertEquals(lr, TrainingLoop.lrAt(o, lr, 2000L * b), 0, "constant until ref_batches iterations");
    assertEquals(lr / 2, TrainingLoop.lrAt(o, lr, 8000L * b), 1e-15, "halved at 4 × ref_batches");
    TrainingOptions ramp = o.with(Map.of("lr_rampup_kimg", "10"));
    for (long images : new long[] {0, 5000, 10_000, 256_000, 1_024_000}) {
      assertEquals(upstream(images, b, lr, 2000, 10), TrainingLoop.lrAt(ramp, lr, images), 1e-15, "images " + images);
    }
    TrainingOptions none = o.with(Map.of("lr_decay_batches", "0"));
    assertEquals(lr, TrainingLoop.lrAt(none, lr, 1L << 40), 0, "0: no decay");
    assertEquals(0, Presets.get("cifar10-ect").lrDecayBatches(), "off by default");
    OptionException e = assertThrows(OptionException.class, () -> o.with(Map.of("lr_decay_batches", "-1")));
    assertEquals("lr_decay_batches", e.key());
  }

  @Test
  void sigmaMinZeroIsEdmsBoundaryInEvalMode() {
    TrainingOptions o = AugmentTrainingTest.small(Map.of("precond.sigma_min", "0"));
    RunObjective r = RunObjective.create(o, (cfg, s) -> Builders.network(cfg, 8, 1, s), 1, Device.CPU);
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad(); Generator gen = Generator.cpu(3)) {
      Module m = AugmentTrainingTest.randomised(r.model(), gen);
      EDMPrecond ect = (EDMPrecond) m;
      ect.eval();
      EDMPrecond edm = new EDMPrecond(RunObjective.asNet((Module) ect.network()), 0.5, 0, 80, EDMPrecond.Boundary.EDM);
      Tensor x = Tensor.randn(new long[] {2, 1, 8, 8}, DType.FLOAT32, Device.CPU, gen);
      Tensor sigma = Tensor.of(new float[] {0.01f, 3f}, 2);
      assertEquals(0, ect.denoise(x, sigma, null).sub(edm.denoise(x, sigma, null)).abs().amax(false).item(),
          "eval mode, sigma_min 0: EDM's c_skip and c_out");
      TrainingOptions shifted = AugmentTrainingTest.small(Map.of());
      assertTrue(shifted.precond().sigmaMin() > 0);
    } finally {
      r.model().close();
    }
    OptionException e = assertThrows(OptionException.class, () -> AugmentTrainingTest.small(Map.of("precond.sigma_min",
        "0", "objective", "{\"kind\": \"ct\"}")));
    assertEquals("precond.sigma_min", e.key());
    assertThrows(OptionException.class, () -> AugmentTrainingTest.small(Map.of("precond.sigma_min", "-0.1")));
  }
}
