package dev.cm4j.train;

import dev.cm4j.data.Dataset;
import dev.cm4j.data.ImageDataset;
import dev.cm4j.data.PointDataset;
import dev.cm4j.eval.FeatureNetwork;
import dev.cm4j.eval.FmnistClassifier;
import dev.cm4j.eval.Frechet;
import dev.cm4j.eval.GaussianStats;
import dev.cm4j.eval.ImageSource;
import dev.cm4j.eval.KernelDistance;
import dev.cm4j.eval.Metrics;
import dev.cm4j.eval.SlicedWasserstein;
import dev.cm4j.eval.TorchScriptDetector;
import dev.cm4j.nn.Module;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * In-training evaluation (options.eval, ECT's {@code --metrics} every {@code --eval_every} ticks): the sampled model
 * (the first EMA) generates {@code N} images and each metric's result is appended to {@code metric-<name>.jsonl} in
 * the line format of EDM's/ECT's {@code metric_main.report_metric}: {@code {"results": {name: value}, "metric",
 * "total_time", "total_time_str", "num_gpus", "snapshot_pkl", "timestamp"}}.
 *
 * <p>Image i of an evaluation is drawn from its own generator seeded {@code eval.seed + i} (EDM's per-image seeds,
 * 0…N−1 by default): its latent first, then, for multistep sampling, its re-noising, so an image does not depend on
 * the batch size or on the other images. Sampling runs in batches of eval.batch, multistep too: a stacked generator
 * ({@link Generator#stacked}) draws each row of the samplers' noise from that image's generator. A conditional
 * model samples class-balanced (image i: class i mod C). In a data-parallel run the seeds are split into one
 * contiguous block per rank (ceil(N/W) each); every rank samples its block and computes its features (points: its
 * samples), which are all-gathered, and rank 0 computes the metric from all N in seed order and writes the line — the
 * same numbers as one process, up to the batch-size rounding of the convolutions.
 */
final class InTrainingEval implements AutoCloseable {
  private final EvalOptions eo;
  private final List<EvalOptions.Metric> metrics = new ArrayList<>();
  private final double[] sampleSteps;
  private final DataOptions data;
  private final RunObjective objective;
  private final Dataset dataset;
  private final RunDirectory dir;
  private final Device device;
  private final int numGpus;
  private final int rank;
  private final java.util.function.Function<Tensor, List<Tensor>> gather; // all-gather over the ranks, or null
  private final Consumer<String> log;
  private final Map<String, FeatureNetwork> nets = new HashMap<>(); // by base metric, loaded once
  private final Map<String, GaussianStats> refStats = new HashMap<>();
  private final Map<String, Tensor> refFeatures = new HashMap<>();

  /**
   * Checks the metrics against the data and the files they need (a clear error now rather than at the first
   * evaluation).
   */
  InTrainingEval(TrainingOptions opts, RunObjective objective, Dataset dataset, RunDirectory dir, Device device,
      int numGpus, Consumer<String> log) {
    this(opts, objective, dataset, dir, device, 0, numGpus, null, log);
  }

  /**
   * For rank {@code rank} of {@code world} processes: gather all-gathers a tensor over the ranks (null with one
   * process); dir is rank 0's run directory (null elsewhere: the other ranks compute their share and write nothing).
   */
  InTrainingEval(TrainingOptions opts, RunObjective objective, Dataset dataset, RunDirectory dir, Device device,
      int rank, int world, java.util.function.Function<Tensor, List<Tensor>> gather, Consumer<String> log) {
    int numGpus = world;
    this.rank = rank;
    this.gather = gather;
    if ((gather == null) != (world == 1)) throw new IllegalArgumentException("a gather is needed exactly when world > 1");
    this.eo = opts.eval();
    this.sampleSteps = opts.sampleSteps();
    this.data = opts.data();
    this.objective = objective;
    this.dataset = dataset;
    this.dir = dir;
    this.device = device;
    this.numGpus = numGpus;
    this.log = log;
    boolean points = dataset instanceof PointDataset;
    for (int i = 0; i < eo.metrics().size(); i++) {
      EvalOptions.Metric m = EvalOptions.parse(eo.metrics().get(i));
      String at = "eval.metrics." + i;
      if (points != m.base().equals("swd")) {
        throw new OptionException(at, m.name() + (points ? " needs image data; point data take swd"
            : ": swd compares point samples; image data take fid, kid or fd-fmnist"));
      }
      if (m.base().equals("fid") || m.base().equals("kid")) requireFile("eval.detector", eo.detector(), m.name());
      if (m.base().equals("fd-fmnist")) requireFile("eval.fmnist_net", eo.fmnistNet(), m.name());
      if (eo.ref() != null && !Files.isRegularFile(Path.of(eo.ref()))) {
        throw new OptionException("eval.ref", "no such file: " + eo.ref());
      }
      metrics.add(m);
    }
  }

  private static void requireFile(String key, String file, String metric) {
    if (file == null) throw new OptionException(key, "required by the metric " + metric);
    if (!Files.isRegularFile(Path.of(file))) throw new OptionException(key, "no such file: " + file);
  }

  /** Whether this tick (the number of ticks done) evaluates: every every_ticks ticks, and at the end. */
  boolean due(long ticksDone, boolean done) {
    return !metrics.isEmpty() && ticksDone > 0 && (ticksDone % eo.everyTicks() == 0 || done);
  }

  /** Evaluates every metric on model m (of the objective's structure) and appends the lines. */
  void evaluate(Module m, long images) {
    boolean wasTraining = m.isTraining();
    m.eval();
    Path snap = dir == null ? null : dir.snapshot(images);
    String snapshotName = snap != null && Files.exists(snap) ? snap.getFileName().toString() : null;
    try (GradMode g = GradMode.noGrad()) {
      for (EvalOptions.Metric metric : metrics) {
        long t0 = System.nanoTime();
        double value;
        try (TensorScope s = TensorScope.open()) {
          value = compute(m, metric);
        }
        double sec = (System.nanoTime() - t0) / 1e9;
        if (rank != 0) continue; // rank 0 has the gathered result
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("results", Map.of(metric.name(), value));
        line.put("metric", metric.name());
        line.put("total_time", sec);
        line.put("total_time_str", formatTime(sec));
        line.put("num_gpus", numGpus);
        line.put("snapshot_pkl", snapshotName);
        line.put("timestamp", System.currentTimeMillis() / 1000.0);
        Atomic.append(dir.metric(metric.name()), TickReporter.json(line) + "\n");
        log.accept(String.format(Locale.ROOT, "%s %.6g at %.1f kimg (%d images, %s)", metric.name(), value,
            images / 1000.0, count(metric), formatTime(sec)));
      }
    } finally {
      m.train(wasTraining);
    }
  }

  private int count(EvalOptions.Metric metric) {
    return eo.numImages() > 0 ? eo.numImages() : metric.images();
  }

  private double[] mids(EvalOptions.Metric metric) {
    return metric.steps() == 1 ? new double[0] : sampleSteps;
  }

  private double compute(Module m, EvalOptions.Metric metric) {
    int n = count(metric);
    if (metric.base().equals("swd")) {
      PointDataset data = (PointDataset) dataset;
      int dim = data.dim();
      int k = Math.min(n, data.size());
      Block blk = block(k);
      List<Tensor> parts = new ArrayList<>();
      for (int i = 0; i < Math.max(blk.count, 1); i += eo.batch()) { // an empty block samples one to pad with
        int b = Math.min(eo.batch(), Math.max(blk.count, 1) - i);
        parts.add(samples(m, eo.seed() + (blk.count == 0 ? 0 : blk.start) + i, b, mids(metric)).to(DType.FLOAT64));
      }
      Tensor all = gathered(Tensor.cat(parts, 0), k);
      if (all == null) return Double.NaN; // not rank 0
      double[] gen = all.to(Device.CPU).contiguous().toDoubleArray();
      double[] ref = new double[k * dim];
      float[] p = new float[dim];
      java.util.Random rnd = new java.util.Random(eo.seed() ^ 0x5eedL); // k of the training points, without replacement
      int[] idx = new int[data.size()];
      for (int i = 0; i < idx.length; i++) idx[i] = i;
      for (int i = 0; i < k; i++) {
        int j = i + rnd.nextInt(idx.length - i);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        data.readPoint(idx[i], p, 0);
        for (int c = 0; c < dim; c++) ref[i * dim + c] = p[c];
      }
      return SlicedWasserstein.sw2(gen, ref, dim, eo.projections(), 7);
    }
    FeatureNetwork net = network(metric.base());
    Block blk = block(n);
    ImageSource gen = generated(m, blk.count == 0 ? 0 : blk.start, Math.max(blk.count, 1), mids(metric));
    Tensor features = gathered(Metrics.features(net, gen, eo.batch()), n); // [n, D] float64 on rank 0
    if (features == null) return Double.NaN; // not rank 0
    features = features.to(Device.CPU);
    if (metric.base().equals("kid")) {
      Tensor real = refFeatures.computeIfAbsent(metric.base(), b -> TensorScope.release(
          Metrics.features(net, ImageSource.dataset((ImageDataset) dataset, Integer.MAX_VALUE), eo.batch())));
      return KernelDistance.kid(features, real, KernelDistance.NUM_SUBSETS, KernelDistance.MAX_SUBSET_SIZE, 0);
    }
    GaussianStats ref = refStats.computeIfAbsent(metric.base(), b -> eo.ref() != null && b.equals("fid")
        ? GaussianStats.load(Path.of(eo.ref()))
        : Metrics.stats(net, ImageSource.dataset((ImageDataset) dataset, Integer.MAX_VALUE), eo.batch()));
    try (dev.cm4j.eval.FeatureStats fs = new dev.cm4j.eval.FeatureStats()) {
      fs.add(features);
      return Frechet.distance(fs.stats(), ref);
    }
  }

  /** This rank's block of the n seeds: images start … start + count − 1 (count may be 0 when n < ranks). */
  private record Block(int start, int count, int per) {}

  private Block block(int n) {
    int per = (n + numGpus - 1) / numGpus;
    int start = rank * per;
    return new Block(start, Math.max(0, Math.min(per, n - start)), per);
  }

  /**
   * The rows of every rank's block [count_r or 1, D] in seed order, [n, D], on rank 0 (null on the others); local
   * itself with one process. Blocks are padded to the same length for the all-gather (a collective on the device).
   */
  private Tensor gathered(Tensor local, int n) {
    if (gather == null) return local;
    Block mine = block(n);
    long d = local.shape()[1];
    Tensor rows = local.slice(0, 0, mine.count, 1);
    Tensor padded = mine.count == mine.per ? rows
        : Tensor.cat(List.of(rows, Tensor.zeros(new long[] {mine.per - mine.count, d}, local.dtype(), local.device())), 0);
    List<Tensor> all = gather.apply(padded.to(device).contiguous());
    if (rank != 0) {
      for (Tensor t : all) t.close();
      return null;
    }
    List<Tensor> parts = new ArrayList<>();
    for (int r = 0; r < all.size(); r++) {
      int start = r * mine.per;
      int count = Math.max(0, Math.min(mine.per, n - start));
      parts.add(all.get(r).slice(0, 0, count, 1));
    }
    return Tensor.cat(parts, 0);
  }

  private FeatureNetwork network(String base) {
    return nets.computeIfAbsent(base.equals("kid") ? "fid" : base, b -> {
      if (b.equals("fd-fmnist")) {
        FmnistClassifier c = FmnistClassifier.load(Path.of(eo.fmnistNet()));
        if (device.equals(Device.CPU)) return c;
        c.to(device, null);
        return new FeatureNetwork() {
          @Override
          public Tensor features(Tensor images) {
            return c.features(images.to(device));
          }

          @Override
          public String name() {
            return c.name();
          }

          @Override
          public void close() {
            c.close();
          }
        };
      }
      return TorchScriptDetector.load(Path.of(eo.detector()), device);
    });
  }

  /** n generated images from image start on as uint8 batches, image i from seed eval.seed + i. */
  private ImageSource generated(Module m, int start, int n, double[] mids) {
    return new ImageSource() {
      @Override
      public long size() {
        return n;
      }

      @Override
      public void forEach(int batch, Consumer<Tensor> sink) {
        for (int i = 0; i < n; i += batch) {
          try (TensorScope sc = TensorScope.open()) {
            sink.accept(ImageSource.toUInt8(samples(m, eo.seed() + start + i, Math.min(batch, n - i), mids)));
          }
        }
      }
    };
  }

  /**
   * Samples for seeds first … first + count − 1 in one batch: image i has its own generator on the run's device
   * ({@link Generator#stacked}, EDM's StackedRandomGenerator), which draws its latent and then, multistep, its
   * re-noising at each step, so an image is independent of how the seeds are batched. A conditional model samples
   * class-balanced (EDM2/ECT-style): image {@code first − eval.seed} gets class (first − eval.seed) mod C.
   */
  Tensor samples(Module m, long first, int count, double[] mids) {
    long[] item = itemShape();
    long[] shape = new long[item.length + 1];
    shape[0] = count;
    System.arraycopy(item, 0, shape, 1, item.length);
    try (Generator rnd = Generator.stacked(device, first, count)) {
      Tensor z = Tensor.randn(shape, DType.FLOAT32, device, rnd);
      Tensor labels = objective.labelDim == 0 ? null : dev.cm4j.sampling.ClassLabels.oneHot(
          dev.cm4j.sampling.ClassLabels.BALANCED.classes(first - eo.seed(), count, objective.labelDim, null),
          objective.labelDim, device);
      return objective.sample(m, z, mids, labels, 1, null, rnd);
    }
  }

  private long[] itemShape() {
    if (dataset instanceof PointDataset p) return new long[] {p.dim()};
    ImageDataset img = (ImageDataset) dataset;
    long res = data.resolutionOr(img.resolution()); // the trained resolution (images padded to it)
    return new long[] {img.channels(), res, res};
  }

  /** EDM's dnnlib.util.format_time: "42s", "3m 07s", "2h 05m 09s", "1d 02h 03m" (seconds rounded half to even). */
  static String formatTime(double seconds) {
    long s = (long) Math.rint(seconds);
    if (s < 60) return s + "s";
    if (s < 3600) return String.format(Locale.ROOT, "%dm %02ds", s / 60, s % 60);
    if (s < 86400) return String.format(Locale.ROOT, "%dh %02dm %02ds", s / 3600, (s / 60) % 60, s % 60);
    return String.format(Locale.ROOT, "%dd %02dh %02dm", s / 86400, (s / 3600) % 24, (s / 60) % 60);
  }

  @Override
  public void close() {
    for (FeatureNetwork n : nets.values()) {
      try {
        n.close();
      } catch (Exception e) {
        // closing frees native memory only
      }
    }
    for (Tensor t : refFeatures.values()) t.close();
  }
}
