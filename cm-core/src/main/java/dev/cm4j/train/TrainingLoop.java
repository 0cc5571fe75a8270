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
  record Run(TrainingOptions opts, Dataset dataset, Loader loader, RunObjective objective, List<Module> emaModels,
      EMA ema, Optimizer optimizer, LossScaler scaler, Generator sampleGen, DataParallel dp, int rounds,
      int batchGpu) {
    Module model() {
      return objective.model();
    }

    TrainingState.Parts parts() {
      return new TrainingState.Parts(model(), optimizer, ema, objective, sampleGen, scaler);
    }
  }

  private final Run run;
  private final TrainingOptions opts;
  private final RunDirectory dir; // null on ranks other than 0
  private final TickReporter reporter;
  private final String initReport;
  private final Device.Type deviceType;
  private long images;
  private long iteration;
  private long tick;
  private Map<String, String> dataDescription; // Snapshot.describe of the run's data (computed once)
  volatile boolean stopRequested;
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
    this.deviceType = run.model().namedParameters().values().iterator().next().get().device().type();
  }

  long images() {
    return images;
  }

  long iteration() {
    return iteration;
  }

  /** Runs until duration_kimg (or a stop request). */
  Trainer.Result run() {
    Module model = run.model();
    DataParallel dp = run.dp();
    long total = (long) (opts.durationKimg() * 1000);
    long tickImages = Math.max(1, (long) (opts.tickKimg() * 1000));
    NanToNum sanitize = opts.nanGuard().equals("sanitize") ? NanToNum.ECT : null;
    double baseLr = opts.optimizer().lr();
    if (images == 0) {
      reporter.log(String.format(Locale.ROOT,
          "cm4j training run %s: %d parameters, batch %d (%d x %d x %d), %.1f kimg",
          dir == null ? "" : dir.path().getFileName(), model.parameterCount(), opts.batch(),
          dp == null ? 1 : dp.world(), run.rounds(), run.batchGpu(), opts.durationKimg()));
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
      reporter.log(String.format(Locale.ROOT, "resumed %s at %.1f kimg (tick %d)",
          dir == null ? "" : dir.path().getFileName(), images / 1000.0, tick));
    }
    reporter.startTick(images);
    double lastLoss = Double.NaN;
    Map<String, Double> parts = new LinkedHashMap<>();
    boolean interrupted = false;
    while (images < total) {
      if (agreeStop()) {
        interrupted = true;
        break;
      }
      Trainer.StepListener listener = stepListener;
      listener.beforeStep(iteration, images);
      double rampup = opts.lrRampupKimg() > 0 ? Math.min(images / (opts.lrRampupKimg() * 1000), 1) : 1;
      run.optimizer().setLr(baseLr * rampup);
      run.optimizer().zeroGrad();
      double stepLoss = accumulate(parts);
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
          Path dump = dir != null ? dir.nanDump(images) : null;
          if (dump != null) writeState(dump);
          throw new IllegalStateException(String.format(Locale.ROOT,
              "loss is %s at %.3f kimg (iteration %d); state dumped to %s; set nan_guard to skip or sanitize to go on",
              stepLoss, images / 1000.0, iteration, dump));
        }
        if (opts.nanGuard().equals("skip")) {
          reporter.log(String.format(Locale.ROOT, "non-finite loss at iteration %d: step skipped", iteration));
          skipStep(listener, stepLoss);
          continue;
        }
      }
      if (run.scaler() != null) {
        boolean localInf;
        try (TensorScope s = TensorScope.open()) {
          localInf = run.scaler().unscale(model.parameters());
        }
        boolean inf = dp == null ? localInf : collective(() -> dp.any(localInf) ? 1 : 0) > 0; // all ranks skip together
        run.scaler().update(inf);
        if (inf) {
          skipStep(listener, stepLoss); // GradScaler semantics: the step is skipped and the scale backs off
          continue;
        }
      }
      if (sanitize != null) sanitize.apply(model);
      if (opts.clipGradNorm() > 0) dev.cm4j.optim.ClipGradNorm.of(opts.clipGradNorm()).apply(model);
      run.optimizer().step();
      run.objective().afterStep(iteration);
      if (run.ema() != null) run.ema().update(opts.batch());
      images += opts.batch();
      iteration++;
      lastLoss = stepLoss;
      reporter.step(stepLoss, images, total);
      listener.afterStep(iteration - 1, images, stepLoss);
      boolean done = images >= total;
      if (reporter.tickFull(images, tickImages) || done || stopRequested) endTick(parts, total, done);
    }
    if (interrupted) {
      if (dir != null) writeState(dir.state(images));
      reporter.log(String.format(Locale.ROOT, "stopped at %.1f kimg on request; resume with: cm train --resume %s",
          images / 1000.0, dir == null ? "" : dir.path()));
    } else {
      reporter.log(String.format(Locale.ROOT, "done: %.1f kimg, %d iterations", images / 1000.0, iteration));
    }
    return new Trainer.Result(dir == null ? null : dir.path(), images, iteration, interrupted, lastLoss);
  }

  /** Forward and backward of every accumulation round; the step's mean loss. */
  private double accumulate(Map<String, Double> parts) {
    double stepLoss = 0;
    int rounds = run.rounds();
    for (int r = 0; r < rounds; r++) {
      try (TensorScope s = TensorScope.open(); Batch b = run.loader().next()) {
        Tensor loss;
        try (Autocast ac = autocast()) {
          loss = run.objective().loss(b.x(), b.labels(), iteration, images, parts).mean();
        }
        double v = loss.item();
        stepLoss += v / rounds;
        Tensor l = loss.to(DType.FLOAT32).div((double) rounds); // averages over accumulation rounds
        if (run.scaler() != null) l = l.mul(run.scaler().scale());
        l.backward();
      }
    }
    return stepLoss;
  }

  /** A step that is not applied still counts its images and iteration. */
  private void skipStep(Trainer.StepListener listener, double stepLoss) {
    run.optimizer().zeroGrad();
    images += opts.batch();
    iteration++;
    listener.afterStep(iteration - 1, images, stepLoss);
  }

  private void endTick(Map<String, Double> parts, long total, boolean done) {
    DataParallel dp = run.dp();
    if (dp != null) {
      for (var e : parts.entrySet()) {
        double v = e.getValue();
        e.setValue(collective(() -> dp.mean(v)));
      }
    }
    // the position of the tick's last step (trained at images - batch), as the objective's parts in stats.jsonl
    // record it: at a stage boundary, images itself already names the next stage
    reporter.endTick(tick, images, iteration, total, parts, run.optimizer().lr(),
        run.objective().position(images - opts.batch()));
    tick++;
    if (dir != null) {
      if (tick % opts.snapTicks() == 0 || done) snapshot();
      if (tick % opts.stateTicks() == 0 || done || stopRequested) writeState(dir.state(images));
    }
    reporter.startTick(images);
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
    DataParallel dp = run.dp();
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
          run.dp().rank(), run.dp().world(), iteration, e.getMessage()), e);
    }
  }

  private void writeState(Path file) {
    // the loader's position is stored world-size independent
    TrainingState.write(file, run.parts(), images, iteration, tick, run.loader().state().reshard(0, 1),
        reporter.history());
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
      if (run.dataset() instanceof ImageDataset img) {
        int n = opts.data().grid();
        int cols = (int) Math.ceil(Math.sqrt(n));
        long res = opts.data().resolutionOr(img.resolution());
        Tensor z = Tensor.randn(new long[] {n, img.channels(), res, res}, DType.FLOAT32, Device.CPU,
            Generator.cpu(1234));
        sampleGen.setSeed(5678);
        ImageGrid.save(objective.sample(m, z, new double[0], sampleGen).clamp(-1, 1), cols, dir.samples(1, images));
        if (opts.sampleSteps().length > 0) {
          ImageGrid.save(objective.sample(m, z, opts.sampleSteps(), sampleGen).clamp(-1, 1), cols,
              dir.samples(opts.sampleSteps().length + 1, images));
        }
      } else {
        Tensor z = Tensor.randn(new long[] {2000, ((PointDataset) run.dataset()).dim()}, DType.FLOAT32, Device.CPU,
            Generator.cpu(1234));
        sampleGen.setSeed(5678);
        PointDataset data = (PointDataset) run.dataset();
        ScatterPlot.write(objective.sample(m, z, new double[0], sampleGen), data, dir.samples(1, images));
        if (opts.sampleSteps().length > 0) {
          ScatterPlot.write(objective.sample(m, z, opts.sampleSteps(), sampleGen), data,
              dir.samples(opts.sampleSteps().length + 1, images));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write a snapshot into " + dir.path(), e);
    } finally {
      m.train(wasTraining);
    }
  }
}
