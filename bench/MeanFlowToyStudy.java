import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.objectives.MeanFlow;
import dev.cm4j.optim.Adam;
import dev.cm4j.optim.EMA;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The MeanFlow toy study of docs/toy2d.md (MeanFlow section): MeanFlowToyLearningTest's setup (the same data, MLP,
 * seeds, EMA and evaluation, as {@link ToyStudy}) with every factor settable, one run per invocation. Prints one
 * RESULT line: the settings, the 1-step SW2, the 2-step SW2 at each t_mid ({@code mids}), the noise floor, and the
 * training's thread CPU time. {@code objective=sct} and {@code objective=ect} run the sCT and ECT toy tests' recipes
 * on the chosen toy instead, for the like-for-like comparison.
 *
 * <p>Usage (as bench/toy2d_study.sh builds the class path): {@code java -cp ... bench/MeanFlowToyStudy.java
 * key=value ...}; keys and defaults in {@link #DEFAULTS}.
 */
public class MeanFlowToyStudy {
  static final String[] DEFAULTS = {"toy", "gauss", "pmt", "-0.4", "pst", "1.0", "pmr", "-0.4", "psr", "1.0",
      "ratio", "0.75", "sampler", "v0", "p", "1.0", "eps", "0.01", "c", "1", "lr", "1e-3", "lr2", "3e-4", "decay",
      "4000", "warmup", "0", "iters", "6000", "ema", "0.998", "batch", "128", "loss", "u", "hidden", "96", "blocks",
      "3", "emb", "32", "seed", "1", "mids", "0.5", "beta2", "0.999", "objective", "meanflow"};

  public static void main(String[] args) {
    ToyStudy t = new ToyStudy(DEFAULTS, args);
    if (t.get("objective").equals("sct")) {
      sct(t);
      return;
    }
    if (t.get("objective").equals("ect")) {
      ect(t);
      return;
    }
    MeanFlow mf = new MeanFlow(new MeanFlow.Config(t.d("pmt"), t.d("pst"), t.d("pmr"), t.d("psr"), t.d("ratio"),
        MeanFlow.TimeSampler.valueOf(t.up("sampler")), t.d("p"), t.d("eps"), 1.0, 0.0, 0.0, 1.0, 0.0,
        MeanFlow.LossKind.valueOf(t.up("loss"))));
    MLPDenoiser.Config nc = new MLPDenoiser.Config(2, t.i("hidden"), t.i("blocks"), t.i("emb"), 0, true);
    t.train("", () -> new TwoTimeNetwork(new MLPDenoiser(nc), t.d("c")), "warmup",
        (net, x, it, gen) -> mf.loss(net, x, null, gen, null).loss(),
        ema -> t.sw2(z -> MeanFlow.sample(ema, z, new double[] {1, 0}, null)),
        ema -> {
          StringBuilder two = new StringBuilder();
          for (String m : t.get("mids").split(",")) {
            double[] times = {1, Double.parseDouble(m), 0};
            two.append(String.format(Locale.ROOT, " %s:%.4f", m, t.sw2(z -> MeanFlow.sample(ema, z, times, null))));
          }
          return two.toString();
        });
  }

  /**
   * objective=sct: ToyLearningTest.sctFromScratchLearnsTheToyDistribution on the chosen toy (TrigFlow MLP of the same
   * width without the second-time path, AdaptiveWeight(32), SCM (−1.0, 1.4, warm-up 1,500, c 0.1), the same seeds,
   * schedule, EMA and 1-step evaluation), for the like-for-like comparison on the spiral.
   */
  static void sct(ToyStudy t) {
    double sd = 0.5;
    MLPDenoiser.Config nc = new MLPDenoiser.Config(2, t.i("hidden"), t.i("blocks"), t.i("emb"), 0, false);
    Torch.manualSeed(t.seed);
    try (var net = new dev.cm4j.precond.TrigFlowPrecond(new MLPDenoiser(nc), sd,
            dev.cm4j.precond.TrigFlowPrecond.TimeLabel.IDENTITY);
        var emaNet = new dev.cm4j.precond.TrigFlowPrecond(new MLPDenoiser(nc), sd,
            dev.cm4j.precond.TrigFlowPrecond.TimeLabel.IDENTITY);
        var w = new dev.cm4j.precond.AdaptiveWeight(32)) {
      var params = new java.util.ArrayList<>(dev.cm4j.optim.ParamRef.of(net));
      params.addAll(dev.cm4j.optim.ParamRef.of(w));
      try (Adam opt = new Adam(dev.cm4j.optim.ParamGroup.single(params), Adam.Config.defaults().withLr(t.d("lr")))) {
        emaNet.copyFrom(net);
        emaNet.eval();
        EMA ema = EMA.of(net, List.of(emaNet), List.of(new EMA.Fixed(t.d("ema"))));
        double tMax = dev.cm4j.sampling.Samplers.trigflowTMax(80, sd);
        var sct = new dev.cm4j.objectives.SCM(new dev.cm4j.objectives.SCM.Config(-1.0, 1.4, 1500, 0.1));
        Random rnd = new Random(t.seed + 2);
        Generator gen = Generator.cpu(t.seed + 3);
        int iters = t.i("iters");
        int batch = t.i("batch");
        long c0 = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
        for (int it = 0; it < iters; it++) {
          if (it == t.i("decay")) opt.setLr(t.d("lr2"));
          try (TensorScope s = TensorScope.open()) {
            opt.zeroGrad();
            sct.loss(net, w, ToyStudy.tensor(t.data.apply(batch, rnd)), null, it, null, gen, null).loss().mean().backward();
            opt.step();
            ema.update(batch);
          }
        }
        double cpu = (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - c0) / 1e9;
        double one = t.sw2(z -> dev.cm4j.sampling.Samplers.trigflow(emaNet, z, new double[] {tMax}, null, null));
        System.out.printf(Locale.ROOT, "RESULT objective=sct toy=%s | 1-step %.4f | floor %.4f | ratio %.2f | cpu %.1f s%n",
            t.get("toy"), one, t.floor, one / t.floor, cpu);
      }
    }
  }

  /**
   * objective=ect: ToyLearningTest.ectFromScratchLearnsTheToyDistribution on the chosen toy (stage −1 with the EDM2
   * weighting and c = 1, then stages 0..6 with the CIFAR-10 loss, 10,500 steps, its learning rates, seeds, EMA and
   * 1-step evaluation).
   */
  static void ect(ToyStudy t) {
    MLPDenoiser.Config nc = new MLPDenoiser.Config(2, t.i("hidden"), t.i("blocks"), t.i("emb"), 0, false);
    Torch.manualSeed(t.seed);
    try (var net = dev.cm4j.precond.EDMPrecond.ect(new MLPDenoiser(nc));
        var emaNet = dev.cm4j.precond.EDMPrecond.ect(new MLPDenoiser(nc));
        Adam opt = new Adam(net, Adam.Config.defaults().withLr(2e-3))) {
      emaNet.copyFrom(net);
      emaNet.eval();
      EMA ema = EMA.of(net, List.of(emaNet), List.of(new EMA.Fixed(t.d("ema"))));
      var pretrain = new dev.cm4j.objectives.ECT(new dev.cm4j.objectives.ECT.Config(-1.1, 2.0, 2, 8, 1, 1.0,
          dev.cm4j.objectives.ECT.Mapping.SIGMOID, dev.cm4j.objectives.ECT.Weighting.EDM2, 0.5));
      var tune = new dev.cm4j.objectives.ECT(dev.cm4j.objectives.ECT.Config.cifar10());
      Random rnd = new Random(t.seed + 2);
      Generator gen = Generator.cpu(t.seed + 3);
      int[] stages = {dev.cm4j.objectives.ECT.DENOISING_STAGE, 0, 1, 2, 3, 4, 5, 6};
      int[] iters = {1500, 500, 500, 1000, 1500, 1500, 2000, 2000};
      double[] lrs = {2e-3, 5e-4, 5e-4, 5e-4, 5e-4, 5e-4, 3e-4, 1.5e-4};
      int batch = t.i("batch");
      long c0 = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
      for (int st = 0; st < stages.length; st++) {
        opt.setLr(lrs[st]);
        var objective = stages[st] == dev.cm4j.objectives.ECT.DENOISING_STAGE ? pretrain : tune;
        for (int it = 0; it < iters[st]; it++) {
          try (TensorScope s = TensorScope.open()) {
            opt.zeroGrad();
            objective.loss(net, ToyStudy.tensor(t.data.apply(batch, rnd)), null, stages[st], gen, null).mean().backward();
            opt.step();
            ema.update(batch);
          }
        }
      }
      double cpu = (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - c0) / 1e9;
      double one = t.sw2(z -> dev.cm4j.sampling.Samplers.consistency(emaNet, z, new double[] {80}, null, 0, null));
      System.out.printf(Locale.ROOT, "RESULT objective=ect toy=%s | 1-step %.4f | floor %.4f | ratio %.2f | cpu %.1f s%n",
          t.get("toy"), one, t.floor, one / t.floor, cpu);
    }
  }
}
