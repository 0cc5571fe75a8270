package dev.cm4j.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cm4j.data.SplitMix64;
import dev.cm4j.nn.EDMNetwork;
import dev.cm4j.nn.Module;
import dev.cm4j.objectives.CTM;
import dev.cm4j.objectives.ConsistencyTraining;
import dev.cm4j.objectives.ECT;
import dev.cm4j.objectives.SCM;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
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

  /** Builds raw networks from a network config (options.network, or a teacher's), with or without CTM's s input. */
  interface NetFactory {
    Module build(ObjectNode config, boolean sEmbedding);
  }

  /** Called after each optimizer step (target-network EMA updates). */
  void afterStep(long iteration) {}

  /** Weights that initialise the model when options.init_from is not given (sCD: the teacher), or null. */
  String defaultInit() {
    return null;
  }

  /** Modules besides {@link #model()} whose state a training state must hold (e.g. a target network). */
  Map<String, Module> extraState() {
    return Map.of();
  }

  /**
   * This objective's random streams, by name, each as a tensor a training state stores as it is: a libtorch
   * generator's state bytes (uint8) or a {@link SplitMix64} state (one int64). Nothing else is needed to continue
   * the draws exactly.
   */
  Map<String, Tensor> randomState() {
    return Map.of();
  }

  /** Restores the streams from {@link #randomState()}'s tensors; a missing or malformed one throws, naming it. */
  void restoreRandomState(Map<String, Tensor> state) {}

  /** A generator's state as a uint8 tensor. */
  static Tensor stateOf(Generator g) {
    byte[] b = g.getState();
    return Tensor.fromBytes(b, dev.cm4j.tensor.DType.UINT8, b.length);
  }

  /** A SplitMix64 state as a one-element int64 tensor. */
  static Tensor stateOf(SplitMix64 r) {
    return Tensor.of(new long[] {r.state()}, 1);
  }

  /** Sets g from the uint8 tensor {@code state.get(name)}. */
  static void restore(Generator g, Map<String, Tensor> state, String name) {
    Tensor t = stream(state, name);
    if (t.dtype() != dev.cm4j.tensor.DType.UINT8 || t.dim() != 1) {
      throw new IllegalArgumentException("random stream '" + name + "' must be a 1-d uint8 tensor of generator state, "
          + "not " + t.dtype() + " " + java.util.Arrays.toString(t.shape()));
    }
    try {
      g.setState(t.toByteArray());
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("random stream '" + name + "' is not a valid generator state: "
          + e.getMessage(), e);
    }
  }

  /** Sets r from the one-element int64 tensor {@code state.get(name)}. */
  static void restore(SplitMix64 r, Map<String, Tensor> state, String name) {
    Tensor t = stream(state, name);
    if (t.dtype() != dev.cm4j.tensor.DType.INT64 || t.numel() != 1) {
      throw new IllegalArgumentException("random stream '" + name + "' must be one int64 (a SplitMix64 state), not "
          + t.dtype() + " " + java.util.Arrays.toString(t.shape()));
    }
    r.setState(t.toLongArray()[0]);
  }

  private static Tensor stream(Map<String, Tensor> state, String name) {
    Tensor t = state.get(name);
    if (t == null) throw new IllegalArgumentException("random stream '" + name + "' is missing");
    return t;
  }

  /** Builds the objective named by options.objective.kind around networks made by {@code nets}. */
  static RunObjective create(TrainingOptions o, NetFactory nets, long seed) {
    ObjectNode ob = o.objective();
    ObjectNode pc = o.precond();
    String kind = Builders.str(ob, "kind", "ect");
    double sd = Builders.num(pc, "sigma_data", 0.5);
    Supplier<Module> newNet = () -> nets.build(o.network(), false);
    return switch (kind) {
      case "ect" -> new EctObjective(o, newNet, sd, seed);
      case "sct", "scd" -> new SctObjective(o, nets, sd, seed, kind.equals("scd"));
      case "ict" -> new IctObjective(o, newNet, sd, seed);
      case "cd", "ct" -> new CmObjective(o, nets, sd, seed, kind.equals("cd"));
      case "ctm" -> new CtmObjective(o, nets, sd, seed);
      default -> throw new IllegalArgumentException("objective.kind '" + kind + "' is not supported (ect, sct, scd, "
          + "ict, cd, ct, ctm)");
    };
  }

  /**
   * The frozen EDM teacher named by objective.teacher: a safetensors state dict of an EDM-preconditioned network (a
   * cm4j snapshot, or EDM's checkpoint converted by tools/export_pytorch.py), built from objective.teacher_network
   * (default: options.network). Every tensor must load.
   */
  static EDMPrecond loadTeacher(TrainingOptions o, NetFactory nets, double sd) {
    ObjectNode ob = o.objective();
    String path = Builders.str(ob, "teacher", null);
    String kind = Builders.str(ob, "kind", "");
    if (path == null) {
      throw new IllegalArgumentException("objective.teacher is required for " + kind + ": a safetensors file of the EDM "
          + "teacher (tools/export_pytorch.py converts EDM's network-snapshot .pkl), e.g. --set objective.teacher=edm.safetensors");
    }
    ObjectNode tn = ob.get("teacher_network") instanceof ObjectNode n ? n : o.network();
    EDMPrecond t = new EDMPrecond(asNet(nets.build(tn, false)), sd, Builders.num(o.precond(), "sigma_min", 0.002),
        Builders.num(o.precond(), "sigma_max", 80), EDMPrecond.Boundary.EDM);
    java.nio.file.Path file = java.nio.file.Path.of(path);
    dev.cm4j.nn.LoadReport r = InitFrom.apply(t, file);
    if (!r.missing().isEmpty() || !r.shapeMismatched().isEmpty()) {
      throw new IllegalArgumentException("teacher " + path + " does not fit objective.teacher_network: "
          + InitFrom.summary(file, r, t.namedState().size()));
    }
    t.eval();
    t.requiresGrad_(false);
    return t;
  }

  /** target ← μ·target + (1 − μ)·online, parameters and buffers, without autograd. */
  static void emaInto(Module target, Module online, double mu) {
    try (dev.cm4j.tensor.GradMode g = dev.cm4j.tensor.GradMode.noGrad();
        dev.cm4j.tensor.TensorScope s = dev.cm4j.tensor.TensorScope.open()) {
      var src = online.namedState();
      for (var e : target.namedState().entrySet()) {
        Tensor t = e.getValue().get();
        Tensor o = src.get(e.getKey()).get();
        if (mu == 0 || !t.dtype().isFloatingPoint()) t.copy_(o);
        else t.lerp_(o, 1 - mu);
      }
    }
  }

  /** The last weight (2-D or more) of a module in state-dict order: the output layer, for CTM's λ_DSM. */
  static Tensor lastWeight(Module m) {
    Tensor w = null;
    for (var e : m.namedParameters().entrySet()) {
      Tensor t = e.getValue().get();
      if (e.getKey().endsWith("weight") && t.dim() >= 2) w = t;
    }
    return w;
  }

  @SuppressWarnings("unchecked")
  static <N extends Module & EDMNetwork> N asNet(Module m) {
    return (N) m;
  }

  // ------------------------------------------------------------------------------------------------ ECT

  /** ECT (docs/algorithms/ect.md): stage −1 for denoise_kimg, then stages of double_kimg each. */
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
    Map<String, Tensor> randomState() {
      return Map.of("noise", stateOf(gen));
    }

    @Override
    void restoreRandomState(Map<String, Tensor> state) {
      restore(gen, state, "noise");
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

    <N extends Module & EDMNetwork> SctModel(N raw, double sd, TrigFlowPrecond.TimeLabel label) {
      net = child("net", new TrigFlowPrecond(raw, sd, label));
      weight = child("logvar", new AdaptiveWeight(128));
    }
  }

  /**
   * sCT and sCD (docs/algorithms/scm.md): TrigFlow network (c_noise = t, or precond.time_label "edm" for a network with EDM's
   * parameterisation, e.g. initialised from an EDM teacher), learned weight, tangent warm-up and normalisation; sCD
   * takes the velocity from the EDM teacher converted to TrigFlow (§1.4).
   */
  static final class SctObjective extends RunObjective {
    final SctModel model;
    final SCM scm;
    final double sigmaMax;
    final Generator gen;
    private final TrainingOptions opts;
    private final NetFactory nets;
    private final boolean distill;
    private TrigFlowPrecond teacher;

    SctObjective(TrainingOptions o, NetFactory nets, double sd, long seed, boolean distill) {
      ObjectNode ob = o.objective();
      this.opts = o;
      this.nets = nets;
      this.distill = distill;
      TrigFlowPrecond.TimeLabel label = Builders.str(o.precond(), "time_label", "identity").equalsIgnoreCase("edm")
          ? TrigFlowPrecond.TimeLabel.EDM : TrigFlowPrecond.TimeLabel.IDENTITY;
      model = new SctModel(asNet(nets.build(o.network(), false)), sd, label);
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
    String defaultInit() {
      return distill && Builders.bool(opts.objective(), "init_from_teacher", false)
          ? Builders.str(opts.objective(), "teacher", null) : null;
    }

    @Override
    Tensor loss(Tensor x, Tensor labels, long iteration, long images, Map<String, Double> stats) {
      Tensor n = draw(new long[] {x.size(0)}, dev.cm4j.tensor.DType.FLOAT32, x.device(), gen);
      Tensor z = draw(x.shape(), x.dtype(), x.device(), gen);
      if (distill && teacher == null) teacher = TrigFlowPrecond.fromEDM(loadTeacher(opts, nets, model.net.sigmaData()));
      SCM.Result r = scm.loss(model.net, model.weight, x, labels, iteration, distill ? teacher : null,
          scm.timeFromDraw(n, model.net.sigmaData()), z, null);
      stats.put("tangent_norm", r.tangentNorm().mean().item());
      stats.put("logvar", r.logWeight().mean().item());
      return r.loss();
    }

    @Override
    Map<String, Tensor> randomState() {
      return Map.of("noise", stateOf(gen));
    }

    @Override
    void restoreRandomState(Map<String, Tensor> state) {
      restore(gen, state, "noise");
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

  /** iCT (docs/algorithms/ctm.md §5.3): consistency boundary, doubling curriculum, log-normal pairs, θ⁻ = θ. */
  static final class IctObjective extends RunObjective {
    final EDMPrecond net;
    final ConsistencyTraining ict;
    final SplitMix64 rnd;
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
      rnd = new SplitMix64(seed ^ 0x1c7);
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
    Map<String, Tensor> randomState() {
      return Map.of("noise", stateOf(gen), "pairs", stateOf(rnd));
    }

    @Override
    void restoreRandomState(Map<String, Tensor> state) {
      restore(gen, state, "noise");
      restore(rnd, state, "pairs");
    }

    @Override
    Tensor sample(Module m, Tensor z, double[] mids, Generator g) {
      double[] times = new double[mids.length + 1];
      times[0] = 80;
      System.arraycopy(mids, 0, times, 1, mids.length);
      return Samplers.consistency((EDMPrecond) m, z, times, null, 0.002, g);
    }
  }

  // ------------------------------------------------------------------------------------------------ CD / CT

  /**
   * CD and CT (docs/algorithms/ctm.md §5.1–5.2) as configurations of {@link ConsistencyTraining}: consistency boundary, a
   * target network θ⁻ updated by EMA (CD: fixed μ; CT: the adaptive μ(k)), pairs on the Karras grid; CD takes one
   * teacher Heun step, CT the data solver x + u·z.
   */
  static final class CmObjective extends RunObjective {
    final EDMPrecond net;
    final ConsistencyTraining cm;
    final SplitMix64 rnd;
    final Generator gen;
    private final TrainingOptions opts;
    private final NetFactory nets;
    private final boolean distill;
    private final double sd;
    private EDMPrecond target;
    private EDMPrecond teacher;

    CmObjective(TrainingOptions o, NetFactory nets, double sd, long seed, boolean distill) {
      this.opts = o;
      this.nets = nets;
      this.distill = distill;
      this.sd = sd;
      net = newNet();
      ObjectNode ob = o.objective();
      long iters = (long) Builders.num(ob, "total_iterations", Math.ceil(o.durationKimg() * 1000 / o.batch()));
      ConsistencyTraining.Config c = distill ? ConsistencyTraining.Config.cd(iters) : ConsistencyTraining.Config.ct(iters);
      cm = new ConsistencyTraining(new ConsistencyTraining.Config(c.schedule(), (int) Builders.num(ob, "s0", c.s0()),
          (int) Builders.num(ob, "s1", c.s1()), iters, c.timeSampling(), c.pMean(), c.pStd(), c.solver(),
          Builders.num(ob, "pseudo_huber_c", c.pseudoHuberC()), c.weighting(), Builders.num(ob, "mu0", c.mu0()),
          c.adaptiveEma(), Builders.num(o.precond(), "sigma_min", 0.002), Builders.num(o.precond(), "sigma_max", 80),
          7));
      rnd = new SplitMix64(seed ^ 0xcd1);
      gen = Generator.cpu(seed ^ 0xcd2);
    }

    private EDMPrecond newNet() {
      return new EDMPrecond(asNet(nets.build(opts.network(), false)), sd, Builders.num(opts.precond(), "sigma_min", 0.002),
          Builders.num(opts.precond(), "sigma_max", 80), EDMPrecond.Boundary.CM);
    }

    EDMPrecond target() {
      if (target == null) {
        target = newNet();
        target.copyFrom(net);
        target.requiresGrad_(false);
      }
      return target;
    }

    @Override
    Module model() {
      return net;
    }

    @Override
    Map<String, Module> extraState() {
      return Map.of("target", target());
    }

    @Override
    String position(long images) {
      return "N " + cm.numLevels(images / opts.batch());
    }

    @Override
    Tensor loss(Tensor x, Tensor labels, long iteration, long images, Map<String, Double> stats) {
      if (distill && teacher == null) teacher = loadTeacher(opts, nets, sd);
      double[] grid = cm.grid(iteration);
      long[] global = cm.drawPairs(grid, (int) x.size(0) * shardWorld, rnd);
      long[] pairs = new long[(int) x.size(0)];
      for (int i = 0; i < pairs.length; i++) pairs[i] = global[shardRank + i * shardWorld];
      Tensor z = draw(x.shape(), x.dtype(), x.device(), gen);
      stats.put("levels", (double) cm.numLevels(iteration));
      return cm.loss(net, target(), distill ? teacher : null, x, labels, grid, pairs, z, null);
    }

    @Override
    Map<String, Tensor> randomState() {
      return Map.of("noise", stateOf(gen), "pairs", stateOf(rnd));
    }

    @Override
    void restoreRandomState(Map<String, Tensor> state) {
      restore(gen, state, "noise");
      restore(rnd, state, "pairs");
    }

    @Override
    void afterStep(long iteration) {
      emaInto(target(), net, cm.targetEmaDecay(iteration));
    }

    @Override
    Tensor sample(Module m, Tensor z, double[] mids, Generator g) {
      double[] times = new double[mids.length + 1];
      times[0] = Builders.num(opts.precond(), "sigma_max", 80);
      System.arraycopy(mids, 0, times, 1, mids.length);
      return Samplers.consistency((EDMPrecond) m, z, times, null, Builders.num(opts.precond(), "sigma_min", 0.002), g);
    }
  }

  // ------------------------------------------------------------------------------------------------ CTM

  /**
   * CTM (docs/algorithms/ctm.md §2): the student G_θ is a {@link CTMPrecond} around the network with the s input; the target
   * θ⁻ is an EMA of it (objective.target_ema, CIFAR-10 0.999); the teacher is EDM's Heun on the frozen EDM network
   * (objective.teacher) unless objective.self_learn; DSM with the adaptive λ at the output layer. Sampling: γ = 0
   * (deterministic long jumps) over σ_max, the intermediate times, σ_min.
   */
  static final class CtmObjective extends RunObjective {
    final CTMPrecond student;
    final CTM ctm;
    final SplitMix64 rnd;
    final Generator gen;
    private final TrainingOptions opts;
    private final NetFactory nets;
    private final double sd;
    private final double mu;
    private CTMPrecond target;
    private EDMPrecond teacher;
    private Generator rankGen;
    private String lpipsPath;
    private boolean lpipsLoaded;

    CtmObjective(TrainingOptions o, NetFactory nets, double sd, long seed) {
      this.opts = o;
      this.nets = nets;
      this.sd = sd;
      ObjectNode ob = o.objective();
      CTM.Config c = CTM.Config.cifar10();
      ctm = new CTM(new CTM.Config((int) Builders.num(ob, "num_levels", c.numLevels()),
          (int) Builders.num(ob, "max_heun_steps", c.maxHeunSteps()), Builders.num(o.precond(), "sigma_min", 0.002),
          Builders.num(o.precond(), "sigma_max", 80), Builders.num(ob, "rho", 7),
          CTM.Distance.valueOf(Builders.str(ob, "distance", "l2").toUpperCase(java.util.Locale.ROOT).replace('-', '_')),
          Builders.num(ob, "huber_c", 0), Builders.bool(ob, "dsm", true), Builders.num(ob, "dsm_P_mean", -1.2),
          Builders.num(ob, "dsm_P_std", 1.2), Builders.num(ob, "dsm_uniform_max", 0.7), Builders.bool(ob, "self_learn", false)));
      mu = Builders.num(ob, "target_ema", 0.999);
      String lp = Builders.str(ob, "lpips", null);
      if (ctm.config().distance() == CTM.Distance.LPIPS) {
        if (lp == null) {
          throw new IllegalArgumentException("objective.distance lpips needs objective.lpips: a TorchScript file of "
              + "the LPIPS network (e.g. torch.jit.trace of piq.LPIPS(replace_pooling=True, reduction='none')), "
              + "or set objective.distance to l2 or pseudo_huber");
        }
        lpipsPath = lp;
      }
      student = newNet();
      rnd = new SplitMix64(seed ^ 0xc7e1);
      gen = Generator.cpu(seed ^ 0xc7e2);
    }

    private CTMPrecond newNet() {
      Module raw = nets.build(opts.network(), true);
      return new CTMPrecond((Module & dev.cm4j.nn.CTMNetwork) asCtm(raw), sd, Builders.num(opts.precond(), "sigma_min", 0.002),
          Builders.num(opts.precond(), "sigma_max", 80));
    }

    @SuppressWarnings("unchecked")
    private static <N extends Module & dev.cm4j.nn.CTMNetwork> N asCtm(Module m) {
      return (N) m;
    }

    CTMPrecond target() {
      if (target == null) {
        target = newNet();
        target.copyFrom(student);
        target.requiresGrad_(false);
      }
      return target;
    }

    @Override
    Module model() {
      return student;
    }

    @Override
    Map<String, Module> extraState() {
      return Map.of("target", target());
    }

    @Override
    Tensor loss(Tensor x, Tensor labels, long iteration, long images, Map<String, Double> stats) {
      if (!ctm.config().selfLearn() && teacher == null) teacher = loadTeacher(opts, nets, sd);
      if (lpipsPath != null && !lpipsLoaded) {
        ctm.withLpips(dev.cm4j.jit.ScriptModule.load(java.nio.file.Path.of(lpipsPath)));
        lpipsLoaded = true;
      }
      CTM.Draw d;
      if (shardWorld == 1) {
        d = ctm.draw(x, rnd, gen);
      } else {
        long[] gs = x.shape().clone();
        gs[0] *= shardWorld;
        CTM.Draw g = ctm.draw(Tensor.empty(gs, x.dtype(), x.device()), rnd, gen);
        int b = (int) x.size(0);
        long[] n = new long[b];
        long[] m = new long[b];
        for (int i = 0; i < b; i++) {
          n[i] = g.n()[shardRank + i * shardWorld];
          m[i] = g.m()[shardRank + i * shardWorld];
        }
        d = new CTM.Draw(g.k(), n, m, g.z().slice(0, shardRank, gs[0], shardWorld).contiguous());
        // DSM draws happen inside the loss on the local batch: one stream per rank
        if (rankGen == null) rankGen = Generator.cpu(dev.cm4j.data.SplitMix64.derive(opts.seed() ^ 0xd5, shardRank));
      }
      CTM.Result r = ctm.loss(student, target(), teacher, x, labels, d, lastWeight(student), shardWorld == 1 ? gen : rankGen);
      stats.put("ctm", r.ctm().mean().item());
      if (r.dsm() != null) stats.put("dsm", r.dsm().mean().item());
      stats.put("lambda_dsm", r.lambdaDsm());
      return r.total();
    }

    /** The per-rank DSM stream of a data-parallel run is not included: each rank re-derives it from the seed. */
    @Override
    Map<String, Tensor> randomState() {
      return Map.of("noise", stateOf(gen), "pairs", stateOf(rnd));
    }

    @Override
    void restoreRandomState(Map<String, Tensor> state) {
      restore(gen, state, "noise");
      restore(rnd, state, "pairs");
    }

    @Override
    void afterStep(long iteration) {
      emaInto(target(), student, mu);
    }

    @Override
    Tensor sample(Module m, Tensor z, double[] mids, Generator g) {
      double[] grid = new double[mids.length + 2];
      grid[0] = Builders.num(opts.precond(), "sigma_max", 80);
      System.arraycopy(mids, 0, grid, 1, mids.length);
      grid[grid.length - 1] = Builders.num(opts.precond(), "sigma_min", 0.002);
      return Samplers.ctmGamma((CTMPrecond) m, z, grid, 0, null, false, g);
    }
  }

  static Map<String, Double> newStats() {
    return new LinkedHashMap<>();
  }
}
