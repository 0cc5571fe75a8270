package dev.cm4j.learning;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.objectives.IMM;
import dev.cm4j.precond.IMMPrecond;
import dev.cm4j.tensor.Torch;
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
 * <p>Measured (docs/algorithms/imm.md §7; k 10 was the best of 6, 8, 10, 11, 12, 14 on the Gaussians, k 12 of 10, 12, 14
 * on the spiral; M, a, b, the kernel, the mapping's space, the time labels, the parameterisation, lr, its drop and the
 * EMA were also varied, one at a time, without a gain): eight Gaussians 1-step 0.041 (2.1× the floor 0.0197), 2-step
 * 0.027 (1.4×); spiral (k 12) 1-step 0.025 (2.9× the floor 0.0087), 2-step 0.024 (2.8×). The criterion is met
 * by the 2-step samples on the Gaussians (within 2× the floor, below ECT's 1-step 0.028, not below sCT's 0.023) and
 * not by the 1-step samples (on the spiral they are below sCT's 0.0365, not ECT's 0.0201); the tests assert what was
 * measured (fixed seeds, one thread: the numbers repeat on one machine), with a margin. Another CPU can choose other
 * kernels (oneDNN/MKL dispatch by instruction set) and so land elsewhere, about as far as another seed: the bounds cover
 * the seeds and the two machines measured (docs/algorithms/imm.md §7, "Across machines").
 */
class ImmToyLearningTest {
  @BeforeAll
  static void threads() {
    Torch.setNumThreads(1);
  }

  /** The toy settings (docs/algorithms/imm.md §7): the CIFAR-10 choices with k 10 instead of 15 (a 6,000-step budget). */
  static IMMPrecond.Config toyPrecond() {
    return new IMMPrecond.Config(IMMPrecond.Schedule.FM, IMMPrecond.Param.SIMPLE_EDM,
        IMMPrecond.TimeEmbedding.IDENTITY, 0.5, 0.994, 0.006, 1000);
  }

  static IMM.Config toyConfig() {
    return toyConfig(10);
  }

  /** The toy settings with decrement exponent k (the spiral's is 12: docs/algorithms/imm.md §7). */
  static IMM.Config toyConfig(int k) {
    return new IMM.Config(4, IMM.Mapping.ETA, k, 0, 1, 5, 1e-8);
  }

  static IMMPrecond net(IMMPrecond.Config pc) {
    return new IMMPrecond(ToyRuns.twoTimeMlp(), pc);
  }

  /** The 2-step sampler's intermediate noise level η (CIFAR-10's). */
  static final double MID = 1.4;

  /** Trains IMM with pc and cfg on data (ToyRuns' shared budget); 1-step and 2-step (η_1 = MID) samples scored. */
  static ToyRuns.Outcome train(IMMPrecond.Config pc, IMM.Config cfg, ToyRuns.Data data) {
    IMM imm = new IMM(cfg);
    return ToyRuns.train("IMM (" + cfg + ")", () -> net(pc), data,
        (net, x, it, gen) -> imm.loss(net, null, x, null, gen, null).loss(),
        (net, z) -> IMM.sample(net, z, IMM.pushforwardTimes(pc, new double[0]), null),
        (net, z) -> IMM.sample(net, z, IMM.pushforwardTimes(pc, new double[] {MID}), null), "");
  }

  @Test
  void immLearnsTheEightGaussians() {
    ToyRuns.Outcome o = train(toyPrecond(), toyConfig(), ToyRuns.Data.EIGHT_GAUSSIANS);
    assertTrue(o.oneStep() < o.untrained() / 5, "not far below the untrained model: " + o);
    assertTrue(o.twoStep() < 2 * o.floor(), "2-step samples not within 2× the noise floor: " + o);
    assertTrue(o.oneStep() < 0.05, "1-step SW2 above the measured level (0.041, bound 0.05): " + o);
    assertTrue(o.twoStep() < o.oneStep(), "two steps are not better than one: " + o);
  }

  @Test
  void immLearnsTheTwoArmSpiral() {
    ToyRuns.Outcome o = train(toyPrecond(), toyConfig(12), ToyRuns.Data.TWO_ARM_SPIRAL);
    assertTrue(o.oneStep() < o.untrained() / 5, "not far below the untrained model: " + o);
    // measured with k 12, seed 1: 0.0250 / 0.0243 on the machine of the study, 0.0266 / 0.0305 on an AVX-512 Xeon;
    // there seeds 2-4 gave 1-step 0.0220 / 0.0299 / 0.0224, 2-step 0.0306 / 0.0313 / 0.0283 (k 10: 0.033 / 0.025;
    // k 14: 0.097 / 0.023; MeanFlow on the same spiral and budget: 1-step 0.0234; sCT 0.0365, ECT 0.0201)
    assertTrue(o.oneStep() < 0.034, "1-step SW2 above the measured level (0.022-0.030, bound 0.034): " + o);
    assertTrue(o.twoStep() < 0.035, "2-step SW2 above the measured level (0.024-0.031, bound 0.035): " + o);
    assertTrue(o.oneStep() < 0.0365, "1-step SW2 not below sCT's on the spiral (0.0365) at the same budget: " + o);
  }
}
