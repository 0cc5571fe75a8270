package dev.cm4j.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cm4j.nn.EDMNetwork;
import dev.cm4j.nn.Module;
import dev.cm4j.objectives.ConsistencyTraining;
import dev.cm4j.objectives.ECT;
import dev.cm4j.objectives.SCM;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

/**
 * The objective side of a run: which module is trained, how a batch becomes per-sample losses, and how the (EMA)
 * model is sampled for the grids. One implementation per objective family; each only wires the library's objective.
 */
abstract class RunObjective {
  /**
   * The data-parallel shard this process computes: rank r of W holds rows r, r + W, r + 2W, … of the global batch
   * (the loader's strided sharding). Random draws are made for the global batch and sliced, so a run's numbers do
   * not depend on the number of processes (at the cost of drawing W times the local noise on every rank).
   */
  int shardRank = 0;
  int shardWorld = 1;

  /** Standard-normal draws for this shard's rows of a global batch of localShape[0] · W rows. */
  Tensor draw(long[] localShape, dev.cm4j.tensor.DType dtype, dev.cm4j.tensor.Device dev, Generator gen) {
    if (shardWorld == 1) return Tensor.randn(localShape, dtype, dev, gen);
    long[] g = localShape.clone();
    g[0] *= shardWorld;
    return Tensor.randn(g, dtype, dev, gen).slice(0, shardRank, g[0], shardWorld).contiguous();
  }

  /** The trained module (the optimizer's parameters); its structure is also the EMA's. */
  abstract Module model();

  /** Per-sample loss of a batch at the given progress; parts go into {@code stats} for logging. */
  abstract Tensor loss(Tensor x, Tensor labels, long iteration, long images, Map<String, Double> stats);

  /** A short description of the schedule position (e.g. "stage 2"), or "". */
  String position(long images) {
    return "";
  }

  /** Samples with a model of {@link #model()}'s structure: 1 step, then re-noised at each time in mids. */
  abstract Tensor sample(Module m, Tensor z, double[] mids, Generator gen);

  /** Builds the objective named by options.objective.kind around networks made by {@code newNet}. */
  static RunObjective create(TrainingOptions o, Supplier<Module> newNet, long seed) {
    ObjectNode ob = o.objective();
    ObjectNode pc = o.precond();
    String kind = Builders.str(ob, "kind", "ect");
    double sd = Builders.num(pc, "sigma_data", 0.5);
    return switch (kind) {
      case "ect" -> new EctObjective(o, newNet, sd, seed);
      case "sct" -> new SctObjective(o, newNet, sd, seed);
      case "ict" -> new IctObjective(o, newNet, sd, seed);
      default -> throw new IllegalArgumentException("objective.kind '" + kind + "' is not supported by the trainer yet"
          + " (ect, sct, ict); the library has ECT, sCT/sCD, CTM and CD/CT/iCT objectives");
    };
  }

  @SuppressWarnings("unchecked")
  static <N extends Module & EDMNetwork> N asNet(Module m) {
    return (N) m;
  }

  // ------------------------------------------------------------------------------------------------ ECT

  /** ECT (specs/ect.md): stage −1 for denoise_kimg, then stages of double_kimg each. */
  static final class EctObjective extends RunObjective {
    final EDMPrecond net;
    final ECT ect;
    final double denoiseKimg;
    final double doubleKimg;
    final double sigmaMax;
    final Generator gen;

    EctObjective(TrainingOptions o, Supplier<Module> newNet, double sd, long seed) {
      ObjectNode ob = o.objective();
      ObjectNode pc = o.precond();
      sigmaMax = Builders.num(pc, "sigma_max", 80);
      net = new EDMPrecond(asNet(newNet.get()), sd, Builders.num(pc, "sigma_min", 0.003), sigmaMax,
          EDMPrecond.Boundary.ECT);
      ect = new ECT(new ECT.Config(Builders.num(ob, "P_mean", -1.1), Builders.num(ob, "P_std", 2.0),
          Builders.num(ob, "q", 2), Builders.num(ob, "k", 8), Builders.num(ob, "b", 1), Builders.num(ob, "c", 0),
          ECT.Mapping.valueOf(Builders.str(ob, "mapping", "sigmoid").toUpperCase(java.util.Locale.ROOT)),
          ECT.Weighting.INVERSE_GAP, sd));
      denoiseKimg = Builders.num(ob, "denoise_kimg", 0);
      doubleKimg = Builders.num(ob, "double_kimg", 3200);
      gen = Generator.cpu(seed ^ 0x5eed);
    }

    int stage(long images) {
      double kimg = images / 1000.0;
      if (kimg < denoiseKimg) return ECT.DENOISING_STAGE;
      return (int) Math.floor((kimg - denoiseKimg) / doubleKimg);
    }

    @Override
    Module model() {
      return net;
    }

    @Override
    String position(long images) {
      return "stage " + stage(images);
    }

    @Override
    Tensor loss(Tensor x, Tensor labels, long iteration, long images, Map<String, Double> stats) {
      stats.put("stage", (double) stage(images));
      Tensor n = draw(new long[] {x.size(0)}, dev.cm4j.tensor.DType.FLOAT32, x.device(), gen);
      Tensor eps = draw(x.shape(), x.dtype(), x.device(), gen);
      return ect.loss(net, x, labels, stage(images), n, eps, null);
    }

    @Override
    Tensor sample(Module m, Tensor z, double[] mids, Generator g) {
      double[] times = new double[mids.length + 1];
      times[0] = sigmaMax;
      System.arraycopy(mids, 0, times, 1, mids.length);
      return Samplers.consistency((EDMPrecond) m, z, times, null, 0, g);
    }
  }

  // ------------------------------------------------------------------------------------------------ sCT

  /** The trained pair of sCT: the TrigFlow network and the adaptive weight head. */
  static final class SctModel extends Module {
    final TrigFlowPrecond net;
    final AdaptiveWeight weight;

    <N extends Module & EDMNetwork> SctModel(N raw, double sd) {
      net = child("net", new TrigFlowPrecond(raw, sd, TrigFlowPrecond.TimeLabel.IDENTITY));
      weight = child("logvar", new AdaptiveWeight(128));
    }
  }

  /** sCT (specs/scm.md): TrigFlow network with c_noise = t, learned weight, tangent warm-up and normalisation. */
  static final class SctObjective extends RunObjective {
    final SctModel model;
    final SCM scm;
    final double sigmaMax;
    final Generator gen;

    SctObjective(TrainingOptions o, Supplier<Module> newNet, double sd, long seed) {
      ObjectNode ob = o.objective();
      model = new SctModel(asNet(newNet.get()), sd);
      scm = new SCM(new SCM.Config(Builders.num(ob, "P_mean", -1.0), Builders.num(ob, "P_std", 1.4),
          (long) Builders.num(ob, "warmup_iterations", 10_000), Builders.num(ob, "tangent_norm_c", 0.1)));
      sigmaMax = Builders.num(o.precond(), "sigma_max", 80);
      gen = Generator.cpu(seed ^ 0x5c7);
    }

    @Override
    Module model() {
      return model;
    }

    @Override
    Tensor loss(Tensor x, Tensor labels, long iteration, long images, Map<String, Double> stats) {
      Tensor n = draw(new long[] {x.size(0)}, dev.cm4j.tensor.DType.FLOAT32, x.device(), gen);
      Tensor z = draw(x.shape(), x.dtype(), x.device(), gen);
      SCM.Result r = scm.loss(model.net, model.weight, x, labels, iteration, null,
          scm.timeFromDraw(n, model.net.sigmaData()), z, null);
      stats.put("tangent_norm", r.tangentNorm().mean().item());
      stats.put("logvar", r.logWeight().mean().item());
      return r.loss();
    }

    @Override
    Tensor sample(Module m, Tensor z, double[] mids, Generator g) {
      SctModel sm = (SctModel) m;
      double[] times = new double[mids.length + 1];
      times[0] = Samplers.trigflowTMax(sigmaMax, sm.net.sigmaData());
      System.arraycopy(mids, 0, times, 1, mids.length);
      return Samplers.trigflow(sm.net, z, times, null, g);
    }
  }

  // ------------------------------------------------------------------------------------------------ iCT

  /** iCT (specs/ctm.md §5.3): consistency boundary, doubling curriculum, log-normal pairs, θ⁻ = θ. */
  static final class IctObjective extends RunObjective {
    final EDMPrecond net;
    final ConsistencyTraining ict;
    final Random rnd;
    final Generator gen;

    IctObjective(TrainingOptions o, Supplier<Module> newNet, double sd, long seed) {
      Module raw = newNet.get();
      net = new EDMPrecond(asNet(raw), sd, 0.002, 80, EDMPrecond.Boundary.CM);
      long iters = (long) Builders.num(o.objective(), "total_iterations",
          Math.ceil(o.durationKimg() * 1000 / o.batch()));
      int dim = ((EDMNetwork) raw).resolution() > 0
          ? ((EDMNetwork) raw).channels() * ((EDMNetwork) raw).resolution() * ((EDMNetwork) raw).resolution()
          : ((EDMNetwork) raw).channels();
      ict = new ConsistencyTraining(ConsistencyTraining.Config.ict(iters, dim));
      rnd = new Random(seed ^ 0x1c7);
      gen = Generator.cpu(seed ^ 0x1c8);
    }

    @Override
    Module model() {
      return net;
    }

    @Override
    String position(long images) {
      return "";
    }

    @Override
    Tensor loss(Tensor x, Tensor labels, long iteration, long images, Map<String, Double> stats) {
      stats.put("levels", (double) ict.numLevels(iteration));
      double[] grid = ict.grid(iteration);
      long[] global = ict.drawPairs(grid, (int) x.size(0) * shardWorld, rnd);
      long[] pairs = new long[(int) x.size(0)];
      for (int i = 0; i < pairs.length; i++) pairs[i] = global[shardRank + i * shardWorld];
      Tensor z = draw(x.shape(), x.dtype(), x.device(), gen);
      return ict.loss(net, null, null, x, labels, grid, pairs, z, null);
    }

    @Override
    Tensor sample(Module m, Tensor z, double[] mids, Generator g) {
      double[] times = new double[mids.length + 1];
      times[0] = 80;
      System.arraycopy(mids, 0, times, 1, mids.length);
      return Samplers.consistency((EDMPrecond) m, z, times, null, 0.002, g);
    }
  }

  static Map<String, Double> newStats() {
    return new LinkedHashMap<>();
  }
}
