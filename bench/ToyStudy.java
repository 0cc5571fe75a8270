import dev.cm4j.data.Toy2D;
import dev.cm4j.eval.SlicedWasserstein;
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
import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * What the toy studies of docs/toy2d.md and docs/algorithms/imm.md §7 share (MeanFlowToyStudy, ImmToyStudy,
 * AyfToyStudy): the key=value settings over a study's defaults, the two toys of the learning tests (eight Gaussians,
 * the two-arm spiral), the evaluation (SW2 of 8,000 samples for the latents of Generator.cpu(100) against 8,000 fresh
 * points drawn with Random(101); the noise floor is a second fresh set, Random(5), against the same) and the training
 * loop of the learning tests (Adam, a fixed-β EMA, lr then lr2 from iteration `decay`, optional linear lr warm-up,
 * data from Random(seed + 2), the objective's noise from Generator.cpu(seed + 3)).
 *
 * <p>Not launched itself: the JDK's multi-file source launcher (JDK 22+) compiles it beside the study it runs, e.g.
 * {@code java -cp ... bench/ImmToyStudy.java k=12}.
 */
final class ToyStudy {
  static final int EVAL = 8000;

  final Map<String, String> defaults = new LinkedHashMap<>();
  final Map<String, String> settings;
  final boolean spiral;
  final BiFunction<Integer, Random, double[]> data;
  final double[] ref;
  final double floor;
  final long seed;

  /** One training step: the objective's per-sample (or scalar) loss for the batch x at iteration it. */
  interface Step<M extends Module> {
    Tensor loss(M net, Tensor x, int it, Generator gen);
  }

  /**
   * Parses args (key=value, keys from defaultsKv) over the defaults, loads libtorch with one intra-op thread and
   * draws the reference and noise-floor sets of the chosen toy ({@code toy}: gauss or spiral).
   */
  ToyStudy(String[] defaultsKv, String[] args) {
    for (int i = 0; i < defaultsKv.length; i += 2) defaults.put(defaultsKv[i], defaultsKv[i + 1]);
    settings = new LinkedHashMap<>(defaults);
    for (String s : args) {
      int i = s.indexOf('=');
      if (i < 0 || !settings.containsKey(s.substring(0, i))) {
        throw new IllegalArgumentException("unknown setting " + s + " (keys: " + defaults.keySet() + ")");
      }
      settings.put(s.substring(0, i), s.substring(i + 1));
    }
    Torch.load();
    Torch.setNumThreads(1);
    spiral = get("toy").equals("spiral");
    data = spiral ? ToyStudy::spiral : GAUSSIANS::sample;
    ref = data.apply(EVAL, new Random(101));
    floor = SlicedWasserstein.sw2(data.apply(EVAL, new Random(5)), ref, 2, 200, 7);
    seed = (long) d("seed");
  }

  String get(String key) {
    return settings.get(key);
  }

  double d(String key) {
    return Double.parseDouble(settings.get(key));
  }

  int i(String key) {
    return (int) d(key);
  }

  /** The setting in upper case, for Enum.valueOf. */
  String up(String key) {
    return settings.get(key).toUpperCase(Locale.ROOT);
  }

  /** The settings that differ from the defaults, and the toy always: "toy=gauss k=12 ". */
  String changed() {
    StringBuilder set = new StringBuilder();
    for (var en : settings.entrySet()) {
      if (!en.getValue().equals(defaults.get(en.getKey())) || en.getKey().equals("toy")) {
        set.append(en.getKey()).append('=').append(en.getValue()).append(' ');
      }
    }
    return set.toString();
  }

  /** Eight Gaussians of std 0.05 on a circle of radius 0.7 (learning/Toy's; the same draws from the same Random). */
  static final Toy2D GAUSSIANS = new Toy2D.EightGaussians(0.7, 0.05);

  /** The two-arm spiral of the learning tests (learning/ToyRuns). */
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

  /** SW2 of sampler(z) against the reference set, z the fixed evaluation latents, without gradients. */
  double sw2(Function<Tensor, Tensor> sampler) {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Tensor z = Tensor.randn(new long[] {EVAL, 2}, DType.FLOAT32, Device.CPU, Generator.cpu(100));
      return SlicedWasserstein.sw2(sampler.apply(z).toDoubleArray(), ref, 2, 200, 7);
    }
  }

  /**
   * Trains a network from build (seeded with {@code seed}; its EMA copy built the same way) for {@code iters} steps of
   * {@code batch} with step, scoring the EMA with oneStep every 1,500 iterations, then prints the RESULT line:
   * {@code RESULT <name>settings | 1-step x | 2-step <twoStep> | floor f | ratio x/f | cpu s | traj it:x ...}.
   *
   * @param warmupKey the setting that holds the linear lr warm-up length (0: none)
   * @param twoStep the 2-step column, computed from the trained EMA network
   */
  <M extends Module> void train(String name, Supplier<M> build, String warmupKey, Step<M> step,
      ToDoubleFunction<M> oneStep, Function<M, String> twoStep) {
    int iters = i("iters");
    int batch = i("batch");
    int decay = i("decay");
    int warmup = i(warmupKey);
    double lr = d("lr");
    Torch.manualSeed(seed);
    try (M net = build.get();
        M ema = build.get();
        Adam opt = new Adam(net, Adam.Config.defaults().withLr(lr).withBetas(0.9, d("beta2")))) {
      ema.copyFrom(net);
      ema.eval();
      EMA e = EMA.of(net, List.of(ema), List.of(new EMA.Fixed(d("ema"))));
      Generator gen = Generator.cpu(seed + 3);
      Random rnd = new Random(seed + 2);
      long c0 = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
      StringBuilder traj = new StringBuilder();
      for (int it = 0; it < iters; it++) {
        double l = it >= decay ? d("lr2") : lr;
        if (warmup > 0 && it < warmup) l = lr * (it + 1) / warmup;
        opt.setLr(l);
        try (TensorScope s = TensorScope.open()) {
          opt.zeroGrad();
          step.loss(net, tensor(data.apply(batch, rnd)), it, gen).mean().backward();
          opt.step();
          e.update(batch);
        }
        if ((it + 1) % 1500 == 0 && it + 1 < iters) {
          traj.append(String.format(Locale.ROOT, " %d:%.4f", it + 1, oneStep.applyAsDouble(ema)));
        }
      }
      double cpu = (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - c0) / 1e9;
      double one = oneStep.applyAsDouble(ema);
      String two = twoStep.apply(ema);
      System.out.printf(Locale.ROOT, "RESULT %s%s| 1-step %.4f | 2-step%s | floor %.4f | ratio %.2f | cpu %.1f s | traj%s%n",
          name, changed(), one, two, floor, one / floor, cpu, traj);
    }
  }
}
