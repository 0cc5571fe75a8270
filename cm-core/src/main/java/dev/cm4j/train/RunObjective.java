package dev.cm4j.train;

import dev.cm4j.data.SplitMix64;
import dev.cm4j.nn.EDMNetwork;
import dev.cm4j.nn.Module;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The objective side of a run: which module is trained, how a batch becomes per-sample losses, and how the (EMA)
 * model is sampled for the grids. One implementation per objective family, each in its own file with its options
 * record ({@link EctObjective}, {@link SctObjective}, {@link IctObjective}, {@link CmObjective}, {@link CtmObjective});
 * each only wires the library's objective.
 */
abstract class RunObjective {
  /**
   * Where the objective computes: its modules (built on the CPU, so that their initial weights do not depend on the
   * device, then moved), the teacher, targets and LPIPS network it loads, and its random streams, which are generators
   * of this device (a CUDA run draws its noise on the GPU, as PyTorch code does).
   */
  final Device device;

  RunObjective(Device device) {
    this.device = device;
  }

  /** A generator of {@link #device} seeded with seed: the objective's noise stream. */
  Generator newGenerator(long seed) {
    return Generator.create(device, seed);
  }

  /** m moved to {@link #device} (floating-point parameters and buffers; dtypes kept); returns m. */
  <M extends Module> M onDevice(M m) {
    m.to(device, null);
    return m;
  }
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

  /**
   * Per-sample loss of a batch at the given progress; parts go into {@code stats} for logging, as device tensors (no
   * host read may happen here: the loop's step never waits for the device, except for the geometric augmentation's
   * margin when {@link #augment} is on). An objective that supports augmentation applies {@link #augment} to x itself
   * (ECT's ECMLoss does so inside the loss, between its draws of t and of the noise) and passes the labels to every
   * network call.
   */
  abstract Tensor loss(Tensor x, Tensor labels, long iteration, long images, StepStats stats);

  /** EDM's augmentation pipeline (options.augment with p > 0), or null. Set by {@link #create}. */
  dev.cm4j.data.AugmentPipe augment;

  /**
   * x augmented with draws from gen (this shard's rows of draws for the global batch), or x with null labels when
   * augmentation is off.
   */
  dev.cm4j.data.AugmentPipe.Result augmented(Tensor x, Generator gen) {
    if (augment == null) return new dev.cm4j.data.AugmentPipe.Result(x, null);
    return augment.apply(x, dev.cm4j.data.AugmentPipe.Draws.sharded(gen, x.device(), shardRank, shardWorld));
  }

  /** A short description of the schedule position (e.g. "stage 2"), or "". */
  String position(long images) {
    return "";
  }

  /** Samples with a model of {@link #model()}'s structure: 1 step, then re-noised at each time in mids. */
  final Tensor sample(Module m, Tensor z, double[] mids, Generator gen) {
    return sample(m, z, mids, null, 1, null, gen);
  }

  /**
   * Samples with a model of {@link #model()}'s structure: 1 step, then re-noised at each time in mids; with class
   * labels [N, label_dim] (null for an unconditional model) and {@link dev.cm4j.sampling.Guidance} of weight w (1: none)
   * by a guide of the same structure (autoguidance) or, with a null guide, by the model's own zero-label output
   * (classifier-free).
   */
  abstract Tensor sample(Module m, Tensor z, double[] mids, Tensor labels, double w, Module guide, Generator gen);

  /**
   * Sets the γ of a γ-sampler ({@code cm sample --gamma}): AYF's flow maps (docs/algorithms/ayf.md §3) and CTM's
   * jumps. The others have none: anything but 0 is refused.
   */
  void setSampleGamma(double gamma) {
    if (gamma != 0) {
      throw new IllegalArgumentException("γ-sampling (--gamma " + gamma + ") is for ayf and ctm snapshots; this "
          + "objective's sampler has no γ");
    }
  }

  /**
   * Whether the model takes the guidance scale as an input (AYF's guidance-scale conditioning): then the sampling
   * guidance weight is fed to it ({@link #setSampleGuidanceScale}) instead of guiding it.
   */
  boolean takesGuidanceScale() {
    return false;
  }

  /** The guidance weight sampling uses when none is given: 1 (none), or a guidance-conditioned model's default w. */
  double defaultGuidance() {
    return 1;
  }

  /** Sets the guidance scale a guidance-conditioned model samples at ({@link #takesGuidanceScale()}). */
  void setSampleGuidanceScale(double w) {
    throw new IllegalArgumentException("this model takes no guidance scale as an input");
  }

  /** The network's class-label dimension (network.label_dim; 0: unconditional). */
  int labelDim;

  /** One-hot labels of a sample grid with cols columns, one class per row (row r: class r mod C); null if unconditional. */
  Tensor gridLabels(int n, int cols) {
    if (labelDim == 0) return null;
    return dev.cm4j.sampling.ClassLabels.oneHot(dev.cm4j.sampling.ClassLabels.gridRows(n, cols, labelDim), labelDim,
        device);
  }

  /** Builds raw networks from a network config (options.network, or a teacher's), with or without CTM's s input. */
  interface NetFactory {
    Module build(NetworkOptions config, boolean sEmbedding);
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

  /**
   * Whether {@link #restoreRandomState} leaves the generators (device streams) as seeded: set while restoring a state
   * written on another device type, whose generator states this device cannot take. Host streams (SplitMix64) are
   * restored either way.
   */
  boolean keepDeviceStreams;

  /** Sets g from the uint8 tensor {@code state.get(name)} (unless {@link #keepDeviceStreams}). */
  void restore(Generator g, Map<String, Tensor> state, String name) {
    if (keepDeviceStreams) return;
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

  /**
   * Builds the objective named by options.objective.kind around networks made by {@code nets} (on the CPU), with its
   * model moved to device and its random streams drawing on device.
   */
  static RunObjective create(TrainingOptions o, NetFactory nets, long seed, Device device) {
    double sd = o.precond().sigmaData();
    Supplier<Module> newNet = () -> nets.build(o.network(), false);
    RunObjective r = switch (o.objective()) {
      case EctObjective.Options e -> new EctObjective(o, newNet, sd, seed, device);
      case SctObjective.Options s -> new SctObjective(o, nets, sd, seed, s.kind().equals("scd"), device);
      case IctObjective.Options i -> new IctObjective(o, newNet, sd, seed, device);
      case CmObjective.Options c -> new CmObjective(o, nets, sd, seed, c.kind().equals("cd"), device);
      case CtmObjective.Options c -> new CtmObjective(o, nets, sd, seed, device);
      case MeanFlowObjective.Options m -> new MeanFlowObjective(o, nets, seed, device);
      case AyfObjective.Options a -> new AyfObjective(o, nets, seed, device);
      case ImmObjective.Options m -> new ImmObjective(o, nets, seed, device);
    };
    r.onDevice(r.model());
    if (o.augment().enabled()) r.augment = new dev.cm4j.data.AugmentPipe(o.augment().config());
    r.labelDim = labelDim(o);
    return r;
  }

  /** network.label_dim of the options (0 for a network without one). */
  static int labelDim(TrainingOptions o) {
    return o.tree().path("network").path("label_dim").asInt(0);
  }

  /**
   * The frozen EDM teacher named by objective.teacher: a safetensors state dict of an EDM-preconditioned network (a
   * cm4j snapshot, or EDM's checkpoint converted by tools/export_pytorch.py), built from objective.teacher_network
   * (default: options.network). Every tensor must load. It is read on the CPU and moved to {@link #device}.
   */
  EDMPrecond loadTeacher(TrainingOptions o, NetFactory nets, double sd) {
    ObjectiveOptions ob = o.objective();
    String path = ob.teacher();
    if (path == null) {
      throw new IllegalArgumentException("objective.teacher is required for " + ob.kind() + ": a safetensors file of the "
          + "EDM teacher (tools/export_pytorch.py converts EDM's network-snapshot .pkl), e.g. --set objective.teacher=edm.safetensors");
    }
    NetworkOptions tn = ob.teacherNetwork() != null ? ob.teacherNetwork() : o.network();
    EDMPrecond t = new EDMPrecond(asNet(nets.build(tn, false)), sd, o.precond().sigmaMin(), o.precond().sigmaMax(),
        EDMPrecond.Boundary.EDM);
    java.nio.file.Path file = java.nio.file.Path.of(path);
    dev.cm4j.nn.LoadReport r = InitFrom.apply(t, file);
    if (!r.missing().isEmpty() || !r.shapeMismatched().isEmpty()) {
      throw new IllegalArgumentException("teacher " + path + " does not fit objective.teacher_network: "
          + InitFrom.summary(file, r, t.namedState().size()));
    }
    t.eval();
    t.requiresGrad_(false);
    return onDevice(t);
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
    String name = lastWeightName(m);
    return name == null ? null : m.namedParameters().get(name).get();
  }

  /**
   * Where CTM weighs its DSM term: the network's {@link dev.cm4j.nn.CTMNetwork#dsmLayer} (sony/ctm's last_layer), found
   * through a preconditioner's "model" child; otherwise the last weight matrix/kernel of m in parameter order, skipping
   * CTM's s-embedding path ({@code map_layer0_s}, {@code map_layer1_s}, {@code affine_s}), which SongUNet registers after
   * the decoder.
   */
  static String lastWeightName(Module m) {
    if (m instanceof dev.cm4j.nn.CTMNetwork n && n.dsmLayer() != null) return n.dsmLayer();
    if (m.children().get("model") instanceof dev.cm4j.nn.CTMNetwork n && n.dsmLayer() != null) {
      return "model." + n.dsmLayer();
    }
    String w = null;
    for (var e : m.namedParameters().entrySet()) {
      String key = e.getKey();
      boolean sPath = false;
      for (String part : key.split("\\.")) sPath |= part.endsWith("_s");
      if (key.endsWith("weight") && e.getValue().get().dim() >= 2 && !sPath) w = key;
    }
    return w;
  }

  @SuppressWarnings("unchecked")
  static <N extends Module & EDMNetwork> N asNet(Module m) {
    return (N) m;
  }

  /** The flow samplers' time chain 1 → mids… → 0 (sample_steps are the intermediate times). */
  static double[] oneToZero(double[] mids) {
    double[] times = new double[mids.length + 2];
    times[0] = 1;
    System.arraycopy(mids, 0, times, 1, mids.length);
    times[times.length - 1] = 0;
    return times;
  }

  /** labels, or for a class-conditional network sampled without labels the null class (all zeros, z's batch). */
  static Tensor labelsOrNullClass(Tensor labels, Tensor z, int labelDim) {
    if (labels != null || labelDim == 0) return labels;
    return Tensor.zeros(new long[] {z.size(0), labelDim}, z.dtype(), z.device());
  }

  /**
   * m as a network with a second time input (MeanFlow's, AYF's and IMM's two-time networks are built on it), or an
   * IllegalArgumentException "<what> has no second time input<forWhom>" for a network without one.
   */
  @SuppressWarnings("unchecked")
  static <N extends Module & dev.cm4j.nn.CTMNetwork> N asTwoTime(Module m, String what, String forWhom) {
    if (!(m instanceof dev.cm4j.nn.CTMNetwork)) {
      throw new IllegalArgumentException(what + " has no second time input" + forWhom);
    }
    return (N) m;
  }

}
