package dev.cm4j.learning;

import dev.cm4j.eval.SlicedWasserstein;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.nn.Module;
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
import java.util.function.BiFunction;
import java.util.function.Supplier;

/**
 * What the from-scratch / distillation toy tests of the 2025 objectives share (MeanFlowToyLearningTest,
 * ImmToyLearningTest, AyfToyLearningTest): the two toys with their evaluation sets, the 1-step scoring (sliced
 * Wasserstein-2, 200 directions, of 8,000 samples for the fixed latents of Generator.cpu(100) against fresh data,
 * beside the data's noise floor: a second set of true samples) and the training loop of ToyLearningTest's sCT budget
 * (seed 1, batch 128 from Random(3), objective draws from Generator.cpu(4), Adam 1e-3 → 3e-4 after 4,000 of 6,000
 * steps, EMA 0.998), so that every objective's numbers compare with sCT's and ECT's. Each test keeps only its
 * objective's network, loss and sampler.
 */
final class ToyRuns {
  static final int EVAL = 8000;
  static final int BATCH = 128;
  static final int ITERS = 6000;
  static final int LR_DROP = 4000;
  static final double LR = 1e-3;
  static final double LR_AFTER_DROP = 3e-4;
  static final double EMA_BETA = 0.998;

  private ToyRuns() {}

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

  /** The two toys: training batches from Random(3), the reference set from Random(101), the floor's from Random(5). */
  enum Data {
    EIGHT_GAUSSIANS("eight Gaussians", Toy::sample),
    TWO_ARM_SPIRAL("two-arm spiral", ToyRuns::spiral);

    final String title;
    final BiFunction<Integer, Random, double[]> sampler;

    Data(String title, BiFunction<Integer, Random, double[]> sampler) {
      this.title = title;
      this.sampler = sampler;
    }

    double[] ref() {
      return sampler.apply(EVAL, new Random(101));
    }

    /** SW2 of a second set of true samples against the reference set. */
    double floor() {
      return sw2(sampler.apply(EVAL, new Random(5)), ref());
    }
  }

  static Tensor tensor(double[] x) {
    float[] f = new float[x.length];
    for (int i = 0; i < x.length; i++) f[i] = (float) x[i];
    return Tensor.of(f, x.length / 2, 2);
  }

  /** SW2 (200 directions, seed 7) of samples [n, 2] against ref. */
  static double sw2(double[] samples, double[] ref) {
    return SlicedWasserstein.sw2(samples, ref, 2, 200, 7);
  }

  /** The toy MLP of every two-time objective: 96 wide, 3 blocks, 32-channel embedding, the second time path. */
  static MLPDenoiser twoTimeMlp() {
    return new MLPDenoiser(new MLPDenoiser.Config(2, 96, 3, 32, 0, true));
  }

  /** A sampler of the model: maps the fixed latents z [EVAL, 2] to samples (no gradients). */
  interface Sampler<M> {
    Tensor sample(M model, Tensor z);
  }

  /** One training step's per-sample (or per-group) losses for batch x at iteration it. */
  interface Loss<M> {
    Tensor loss(M net, Tensor x, int it, Generator gen);
  }

  /** SW2 of sampler's samples for the latents of Generator.cpu(100) against ref. */
  static <M> double score(M model, Sampler<M> sampler, double[] ref) {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Tensor z = Tensor.randn(new long[] {EVAL, 2}, DType.FLOAT32, Device.CPU, Generator.cpu(100));
      return sw2(sampler.sample(model, z).toDoubleArray(), ref);
    }
  }

  /** 1-step and 2-step SW2 of the trained EMA model, the noise floor and the untrained (EMA = initial) model. */
  record Outcome(double oneStep, double twoStep, double floor, double untrained, String twoStepName) {
    @Override
    public String toString() {
      return String.format("1-step SW2 %.4f, 2-step%s %.4f (noise floor %.4f, untrained %.4f)", oneStep,
          twoStepName.isEmpty() ? "" : " (" + twoStepName + ")", twoStep, floor, untrained);
    }
  }

  /**
   * Trains a model made by newModel (seed 1; a second one is the EMA copy) with loss on data for {@link #ITERS} steps
   * of the shared budget and scores its EMA copy; prints title, the CPU/wall spent and the outcome.
   */
  static <M extends Module> Outcome train(String title, Supplier<M> newModel, Data data, Loss<M> loss,
      Sampler<M> oneStep, Sampler<M> twoStep, String twoStepName) {
    return train(title, newModel, data, loss, oneStep, twoStep, twoStepName, EMA_BETA);
  }

  /** {@link #train} with the EMA's β emaBeta instead of {@link #EMA_BETA}. */
  static <M extends Module> Outcome train(String title, Supplier<M> newModel, Data data, Loss<M> loss,
      Sampler<M> oneStep, Sampler<M> twoStep, String twoStepName, double emaBeta) {
    Torch.manualSeed(1);
    double[] ref = data.ref();
    try (M net = newModel.get(); M ema = newModel.get();
        Adam opt = new Adam(net, Adam.Config.defaults().withLr(LR))) {
      ema.copyFrom(net);
      ema.eval();
      EMA e = EMA.of(net, List.of(ema), List.of(new EMA.Fixed(emaBeta)));
      double floor = data.floor();
      double before = score(ema, oneStep, ref);
      Random batches = new Random(3);
      Generator gen = Generator.cpu(4);
      ToyLearningTest.Budget budget = new ToyLearningTest.Budget();
      for (int it = 0; it < ITERS; it++) {
        if (it == LR_DROP) opt.setLr(LR_AFTER_DROP);
        try (TensorScope s = TensorScope.open()) {
          opt.zeroGrad();
          loss.loss(net, tensor(data.sampler.apply(BATCH, batches)), it, gen).mean().backward();
          opt.step();
          e.update(BATCH);
        }
      }
      Outcome o = new Outcome(score(ema, oneStep, ref), score(ema, twoStep, ref), floor, before, twoStepName);
      System.out.printf("%s %s (EMA %s): %s of training; %s%n", title, data.title, emaBeta, budget, o);
      return o;
    }
  }
}
