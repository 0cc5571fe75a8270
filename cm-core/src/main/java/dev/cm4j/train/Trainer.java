package dev.cm4j.train;

import dev.cm4j.data.Batch;
import dev.cm4j.data.Dataset;
import dev.cm4j.data.ImageDataset;
import dev.cm4j.data.Loader;
import dev.cm4j.data.LoaderConfig;
import dev.cm4j.data.LoaderState;
import dev.cm4j.data.PointDataset;
import dev.cm4j.image.ImageGrid;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Module;
import dev.cm4j.optim.EMA;
import dev.cm4j.optim.NanToNum;
import dev.cm4j.optim.Optimizer;
import dev.cm4j.tensor.Autocast;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The training loop (EDM's training_loop / ECT's ct_training_loop): a run directory {@code NNNNN-desc/} with
 * training_options.json, log.txt, stats.jsonl (one record per tick), loss.png, sample grids (1-step and multistep,
 * fixed seeds) and EMA network snapshots per snapshot tick, and training-state files (parameters, optimizer, EMAs,
 * RNG, data-sampler position, images seen). Every file is written atomically. Resuming from a state reproduces the
 * uninterrupted run bit for bit on the CPU. SIGINT/SIGTERM finish the step, write a state and end the run cleanly.
 */
public final class Trainer implements AutoCloseable {
  private static final Pattern STATE_FILE = Pattern.compile("training-state-(\\d+)\\.safetensors");

  private final TrainingOptions opts;
  private final Path runDir;
  private final PrintStream console;
  private final Dataset dataset;
  private final Loader loader;
  private final RunObjective objective;
  private final Module model;
  private final List<Module> emaModels = new ArrayList<>();
  private final EMA ema;
  private final Optimizer optimizer;
  private final Generator sampleGen = Generator.cpu(0);
  private final int rounds;
  private final int batchGpu;
  private long images;
  private long iteration;
  private long tick;
  private final List<Map<String, Object>> history = new ArrayList<>();
  private volatile boolean stopRequested;
  private final CountDownLatch finished = new CountDownLatch(1);
  private final DataParallel dp; // null: one process
  private final boolean writer;  // rank 0 writes the run directory and prints
  private final String initReport; // what init_from loaded, logged at the start
  private final LossScaler scaler;  // fp16 only
  private final Device.Type deviceType;
  private final Progress progress;

  /**
   * Observes the training loop: {@link #run()} calls it on the training thread around every optimizer step (also
   * around a step that is skipped for a non-finite loss or an fp16 overflow). A listener may block in
   * {@link StepListener#beforeStep} (e.g. to pace the loop); an exception it throws ends {@code run()}.
   */
  public interface StepListener {
    /** Before the step with this (0-based) iteration number, when {@code images} images have been trained on. */
    default void beforeStep(long iteration, long images) {}

    /** After that step (optimizer, objective and EMA updates done), with the step's mean loss. */
    default void afterStep(long iteration, long images, double loss) {}
  }

  private volatile StepListener stepListener = new StepListener() {};

  /** Sets the listener called around every step (null: none). */
  public void setStepListener(StepListener l) {
    stepListener = l == null ? new StepListener() {} : l;
  }

  /** What a finished (or stopped) run reports. */
  public record Result(Path runDir, long images, long iterations, boolean interrupted, double lastLoss) {}

  private Trainer(TrainingOptions opts, Path runDir, PrintStream console, Path resumeState, DataParallel dp) {
    this.opts = opts;
    this.runDir = runDir;
    this.console = console;
    this.dp = dp;
    this.writer = dp == null || dp.rank() == 0;
    int rank = dp == null ? 0 : dp.rank();
    int world = dp == null ? 1 : dp.world();
    if (opts.threads() > 0) Torch.setNumThreads(opts.threads());
    Torch.manualSeed(opts.seed());
    dataset = Builders.dataset(opts.data());
    int resolution;
    int channels;
    if (dataset instanceof ImageDataset img) {
      resolution = opts.data().resolutionOr(img.resolution());
      channels = img.channels();
    } else if (dataset instanceof PointDataset pd) {
      resolution = 0;
      channels = pd.dim();
    } else {
      throw new IllegalArgumentException("unsupported dataset type " + dataset.getClass().getSimpleName());
    }
    if (opts.batch() % world != 0) {
      throw new IllegalArgumentException("batch " + opts.batch() + " is not divisible by the " + world + " processes");
    }
    int local = opts.batch() / world;
    batchGpu = opts.batchGpu() > 0 ? opts.batchGpu() : local;
    if (local % batchGpu != 0) {
      throw new IllegalArgumentException("batch_gpu " + batchGpu + " does not divide the per-process batch " + local
          + " (batch " + opts.batch() + " over " + world + " processes)");
    }
    rounds = local / batchGpu;
    LoaderConfig lc = new LoaderConfig(batchGpu, opts.seed(), true, true, opts.data().xflip(),
        resolution == 0 ? 0 : resolution, LoaderConfig.Resize.PAD, false, rank, world, 2);
    objective = RunObjective.create(opts, (cfg, sEmb) -> Builders.network(cfg, resolution, channels, sEmb),
        opts.seed());
    objective.shardRank = rank;
    objective.shardWorld = world;
    model = objective.model();
    model.train(true);
    String initReport = null;
    String initPath = opts.initFrom() != null ? opts.initFrom() : objective.defaultInit();
    if (initPath != null && resumeState == null) {
      var r = InitFrom.apply(model, Path.of(initPath));
      initReport = InitFrom.summary(Path.of(initPath), r, model.namedState().size());
    }
    List<EMA.Beta> rules = Builders.emaRules(opts.ema());
    for (int i = 0; i < rules.size(); i++) {
      Module copy = RunObjective.create(opts, (cfg, sEmb) -> Builders.network(cfg, resolution, channels, sEmb),
          opts.seed()).model();
      copy.copyFrom(model);
      copy.eval();
      copy.requiresGrad_(false);
      emaModels.add(copy);
    }
    ema = rules.isEmpty() ? null : EMA.of(model, emaModels, rules);
    optimizer = Builders.optimizer(opts.optimizer(), model);
    LoaderState state = null;
    this.initReport = initReport;
    scaler = opts.precision().equals("fp16") ? LossScaler.defaults() : null;
    deviceType = model.namedParameters().values().iterator().next().get().device().type();
    progress = dp == null || dp.rank() == 0 ? Progress.forConsole(console) : new Progress(console, false);
    if (resumeState != null) state = restore(resumeState).reshard(rank, world);
    loader = state == null ? Loader.open(dataset, lc) : Loader.open(dataset, lc, state);
    if (dp != null) {
      List<Module> all = new ArrayList<>();
      all.add(model);
      all.addAll(emaModels);
      dp.broadcast(all);
      // dropout and other draws of the global generator differ per rank (as EDM seeds each rank differently)
      Torch.manualSeed(dev.cm4j.data.SplitMix64.derive(opts.seed() + iteration, rank));
    }
  }

  /** Starts a new run in a fresh NNNNN-desc directory under outdir. */
  public static Trainer start(TrainingOptions opts, Path outdir, PrintStream console) {
    DataParallel dp = DataParallel.fromEnvironment(System.getenv());
    try {
      Path dir = dp == null || dp.rank() == 0 ? newRunDir(outdir, opts.desc()) : null;
      Trainer t = new Trainer(opts, dir, console, null, dp);
      if (dir != null) Atomic.writeString(dir.resolve("training_options.json"), opts.toJson());
      return t;
    } catch (RuntimeException | Error e) {
      if (dp != null) dp.close();
      throw e;
    }
  }

  /** Resumes the run in runDir from its newest training state (or from the given state file). */
  public static Trainer resume(Path runDirOrState, PrintStream console) {
    Path dir = Files.isDirectory(runDirOrState) ? runDirOrState : runDirOrState.getParent();
    Path state = Files.isDirectory(runDirOrState) ? latestState(dir) : runDirOrState;
    if (state == null) throw new IllegalArgumentException("no training-state-*.safetensors in " + dir);
    TrainingOptions opts = TrainingOptions.read(dir.resolve("training_options.json"));
    DataParallel dp = DataParallel.fromEnvironment(System.getenv());
    try {
      return new Trainer(opts, dp == null || dp.rank() == 0 ? dir : null, console, state, dp);
    } catch (RuntimeException | Error e) {
      if (dp != null) dp.close();
      throw e;
    }
  }

  static Path latestState(Path dir) {
    try (var s = Files.list(dir)) {
      return s.filter(p -> STATE_FILE.matcher(p.getFileName().toString()).matches())
          .max((a, b) -> Long.compare(stateNumber(a), stateNumber(b))).orElse(null);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static long stateNumber(Path p) {
    Matcher m = STATE_FILE.matcher(p.getFileName().toString());
    return m.matches() ? Long.parseLong(m.group(1)) : -1;
  }

  static Path newRunDir(Path outdir, String desc) {
    try {
      Files.createDirectories(outdir);
      int next = 0;
      try (var s = Files.list(outdir)) {
        for (Path p : (Iterable<Path>) s::iterator) {
          String n = p.getFileName().toString();
          if (n.length() >= 5 && n.substring(0, 5).chars().allMatch(Character::isDigit)) {
            next = Math.max(next, Integer.parseInt(n.substring(0, 5)) + 1);
          }
        }
      }
      Path dir = outdir.resolve(String.format(Locale.ROOT, "%05d-%s", next, desc == null ? "run" : desc));
      Files.createDirectories(dir);
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the run directory under " + outdir, e);
    }
  }

  /** The run directory. */
  public Path runDir() {
    return runDir;
  }

  /** Images seen so far. */
  public long images() {
    return images;
  }

  /** Asks the loop to stop after the current step (writes a state first). */
  public void requestStop() {
    stopRequested = true;
  }

  /** Installs a shutdown hook that stops the loop cleanly on SIGINT/SIGTERM and waits for the state to be written. */
  public Thread installSignalHandler() {
    Thread hook = new Thread(() -> {
      stopRequested = true;
      try {
        finished.await(120, java.util.concurrent.TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "cm4j-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    return hook;
  }

  private void log(String line) {
    if (!writer) return;
    progress.clear();
    console.println(line);
    Atomic.append(runDir.resolve("log.txt"), line + "\n");
  }

  /** Runs until duration_kimg (or a stop request); returns what was done. */
  public Result run() {
    try {
      return loop();
    } finally {
      finished.countDown();
    }
  }

  private Result loop() {
    long total = (long) (opts.durationKimg() * 1000);
    long tickImages = Math.max(1, (long) (opts.tickKimg() * 1000));
    NanToNum sanitize = opts.nanGuard().equals("sanitize") ? NanToNum.ECT : null;
    double baseLr = opts.optimizer().lr();
    if (images == 0) {
      if (writer) {
        log(String.format(Locale.ROOT, "cm4j training run %s: %d parameters, batch %d (%d x %d x %d), %.1f kimg",
            runDir.getFileName(), model.parameterCount(), opts.batch(), dp == null ? 1 : dp.world(), rounds, batchGpu,
            opts.durationKimg()));
        if (initReport != null) log(initReport);
        snapshot();
      }
    } else {
      if (writer) log(String.format(Locale.ROOT, "resumed %s at %.1f kimg (tick %d)", runDir.getFileName(), images / 1000.0, tick));
    }
    long tickStart = System.nanoTime();
    long tickStartImages = images;
    double lossSum = 0;
    long lossCount = 0;
    double lastLoss = Double.NaN;
    Map<String, Double> parts = new LinkedHashMap<>();
    boolean interrupted = false;
    while (images < total) {
      if (agreeStop()) {
        interrupted = true;
        break;
      }
      StepListener listener = stepListener;
      listener.beforeStep(iteration, images);
      double rampup = opts.lrRampupKimg() > 0 ? Math.min(images / (opts.lrRampupKimg() * 1000), 1) : 1;
      optimizer.setLr(baseLr * rampup);
      optimizer.zeroGrad();
      double stepLoss = 0;
      for (int r = 0; r < rounds; r++) {
        try (TensorScope s = TensorScope.open(); Batch b = loader.next()) {
          Tensor loss;
          try (Autocast ac = autocast()) {
            loss = objective.loss(b.x(), b.labels(), iteration, images, parts).mean();
          }
          double v = loss.item();
          stepLoss += v / rounds;
          Tensor l = loss.to(DType.FLOAT32).div((double) rounds); // averages over accumulation rounds
          if (scaler != null) l = l.mul(scaler.scale());
          l.backward();
        }
      }
      if (dp != null) {
        // every rank's gradients become the mean over ranks; the loss mean carries the NaN decision to all ranks
        double local = stepLoss;
        stepLoss = collective(() -> {
          dp.averageGradients(model);
          return dp.mean(local);
        });
      }
      if (!Double.isFinite(stepLoss)) {
        if (opts.nanGuard().equals("stop")) {
          Path dump = writer ? runDir.resolve(String.format(Locale.ROOT, "nan-dump-%09d.safetensors", images)) : null;
          if (writer) writeState(dump);
          throw new IllegalStateException(String.format(Locale.ROOT,
              "loss is %s at %.3f kimg (iteration %d); state dumped to %s; set nan_guard to skip or sanitize to go on",
              stepLoss, images / 1000.0, iteration, dump));
        }
        if (opts.nanGuard().equals("skip")) {
          log(String.format(Locale.ROOT, "non-finite loss at iteration %d: step skipped", iteration));
          optimizer.zeroGrad();
          images += opts.batch();
          iteration++;
          listener.afterStep(iteration - 1, images, stepLoss);
          continue;
        }
      }
      if (scaler != null) {
        boolean localInf;
        try (TensorScope s = TensorScope.open()) {
          localInf = scaler.unscale(model.parameters());
        }
        boolean inf = dp == null ? localInf : collective(() -> dp.any(localInf) ? 1 : 0) > 0; // all ranks skip together
        scaler.update(inf);
        if (inf) {
          optimizer.zeroGrad();
          images += opts.batch();
          iteration++;
          listener.afterStep(iteration - 1, images, stepLoss);
          continue; // GradScaler semantics: the step is skipped and the scale backs off
        }
      }
      if (sanitize != null) sanitize.apply(model);
      if (opts.clipGradNorm() > 0) dev.cm4j.optim.ClipGradNorm.of(opts.clipGradNorm()).apply(model);
      optimizer.step();
      objective.afterStep(iteration);
      if (ema != null) ema.update(opts.batch());
      images += opts.batch();
      iteration++;
      lastLoss = stepLoss;
      lossSum += stepLoss;
      lossCount++;
      listener.afterStep(iteration - 1, images, stepLoss);
      double elapsed = (System.nanoTime() - tickStart) / 1e9;
      progress.update(images, total, (images - tickStartImages) / Math.max(elapsed, 1e-9), lossSum / lossCount);
      boolean done = images >= total;
      if (images - tickStartImages >= tickImages || done || stopRequested) {
        if (dp != null) {
          for (var e : parts.entrySet()) {
            double v = e.getValue();
            e.setValue(collective(() -> dp.mean(v)));
          }
        }
        if (!writer) {
          tick++;
          tickStart = System.nanoTime();
          tickStartImages = images;
          lossSum = 0;
          lossCount = 0;
          continue;
        }
        double sec = (System.nanoTime() - tickStart) / 1e9;
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("tick", tick);
        rec.put("kimg", images / 1000.0);
        rec.put("iteration", iteration);
        rec.put("loss", lossSum / Math.max(lossCount, 1));
        for (var e : parts.entrySet()) rec.put(e.getKey(), e.getValue());
        rec.put("lr", optimizer.lr());
        rec.put("sec_per_tick", sec);
        rec.put("images_per_sec", (images - tickStartImages) / Math.max(sec, 1e-9));
        double rss = rssMb();
        rec.put("rss_mb", rss);
        // the Java heap's share of the RSS (G1 commits and first touches heap regions as it grows): used and committed
        var heap = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        rec.put("heap_used_mb", heap.getUsed() / 1048576.0);
        rec.put("heap_committed_mb", heap.getCommitted() / 1048576.0);
        // libtorch CPU buffers held by cm4j's caching allocator (CpuAllocator): in live tensors, and free for reuse
        // (0 when it was never installed)
        var alloc = dev.cm4j.tensor.CpuAllocator.stats();
        rec.put("cpu_alloc_mb", alloc.allocatedBytes() / 1048576.0);
        rec.put("cpu_cached_mb", alloc.cachedBytes() / 1048576.0);
        rec.put("time", System.currentTimeMillis() / 1000.0);
        history.add(rec);
        Atomic.append(runDir.resolve("stats.jsonl"), json(rec) + "\n");
        log(String.format(Locale.ROOT,
            "tick %-5d kimg %-8.1f loss %-9.4f %-10s sec/tick %-6.1f img/s %-7.0f ETA %s  rss %.0f MB", tick,
            images / 1000.0, lossSum / Math.max(lossCount, 1), objective.position(images), sec,
            (images - tickStartImages) / Math.max(sec, 1e-9),
            eta((total - images) / Math.max((images - tickStartImages) / Math.max(sec, 1e-9), 1e-9)), rss));
        LossPlot.write(history, runDir.resolve("loss.png"));
        tick++;
        if (tick % opts.snapTicks() == 0 || done) snapshot();
        if (tick % opts.stateTicks() == 0 || done || stopRequested) {
          writeState(runDir.resolve(String.format(Locale.ROOT, "training-state-%09d.safetensors", images)));
        }
        tickStart = System.nanoTime();
        tickStartImages = images;
        lossSum = 0;
        lossCount = 0;
      }
    }
    if (interrupted) {
      if (writer) writeState(runDir.resolve(String.format(Locale.ROOT, "training-state-%09d.safetensors", images)));
      if (writer) log(String.format(Locale.ROOT, "stopped at %.1f kimg on request; resume with: cm train --resume %s",
          images / 1000.0, runDir));
    } else {
      log(String.format(Locale.ROOT, "done: %.1f kimg, %d iterations", images / 1000.0, iteration));
    }
    return new Result(runDir, images, iteration, interrupted, lastLoss);
  }

  /** Autocast for the forward pass and loss (bf16, fp16), or null for fp32. */
  private Autocast autocast() {
    return switch (opts.precision()) {
      case "bf16" -> Autocast.enable(deviceType, DType.BFLOAT16);
      case "fp16" -> Autocast.enable(deviceType, DType.FLOAT16);
      default -> null;
    };
  }

  /** A stop request of any rank stops every rank after the same step. */
  private boolean agreeStop() {
    boolean stop = stopRequested;
    if (dp == null) return stop;
    boolean any = collective(() -> dp.any(stop) ? 1 : 0) > 0;
    if (any) stopRequested = true;
    return any;
  }

  /** Runs a collective; a failure (a peer died, a timeout) becomes one clear error. */
  private double collective(java.util.function.DoubleSupplier f) {
    try {
      return f.getAsDouble();
    } catch (RuntimeException e) {
      throw new IllegalStateException(String.format(Locale.ROOT,
          "data-parallel step failed on rank %d of %d at iteration %d (another rank died, or timed out): %s",
          dp.rank(), dp.world(), iteration, e.getMessage()), e);
    }
  }

  private static String eta(double seconds) {
    return Progress.eta(seconds);
  }

  private static double rssMb() {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (l.startsWith("VmRSS:")) return Long.parseLong(l.replaceAll("[^0-9]", "")) / 1024.0;
      }
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
    return -1;
  }

  static String json(Map<String, Object> rec) {
    try {
      return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(rec);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The module sampled for grids and snapshots: the first EMA, or the trained model without EMA. */
  private Module sampledModel() {
    return emaModels.isEmpty() ? model : emaModels.get(0);
  }

  /** EMA snapshot (safetensors + JSON metadata) and sample grids (1-step and multistep, fixed seeds). */
  private void snapshot() {
    Module m = sampledModel();
    boolean wasTraining = m.isTraining();
    m.eval();
    String base = String.format(Locale.ROOT, "%09d", images);
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Map<String, String> meta = new LinkedHashMap<>();
      meta.put("training_options", opts.toJson());
      meta.put("kimg", Double.toString(images / 1000.0));
      meta.put("format", "cm4j network snapshot");
      SafeTensors.write(runDir.resolve("network-snapshot-" + base + ".safetensors"), m.stateDict(), meta);
      if (dataset instanceof ImageDataset) {
        int n = opts.data().grid();
        int cols = (int) Math.ceil(Math.sqrt(n));
        int res = opts.data().resolutionOr(((ImageDataset) dataset).resolution());
        long[] shape = {n, ((ImageDataset) dataset).channels(), res, res};
        Tensor z = Tensor.randn(shape, DType.FLOAT32, Device.CPU, Generator.cpu(1234));
        sampleGen.setSeed(5678);
        ImageGrid.save(objective.sample(m, z, new double[0], sampleGen).clamp(-1, 1), cols,
            runDir.resolve("samples-1step-" + base + ".png"));
        if (opts.sampleSteps().length > 0) {
          ImageGrid.save(objective.sample(m, z, opts.sampleSteps(), sampleGen).clamp(-1, 1), cols,
              runDir.resolve("samples-" + (opts.sampleSteps().length + 1) + "step-" + base + ".png"));
        }
      } else {
        Tensor z = Tensor.randn(new long[] {2000, ((PointDataset) dataset).dim()}, DType.FLOAT32, Device.CPU,
            Generator.cpu(1234));
        ScatterPlot.write(objective.sample(m, z, new double[0], sampleGen),
            runDir.resolve("samples-1step-" + base + ".png"));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write a snapshot into " + runDir, e);
    } finally {
      m.train(wasTraining);
    }
  }

  /** Everything needed to continue the run exactly, in one safetensors file written atomically. */
  private void writeState(Path file) {
    Map<String, Tensor> t = new LinkedHashMap<>();
    try (TensorScope s = TensorScope.open()) {
      for (var e : model.stateDict().entrySet()) t.put("model." + e.getKey(), e.getValue());
      for (var e : optimizer.stateDict().entrySet()) t.put("optimizer." + e.getKey(), e.getValue());
      if (ema != null) for (var e : ema.stateDict().entrySet()) t.put("ema." + e.getKey(), e.getValue());
      for (var m : objective.extraState().entrySet()) {
        for (var e : m.getValue().stateDict().entrySet()) t.put("objective." + m.getKey() + "." + e.getKey(), e.getValue());
      }
      byte[] rng;
      try (Generator g = Generator.defaultFor(Device.CPU)) {
        rng = g.getState();
      }
      t.put("rng.cpu", Tensor.fromBytes(java.lang.foreign.MemorySegment.ofArray(rng), DType.UINT8, rng.length));
      byte[] sg = sampleGen.getState();
      t.put("rng.sample", Tensor.fromBytes(java.lang.foreign.MemorySegment.ofArray(sg), DType.UINT8, sg.length));
      Map<String, String> meta = new LinkedHashMap<>();
      meta.put("format", "cm4j training state");
      meta.put("images", Long.toString(images));
      meta.put("iteration", Long.toString(iteration));
      meta.put("tick", Long.toString(tick));
      meta.put("loader", loader.state().reshard(0, 1).toJson()); // world-size independent
      meta.put("history", historyJson());
      meta.put("objective_rng", objectiveRngJson());
      meta.put("objective_random", objectiveRandomJson());
      if (scaler != null) meta.put("loss_scale", scaler.scale() + "," + scaler.tracker());
      SafeTensors.write(file, t, meta);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the training state " + file, e);
    }
  }

  private String historyJson() {
    try {
      return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(history);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The objective's own generators (noise draws), as base64 states. */
  private String objectiveRngJson() {
    Map<String, String> m = new LinkedHashMap<>();
    for (var e : objectiveGenerators().entrySet()) {
      m.put(e.getKey(), java.util.Base64.getEncoder().encodeToString(e.getValue().getState()));
    }
    return json(new LinkedHashMap<>(m));
  }

  private Map<String, Generator> objectiveGenerators() {
    Map<String, Generator> m = new LinkedHashMap<>();
    if (objective instanceof EctObjective e) m.put("ect", e.gen);
    if (objective instanceof SctObjective e) m.put("sct", e.gen);
    if (objective instanceof IctObjective e) m.put("ict", e.gen);
    if (objective instanceof CmObjective e) m.put("cm", e.gen);
    if (objective instanceof CtmObjective e) m.put("ctm", e.gen);
    return m;
  }

  /** The objective's java.util.Random streams (level/pair draws), saved by serialisation. */
  private Map<String, java.util.Random> objectiveRandoms() {
    Map<String, java.util.Random> m = new LinkedHashMap<>();
    if (objective instanceof IctObjective e) m.put("ict", e.rnd);
    if (objective instanceof CmObjective e) m.put("cm", e.rnd);
    if (objective instanceof CtmObjective e) m.put("ctm", e.rnd);
    return m;
  }

  private String objectiveRandomJson() {
    Map<String, Object> m = new LinkedHashMap<>();
    for (var e : objectiveRandoms().entrySet()) {
      try (var bos = new java.io.ByteArrayOutputStream(); var oos = new java.io.ObjectOutputStream(bos)) {
        oos.writeObject(e.getValue());
        oos.flush();
        m.put(e.getKey(), java.util.Base64.getEncoder().encodeToString(bos.toByteArray()));
      } catch (IOException ex) {
        throw new UncheckedIOException(ex);
      }
    }
    return json(m);
  }

  private void restoreObjectiveRandoms(String json) throws IOException {
    if (json == null) return;
    @SuppressWarnings("unchecked")
    Map<String, String> saved = new com.fasterxml.jackson.databind.ObjectMapper().readValue(json, Map.class);
    for (var e : objectiveRandoms().entrySet()) {
      String b64 = saved.get(e.getKey());
      if (b64 == null) continue;
      try (var ois = new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(java.util.Base64.getDecoder().decode(b64)))) {
        java.util.Random r = (java.util.Random) ois.readObject(); // java.util.Random has no state setter: replace it
        if (objective instanceof IctObjective o) o.rnd = r;
        if (objective instanceof CmObjective o) o.rnd = r;
        if (objective instanceof CtmObjective o) o.rnd = r;
      } catch (ClassNotFoundException ex) {
        throw new IOException(ex);
      }
    }
  }

  @SuppressWarnings("unchecked")
  private LoaderState restore(Path file) {
    try (SafeTensorFile f = SafeTensors.read(file); TensorScope s = TensorScope.open()) {
      Map<String, String> meta = f.metadata();
      if (!"cm4j training state".equals(meta.get("format"))) {
        throw new IllegalArgumentException(file + " is not a cm4j training state");
      }
      Map<String, Tensor> m = new HashMap<>();
      Map<String, Tensor> o = new HashMap<>();
      Map<String, Tensor> e = new HashMap<>();
      Map<String, Map<String, Tensor>> extra = new HashMap<>();
      for (String k : f.names()) {
        if (k.startsWith("objective.")) {
          String rest = k.substring(10);
          int dot = rest.indexOf('.');
          extra.computeIfAbsent(rest.substring(0, dot), x -> new HashMap<>()).put(rest.substring(dot + 1), f.tensor(k));
        }
        if (k.startsWith("model.")) m.put(k.substring(6), f.tensor(k));
        else if (k.startsWith("optimizer.")) o.put(k.substring(10), f.tensor(k));
        else if (k.startsWith("ema.")) e.put(k.substring(4), f.tensor(k));
      }
      model.loadStateDict(m, true);
      optimizer.loadStateDict(o);
      if (ema != null) ema.loadStateDict(e);
      for (var x : objective.extraState().entrySet()) {
        Map<String, Tensor> sd = extra.get(x.getKey());
        if (sd == null) throw new IllegalArgumentException(file + " lacks the objective's " + x.getKey() + " network");
        x.getValue().loadStateDict(sd, true);
      }
      try (Generator g = Generator.defaultFor(Device.CPU)) {
        g.setState(f.tensor("rng.cpu").toByteArray());
      }
      sampleGen.setState(f.tensor("rng.sample").toByteArray());
      images = Long.parseLong(meta.get("images"));
      iteration = Long.parseLong(meta.get("iteration"));
      tick = Long.parseLong(meta.get("tick"));
      var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
      history.addAll(mapper.readValue(meta.get("history"), List.class));
      Map<String, String> rngs = mapper.readValue(meta.get("objective_rng"), Map.class);
      for (var g : objectiveGenerators().entrySet()) {
        String st = rngs.get(g.getKey());
        if (st != null) g.getValue().setState(java.util.Base64.getDecoder().decode(st));
      }
      if (scaler != null && meta.get("loss_scale") != null) {
        String[] ls = meta.get("loss_scale").split(",");
        scaler.restore(Double.parseDouble(ls[0]), Integer.parseInt(ls[1]));
      }
      restoreObjectiveRandoms(meta.get("objective_random"));
      return LoaderState.fromJson(meta.get("loader"));
    } catch (IOException ex) {
      throw new UncheckedIOException("cannot read the training state " + file, ex);
    }
  }

  /** The trained model (for tests and library use). */
  public Module model() {
    return model;
  }

  @Override
  public void close() {
    if (dp != null) dp.close();
    loader.close();
    optimizer.close();
    if (ema != null) ema.close();
    for (Module m : emaModels) m.close();
    model.close();
    sampleGen.close();
  }

}
