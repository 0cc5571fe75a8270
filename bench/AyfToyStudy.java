import dev.cm4j.eval.SlicedWasserstein;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.objectives.AlignYourFlow;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.TrigFlowPrecond;
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
 * The AYF toy study of docs/toy2d.md (Align Your Flow section): AyfToyLearningTest's setup (the same data, analytic
 * teachers, MLP, seeds, EMA and evaluation: SW2 of 8,000 EMA 1-step samples for the latents of Generator.cpu(100)
 * against fresh data) with the AYF settings and the schedule settable, one run per invocation. Prints one RESULT
 * line: the settings that differ from the defaults, the 1-step and 2-step SW2, the noise floor, the CPU time.
 *
 * <p>Usage (as bench/toy2d_study.sh builds the class path): {@code java -cp ... bench/AyfToyStudy.java key=value ...};
 * keys and defaults in {@link #DEFAULTS} (the defaults are the test's settings).
 */
public class AyfToyStudy {
  static final Map<String, String> DEFAULTS = new LinkedHashMap<>();

  static {
    String[] kv = {"toy", "gauss", "loss", "emd", "sampler", "interval", "pm", "-0.8", "ps", "1.0", "c", "0.1",
        "warmup", "1000", "rmax", "0.99", "lr", "1e-3", "lr2", "3e-4", "decay", "4000", "iters", "6000", "ema",
        "0.998", "batch", "128", "seed", "1", "beta2", "0.999", "lrwarmup", "0"};
    for (int i = 0; i < kv.length; i += 2) DEFAULTS.put(kv[i], kv[i + 1]);
  }

  static final int EVAL = 8000;

  static double[] gauss(int n, Random r) {
    double[] a = new double[2 * n];
    for (int i = 0; i < n; i++) {
      int k = r.nextInt(8);
      a[2 * i] = 0.7 * Math.cos(2 * Math.PI * k / 8) + 0.05 * r.nextGaussian();
      a[2 * i + 1] = 0.7 * Math.sin(2 * Math.PI * k / 8) + 0.05 * r.nextGaussian();
    }
    return a;
  }

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

  static double sw2(TwoTimeNetwork net, double[] ref, int steps) {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Tensor z = Tensor.randn(new long[] {EVAL, 2}, DType.FLOAT32, Device.CPU, Generator.cpu(100));
      return SlicedWasserstein.sw2(AlignYourFlow.sample(net, z, steps, null).toDoubleArray(), ref, 2, 200, 7);
    }
  }

  /** AyfToyLearningTest.mixture: the exact EDM denoiser of an equal-weight isotropic Gaussian mixture. */
  static Denoiser mixture(double[][] centers, double std) {
    double[] c = new double[2 * centers.length];
    for (int k = 0; k < centers.length; k++) {
      c[2 * k] = centers[k][0];
      c[2 * k + 1] = centers[k][1];
    }
    return (x, sigma, labels) -> {
      Tensor xd = x.to(DType.FLOAT64);
      Tensor var = TrigFlowPrecond.broadcast(sigma.to(DType.FLOAT64), xd).square().add(std * std);
      Tensor mu = Tensor.of(c, centers.length, 2);
      Tensor diff = xd.unsqueeze(1).sub(mu.unsqueeze(0));
      Tensor w = diff.square().sum(false, 2).div(var.mul(-2.0)).softmax(1).unsqueeze(2);
      Tensor comp = mu.unsqueeze(0).add(diff.mul(var.rdiv(std * std).unsqueeze(2)));
      return comp.mul(w).sum(false, 1).to(x.dtype());
    };
  }

  static double[][] gaussCenters() {
    double[][] c = new double[8][];
    for (int k = 0; k < 8; k++) c[k] = new double[] {0.7 * Math.cos(2 * Math.PI * k / 8), 0.7 * Math.sin(2 * Math.PI * k / 8)};
    return c;
  }

  static double[][] spiralCenters(int perArm) {
    double[][] c = new double[2 * perArm][];
    for (int i = 0; i < perArm; i++) {
      double s = Math.sqrt((i + 0.5) / perArm);
      double th = 0.3 + s * 3 * Math.PI;
      double rad = 0.08 + 0.8 * s;
      c[2 * i] = new double[] {rad * Math.cos(th), rad * Math.sin(th)};
      c[2 * i + 1] = new double[] {rad * Math.cos(th + Math.PI), rad * Math.sin(th + Math.PI)};
    }
    return c;
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
    java.util.function.BiFunction<Integer, Random, double[]> data = spiral ? AyfToyStudy::spiral : AyfToyStudy::gauss;
    double[] ref = data.apply(EVAL, new Random(101));
    double floor = SlicedWasserstein.sw2(data.apply(EVAL, new Random(5)), ref, 2, 200, 7);
    AlignYourFlow.Config cfg = new AlignYourFlow.Config(AlignYourFlow.Loss.valueOf(up(a, "loss")),
        AlignYourFlow.TimeSampler.valueOf(up(a, "sampler")), d(a, "pm"), d(a, "ps"), d(a, "c"), (long) d(a, "warmup"),
        d(a, "rmax"));
    AlignYourFlow.Velocity teacher = AlignYourFlow.fromDenoiser(
        spiral ? mixture(spiralCenters(128), 0.02) : mixture(gaussCenters(), 0.05), 80);
    MLPDenoiser.Config nc = new MLPDenoiser.Config(2, 96, 3, 32, 0, true);
    long seed = (long) d(a, "seed");
    int iters = (int) d(a, "iters");
    int batch = (int) d(a, "batch");
    int decay = (int) d(a, "decay");
    int warmup = (int) d(a, "lrwarmup");
    double lr = d(a, "lr");
    Torch.manualSeed(seed);
    try (TwoTimeNetwork net = new TwoTimeNetwork(new MLPDenoiser(nc));
        TwoTimeNetwork ema = new TwoTimeNetwork(new MLPDenoiser(nc));
        Adam opt = new Adam(net, Adam.Config.defaults().withLr(lr).withBetas(0.9, d(a, "beta2")))) {
      ema.copyFrom(net);
      ema.eval();
      EMA e = EMA.of(net, List.of(ema), List.of(new EMA.Fixed(d(a, "ema"))));
      AlignYourFlow ayf = new AlignYourFlow(cfg);
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
          ayf.loss(net, teacher, tensor(data.apply(batch, rnd)), null, it, gen, null).loss().mean().backward();
          opt.step();
          e.update(batch);
        }
        if ((it + 1) % 1500 == 0 && it + 1 < iters) {
          traj.append(String.format(Locale.ROOT, " %d:%.4f", it + 1, sw2(ema, ref, 1)));
        }
      }
      double cpu = (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - c0) / 1e9;
      double one = sw2(ema, ref, 1);
      String two = String.format(Locale.ROOT, " %.4f", sw2(ema, ref, 2));
      StringBuilder set = new StringBuilder();
      for (var en : a.entrySet()) {
        if (!en.getValue().equals(DEFAULTS.get(en.getKey())) || en.getKey().equals("toy")) {
          set.append(en.getKey()).append('=').append(en.getValue()).append(' ');
        }
      }
      System.out.printf(Locale.ROOT, "RESULT ayf %s| 1-step %.4f | 2-step%s | floor %.4f | ratio %.2f | cpu %.1f s | traj%s%n",
          set, one, two, floor, one / floor, cpu, traj);
    }
  }

  static String up(Map<String, String> a, String k) {
    return a.get(k).toUpperCase(Locale.ROOT);
  }

  static double d(Map<String, String> a, String k) {
    return Double.parseDouble(a.get(k));
  }
}
