package dev.cm4j.train;

import dev.cm4j.data.Batch;
import dev.cm4j.data.DataStats;
import dev.cm4j.data.Dataset;
import dev.cm4j.data.ImageDataset;
import dev.cm4j.data.Loader;
import dev.cm4j.data.PointDataset;
import dev.cm4j.image.ImageGrid;
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
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The optimizer-step loop of a run (EDM's training_loop): gradient accumulation over rounds, data-parallel
 * averaging, the non-finite-loss guard, fp16 loss scaling, clipping, the step, the objective's and the EMA's
 * updates; at each tick the report, and every snap_ticks / state_ticks a snapshot with sample grids / a training
 * state. It owns the run's position (images, iteration, tick).
 */
final class TrainingLoop {
  /** What the loop steps; built by {@link Trainer}. ema, scaler and dp may be null. */
  record Run(TrainingOptions opts, Device device, Dataset dataset, Loader loader, RunObjective objective,
      List<Module> emaModels, EMA ema, Optimizer optimizer, LossScaler scaler, Generator sampleGen, DataParallel dp,
      int rounds, int batchGpu) {
    Module model() {
      return objective.model();
    }

    TrainingState.Parts parts() {
      return new TrainingState.Parts(device, model(), optimizer, ema, objective, sampleGen, scaler);
    }
  }

  private final Run run;
  private final TrainingOptions opts;
  private final RunDirectory dir; // null on ranks other than 0
  private final TickReporter reporter;
  private final String initReport;
  private final Device device;
  private long images;
  private long iteration;
  private long tick;
  private Map<String, String> dataDescription; // Snapshot.describe of the run's data (computed once)
  private InTrainingEval evaluation; // options.eval's metrics, on every rank (null: none)
  volatile boolean stopRequested;
  private boolean stopAgreed; // data-parallel: every rank's stop request, agreed at the last tick's end
  volatile Trainer.StepListener stepListener = new Trainer.StepListener() {};

  TrainingLoop(Run run, RunDirectory dir, TickReporter reporter, long images, long iteration, long tick,
      String initReport) {
    this.run = run;
    this.opts = run.opts();
    this.dir = dir;
    this.reporter = reporter;
    this.images = images;
    this.iteration = iteration;
    this.tick = tick;
    this.initReport = initReport;
    this.device = run.device();
    reporter.watchDevice(device); // CUDA memory in each tick's record (nothing on other devices)
    if (opts.channelsLast()) channelsLast(run.model(), run.emaModels());
  }

  /** channels_last: the trained network's and its EMA copies' 4-D weights in NHWC layout (before the first step). */
  static void channelsLast(Module model, List<Module> emaModels) {
    model.toMemoryFormat(dev.cm4j.tensor.MemoryFormat.CHANNELS_LAST);
    for (Module m : emaModels) m.toMemoryFormat(dev.cm4j.tensor.MemoryFormat.CHANNELS_LAST);
  }

  /** A batch's images in the run's layout: NHWC with channels_last, else as loaded. */
  static Tensor layout(Tensor x, boolean channelsLast) {
    return channelsLast && x.dim() == 4 ? x.contiguous(dev.cm4j.tensor.MemoryFormat.CHANNELS_LAST) : x;
  }

  long images() {
    return images;
  }

  long iteration() {
    return iteration;
  }

  /**
   * Runs until duration_kimg (or a stop request).
   *
   * <p>A step never waits for the device: the loss, the objective's statistics and the tick's loss sum stay device
   * tensors, and the host reads them at the tick's end ({@link #endTick}), where the non-finite-loss guard "stop"
   * also acts (the run stops at the end of the tick in which the loss became non-finite, with the state dumped then).
   * nan_guard "skip" (a non-finite loss) and fp16 (non-finite unscaled gradients, GradScaler's found-inf, averaged
   * over ranks as a tensor) decide on the device too: the flag masks the optimizer, target and EMA updates
   * ({@link Optimizer#step(Tensor)}), the loss scale is updated there, and the tick's end reports how many steps were
   * skipped; only an optimizer without a device-side step (SGD) reads the flag on the host. A data-parallel run agrees
   * on stop requests at tick ends.
   */
  Trainer.Result run() {
    Module model = run.model();
    DataParallel dp = run.dp();
    long total = (long) (opts.durationKimg() * 1000);
    long tickImages = Math.max(1, (long) (opts.tickKimg() * 1000));
    NanToNum sanitize = opts.nanGuard().equals("sanitize") ? NanToNum.ECT : null;
    double baseLr = opts.optimizer().lr();
    if (images == 0) {
      reporter.log(String.format(Locale.ROOT,
          "cm4j training run %s: %d parameters, batch %d (%d x %d x %d), %.1f kimg on %s",
          dir == null ? "" : dir.path().getFileName(), model.parameterCount(), opts.batch(),
          dp == null ? 1 : dp.world(), run.rounds(), run.batchGpu(), opts.durationKimg(), device));
      if (initReport != null) reporter.log(initReport);
      if (dir != null) {
        dataDescription = Snapshot.describe(opts, run.dataset());
        String std = dataDescription.get(Snapshot.DATA_STD);
        String warning = std == null ? null
            : DataStats.sigmaDataWarning(opts.precond().sigmaData(), Double.parseDouble(std));
        if (warning != null) reporter.log(warning);
        snapshot();
      }
    } else {
      reporter.log(String.format(Locale.ROOT, "resumed %s at %.1f kimg (tick %d) on %s",
          dir == null ? "" : dir.path().getFileName(), images / 1000.0, tick, device));
    }
    reporter.startTick(images);
    boolean interrupted = false;
    try (StepStats stats = new StepStats(); TickLoss tickLoss = new TickLoss(device);
        InTrainingEval ev = opts.eval().metrics().isEmpty() ? null : new InTrainingEval(opts, run.objective(),
            run.dataset(), dir, device, dp == null ? 0 : dp.rank(), dp == null ? 1 : dp.world(),
            dp == null ? null : dp::allGather, reporter::log)) {
      evaluation = ev;
      while (images < total) {
        if (dp == null ? stopRequested : stopAgreed) {
          interrupted = true;
          break;
        }
        Trainer.StepListener listener = stepListener;
        listener.beforeStep(iteration, images);
        run.optimizer().setLr(lrAt(opts, baseLr, images));
        run.optimizer().zeroGrad();
        try (TensorScope step = TensorScope.open()) {
          Tensor stepLoss = accumulate(stats);
          if (dp != null) {
            // every rank's gradients become the mean over ranks (a collective on the device)
            collective(() -> {
              dp.averageGradients(model);
              if (opts.nanGuard().equals("skip")) dp.meanInPlace(stepLoss); // every rank decides alike below
              return 0;
            });
          }
          // the skip decision (nan_guard "skip": a non-finite loss; fp16: non-finite unscaled gradients) stays a device
          // tensor: the optimizer, the target and EMA updates leave everything unchanged where it is set
          Tensor skip = opts.nanGuard().equals("skip") ? stepLoss.isfinite().logicalNot() : null;
          if (run.scaler() != null) {
            Tensor found = run.scaler().unscaleFoundInf(model.parameters());
            if (found != null) {
              if (dp != null) collective(() -> { // any rank's non-finite gradient skips the step on every rank
                dp.meanInPlace(found);
                return 0;
              });
              run.scaler().update(found); // GradScaler semantics: backoff on a skipped step, growth after good ones
              Tensor inf = found.gt(0.0);
              skip = skip == null ? inf : skip.logicalOr(inf);
            }
          }
          if (skip != null && !run.optimizer().hasDeviceStep()) {
            // an optimizer without a device-side step (SGD): the host decides, reading one flag per step
            if (skip.itemBoolean()) {
              reporter.log(String.format(Locale.ROOT, "non-finite loss or gradients at iteration %d: step skipped",
                  iteration));
              skipStep(listener, stepLoss);
              continue;
            }
            skip = null;
          }
          if (sanitize != null) sanitize.apply(model);
          if (opts.clipGradNorm() > 0) dev.cm4j.optim.ClipGradNorm.of(opts.clipGradNorm()).apply(model);
          run.optimizer().step(skip);
          afterStep(skip);
          if (run.ema() != null) run.ema().update(opts.batch(), skip);
          images += opts.batch();
          iteration++;
          if (dir != null) {
            PosthocEma.afterStep(dir.path(), opts, run.emaModels(), images - opts.batch(), images,
                () -> dataDescription != null ? dataDescription : Snapshot.describe(opts, run.dataset()));
          }
          tickLoss.add(stepLoss, iteration - 1, skip);
          reporter.step(images, total);
          listener.afterStep(iteration - 1, images, stepLoss);
        }
        boolean done = images >= total;
        // a local stop request ends the tick at once; data-parallel ranks agree on it at the regular tick end, so that
        // every rank enters the tick's collectives together
        boolean stopNow = dp == null && stopRequested;
        if (reporter.tickFull(images, tickImages) || done || stopNow) endTick(stats, tickLoss, total, done);
      }
      if (interrupted) {
        if (dir != null) writeState(dir.state(images));
        reporter.log(String.format(Locale.ROOT, "stopped at %.1f kimg on request; resume with: cm train --resume %s",
            images / 1000.0, dir == null ? "" : dir.path()));
      } else {
        reporter.log(String.format(Locale.ROOT, "done: %.1f kimg, %d iterations", images / 1000.0, iteration));
      }
      return new Trainer.Result(dir == null ? null : dir.path(), images, iteration, interrupted, tickLoss.last());
    }
  }

  /**
   * The loss of the ticks: the sum of the steps' losses (float64 on the device) and the last step's loss, read on the
   * host only when a tick ends.
   */
  private static final class TickLoss implements AutoCloseable {
    private final Tensor sum;
    private final Tensor sumSquares; // float64: the steps' squared losses, for the tick's std (stats.jsonl)
    private final Tensor firstNonFinite; // int64: the first iteration whose loss was not finite, -1 while none was
    private final Tensor skipped; // float64: steps of the tick skipped on the device (their loss is not in sum)
    private Tensor last;
    private long steps;

    TickLoss(Device device) {
      sum = TensorScope.release(Tensor.zeros(new long[0], DType.FLOAT64, device));
      skipped = TensorScope.release(Tensor.zeros(new long[0], DType.FLOAT64, device));
      sumSquares = TensorScope.release(Tensor.zeros(new long[0], DType.FLOAT64, device));
      firstNonFinite = TensorScope.release(Tensor.zeros(new long[0], DType.INT64, device).sub(1L));
    }

    void add(Tensor stepLoss, long iteration, Tensor skip) {
      try (TensorScope s = TensorScope.open()) {
        Tensor firstBad = stepLoss.isfinite().logicalNot().logicalAnd(firstNonFinite.lt(0.0));
        firstNonFinite.copy_(Tensor.where(firstBad, firstNonFinite.mul(0L).add(iteration), firstNonFinite));
        if (skip != null) {
          skipped.add_(skip.to(DType.FLOAT64));
          sum.add_(Tensor.where(skip, stepLoss.zerosLike(), stepLoss));
        } else {
          sum.add_(stepLoss);
        }
      }
      try (TensorScope s = TensorScope.open()) {
        Tensor l = stepLoss.to(DType.FLOAT64);
        Tensor sq = l.mul(l);
        sumSquares.add_(skip != null ? Tensor.where(skip, sq.zerosLike(), sq) : sq);
      }
      steps++;
      Tensor old = last;
      last = TensorScope.release(stepLoss.detach());
      if (old != null) old.close();
    }

    /** The tick's sum (a host read) and its number of steps; the sum starts again at 0. */
    double takeSum() {
      double v = sum.item();
      sum.zero_();
      return v;
    }

    /** The tick's sum of squared step losses (a host read); it starts again at 0. */
    double takeSumSquares() {
      double v = sumSquares.item();
      sumSquares.zero_();
      return v;
    }

    long takeSteps() {
      long n = steps;
      steps = 0;
      return n;
    }

    /** The tick's steps skipped on the device (a host read); the count starts again at 0. */
    long takeSkipped() {
      long n = (long) skipped.item();
      skipped.zero_();
      return n;
    }

    /** The first iteration whose loss was not finite, or -1 (a host read). */
    long firstNonFinite() {
      return firstNonFinite.itemLong();
    }

    /** The last step's loss (a host read), NaN before the first step. */
    double last() {
      return last == null ? Double.NaN : last.item();
    }

    @Override
    public void close() {
      sum.close();
      skipped.close();
      sumSquares.close();
      firstNonFinite.close();
      if (last != null) last.close();
    }
  }

  /**
   * Forward and backward of every accumulation round; the step's mean loss as a 0-dim float32 tensor on the device,
   * owned by the caller's scope (nothing is read on the host).
   */
  private Tensor accumulate(StepStats stats) {
    int rounds = run.rounds();
    Tensor stepLoss = Tensor.zeros(new long[0], DType.FLOAT32, device);
    for (int r = 0; r < rounds; r++) {
      try (TensorScope s = TensorScope.open(); Batch b = run.loader().next(device)) {
        Tensor loss;
        try (Autocast ac = autocast()) {
          Tensor x = layout(b.x(), opts.channelsLast());
          loss = run.objective().loss(x, b.labels(), iteration, images, stats).mean();
        }
        Tensor l = loss.to(DType.FLOAT32).div((double) rounds); // averages over accumulation rounds
        stepLoss.add_(l.detach());
        if (run.scaler() != null) l = l.mul(run.scaler().scale(device));
        l.backward();
      }
    }
    return stepLoss;
  }

  /**
   * The objective's update after the optimizer step (target networks); with a skip flag the objective's extra state
   * keeps its values where the flag is set (a copy is taken first and selected back on the device).
   */
  private void afterStep(Tensor skip) {
    if (skip == null) {
      run.objective().afterStep(iteration);
      return;
    }
    List<Tensor> state = new java.util.ArrayList<>();
    for (Module m : run.objective().extraState().values()) {
      for (var p : m.namedState().values()) state.add(p.get());
    }
    List<Tensor> before = new java.util.ArrayList<>(state.size());
    try (GradMode g = GradMode.noGrad()) {
      for (Tensor t : state) before.add(t.clone());
      run.objective().afterStep(iteration);
      int i = 0;
      for (Module m : run.objective().extraState().values()) {
        for (var p : m.namedState().values()) {
          Tensor t = p.get();
          t.copy_(Tensor.where(skip, before.get(i++), t));
        }
      }
    }
  }

  /** A step that is not applied still counts its images and iteration. */
  private void skipStep(Trainer.StepListener listener, Tensor stepLoss) {
    run.optimizer().zeroGrad();
    images += opts.batch();
    iteration++;
    listener.afterStep(iteration - 1, images, stepLoss);
  }

  /**
   * Ends a tick: the host reads the tick's loss and statistics (averaged over ranks), the non-finite guard "stop"
   * acts, ranks agree on a stop request, and the report, snapshot and state are written.
   */
  private void endTick(StepStats stats, TickLoss tickLoss, long total, boolean done) {
    DataParallel dp = run.dp();
    long skipped = tickLoss.takeSkipped();
    long steps = tickLoss.takeSteps() - skipped;
    double loss = tickLoss.takeSum() / Math.max(steps, 1);
    if (skipped > 0) {
      reporter.log(String.format(Locale.ROOT, "%d step%s of the tick ending at iteration %d skipped (non-finite loss or "
          + "gradients)", skipped, skipped == 1 ? "" : "s", iteration));
    }
    double lossSquare = tickLoss.takeSumSquares() / Math.max(steps, 1);
    Map<String, Double> parts = stats.toHost();
    if (dp != null) {
      double local = loss;
      loss = collective(() -> dp.mean(local));
      double localSquare = lossSquare;
      lossSquare = collective(() -> dp.mean(localSquare));
      for (var e : parts.entrySet()) {
        double v = e.getValue();
        e.setValue(collective(() -> dp.mean(v)));
      }
      boolean stop = stopRequested;
      stopAgreed = collective(() -> dp.any(stop) ? 1 : 0) > 0;
      if (stopAgreed) stopRequested = true;
    }
    if (!Double.isFinite(loss) && opts.nanGuard().equals("stop")) {
      Path dump = dir != null ? dir.nanDump(images) : null;
      if (dump != null) writeState(dump);
      throw new IllegalStateException(String.format(Locale.ROOT,
          "loss is %s in the tick ending at %.3f kimg (iteration %d; first non-finite at iteration %d); state dumped "
              + "to %s; set nan_guard to skip or sanitize to go on", loss, images / 1000.0, iteration,
          tickLoss.firstNonFinite(), dump));
    }
    // the position of the tick's last step (trained at images - batch), as the objective's parts in stats.jsonl
    // record it: at a stage boundary, images itself already names the next stage
    reporter.endTick(tick, images, iteration, total,
        new TickReporter.LossSummary(steps * (dp == null ? 1.0 : dp.world()), loss, lossSquare), parts,
        run.optimizer().lr(), run.objective().position(images - opts.batch()));
    tick++;
    if (dir != null) {
      if (tick % opts.snapTicks() == 0 || done) snapshot();
      if (tick % opts.stateTicks() == 0 || done || stopRequested) writeState(dir.state(images));
    }
    // every rank samples its share of the seeds; rank 0 gathers the features and writes the lines
    if (evaluation != null && evaluation.due(tick, done)) evaluation.evaluate(sampledModel(), images);
    reporter.startTick(images);
  }

  /** Autocast for the forward pass and loss (bf16, fp16), or null for fp32. */
  private Autocast autocast() {
    return switch (opts.precision()) {
      case "bf16" -> Autocast.enable(device.type(), DType.BFLOAT16);
      case "fp16" -> Autocast.enable(device.type(), DType.FLOAT16);
      default -> null;
    };
  }

  /** Runs a collective; a failure (a peer died, a timeout) becomes one clear error. */
  private double collective(java.util.function.DoubleSupplier f) {
    try {
      return f.getAsDouble();
    } catch (RuntimeException e) {
      throw new IllegalStateException(String.format(Locale.ROOT,
          "data-parallel step failed on rank %d of %d at iteration %d (another rank died, or timed out): %s",
          run.dp().rank(), run.dp().world(), iteration, e.getMessage()), e);
    }
  }

  private void writeState(Path file) {
    // the loader's position is stored world-size independent
    TrainingState.write(file, run.parts(), images, iteration, tick, run.loader().state().reshard(0, 1),
        reporter.history());
    if (file.equals(dir.state(images))) dir.markLatest(file);
  }

  /** The module sampled for grids and snapshots: the first EMA, or the trained model without EMA. */
  private Module sampledModel() {
    return run.emaModels().isEmpty() ? run.model() : run.emaModels().get(0);
  }

  /** EMA snapshot (safetensors + JSON metadata) and sample grids (1-step and multistep, fixed seeds). */
  private void snapshot() {
    Module m = sampledModel();
    boolean wasTraining = m.isTraining();
    m.eval();
    RunObjective objective = run.objective();
    Generator sampleGen = run.sampleGen();
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Map<String, String> meta = new LinkedHashMap<>();
      meta.put("training_options", opts.toJson());
      meta.put("kimg", Double.toString(images / 1000.0));
      meta.put("format", "cm4j network snapshot");
      if (dataDescription == null) dataDescription = Snapshot.describe(opts, run.dataset());
      meta.putAll(dataDescription); // self-describing: sampling never re-reads the data
      SafeTensors.write(dir.snapshot(images), m.stateDict(), meta);
      dir.markLatest(dir.snapshot(images));
      if (run.dataset() instanceof ImageDataset img) {
        int n = opts.data().grid();
        int cols = (int) Math.ceil(Math.sqrt(n));
        long res = opts.data().resolutionOr(img.resolution());
        Tensor z = gridNoise(new long[] {n, img.channels(), res, res});
        Tensor y = objective.gridLabels(n, cols); // conditional: one class per row
        sampleGen.setSeed(5678);
        ImageGrid.save(objective.sample(m, z, new double[0], y, 1, null, sampleGen).clamp(-1, 1), cols,
            dir.samples(1, images));
        if (opts.sampleSteps().length > 0) {
          ImageGrid.save(objective.sample(m, z, opts.sampleSteps(), y, 1, null, sampleGen).clamp(-1, 1), cols,
              dir.samples(opts.sampleSteps().length + 1, images));
        }
      } else {
        Tensor z = gridNoise(new long[] {2000, ((PointDataset) run.dataset()).dim()});
        Tensor y = objective.gridLabels(2000, 1); // conditional: classes in turn
        sampleGen.setSeed(5678);
        PointDataset data = (PointDataset) run.dataset();
        ScatterPlot.write(objective.sample(m, z, new double[0], y, 1, null, sampleGen), data, dir.samples(1, images));
        if (opts.sampleSteps().length > 0) {
          ScatterPlot.write(objective.sample(m, z, opts.sampleSteps(), y, 1, null, sampleGen), data,
              dir.samples(opts.sampleSteps().length + 1, images));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write a snapshot into " + dir.path(), e);
    } finally {
      m.train(wasTraining);
    }
  }

  /** The sample grids' fixed latents, drawn on the run's device with its generator seeded 1234. */
  private Tensor gridNoise(long[] shape) {
    try (Generator g = Generator.create(device, 1234)) {
      return Tensor.randn(shape, DType.FLOAT32, device, g);
    }
  }

  /**
   * The learning rate before the step at {@code images} trained images (ECT imgnet / EDM2
   * {@code learning_rate_schedule(cur_nimg, batch_size, ref_lr, ref_batches, rampup_kimg)}): lr, divided by
   * √max(images / (lr_decay_batches · batch), 1) when lr_decay_batches > 0, times min(images / lr_rampup_kimg, 1)
   * when lr_rampup_kimg > 0.
   */
  static double lrAt(TrainingOptions opts, double lr, long images) {
    if (opts.lrDecayBatches() > 0) lr /= Math.sqrt(Math.max(images / (opts.lrDecayBatches() * opts.batch()), 1));
    if (opts.lrRampupKimg() > 0) lr *= Math.min(images / (opts.lrRampupKimg() * 1000), 1);
    return lr;
  }
}
