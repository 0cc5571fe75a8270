package dev.cm4j.learning;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.eval.SlicedWasserstein;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.objectives.IMM;
import dev.cm4j.optim.Adam;
import dev.cm4j.optim.EMA;
import dev.cm4j.precond.IMMPrecond;
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
 * Proof that IMM learns from scratch (docs/algorithms/imm.md §7): on the eight Gaussians of {@link Toy} and on
 * MeanFlowToyLearningTest's two-arm spiral, the 1-step and 2-step pushforward samples of the EMA model, for fixed
 * latents, are scored by sliced Wasserstein-2 against fresh data, next to the data's own noise floor (a second set of
 * true samples) and the untrained model. Same MLP (96 wide, 3 blocks, 32-channel embedding, second time path), batch
 * 128, Adam 1e-3 → 3e-4, EMA 0.998 and step count (6,000) as ToyLearningTest's sCT and MeanFlowToyLearningTest, so the
 * numbers compare with theirs (eight Gaussians: sCT 0.023, ECT 0.028, floor 0.020).
 *
 * <p>Measured (docs/algorithms/imm.md §7; k 10 was the best of 6, 8, 10, 12, 14 on the Gaussians): eight Gaussians
 * 1-step 0.041 (2.1× the floor 0.0197), 2-step 0.027 (1.4×); spiral 1-step 0.033 (3.8× the floor 0.0087), 2-step 0.025
 * (2.9×). The criterion is met by the 2-step samples on the Gaussians (within 2× the floor, below ECT's
 * 1-step 0.028, not below sCT's 0.023) and not by the 1-step samples or on the spiral; the tests assert what was
 * measured (fixed seeds, one thread: the numbers repeat), with a margin.
 */
class ImmToyLearningTest {
  static final int EVAL = 8000;
  static final int BATCH = 128;
  static final int ITERS = 6000;

  @BeforeAll
  static void threads() {
    Torch.setNumThreads(1);
  }

  record Outcome(double oneStep, double twoStep, double floor, double untrained) {
    @Override
    public String toString() {
      return String.format("1-step SW2 %.4f, 2-step %.4f (noise floor %.4f, untrained %.4f)", oneStep, twoStep, floor,
          untrained);
    }
  }

  static double sw2(IMMPrecond net, double[] ref, double[] midEta) {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Tensor z = Tensor.randn(new long[] {EVAL, 2}, DType.FLOAT32, Device.CPU, Generator.cpu(100));
      double[] times = IMM.pushforwardTimes(net.config(), midEta);
      return SlicedWasserstein.sw2(IMM.sample(net, z, times, null).toDoubleArray(), ref, 2, 200, 7);
    }
  }

  /** The toy settings (docs/algorithms/imm.md §7): the CIFAR-10 choices with k 10 instead of 15 (a 6,000-step budget). */
  static IMMPrecond.Config toyPrecond() {
    return new IMMPrecond.Config(IMMPrecond.Schedule.FM, IMMPrecond.Param.SIMPLE_EDM,
        IMMPrecond.TimeEmbedding.IDENTITY, 0.5, 0.994, 0.006, 1000);
  }

  static IMM.Config toyConfig() {
    return new IMM.Config(4, IMM.Mapping.ETA, 10, 0, 1, 5, 1e-8);
  }

  static IMMPrecond net(IMMPrecond.Config pc) {
    return new IMMPrecond(new MLPDenoiser(new MLPDenoiser.Config(2, 96, 3, 32, 0, true)), pc);
  }

  /** The 2-step sampler's intermediate noise level η (CIFAR-10's). */
  static final double MID = 1.4;

  static Outcome train(String what, IMMPrecond.Config pc, IMM.Config cfg, IntFunction<double[]> sampleBatch,
      double[] ref, double[] second) {
    Torch.manualSeed(1);
    double lr = 1e-3;
    try (IMMPrecond net = net(pc); IMMPrecond ema = net(pc);
        Adam opt = new Adam(net, Adam.Config.defaults().withLr(lr))) {
      ema.copyFrom(net);
      ema.eval();
      EMA e = EMA.of(net, List.of(ema), List.of(new EMA.Fixed(0.998)));
      double floor = SlicedWasserstein.sw2(second, ref, 2, 200, 7);
      double before = sw2(ema, ref, new double[0]);
      IMM imm = new IMM(cfg);
      Generator gen = Generator.cpu(4);
      ToyLearningTest.Budget budget = new ToyLearningTest.Budget();
      for (int it = 0; it < ITERS; it++) {
        if (it == 4000) opt.setLr(3e-4);
        try (TensorScope s = TensorScope.open()) {
          opt.zeroGrad();
          imm.loss(net, null, MeanFlowToyLearningTest.tensor(sampleBatch.apply(BATCH)), null, gen, null).loss().mean()
              .backward();
          opt.step();
          e.update(BATCH);
        }
      }
      Outcome o = new Outcome(sw2(ema, ref, new double[0]), sw2(ema, ref, new double[] {MID}), floor, before);
      System.out.printf("IMM %s (%s): %s of training; %s%n", what, cfg, budget, o);
      return o;
    }
  }

  @Test
  void immLearnsTheEightGaussians() {
    Random data = new Random(3);
    Outcome o = train("eight Gaussians", toyPrecond(), toyConfig(), n -> Toy.sample(n, data),
        Toy.sample(EVAL, new Random(101)), Toy.sample(EVAL, new Random(5)));
    assertTrue(o.oneStep() < o.untrained() / 5, "not far below the untrained model: " + o);
    assertTrue(o.twoStep() < 2 * o.floor(), "2-step samples not within 2× the noise floor: " + o);
    assertTrue(o.oneStep() < 0.05, "1-step SW2 above the measured level (0.041, bound 0.05): " + o);
    assertTrue(o.twoStep() < o.oneStep(), "two steps are not better than one: " + o);
  }

  @Test
  void immLearnsTheTwoArmSpiral() {
    Random data = new Random(3);
    Outcome o = train("two-arm spiral", toyPrecond(), toyConfig(), n -> MeanFlowToyLearningTest.spiral(n, data),
        MeanFlowToyLearningTest.spiral(EVAL, new Random(101)), MeanFlowToyLearningTest.spiral(EVAL, new Random(5)));
    assertTrue(o.oneStep() < o.untrained() / 5, "not far below the untrained model: " + o);
    // measured 0.033 / 0.025 (MeanFlow on the same spiral and budget: 1-step 0.053)
    assertTrue(o.oneStep() < 0.04, "1-step SW2 above the measured level (bound 0.04): " + o);
    assertTrue(o.twoStep() < 0.03, "2-step SW2 above the measured level (bound 0.03): " + o);
  }
}
