package dev.cm4j.learning;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.eval.SlicedWasserstein;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.objectives.MeanFlow;
import dev.cm4j.optim.Adam;
import dev.cm4j.optim.EMA;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.List;
import java.util.Random;
import java.util.function.IntFunction;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Proof that MeanFlow learns from scratch (docs/algorithms/meanflow.md §6): on the eight Gaussians of {@link Toy} and
 * on a two-arm spiral (thin structure), the <b>1-step</b> samples z_0 = z_1 − u(z_1, 0, 1) of the EMA model, for
 * fixed latents, are scored by sliced Wasserstein-2 against fresh data, next to the data's own noise floor (a second
 * set of true samples) and the untrained model. Same MLP (96 wide, 3 blocks, 32-channel embedding, with the second
 * time path), batch 128, Adam, EMA 0.998 and step count (6,000) as ToyLearningTest's sCT, so the numbers compare with
 * sCT's and ECT's there (eight Gaussians: sCT 0.023, ECT 0.028, floor 0.020). With the settings of
 * {@link #toyConfig} (docs/toy2d.md, MeanFlow section, has the measurements that chose them) the eight Gaussians reach
 * 0.0267, within the 2× the noise floor (asserted; below ECT's, not below sCT's 0.023); the spiral reaches
 * 0.0234 against a floor of 0.0087 (2.7×): <b>not</b> within 2×, so its test asserts the measured level (below 3× the
 * floor) and a clear improvement over the untrained model. 32–52 s of CPU each.
 */
class MeanFlowToyLearningTest {
  static final int EVAL = 8000;
  static final int BATCH = 128;
  static final int ITERS = 6000;

  @BeforeAll
  static void threads() {
    Torch.setNumThreads(1);
  }

  /** A two-arm spiral: radius growing linearly over 1.5 turns, the second arm rotated by π, noise std 0.02. */
  static double[] spiral(int n, Random r) {
    double[] x = new double[2 * n];
    for (int i = 0; i < n; i++) {
      double s = Math.sqrt(r.nextDouble());           // more points further out, where the arm is longer
      double th = 0.3 + s * 3 * Math.PI;
      double rad = 0.08 + 0.8 * s;
      double arm = r.nextBoolean() ? 0 : Math.PI;
      x[2 * i] = rad * Math.cos(th + arm) + 0.02 * r.nextGaussian();
      x[2 * i + 1] = rad * Math.sin(th + arm) + 0.02 * r.nextGaussian();
    }
    return x;
  }

  static Tensor tensor(double[] x) {
    float[] f = new float[x.length];
    for (int i = 0; i < x.length; i++) f[i] = (float) x[i];
    return Tensor.of(f, x.length / 2, 2);
  }

  record Outcome(double sw2, double twoStep, double floor, double untrained) {
    @Override
    public String toString() {
      return String.format("1-step SW2 %.4f (2-step, t_mid 0.5: %.4f; noise floor %.4f, untrained %.4f)", sw2,
          twoStep, floor, untrained);
    }
  }

  /** SW2 of the samples of net along times (e.g. {1, 0}: 1 step) for the fixed latents of Generator.cpu(100). */
  static double sw2(TwoTimeNetwork net, double[] ref, double... times) {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Tensor z = Tensor.randn(new long[] {EVAL, 2}, DType.FLOAT32, Device.CPU, Generator.cpu(100));
      return SlicedWasserstein.sw2(MeanFlow.sample(net, z, times, null).toDoubleArray(), ref, 2, 200, 7);
    }
  }

  static TwoTimeNetwork net() {
    return new TwoTimeNetwork(new MLPDenoiser(new MLPDenoiser.Config(2, 96, 3, 32, 0, true)));
  }

  /** Trains MeanFlow with cfg on data drawn by sample; scores against fresh data. */
  static Outcome train(String what, MeanFlow.Config cfg, IntFunction<double[]> sampleBatch, double[] ref,
      double[] second) {
    Torch.manualSeed(1);
    try (TwoTimeNetwork net = net(); TwoTimeNetwork ema = net();
        Adam opt = new Adam(net, Adam.Config.defaults().withLr(1e-3))) {
      ema.copyFrom(net);
      ema.eval();
      EMA e = EMA.of(net, List.of(ema), List.of(new EMA.Fixed(0.998)));
      double floor = SlicedWasserstein.sw2(second, ref, 2, 200, 7);
      double before = sw2(ema, ref, 1, 0);
      MeanFlow mf = new MeanFlow(cfg);
      Generator gen = Generator.cpu(4);
      ToyLearningTest.Budget budget = new ToyLearningTest.Budget();
      for (int it = 0; it < ITERS; it++) {
        if (it == 4000) opt.setLr(3e-4);
        try (TensorScope s = TensorScope.open()) {
          opt.zeroGrad();
          mf.loss(net, tensor(sampleBatch.apply(BATCH)), null, gen, null).loss().mean().backward();
          opt.step();
          e.update(BATCH);
        }
      }
      Outcome o = new Outcome(sw2(ema, ref, 1, 0), sw2(ema, ref, 1, 0.5, 0), floor, before);
      System.out.printf("MeanFlow %s: %s of training; %s%n", what, budget, o);
      return o;
    }
  }

  /**
   * The toy settings (docs/toy2d.md, MeanFlow section, measured one factor at a time): the paper's CIFAR-10 time sampler
   * (logit-normal (−2, 2) for t and r, ordered, 75 % r ≠ t) with the adaptive weight's power lowered to p = 0.5
   * (c 0.01). On 2-D data p matters: p = 1 makes the loss ‖Δ‖²/(‖Δ‖² + c) ≈ ‖Δ‖, whose minimiser is the conditional
   * <i>median</i> of the velocity, not its mean, and in two dimensions the two differ (p 1 / 0.5 / 0 gave 0.062 / 0.051 /
   * 0.056 on the Gaussians with the JAX defaults' sampler); the (−2, 2) sampler reaches r ≈ 0 and t ≈ 1, the pair the
   * 1-step sampler uses, far more often than (−0.4, 1.0) (0.056 → 0.044 at p 0; 0.027 at p 0.5).
   */
  static MeanFlow.Config toyConfig() {
    return new MeanFlow.Config(-2.0, 2.0, -2.0, 2.0, 0.75, MeanFlow.TimeSampler.V0, 0.5, 0.01, 1.0, 0.0, 0.0, 1.0, 0.0,
        MeanFlow.LossKind.U);
  }

  @Test
  void meanflowLearnsTheEightGaussiansInOneStep() {
    Random data = new Random(3);
    Outcome o = train("eight Gaussians", toyConfig(), n -> Toy.sample(n, data), Toy.sample(EVAL, new Random(101)),
        Toy.sample(EVAL, new Random(5)));
    // Measured (docs/toy2d.md): SW2 0.0267 vs floor 0.0197 (1.35×): the bound, within 2× the noise floor.
    assertTrue(o.sw2() < o.untrained() / 5, "not far below the untrained model: " + o);
    assertTrue(o.sw2() < 2 * o.floor(), "1-step SW2 not within 2× the noise floor: " + o);
  }

  @Test
  void meanflowLearnsTheTwoArmSpiralInOneStep() {
    Random data = new Random(3);
    Outcome o = train("two-arm spiral", toyConfig(), n -> spiral(n, data), spiral(EVAL, new Random(101)),
        spiral(EVAL, new Random(5)));
    // Measured (docs/toy2d.md): SW2 0.0234 vs floor 0.0087 (2.7×) — NOT within 2× the noise floor (the floor of this
    // thin structure is low; 2-step samples get closer); asserted is the measured level with a small margin.
    assertTrue(o.sw2() < o.untrained() / 5, "not far below the untrained model: " + o);
    assertTrue(o.sw2() < 3 * o.floor(), "1-step SW2 above the measured level (3× the noise floor): " + o);
  }
}
