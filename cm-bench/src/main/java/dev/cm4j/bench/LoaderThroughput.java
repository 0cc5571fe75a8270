package dev.cm4j.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cm4j.data.Batch;
import dev.cm4j.data.Dataset;
import dev.cm4j.data.IdxDataset;
import dev.cm4j.data.Loader;
import dev.cm4j.data.LoaderConfig;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.objectives.ECT;
import dev.cm4j.optim.EMA;
import dev.cm4j.optim.NanToNum;
import dev.cm4j.optim.Optimizer;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import dev.cm4j.train.Builders;
import dev.cm4j.train.Presets;
import dev.cm4j.train.TrainingOptions;
import java.util.List;

/**
 * Data loading against consumption, run by {@code bench/loader_throughput.sh}: how fast {@link Loader} delivers
 * Fashion-MNIST batches ({@code LoaderConfig.of(64, 0).withResize(32, PAD)}: shuffled, labels, 28 → 32 padding) and
 * how fast the {@code fmnist-ect-tiny} preset's training step consumes them.
 *
 * <p>Lines (ms per batch, {@link StepTimer} format):
 * <ul>
 *   <li>{@code loader/sync}: {@code prefetch 0}, the batch is read and collated on this thread — the loader's own
 *       cost per batch (its CPU time is what it takes from training);
 *   <li>{@code loader/prefetch2}: the configuration as given (2 batches prefetched by a background thread), drained
 *       as fast as possible by a consumer that does nothing else: the delivery rate;
 *   <li>{@code ect_stage<s>/threads<t>}: the preset's ECT training step on a fixed batch of 64 — the preset's network
 *       (SongUNet 32 channels, mult [1,2,2], attention at 8×8), {@code EDMPrecond.ect}, ECT loss (stage −1 = the
 *       denoising phase with one forward pass, stage 1 with two), mean, backward, NaN sanitising, Adam (lr 1e-3),
 *       EMA 0.995, as the trainer's loop does — with 1 intra-op thread and with 2 (the preset's {@code threads: 0} is
 *       libtorch's default, all cores);
 *   <li>{@code ect_stage1+loader/threads1}: the same step taking each batch from the prefetching loader.
 * </ul>
 * Usage: {@code LoaderThroughput [warmupSteps,warmupSeconds,reps]}.
 */
public final class LoaderThroughput {
  private LoaderThroughput() {}

  /** Loader batches per timed repetition. */
  static final int LOADER_BATCHES = 50;
  /** The loader's (and the consumption measurement's) batch size. */
  static final int BATCH = 64;

  public static void main(String[] args) {
    StepTimer timer = StepTimer.parse(args.length > 0 ? args[0] : null, new StepTimer(3, 2.0, 15));
    Torch.load();
    Dataset ds = IdxDataset.debianFashionMnist(true).orElseThrow(() -> new IllegalStateException(
        "Fashion-MNIST not found in " + IdxDataset.DEBIAN_FASHION_MNIST + " (apt-get install dataset-fashion-mnist)"));
    LoaderConfig lc = LoaderConfig.of(BATCH, 0).withResize(32, LoaderConfig.Resize.PAD);

    Torch.setNumThreads(1);
    for (LoaderConfig c : List.of(lc.withPrefetch(0), lc)) {
      try (Loader loader = Loader.open(ds, c)) {
        timer.measure("loader", c.prefetch() == 0 ? "sync" : "prefetch" + c.prefetch(), LOADER_BATCHES, () -> {
          for (int i = 0; i < LOADER_BATCHES; i++) {
            try (var s = TensorScope.open(); Batch b = loader.next()) {
              // consumed: the tensors are created on this thread and freed here
            }
          }
        });
      }
    }

    TrainingOptions opts = Presets.get("fmnist-ect-tiny");
    Tensor x;
    try (Loader loader = Loader.open(ds, lc.withPrefetch(0)); Batch b = loader.next()) {
      x = b.x().share();
    }
    for (int threads : new int[] {1, 2}) {
      Torch.setNumThreads(threads);
      for (int stage : new int[] {ECT.DENOISING_STAGE, 1}) {
        try (Step st = new Step(opts)) {
          timer.measure("ect_stage" + stage, "threads" + threads, () -> st.run(x, stage));
        }
      }
    }
    Torch.setNumThreads(1);
    try (Step st = new Step(opts); Loader loader = Loader.open(ds, lc)) {
      timer.measure("ect_stage1+loader", "threads1", () -> {
        try (var s = TensorScope.open(); Batch b = loader.next()) {
          st.run(b.x(), 1);
        }
      });
    }
    x.close();
  }

  /** The trainer's step for the preset's ECT run (Trainer's loop without logging, snapshots and LR ramp-up). */
  static final class Step implements AutoCloseable {
    final EDMPrecond net;
    final ECT ect;
    final Optimizer opt;
    final Module ema;
    final EMA emaRule;

    Step(TrainingOptions o) {
      Torch.manualSeed(0);
      ObjectNode pc = (ObjectNode) o.tree().get("precond");
      ObjectNode ob = (ObjectNode) o.tree().get("objective");
      Module raw = Builders.network(o.network(), 32, 1, false);
      net = new EDMPrecond((SongUNet) raw, pc.path("sigma_data").asDouble(0.5), pc.path("sigma_min").asDouble(0.003),
          pc.path("sigma_max").asDouble(80), EDMPrecond.Boundary.ECT);
      ect = new ECT(new ECT.Config(ob.path("P_mean").asDouble(), ob.path("P_std").asDouble(), ob.path("q").asDouble(),
          ob.path("k").asDouble(), ob.path("b").asDouble(), ob.path("c").asDouble(), ECT.Mapping.SIGMOID,
          ECT.Weighting.INVERSE_GAP, 0.5));
      opt = Builders.optimizer(o.optimizer(), net);
      ema = new EDMPrecond((SongUNet) Builders.network(o.network(), 32, 1, false), 0.5, 0.003, 80,
          EDMPrecond.Boundary.ECT);
      ema.copyFrom(net);
      ema.requiresGrad_(false);
      emaRule = EMA.of(net, List.of(ema), Builders.emaRules(o.ema()));
    }

    void run(Tensor x, int stage) {
      opt.zeroGrad();
      try (var s = TensorScope.open()) {
        Tensor loss = ect.loss(net, x, null, stage, null, null).mean();
        loss.item();
        loss.backward();
      }
      NanToNum.ECT.apply(net);
      opt.step();
      emaRule.update(x.size(0));
    }

    @Override
    public void close() {
      emaRule.close();
      opt.close();
      ema.close();
      net.close();
    }
  }
}
