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
import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The IMM toy study of docs/algorithms/imm.md §7: ImmToyLearningTest's setup (the same data, MLP, seeds, EMA and
 * evaluation: SW2 of 8,000 EMA pushforward samples for the latents of Generator.cpu(100) against fresh data) with
 * every factor settable, one run per invocation. Prints one RESULT line: the settings that differ from the defaults,
 * the 1-step SW2, the 2-step SW2 at each intermediate η, the noise floor, and the training thread's CPU time.
 *
 * <p>Usage (as bench/toy2d_study.sh builds the class path): {@code java -cp ... bench/ImmToyStudy.java key=value ...};
 * keys and defaults in {@link #DEFAULTS} (the defaults are the test's settings).
 */
public class ImmToyStudy {
  static final Map<String, String> DEFAULTS = new LinkedHashMap<>();

  static {
    String[] kv = {"toy", "gauss", "k", "10", "M", "4", "a", "1", "b", "5", "mapping", "eta", "kernel", "laplace",
        "gap", "0", "param", "simple_edm", "sched", "fm", "temb", "identity", "tmax", "0.994", "eps", "0.006",
        "sd", "0.5", "lr", "1e-3", "lr2", "3e-4", "decay", "4000", "warmup", "0", "iters", "6000", "ema", "0.998",
        "batch", "128", "seed", "1", "mids", "1.4", "beta2", "0.999", "emb", "32"};
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

  static double sw2(IMMPrecond net, double[] ref, double[] midEta) {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Tensor z = Tensor.randn(new long[] {EVAL, 2}, DType.FLOAT32, Device.CPU, Generator.cpu(100));
      double[] times = IMM.pushforwardTimes(net.config(), midEta);
      return SlicedWasserstein.sw2(IMM.sample(net, z, times, null).toDoubleArray(), ref, 2, 200, 7);
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
    java.util.function.BiFunction<Integer, Random, double[]> data = spiral ? ImmToyStudy::spiral : ImmToyStudy::gauss;
    double[] ref = data.apply(EVAL, new Random(101));
    double floor = SlicedWasserstein.sw2(data.apply(EVAL, new Random(5)), ref, 2, 200, 7);
    IMMPrecond.Config pc = new IMMPrecond.Config(IMMPrecond.Schedule.valueOf(up(a, "sched")),
        IMMPrecond.Param.valueOf(up(a, "param")), IMMPrecond.TimeEmbedding.valueOf(up(a, "temb")), d(a, "sd"),
        d(a, "tmax"), d(a, "eps"), 1000);
    IMM.Config cfg = new IMM.Config((int) d(a, "M"), IMM.Mapping.valueOf(up(a, "mapping")), (int) d(a, "k"),
        d(a, "gap"), d(a, "a"), d(a, "b"), 1e-8, IMM.Kernel.valueOf(up(a, "kernel")));
    MLPDenoiser.Config nc = new MLPDenoiser.Config(2, 96, 3, (int) d(a, "emb"), 0, true);
    long seed = (long) d(a, "seed");
    int iters = (int) d(a, "iters");
    int batch = (int) d(a, "batch");
    int decay = (int) d(a, "decay");
    int warmup = (int) d(a, "warmup");
    double lr = d(a, "lr");
    Torch.manualSeed(seed);
    try (IMMPrecond net = new IMMPrecond(new MLPDenoiser(nc), pc);
        IMMPrecond ema = new IMMPrecond(new MLPDenoiser(nc), pc);
        Adam opt = new Adam(net, Adam.Config.defaults().withLr(lr).withBetas(0.9, d(a, "beta2")))) {
      ema.copyFrom(net);
      ema.eval();
      EMA e = EMA.of(net, List.of(ema), List.of(new EMA.Fixed(d(a, "ema"))));
      IMM imm = new IMM(cfg);
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
          imm.loss(net, null, tensor(data.apply(batch, rnd)), null, gen, null).loss().mean().backward();
          opt.step();
          e.update(batch);
        }
        if ((it + 1) % 1500 == 0 && it + 1 < iters) {
          traj.append(String.format(Locale.ROOT, " %d:%.4f", it + 1, sw2(ema, ref, new double[0])));
        }
      }
      double cpu = (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - c0) / 1e9;
      double one = sw2(ema, ref, new double[0]);
      StringBuilder two = new StringBuilder();
      for (String m : a.get("mids").split(",")) {
        two.append(String.format(Locale.ROOT, " %s:%.4f", m, sw2(ema, ref, new double[] {Double.parseDouble(m)})));
      }
      StringBuilder set = new StringBuilder();
      for (var en : a.entrySet()) {
        if (!en.getValue().equals(DEFAULTS.get(en.getKey())) || en.getKey().equals("toy")) {
          set.append(en.getKey()).append('=').append(en.getValue()).append(' ');
        }
      }
      System.out.printf(Locale.ROOT, "RESULT imm %s| 1-step %.4f | 2-step%s | floor %.4f | ratio %.2f | cpu %.1f s | traj%s%n",
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
