package dev.cm4j.train;

import dev.cm4j.data.Dataset;
import dev.cm4j.data.ImageDataset;
import dev.cm4j.data.Loader;
import dev.cm4j.data.LoaderConfig;
import dev.cm4j.data.LoaderState;
import dev.cm4j.data.PointDataset;
import dev.cm4j.data.SplitMix64;
import dev.cm4j.nn.Module;
import dev.cm4j.optim.EMA;
import dev.cm4j.optim.Optimizer;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Torch;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * A training run (EDM's training_loop / ECT's ct_training_loop): a run directory {@code NNNNN-desc/}
 * ({@link RunDirectory}) with training_options.json, log.txt, stats.jsonl (one record per tick, {@link TickReporter}),
 * loss.png, sample grids (1-step and multistep, fixed seeds) and EMA network snapshots per snapshot tick, and
 * training-state files ({@link TrainingState}: parameters, optimizer, EMAs, random streams, data-sampler position,
 * images seen). Every file is written atomically. Resuming from a state reproduces the uninterrupted run bit for bit
 * on the CPU. SIGINT/SIGTERM finish the step, write a state and end the run cleanly. This class builds the run's
 * parts and owns their lifetime; {@link TrainingLoop} steps them.
 */
public final class Trainer implements AutoCloseable {
  private final TrainingLoop.Run parts;
  private final TrainingLoop loop;
  private final Path runDir;
  private final CountDownLatch finished = new CountDownLatch(1);

  /**
   * Observes the training loop: {@link #run()} calls it on the training thread around every optimizer step (also
   * around a step that is skipped for a non-finite loss or an fp16 overflow). A listener may block in
   * {@link StepListener#beforeStep} (e.g. to pace the loop); an exception it throws ends {@code run()}.
   */
  public interface StepListener {
    /** Before the step with this (0-based) iteration number, when {@code images} images have been trained on. */
    default void beforeStep(long iteration, long images) {}

    /**
     * After that step (optimizer, objective and EMA updates done), with the step's mean loss: a 0-dim float32 tensor on
     * the run's device, valid during this call only. The loop itself never reads it on the host inside a step; a
     * listener that calls {@code loss.item()} makes the host wait for the device there.
     */
    default void afterStep(long iteration, long images, dev.cm4j.tensor.Tensor loss) {}
  }

  /** Sets the listener called around every step (null: none). */
  public void setStepListener(StepListener l) {
    loop.stepListener = l == null ? new StepListener() {} : l;
  }

  /** What a finished (or stopped) run reports. */
  public record Result(Path runDir, long images, long iterations, boolean interrupted, double lastLoss) {}

  /**
   * Builds the run's parts; with a state, restores them from it (and closes it).
   *
   * @param dir the run directory on rank 0, null on the other ranks
   * @param notes lines to log first (e.g. training states passed over on resume)
   */
  private Trainer(TrainingOptions opts, Device device, RunDirectory dir, PrintStream console, TrainingState state,
      DataParallel dp, List<String> notes) {
    int rank = dp == null ? 0 : dp.rank();
    int world = dp == null ? 1 : dp.world();
    if (opts.threads() > 0) Torch.setNumThreads(opts.threads());
    Torch.manualSeed(opts.seed());
    if (device.type() != Device.Type.CPU) {
      try (Generator g = Generator.defaultFor(device)) {
        g.setSeed(opts.seed());
      }
    }
    Dataset dataset = Builders.dataset(opts.data(), opts.cond());
    opts = conditioned(opts, dataset);
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
    if (dir != null && state == null && dataset instanceof ImageDataset img) {
      writeDataGrid(img, opts.data().grid(), opts.seed(), dir.dataGrid());
    }
    if (opts.batch() % world != 0) {
      throw new IllegalArgumentException("batch " + opts.batch() + " is not divisible by the " + world + " processes");
    }
    int local = opts.batch() / world;
    int batchGpu = opts.batchGpu() > 0 ? opts.batchGpu() : local;
    if (local % batchGpu != 0) {
      throw new IllegalArgumentException("batch_gpu " + batchGpu + " does not divide the per-process batch " + local
          + " (batch " + opts.batch() + " over " + world + " processes)");
    }
    LoaderConfig lc = new LoaderConfig(batchGpu, opts.seed(), true, true, opts.data().xflip(),
        resolution == 0 ? 0 : resolution, LoaderConfig.Resize.PAD, opts.cond(), rank, world,
        opts.data().workers() == 0 ? 0 : 2, opts.data().workers());
    RunObjective.NetFactory nets = (cfg, sEmb) -> Builders.network(cfg, resolution, channels, sEmb);
    RunObjective objective = RunObjective.create(opts, nets, opts.seed(), device);
    objective.shardRank = rank;
    objective.shardWorld = world;
    Module model = objective.model();
    model.train(true);
    String initReport = null;
    String initPath = opts.initFrom() != null ? opts.initFrom() : objective.defaultInit();
    if (initPath != null && state == null) {
      var r = InitFrom.apply(model, Path.of(initPath));
      initReport = InitFrom.summary(Path.of(initPath), r, model.namedState().size());
    }
    List<Module> emaModels = new ArrayList<>();
    List<EMA.Beta> rules = Builders.emaRules(opts.ema());
    for (int i = 0; i < rules.size(); i++) {
      Module copy = RunObjective.create(opts, nets, opts.seed(), device).model();
      copy.copyFrom(model);
      copy.eval();
      copy.requiresGrad_(false);
      emaModels.add(copy);
    }
    EMA ema = rules.isEmpty() ? null : EMA.of(model, emaModels, rules);
    Optimizer optimizer = Builders.optimizer(opts.optimizer(), model);
    LossScaler scaler = opts.precision().equals("fp16") ? LossScaler.defaults() : null;
    Generator sampleGen = Generator.create(device, 0);
    Progress progress = dp == null || dp.rank() == 0 ? Progress.forConsole(console) : new Progress(console, false);
    TickReporter reporter = new TickReporter(dir, console, progress,
        state == null ? new ArrayList<>() : new ArrayList<>(state.history));
    for (String n : notes) reporter.log(n);
    LoaderState loaderState = null;
    if (state != null) {
      state.restore(new TrainingState.Parts(device, model, optimizer, ema, objective, sampleGen, scaler),
          reporter::log);
      loaderState = state.loader.reshard(rank, world);
    }
    Loader loader = loaderState == null ? Loader.open(dataset, lc) : Loader.open(dataset, lc, loaderState);
    parts = new TrainingLoop.Run(opts, device, dataset, loader, objective, emaModels, ema, optimizer, scaler, sampleGen,
        dp, local / batchGpu, batchGpu);
    long iteration = state == null ? 0 : state.iteration;
    loop = new TrainingLoop(parts, dir, reporter, state == null ? 0 : state.images, iteration,
        state == null ? 0 : state.tick, initReport);
    runDir = dir == null ? null : dir.path();
    if (dp != null) {
      List<Module> all = new ArrayList<>();
      all.add(model);
      all.addAll(emaModels);
      dp.broadcast(all);
      // dropout and other draws of the global generator differ per rank (as EDM seeds each rank differently)
      Torch.manualSeed(SplitMix64.derive(opts.seed() + iteration, rank));
      if (device.type() != Device.Type.CPU) {
        try (Generator g = Generator.defaultFor(device)) {
          g.setSeed(SplitMix64.derive(opts.seed() + iteration, rank));
        }
      }
    }
  }

  /**
   * Writes {@code n} training images, drawn in a seeded random order (cycling when the dataset is smaller), as a
   * PNG grid of ⌈√n⌉ columns at the dataset's own resolution — the run's data.png, like the sample grids' layout.
   */
  static void writeDataGrid(ImageDataset data, int n, long seed, Path png) {
    int[] order = Loader.permutation(data.size(), seed, 0, true);
    List<dev.cm4j.image.UInt8Image> images = new ArrayList<>(n);
    for (int i = 0; i < n; i++) images.add(data.image(order[i % order.length]));
    dev.cm4j.image.Png.write(dev.cm4j.image.ImageGrid.grid(images, (int) Math.ceil(Math.sqrt(n))), png);
  }

  /**
   * The options with class conditioning resolved against the data (EDM's {@code label_dim} from the dataset): with
   * cond, network.label_dim is set to the data's label dimension (the number of classes) when it is 0, and must equal
   * it otherwise; without cond, network.label_dim must be 0. Errors name the options and the data.
   *
   * @throws OptionException for cond on unlabelled data, a label_dim that differs from the data's, a network that
   *     takes no labels, or label_dim set without cond
   */
  static TrainingOptions conditioned(TrainingOptions opts, Dataset dataset) {
    var net = opts.tree().path("network");
    boolean takesLabels = net.has("label_dim");
    int netDim = net.path("label_dim").asInt(0);
    if (!opts.cond()) {
      if (netDim > 0) {
        throw new OptionException("network.label_dim", netDim + " makes the network class-conditional, but cond is "
            + "false: set cond=true to train on the data's labels, or leave label_dim at 0");
      }
      return opts;
    }
    String data = dataName(opts.data());
    int dataDim = dataset.labelDim();
    if (dataDim == 0) {
      throw new OptionException("cond", "true needs labelled data, but " + data + " has no labels"
          + (opts.data().kind().equals("folder") ? " (EDM's dataset.json with a \"labels\" list)" : "")
          + (opts.data().kind().equals("toy2d") ? " (the labelled toy is data.name class-gaussians)" : ""));
    }
    if (!takesLabels) {
      throw new OptionException("network.arch", opts.network().arch() + " takes no class labels (no label_dim), so "
          + "cond=true cannot be trained with it");
    }
    if (netDim == 0) return opts.with(java.util.Map.of("network.label_dim", Integer.toString(dataDim)));
    if (netDim != dataDim) {
      throw new OptionException("network.label_dim", netDim + " does not match the " + dataDim + " classes (label "
          + "dimension) of " + data + "; set it to " + dataDim + " or 0 (filled in from the data)");
    }
    return opts;
  }

  /** "data.kind cifar10 at PATH" and the like, for messages. */
  private static String dataName(DataOptions d) {
    return switch (d) {
      case DataOptions.Images i -> "data.kind " + i.kind() + (i.path() != null ? " at " + i.path() : "");
      case DataOptions.Npy n -> "data.kind npy at " + n.path();
      case DataOptions.Toy2d t -> "data.kind toy2d " + t.name();
      default -> "data.kind " + d.kind();
    };
  }

  /** Starts a new run in a fresh NNNNN-desc directory under outdir. */
  public static Trainer start(TrainingOptions opts, Path outdir, PrintStream console) {
    return start(opts, outdir, console, true);
  }

  /**
   * Starts a new run in a fresh NNNNN-desc directory under outdir (subdir), or in outdir itself (EDM's/ECT's
   * {@code --nosubdir}), which must not hold a run already.
   */
  public static Trainer start(TrainingOptions opts, Path outdir, PrintStream console, boolean subdir) {
    Device device = Devices.resolve(opts.device(), DataParallel.localRank(System.getenv()));
    DataParallel dp = DataParallel.fromEnvironment(System.getenv(), device);
    try {
      RunDirectory dir = dp != null && dp.rank() != 0 ? null
          : subdir ? RunDirectory.create(outdir, opts.desc()) : RunDirectory.createFlat(outdir);
      Trainer t = new Trainer(opts, device, dir, console, null, dp, List.of());
      if (dir != null) Atomic.writeString(dir.options(), t.parts.opts().toJson()); // label_dim filled in
      return t;
    } catch (RuntimeException | Error e) {
      if (dp != null) dp.close();
      throw e;
    }
  }

  /**
   * Resumes the run in runDir from its newest training state that reads cleanly (a truncated or corrupt newer one
   * is reported in the log and passed over), or from the given state file.
   */
  public static Trainer resume(Path runDirOrState, PrintStream console) {
    boolean isDir = Files.isDirectory(runDirOrState);
    Path dir = isDir ? runDirOrState : runDirOrState.toAbsolutePath().getParent();
    List<String> notes = new ArrayList<>();
    TrainingState state;
    if (isDir) {
      List<Path> states = RunDirectory.of(dir).statesNewestFirst();
      if (states.isEmpty()) throw new IllegalArgumentException("no training-state-*.safetensors in " + dir);
      state = TrainingState.openNewest(states, notes::add);
    } else {
      state = TrainingState.open(runDirOrState);
    }
    try (state) {
      TrainingOptions opts = TrainingOptions.read(dir.resolve("training_options.json"));
      return resume(opts, dir, state, console, notes);
    }
  }

  /**
   * Resumes the run in runDir from its newest usable training state with these options (e.g. the run's own with
   * the device changed: a state moves between devices; from another device type its random streams start afresh).
   */
  public static Trainer resume(TrainingOptions opts, Path runDir, PrintStream console) {
    List<String> notes = new ArrayList<>();
    List<Path> states = RunDirectory.of(runDir).statesNewestFirst();
    if (states.isEmpty()) throw new IllegalArgumentException("no training-state-*.safetensors in " + runDir);
    try (TrainingState state = TrainingState.openNewest(states, notes::add)) {
      return resume(opts, runDir, state, console, notes);
    }
  }

  private static Trainer resume(TrainingOptions opts, Path dir, TrainingState state, PrintStream console,
      List<String> notes) {
    Device device = Devices.resolve(opts.device(), DataParallel.localRank(System.getenv()));
    DataParallel dp = DataParallel.fromEnvironment(System.getenv(), device);
    try {
      return new Trainer(opts, device, dp == null || dp.rank() == 0 ? RunDirectory.of(dir) : null, console, state,
          dp, notes);
    } catch (RuntimeException | Error e) {
      if (dp != null) dp.close();
      throw e;
    }
  }

  /** The run directory. */
  public Path runDir() {
    return runDir;
  }

  /** Images seen so far. */
  public long images() {
    return loop.images();
  }

  /** Asks the loop to stop after the current step (writes a state first). */
  public void requestStop() {
    loop.stopRequested = true;
  }

  /** Installs a shutdown hook that stops the loop cleanly on SIGINT/SIGTERM and waits for the state to be written. */
  public Thread installSignalHandler() {
    Thread hook = new Thread(() -> {
      loop.stopRequested = true;
      try {
        finished.await(120, java.util.concurrent.TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "cm4j-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    return hook;
  }

  /** Runs until duration_kimg (or a stop request); returns what was done. */
  public Result run() {
    try {
      return loop.run();
    } finally {
      finished.countDown();
    }
  }

  /** The trained model (for tests and library use). */
  public Module model() {
    return parts.model();
  }

  @Override
  public void close() {
    if (parts.dp() != null) parts.dp().close();
    parts.loader().close();
    parts.optimizer().close();
    if (parts.ema() != null) parts.ema().close();
    for (Module m : parts.emaModels()) m.close();
    parts.model().close();
    parts.sampleGen().close();
  }
}
