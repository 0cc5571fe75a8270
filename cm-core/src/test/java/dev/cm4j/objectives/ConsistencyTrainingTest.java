package dev.cm4j.objectives;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ConsistencyTrainingTest {
  @Test
  void ictDoublingCurriculumAndPseudoHuberConstant() {
    ConsistencyTraining ict = new ConsistencyTraining(ConsistencyTraining.Config.ict(400_000, 3072));
    List<Integer> seen = new ArrayList<>();
    for (long k = 0; k < 400_000; k += 50_000) seen.add(ict.numLevels(k));
    assertEquals(List.of(11, 21, 41, 81, 161, 321, 641, 1281), seen); // docs/algorithms/ctm.md §5.3
    assertEquals(1281, ict.numLevels(400_000));
    assertEquals(0.0299, ict.config().pseudoHuberC(), 5e-5);
    assertEquals(0, ict.targetEmaDecay(123));
  }

  @Test
  void ctProgressiveCurriculumAndAdaptiveEma() {
    ConsistencyTraining ct = new ConsistencyTraining(ConsistencyTraining.Config.ct(800_000));
    assertEquals(2, ct.numLevels(0)); // ⌈√(s0²) − 1⌉ + 1 = s0
    assertEquals(151, ct.numLevels(800_000));
    long k = 200_000;
    int expected = (int) Math.ceil(Math.sqrt(0.25 * (151.0 * 151 - 4) + 4) - 1) + 1;
    assertEquals(expected, ct.numLevels(k));
    assertEquals(Math.exp(2 * Math.log(0.9) / (expected - 1)), ct.targetEmaDecay(k), 1e-15);
    assertEquals(0.9 * 0.9, ct.targetEmaDecay(0), 1e-12); // N = 2: μ = μ0^{s0}
  }

  @Test
  void lognormalPairSamplingMatchesTheErfFormula() {
    ConsistencyTraining ict = new ConsistencyTraining(ConsistencyTraining.Config.ict(400_000, 3072));
    double[] grid = Samplers.karras(11, 0.002, 80, 7);
    double[] p = ict.pairProbabilities(grid);
    double sum = 0;
    for (double v : p) sum += v;
    assertEquals(1, sum, 1e-12);
    // Independent: Φ(ln σ_big) − Φ(ln σ_small) of the log-normal(−1.1, 2) via a numerical CDF.
    for (int i = 0; i < p.length; i++) {
      double hi = cdf((Math.log(grid[i]) + 1.1) / 2);
      double lo = cdf((Math.log(grid[i + 1]) + 1.1) / 2);
      double z = cdf((Math.log(80) + 1.1) / 2) - cdf((Math.log(0.002) + 1.1) / 2);
      assertEquals((hi - lo) / z, p[i], 1e-6, "pair " + i);
    }
    long[] draws = ict.drawPairs(grid, 100_000, new Random(1));
    int[] hist = new int[p.length];
    for (long d : draws) hist[(int) d]++;
    for (int i = 0; i < p.length; i++) assertEquals(p[i], hist[i] / 100_000.0, 0.005);
  }

  /** Standard normal CDF by Simpson integration (independent of erf). */
  static double cdf(double x) {
    int n = 20000;
    double a = -12;
    double h = (x - a) / n;
    double s = 0;
    for (int i = 0; i <= n; i++) {
      double v = a + i * h;
      double f = Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI);
      s += (i == 0 || i == n ? 1 : i % 2 == 1 ? 4 : 2) * f;
    }
    return s * h / 3;
  }

  /** Records the (x, σ) pairs it is called with and returns x·0.9. */
  static final class Recorder implements Denoiser {
    final List<double[]> xs = new ArrayList<>();
    final List<double[]> sigmas = new ArrayList<>();

    @Override
    public Tensor denoise(Tensor x, Tensor sigma, Tensor labels) {
      xs.add(x.toDoubleArray());
      sigmas.add(sigma.toDoubleArray());
      return x.mul(0.9);
    }
  }

  @Test
  void dataSolverUsesTheSameNoiseAndInverseGapWeighting() {
    try (TensorScope s = TensorScope.open()) {
      ConsistencyTraining ict = new ConsistencyTraining(ConsistencyTraining.Config.ict(1000, 2));
      double[] grid = ict.grid(0);
      Recorder student = new Recorder();
      Tensor x = Tensor.of(new double[] {0.1, -0.2, 0.3, 0.4}, 2, 2);
      Tensor z = Tensor.of(new double[] {1, 2, -1, 0.5}, 2, 2);
      long[] pairs = {0, 5};
      double[] loss = ict.loss(student, null, null, x, null, grid, pairs, z, null).toDoubleArray();
      // Calls: student at x + t z, target (= student, θ⁻ = θ) at x + u z with the same z.
      double[] xv = x.toDoubleArray();
      double[] zv = z.toDoubleArray();
      double c = 0.00054 * Math.sqrt(2);
      for (int b = 0; b < 2; b++) {
        double t = grid[(int) pairs[b]];
        double u = grid[(int) pairs[b] + 1];
        assertEquals(xv[2 * b] + t * zv[2 * b], student.xs.get(0)[2 * b], 1e-12);
        assertEquals(xv[2 * b] + u * zv[2 * b], student.xs.get(1)[2 * b], 1e-12);
        assertEquals(u, student.sigmas.get(1)[b], 1e-12);
        double s2 = 0;
        for (int j = 0; j < 2; j++) {
          double a = 0.9 * (xv[2 * b + j] + t * zv[2 * b + j]);
          double bb = 0.9 * (xv[2 * b + j] + u * zv[2 * b + j]);
          s2 += (a - bb) * (a - bb);
        }
        assertEquals((Math.sqrt(s2 + c * c) - c) / (t - u), loss[b], 1e-9);
      }
    }
  }

  @Test
  void cdTakesOneTeacherHeunStepAndTrainsThroughTheConsistencyBoundary() {
    try (TensorScope s = TensorScope.open()) {
      Torch.manualSeed(5);
      EDMPrecond student = EDMPrecond.cm(new MLPDenoiser(new MLPDenoiser.Config(2, 16, 1, 8, 0, false)));
      ConsistencyTraining cd = new ConsistencyTraining(ConsistencyTraining.Config.cd(1000));
      Recorder teacher = new Recorder();
      double[] grid = cd.grid(0);
      assertEquals(18, grid.length);
      Tensor x = Tensor.randn(3, 2);
      Tensor z = Tensor.randn(3, 2);
      long[] pairs = {0, 8, 16};
      Tensor loss = cd.loss(student, null, teacher, x, null, grid, pairs, z, null);
      assertEquals(2, teacher.xs.size(), "one Heun step: two teacher calls");
      assertEquals(grid[8], teacher.sigmas.get(0)[1], 1e-6);
      assertEquals(grid[9], teacher.sigmas.get(1)[1], 1e-6);
      loss.mean().backward();
      assertTrue(student.parameters().stream().anyMatch(p -> p.grad() != null && p.grad().abs().sum().item() > 0));
      // Consistency boundary: f(x, σ_min) = x in training mode too.
      try (GradMode g = GradMode.noGrad()) {
        Tensor y = student.denoise(x, Tensor.full(new long[] {3}, 0.002, DType.FLOAT32, Device.CPU), null);
        assertArrayEquals(x.toFloatArray(), y.toFloatArray(), 1e-6f);
      }
      student.close();
    }
  }

}
