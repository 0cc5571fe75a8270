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
import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The MeanFlow toy study of docs/toy2d.md (MeanFlow section): MeanFlowToyLearningTest's setup (the same data, MLP,
 * seeds, EMA and evaluation: 1-step SW2 of 8,000 EMA samples for the latents of Generator.cpu(100) against fresh
 * data) with every factor settable, one run per invocation. Prints one RESULT line: the settings, the 1-step SW2,
 * the 2-step SW2 at each t_mid, the noise floor, and the training's thread CPU time.
 *
 * <p>Usage (compiled cm-core and bindings classes, jackson on the class path, as bench/toy2d_study.sh):
 * {@code java -cp ... bench/MeanFlowToyStudy.java key=value ...}; keys and defaults in {@link #DEFAULTS}.
 */
public class MeanFlowToyStudy {
  static final Map<String, String> DEFAULTS = new LinkedHashMap<>();

  static {
    String[] kv = {"toy", "gauss", "pmt", "-0.4", "pst", "1.0", "pmr", "-0.4", "psr", "1.0", "ratio", "0.75",
        "sampler", "v0", "p", "1.0", "eps", "0.01", "c", "1", "lr", "1e-3", "lr2", "3e-4", "decay", "4000",
        "warmup", "0", "iters", "6000", "ema", "0.998", "batch", "128", "loss", "u", "hidden", "96", "blocks", "3",
        "emb", "32", "seed", "1", "mids", "0.5", "beta2", "0.999", "objective", "meanflow"};
    for (int i = 0; i < kv.length; i += 2) DEFAULTS.put(kv[i], kv[i + 1]);
  }

  static final int EVAL = 8000;
  static final double[][] CENTERS = new double[8][2];

  static {
    for (int k = 0; k < 8; k++) {
      CENTERS[k][0] = 0.7 * Math.cos(2 * Math.PI * k / 8);
      CENTERS[k][1] = 0.7 * Math.sin(2 * Math.PI * k / 8);
    }
  }

  /** learning/Toy.sample: eight Gaussians of std 0.05 on a circle of radius 0.7. */
  static double[] gauss(int n, Random r) {
    double[] a = new double[2 * n];
    for (int i = 0; i < n; i++) {
      int k = r.nextInt(8);
      a[2 * i] = CENTERS[k][0] + 0.05 * r.nextGaussian();
      a[2 * i + 1] = CENTERS[k][1] + 0.05 * r.nextGaussian();
    }
    return a;
  }

  /** MeanFlowToyLearningTest.spiral. */
  static double[] spiral(int n, Random r) {
    double[] x = new double[2 * n];
    for (int i = 0; i < n; i++) {
      double s = Math.sqrt(r.nextDouble());
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

  static double sw2(TwoTimeNetwork net, double[] ref, double[] times) {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Tensor z = Tensor.randn(new long[] {EVAL, 2}, DType.FLOAT32, Device.CPU, Generator.cpu(100));
      return SlicedWasserstein.sw2(MeanFlow.sample(net, z, times, null).toDoubleArray(), ref, 2, 200, 7);
    }
  }

  public static void main(String[] args) {
    Map<String, String> a = new LinkedHashMap<>(DEFAULTS);
    for (String s : args) {
      int i = s.indexOf('=');
      if (i < 0 || !a.containsKey(s.substring(0, i))) throw new IllegalArgumentException("unknown setting " + s);
      a.put(s.substring(0, i), s.substring(i + 1));
    }
    Torch.load();
    Torch.setNumThreads(1);
    boolean spiral = a.get("toy").equals("spiral");
    java.util.function.BiFunction<Integer, Random, double[]> data = spiral ? MeanFlowToyStudy::spiral : MeanFlowToyStudy::gauss;
    double[] ref = data.apply(EVAL, new Random(101));
    double floor = SlicedWasserstein.sw2(data.apply(EVAL, new Random(5)), ref, 2, 200, 7);
    MeanFlow.Config cfg = new MeanFlow.Config(d(a, "pmt"), d(a, "pst"), d(a, "pmr"), d(a, "psr"), d(a, "ratio"),
        MeanFlow.TimeSampler.valueOf(a.get("sampler").toUpperCase(Locale.ROOT)), d(a, "p"), d(a, "eps"), 1.0, 0.0, 0.0,
        1.0, 0.0, MeanFlow.LossKind.valueOf(a.get("loss").toUpperCase(Locale.ROOT)));
    MLPDenoiser.Config nc = new MLPDenoiser.Config(2, (int) d(a, "hidden"), (int) d(a, "blocks"), (int) d(a, "emb"), 0,
        true);
    long seed = (long) d(a, "seed");
    if (a.get("objective").equals("sct")) {
      sct(a, data, ref, floor, seed);
      return;
    }
    if (a.get("objective").equals("ect")) {
      ect(a, data, ref, floor, seed);
      return;
    }
    int iters = (int) d(a, "iters");
    int batch = (int) d(a, "batch");
    int decay = (int) d(a, "decay");
    int warmup = (int) d(a, "warmup");
    double lr = d(a, "lr");
    Torch.manualSeed(seed);
    try (TwoTimeNetwork net = new TwoTimeNetwork(new MLPDenoiser(nc), d(a, "c"));
        TwoTimeNetwork ema = new TwoTimeNetwork(new MLPDenoiser(nc), d(a, "c"));
        Adam opt = new Adam(net, Adam.Config.defaults().withLr(lr).withBetas(0.9, d(a, "beta2")))) {
      ema.copyFrom(net);
      ema.eval();
      EMA e = EMA.of(net, List.of(ema), List.of(new EMA.Fixed(d(a, "ema"))));
      MeanFlow mf = new MeanFlow(cfg);
      Generator gen = Generator.cpu(seed + 3);
      Random rnd = new Random(seed + 2);
      long c0 = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
      StringBuilder traj = new StringBuilder();
      for (int it = 0; it < iters; it++) {
        double l = it >= decay ? d(a, "lr2") : lr;
        if (warmup > 0 && it < warmup) l = lr * (it + 1) / warmup;
        opt.setLr(l);
        try (TensorScope s = TensorScope.open()) {
          opt.zeroGrad();
          mf.loss(net, tensor(data.apply(batch, rnd)), null, gen, null).loss().mean().backward();
          opt.step();
          e.update(batch);
        }
        if ((it + 1) % 1500 == 0 && it + 1 < iters) {
          traj.append(String.format(Locale.ROOT, " %d:%.4f", it + 1, sw2(ema, ref, new double[] {1, 0})));
        }
      }
      double cpu = (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - c0) / 1e9;
      double one = sw2(ema, ref, new double[] {1, 0});
      StringBuilder two = new StringBuilder();
      for (String m : a.get("mids").split(",")) {
        two.append(String.format(Locale.ROOT, " %s:%.4f", m, sw2(ema, ref, new double[] {1, Double.parseDouble(m), 0})));
      }
      StringBuilder set = new StringBuilder();
      for (var en : a.entrySet()) {
        if (!en.getValue().equals(DEFAULTS.get(en.getKey())) || en.getKey().equals("toy")) {
          set.append(en.getKey()).append('=').append(en.getValue()).append(' ');
        }
      }
      System.out.printf(Locale.ROOT, "RESULT %s| 1-step %.4f | 2-step%s | floor %.4f | ratio %.2f | cpu %.1f s | traj%s%n",
          set, one, two, floor, one / floor, cpu, traj);
    }
  }

  /**
   * objective=sct: ToyLearningTest.sctFromScratchLearnsTheToyDistribution on the chosen toy (TrigFlow MLP of the same
   * width without the second-time path, AdaptiveWeight(32), SCM (−1.0, 1.4, warm-up 1,500, c 0.1), the same seeds,
   * schedule, EMA and 1-step evaluation), for the like-for-like comparison on the spiral.
   */
  static void sct(Map<String, String> a, java.util.function.BiFunction<Integer, Random, double[]> data, double[] ref,
      double floor, long seed) {
    double sd = 0.5;
    MLPDenoiser.Config nc = new MLPDenoiser.Config(2, (int) d(a, "hidden"), (int) d(a, "blocks"), (int) d(a, "emb"), 0,
        false);
    Torch.manualSeed(seed);
    try (var net = new dev.cm4j.precond.TrigFlowPrecond(new MLPDenoiser(nc), sd,
            dev.cm4j.precond.TrigFlowPrecond.TimeLabel.IDENTITY);
        var emaNet = new dev.cm4j.precond.TrigFlowPrecond(new MLPDenoiser(nc), sd,
            dev.cm4j.precond.TrigFlowPrecond.TimeLabel.IDENTITY);
        var w = new dev.cm4j.precond.AdaptiveWeight(32)) {
      var params = new java.util.ArrayList<>(dev.cm4j.optim.ParamRef.of(net));
      params.addAll(dev.cm4j.optim.ParamRef.of(w));
      try (Adam opt = new Adam(dev.cm4j.optim.ParamGroup.single(params), Adam.Config.defaults().withLr(d(a, "lr")))) {
        emaNet.copyFrom(net);
        emaNet.eval();
        EMA ema = EMA.of(net, List.of(emaNet), List.of(new EMA.Fixed(d(a, "ema"))));
        double tMax = dev.cm4j.sampling.Samplers.trigflowTMax(80, sd);
        var sct = new dev.cm4j.objectives.SCM(new dev.cm4j.objectives.SCM.Config(-1.0, 1.4, 1500, 0.1));
        Random rnd = new Random(seed + 2);
        Generator gen = Generator.cpu(seed + 3);
        int iters = (int) d(a, "iters");
        int batch = (int) d(a, "batch");
        long c0 = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
        for (int it = 0; it < iters; it++) {
          if (it == (int) d(a, "decay")) opt.setLr(d(a, "lr2"));
          try (TensorScope s = TensorScope.open()) {
            opt.zeroGrad();
            sct.loss(net, w, tensor(data.apply(batch, rnd)), null, it, null, gen, null).loss().mean().backward();
            opt.step();
            ema.update(batch);
          }
        }
        double cpu = (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - c0) / 1e9;
        double one;
        try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
          Tensor z = Tensor.randn(new long[] {EVAL, 2}, DType.FLOAT32, Device.CPU, Generator.cpu(100));
          one = SlicedWasserstein.sw2(dev.cm4j.sampling.Samplers.trigflow(emaNet, z, new double[] {tMax}, null, null)
              .toDoubleArray(), ref, 2, 200, 7);
        }
        System.out.printf(Locale.ROOT, "RESULT objective=sct toy=%s | 1-step %.4f | floor %.4f | ratio %.2f | cpu %.1f s%n",
            a.get("toy"), one, floor, one / floor, cpu);
      }
    }
  }

  /**
   * objective=ect: ToyLearningTest.ectFromScratchLearnsTheToyDistribution on the chosen toy (stage −1 with the EDM2
   * weighting and c = 1, then stages 0..6 with the CIFAR-10 loss, 10,500 steps, its learning rates, seeds, EMA and
   * 1-step evaluation).
   */
  static void ect(Map<String, String> a, java.util.function.BiFunction<Integer, Random, double[]> data, double[] ref,
      double floor, long seed) {
    MLPDenoiser.Config nc = new MLPDenoiser.Config(2, (int) d(a, "hidden"), (int) d(a, "blocks"), (int) d(a, "emb"), 0,
        false);
    Torch.manualSeed(seed);
    try (var net = dev.cm4j.precond.EDMPrecond.ect(new MLPDenoiser(nc));
        var emaNet = dev.cm4j.precond.EDMPrecond.ect(new MLPDenoiser(nc));
        Adam opt = new Adam(net, Adam.Config.defaults().withLr(2e-3))) {
      emaNet.copyFrom(net);
      emaNet.eval();
      EMA ema = EMA.of(net, List.of(emaNet), List.of(new EMA.Fixed(d(a, "ema"))));
      var pretrain = new dev.cm4j.objectives.ECT(new dev.cm4j.objectives.ECT.Config(-1.1, 2.0, 2, 8, 1, 1.0,
          dev.cm4j.objectives.ECT.Mapping.SIGMOID, dev.cm4j.objectives.ECT.Weighting.EDM2, 0.5));
      var tune = new dev.cm4j.objectives.ECT(dev.cm4j.objectives.ECT.Config.cifar10());
      Random rnd = new Random(seed + 2);
      Generator gen = Generator.cpu(seed + 3);
      int[] stages = {dev.cm4j.objectives.ECT.DENOISING_STAGE, 0, 1, 2, 3, 4, 5, 6};
      int[] iters = {1500, 500, 500, 1000, 1500, 1500, 2000, 2000};
      double[] lrs = {2e-3, 5e-4, 5e-4, 5e-4, 5e-4, 5e-4, 3e-4, 1.5e-4};
      int batch = (int) d(a, "batch");
      long c0 = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
      for (int st = 0; st < stages.length; st++) {
        opt.setLr(lrs[st]);
        var objective = stages[st] == dev.cm4j.objectives.ECT.DENOISING_STAGE ? pretrain : tune;
        for (int it = 0; it < iters[st]; it++) {
          try (TensorScope s = TensorScope.open()) {
            opt.zeroGrad();
            objective.loss(net, tensor(data.apply(batch, rnd)), null, stages[st], gen, null).mean().backward();
            opt.step();
            ema.update(batch);
          }
        }
      }
      double cpu = (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - c0) / 1e9;
      double one;
      try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
        Tensor z = Tensor.randn(new long[] {EVAL, 2}, DType.FLOAT32, Device.CPU, Generator.cpu(100));
        one = SlicedWasserstein.sw2(dev.cm4j.sampling.Samplers.consistency(emaNet, z, new double[] {80}, null, 0, null)
            .toDoubleArray(), ref, 2, 200, 7);
      }
      System.out.printf(Locale.ROOT, "RESULT objective=ect toy=%s | 1-step %.4f | floor %.4f | ratio %.2f | cpu %.1f s%n",
          a.get("toy"), one, floor, one / floor, cpu);
    }
  }

  static double d(Map<String, String> a, String k) {
    return Double.parseDouble(a.get(k));
  }
}
