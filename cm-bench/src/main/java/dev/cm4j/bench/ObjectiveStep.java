package dev.cm4j.bench;

import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.Param;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.objectives.AlignYourFlow;
import dev.cm4j.objectives.CTM;
import dev.cm4j.objectives.IMM;
import dev.cm4j.objectives.ECT;
import dev.cm4j.objectives.MeanFlow;
import dev.cm4j.objectives.SCM;
import dev.cm4j.optim.Adam;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.precond.IMMPrecond;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

/**
 * One training step per objective on the small SongUNet (batch 8), Java side of {@code bench/objective_step.sh} and
 * {@code bench/objective_paired.sh}; {@code bench/objective_step.py} implements the same steps in PyTorch. A step is:
 * draws, the objective's per-sample loss, its mean, backward, Adam (defaults) — one {@link TensorScope} per step, no EMA.
 *
 * <ul>
 *   <li>{@code ect}: ECT stage 1 (CIFAR-10 settings: P_mean −1.1, P_std 2, q 2, k 8, b 1, c 0), {@code EDMPrecond.ect};
 *       student pass with gradients and target pass under no-grad with the same dropout masks;
 *   <li>{@code sct}: sCT, {@code TrigFlowPrecond} with c_noise = t (IDENTITY), {@code AdaptiveWeight(128)} trained with
 *       the network, CIFAR-10 settings (P_mean −1, P_std 1.4, warm-up 10k iterations, c 0.1); one forward pass with
 *       gradients and one forward-mode JVP pass;
 *   <li>{@code ctm}: CTM with the s path ({@code CTMPrecond} around the SongUNet with s-embedding), the target a frozen
 *       copy of the student, the teacher an {@code EDMPrecond.edm} of the same small network (eval mode), k = 3 Heun
 *       steps fixed, N = 18, DSM on with λ_DSM from the gradient norms at the student's output convolution weight;
 *   <li>{@code meanflow}: MeanFlow from scratch ({@code MeanFlow.Config.cifar10()}: logit-normal (−2, 2) pairs, 75 %
 *       r ≠ t, adaptive weight p 0.75), {@code TwoTimeNetwork} on the SongUNet with the second-time path; the u pass
 *       with gradients and one no-grad forward-mode JVP pass along (v, 0, 1), sharing dropout masks;
 *   <li>{@code meanflow_v}: the same with iMF's v-loss (one more no-grad pass: the tangent u(z_t, t, t)).
 *   <li>{@code ayf}: Align Your Flow, AYF-EMD ({@code AlignYourFlow.Config.defaults()}: interval sampler, c 0.1,
 *       tangent warm-up over 10k iterations), the student a {@code TwoTimeNetwork} on the SongUNet with the second-time
 *       path, the teacher a second, fixed small SongUNet under {@code EDMPrecond.edm} (eval mode) converted to a flow
 *       velocity by {@code AlignYourFlow.fromDenoiser(·, 80)}; one no-grad teacher pass, the F pass with gradients and
 *       one no-grad forward-mode JVP pass along (v_φ, 1);
 *   <li>{@code imm}: Inductive Moment Matching ({@code IMM.Config.cifar10()}: M 4, so 2 groups of 4, η-decrement
 *       mapping k 15, Laplace kernel), {@code IMMPrecond.Config.cifar10()} around the SongUNet with the second-time
 *       path; the f_{s,t} pass with gradients and the no-grad f_{s,r} pass (θ⁻ = sg(θ)).
 * </ul>
 *
 * <p>ayf and imm run with network dropout 0 (as their PyTorch reference steps, tools/ayf_reference.py
 * {@code songunet_step} and tools/imm_reference.py {@code imm_train_step}); the other objectives with the SongUNet's
 * default dropout 0.10.
 *
 * <p>Each objective is one entry of {@link #OBJECTIVES}: a {@link Builder} of its step and an {@link Exporter} of its
 * parity data. Usage: {@code ObjectiveStep time <objective> [warmupSteps,warmupSeconds,reps|default [plain]]}
 * (without {@code plain}, also the diagnostic {@code java_scoped} variant where the objective has one, see
 * {@link #time}), {@code ObjectiveStep serve <objective>} (the step protocol of {@code bench/paired.py}) or
 * {@code ObjectiveStep export <objective> <file>} (weights, draws, per-sample losses and gradients for the Python
 * side's parity check; the network's dropout is 0 there so that both sides compute the same numbers).
 */
public final class ObjectiveStep {
  private ObjectiveStep() {}

  /** Batch size of every objective benchmark. */
  public static final int BATCH = 8;
  /** CTM's fixed number of teacher Heun steps. */
  public static final int CTM_K = 3;

  /** The small SongUNet config, with SongUNet's default dropout (0.10) or none. */
  static SongUNet.Config small(boolean dropout) {
    String json = SongUNetStep.SMALL_JSON;
    if (!dropout) json = json.substring(0, json.length() - 1) + ",\"dropout\":0}";
    return SongUNet.Config.fromKwargs(json);
  }

  /** sCT's trained pair: the TrigFlow network and the weight head (one optimizer over both). */
  static final class SctPair extends Module {
    final TrigFlowPrecond net;
    final AdaptiveWeight weight;

    SctPair(SongUNet.Config cfg) {
      net = child("net", new TrigFlowPrecond(new SongUNet(cfg), 0.5, TrigFlowPrecond.TimeLabel.IDENTITY));
      weight = child("logvar", new AdaptiveWeight(128));
    }
  }

  /** CTM's three networks. */
  static final class CtmNets implements AutoCloseable {
    final CTMPrecond student;
    final CTMPrecond target;
    final EDMPrecond teacher;

    CtmNets(SongUNet.Config cfg, boolean separateTarget) {
      Torch.manualSeed(0);
      student = CTMPrecond.cifar(new SongUNet(cfg.withSEmbedding()));
      if (separateTarget) Torch.manualSeed(2);
      target = CTMPrecond.cifar(new SongUNet(cfg.withSEmbedding()));
      if (!separateTarget) target.copyFrom(student);
      target.requiresGrad_(false);
      target.eval();
      Torch.manualSeed(3);
      teacher = EDMPrecond.edm(new SongUNet(cfg));
      teacher.requiresGrad_(false);
      teacher.eval();
    }

    Tensor lastLayer() {
      return student.namedParameters().get("model.dec.16x16_aux_conv.weight").get();
    }

    @Override
    public void close() {
      student.close();
      target.close();
      teacher.close();
    }
  }

  /** CTM draws with k fixed: n ~ U{0..N−1−k}, m ~ U{n+k..N−1} per sample, z ~ N(0, I). */
  static CTM.Draw drawFixedK(CTM ctm, Tensor x, Random rnd, Generator gen) {
    int levels = ctm.config().numLevels();
    long[] n = new long[(int) x.size(0)];
    long[] m = new long[n.length];
    for (int i = 0; i < n.length; i++) {
      n[i] = rnd.nextInt(levels - CTM_K);
      m[i] = n[i] + CTM_K + rnd.nextInt((int) (levels - n[i] - CTM_K));
    }
    return new CTM.Draw(CTM_K, n, m, Tensor.randn(x.shape(), x.dtype(), x.device(), gen));
  }

  // The objectives ----------------------------------------------------------------------------------------------

  /**
   * One objective's training step as built for a run: the trained module (Adam's parameters), the scalar loss of one
   * step (draws, per-sample loss, mean), optionally the diagnostic {@code java_scoped} variant of the same loss, and
   * what the run owns (closed at its end).
   */
  record Built(Module trained, Supplier<Tensor> loss, Supplier<Tensor> scopedLoss, AutoCloseable owned) {}

  /** Builds an objective's step on the small network config for the data batch x. */
  interface Builder {
    Built build(SongUNet.Config cfg, Tensor x);
  }

  /** Writes an objective's parity export (network dropout 0): weights, draws, outputs and gradients, and metadata. */
  interface Exporter {
    void export(SongUNet.Config cfg, Tensor x, Map<String, Tensor> out, Map<String, String> meta) throws Exception;
  }

  /** An objective of the benchmark: its step and its parity export. */
  record Objective(Builder builder, Exporter exporter) {}

  /**
   * The objectives by name, in the order the scripts run them. A new objective is one entry here (a builder and an
   * exporter below) and its counterpart in bench/objective_step.py's OBJECTIVES.
   */
  static final Map<String, Objective> OBJECTIVES = new LinkedHashMap<>();

  static {
    OBJECTIVES.put("ect", new Objective(ObjectiveStep::ect, ObjectiveStep::exportEct));
    OBJECTIVES.put("sct", new Objective(ObjectiveStep::sct, ObjectiveStep::exportSct));
    OBJECTIVES.put("ctm", new Objective(ObjectiveStep::ctm, ObjectiveStep::exportCtm));
    OBJECTIVES.put("meanflow", new Objective((c, x) -> meanflow(c, x, MeanFlow.LossKind.U),
        (c, x, out, meta) -> exportMeanFlow(c, x, out, meta, MeanFlow.LossKind.U)));
    OBJECTIVES.put("meanflow_v", new Objective((c, x) -> meanflow(c, x, MeanFlow.LossKind.V),
        (c, x, out, meta) -> exportMeanFlow(c, x, out, meta, MeanFlow.LossKind.V)));
    OBJECTIVES.put("ayf", new Objective(ObjectiveStep::ayf, ObjectiveStep::exportAyf));
    OBJECTIVES.put("imm", new Objective(ObjectiveStep::imm, ObjectiveStep::exportImm));
  }

  static Objective objective(String name) {
    Objective o = OBJECTIVES.get(name);
    if (o == null) {
      throw new IllegalArgumentException("unknown objective '" + name + "' (" + String.join(", ", OBJECTIVES.keySet())
          + ")");
    }
    return o;
  }

  /** ECT stage 1; the scoped variant wraps the network with {@link #scoped}. */
  static Built ect(SongUNet.Config cfg, Tensor x) {
    Torch.manualSeed(0);
    EDMPrecond net = EDMPrecond.ect(new SongUNet(cfg));
    ECT ect = new ECT(ECT.Config.cifar10());
    Denoiser sn = scoped(net);
    return new Built(net, () -> ect.loss(net, x, null, 1, null, null).mean(),
        () -> ect.loss(sn, x, null, 1, null, null).mean(), net);
  }

  /** sCT (no Denoiser argument, so no scoped variant). */
  static Built sct(SongUNet.Config cfg, Tensor x) {
    Torch.manualSeed(0);
    SctPair pair = new SctPair(cfg);
    SCM scm = new SCM(SCM.Config.cifar10());
    long[] it = {0};
    return new Built(pair, () -> scm.loss(pair.net, pair.weight, x, null, it[0]++, null, null, null).loss().mean(),
        null, pair);
  }

  /** CTM with k fixed; the scoped variant wraps the teacher with {@link #scoped}. */
  static Built ctm(SongUNet.Config cfg, Tensor x) {
    CtmNets nets = new CtmNets(cfg, false);
    CTM ctm = new CTM(CTM.Config.cifar10());
    Random rnd = new Random(0);
    Tensor last = nets.lastLayer();
    Denoiser teacher = scoped(nets.teacher);
    return new Built(nets.student,
        () -> ctm.loss(nets.student, nets.target, nets.teacher, x, null, drawFixedK(ctm, x, rnd, null), last, null)
            .total(),
        () -> ctm.loss(nets.student, nets.target, teacher, x, null, drawFixedK(ctm, x, rnd, null), last, null).total(),
        nets);
  }

  /**
   * MeanFlow from scratch (CIFAR-10 settings, {@link MeanFlow.Config#cifar10}): {@link TwoTimeNetwork} (time scale 1)
   * on the SongUNet with the second-time path; the u pass with gradients and the no-grad JVP pass along (v, 0, 1)
   * with the same dropout masks. kind V: iMF's v-loss (one more no-grad pass for the tangent u(z_t, t, t)).
   */
  static Built meanflow(SongUNet.Config cfg, Tensor x, MeanFlow.LossKind kind) {
    Torch.manualSeed(0);
    TwoTimeNetwork net = new TwoTimeNetwork(new SongUNet(cfg.withSEmbedding()));
    MeanFlow mf = new MeanFlow(MeanFlow.Config.cifar10().withLoss(kind));
    return new Built(net, () -> mf.loss(net, x, null, (Generator) null, null).loss().mean(), null, net);
  }

  /** AYF's student and fixed teacher (the teacher: seed 3, as CTM's). */
  static final class AyfNets implements AutoCloseable {
    final TwoTimeNetwork student;
    final EDMPrecond teacher;
    final AlignYourFlow.Velocity velocity;

    AyfNets(SongUNet.Config cfg) {
      Torch.manualSeed(0);
      student = new TwoTimeNetwork(new SongUNet(cfg.withSEmbedding()));
      Torch.manualSeed(3);
      teacher = EDMPrecond.edm(new SongUNet(cfg));
      teacher.requiresGrad_(false);
      teacher.eval();
      velocity = AlignYourFlow.fromDenoiser(teacher, 80.0);
    }

    @Override
    public void close() {
      student.close();
      teacher.close();
    }
  }

  /** AYF-EMD distilling a fixed small SongUNet (EDM denoiser → flow velocity); dropout 0 (the cfg's is ignored). */
  static Built ayf(SongUNet.Config cfg, Tensor x) {
    AyfNets nets = new AyfNets(small(false));
    AlignYourFlow ayf = new AlignYourFlow(AlignYourFlow.Config.defaults());
    long[] it = {0};
    return new Built(nets.student,
        () -> ayf.loss(nets.student, nets.velocity, x, null, it[0]++, (Generator) null, null).loss().mean(), null,
        nets);
  }

  /** IMM (CIFAR-10 settings) on the SongUNet with the second-time path; dropout 0 (the cfg's is ignored). */
  static Built imm(SongUNet.Config cfg, Tensor x) {
    Torch.manualSeed(0);
    IMMPrecond net = new IMMPrecond(new SongUNet(small(false).withSEmbedding()), IMMPrecond.Config.cifar10());
    IMM imm = new IMM(IMM.Config.cifar10());
    return new Built(net, () -> imm.loss(net, null, x, null, (Generator) null, null).loss().mean(), null, net);
  }

  // Running -------------------------------------------------------------------------------------------------------

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: ObjectiveStep time <objective> [warmupSteps,warmupSeconds,reps|default [plain]]"
          + " | serve <objective> | export <objective> <file>; objectives: " + String.join(", ", OBJECTIVES.keySet()));
      System.exit(2);
    }
    Torch.load();
    Torch.setNumThreads(1);
    switch (args[0]) {
      case "time" -> time(args[1], StepTimer.parse(args.length > 2 ? args[2] : null, new StepTimer(3, 2.0, 21)),
          args.length <= 3 || !args[3].equals("plain"));
      case "serve" -> serve(args[1]);
      case "export" -> export(args[1], Path.of(args[2]));
      default -> throw new IllegalArgumentException("unknown command " + args[0]);
    }
  }

  /**
   * A denoiser whose every call runs in its own {@link TensorScope} and keeps only its result: the call's
   * intermediates are freed when it returns instead of when the step's scope closes (autograd keeps what backward
   * needs). A user-level workaround wherever an objective takes a {@link Denoiser}; used by the {@code java_scoped}
   * diagnostic variants.
   */
  static Denoiser scoped(Denoiser d) {
    return (x, sigma, labels) -> {
      try (var s = TensorScope.open()) {
        return s.escape(d.denoise(x, sigma, labels));
      }
    };
  }

  /** One training step: loss, zero_grad, backward, Adam — in one {@link TensorScope}. */
  static Runnable step(Supplier<Tensor> loss, Adam opt) {
    return () -> {
      try (var s = TensorScope.open()) {
        Tensor l = loss.get();
        opt.zeroGrad();
        l.backward();
        opt.step();
      }
    };
  }

  /** The data batch of every objective benchmark (seed 1). */
  static Tensor batch() {
    Torch.manualSeed(1);
    return Tensor.randn(BATCH, 3, 16, 16);
  }

  /**
   * Times one training step of the objective (variant {@code java}) and, if scoped and the objective has one, the
   * diagnostic variant {@code java_scoped} (ECT with the network, CTM with the teacher wrapped by {@link #scoped}).
   */
  static StepTimer.Result time(String objective, StepTimer timer, boolean scoped) {
    Objective o = objective(objective);
    SongUNet.Config cfg = small(true);
    Tensor x = batch();
    Built b = o.builder().build(cfg, x);
    try (Adam opt = new Adam(b.trained(), Adam.Config.defaults())) {
      StepTimer.Result r = timer.measure(objective, "java", step(b.loss(), opt));
      if (!scoped || b.scopedLoss() == null) return r;
      return timer.measure(objective, "java_scoped", step(b.scopedLoss(), opt));
    } finally {
      close(b.owned());
      x.close();
    }
  }

  /** The step protocol of {@code bench/paired.py}: one training step of the objective per "step" line, timed. */
  static void serve(String objective) throws java.io.IOException {
    Objective o = objective(objective);
    Tensor x = batch();
    Built b = o.builder().build(small(true), x);
    try (Adam opt = new Adam(b.trained(), Adam.Config.defaults())) {
      Runnable step = step(b.loss(), opt);
      StepTimer.serve(step);
    } finally {
      close(b.owned());
      x.close();
    }
  }

  private static void close(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  // Parity exports ------------------------------------------------------------------------------------------------

  private static void putState(Map<String, Tensor> out, String prefix, Module m) {
    for (var e : m.stateDict().entrySet()) out.put(prefix + e.getKey(), e.getValue().detach().clone());
  }

  private static void putGrads(Map<String, Tensor> out, String prefix, Module m) {
    for (Map.Entry<String, Param> e : m.namedParameters().entrySet()) {
      Tensor g = e.getValue().get().grad();
      if (g != null) out.put("grad." + prefix + e.getKey(), g);
    }
  }

  /** Writes weights, draws, losses and gradients of one step (dropout 0) for bench/objective_step.py's check. */
  static void export(String objective, Path file) throws Exception {
    Objective o = objective(objective);
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("objective", objective);
    try (var s = TensorScope.open()) {
      Map<String, Tensor> out = new LinkedHashMap<>();
      Tensor x = batch();
      out.put("in.x", x);
      o.exporter().export(small(false), x, out, meta);
      SafeTensors.write(file, out, meta);
    }
  }

  static void exportEct(SongUNet.Config cfg, Tensor x, Map<String, Tensor> out, Map<String, String> meta) {
    Torch.manualSeed(0);
    EDMPrecond net = EDMPrecond.ect(new SongUNet(cfg));
    putState(out, "net.", net);
    Torch.manualSeed(4);
    Tensor n = Tensor.randn(BATCH);
    Tensor eps = x.randnLike();
    Tensor loss = new ECT(ECT.Config.cifar10()).loss(net, x, null, 1, n, eps, null);
    loss.mean().backward();
    out.put("in.n", n);
    out.put("in.eps", eps);
    out.put("out.loss", loss.detach());
    putGrads(out, "net.", net);
    meta.put("stage", "1");
  }

  static void exportSct(SongUNet.Config cfg, Tensor x, Map<String, Tensor> out, Map<String, String> meta) {
    Torch.manualSeed(0);
    SctPair pair = new SctPair(cfg);
    // A non-zero weight head, so that the check covers it (it starts at zero).
    Torch.manualSeed(5);
    pair.weight.loadStateDict(Map.of("linear.weight", Tensor.randn(1, 128).mul(0.1),
        "linear.bias", Tensor.of(new float[] {0.05f}, 1)), true);
    putState(out, "", pair);
    SCM scm = new SCM(SCM.Config.cifar10());
    Torch.manualSeed(4);
    Tensor t = scm.timeFromDraw(Tensor.randn(BATCH), 0.5);
    Tensor z = x.randnLike();
    long iteration = 2500;
    SCM.Result r = scm.loss(pair.net, pair.weight, x, null, iteration, null, t, z, null);
    r.loss().mean().backward();
    out.put("in.t", t);
    out.put("in.z", z);
    out.put("out.loss", r.loss().detach());
    out.put("out.logw", r.logWeight().detach());
    out.put("out.tangent_norm", r.tangentNorm().detach());
    putGrads(out, "", pair);
    meta.put("iteration", Long.toString(iteration));
  }

  static void exportCtm(SongUNet.Config cfg, Tensor x, Map<String, Tensor> out, Map<String, String> meta) {
    try (CtmNets nets = new CtmNets(cfg, true)) {
      putState(out, "student.", nets.student);
      putState(out, "target.", nets.target);
      putState(out, "teacher.", nets.teacher);
      CTM ctm = new CTM(CTM.Config.cifar10());
      Torch.manualSeed(4);
      CTM.Draw d = drawFixedK(ctm, x, new Random(4), null);
      try (Generator g = Generator.cpu(7)) {
        CTM.Result r = ctm.loss(nets.student, nets.target, nets.teacher, x, null, d, nets.lastLayer(), g);
        r.total().backward();
        out.put("out.ctm", r.ctm().detach());
        out.put("out.dsm", r.dsm().detach());
        out.put("out.lambda_dsm", r.lambdaDsm().reshape(1));
      }
      out.put("in.z", d.z());
      out.put("in.n", Tensor.of(d.n(), d.n().length));
      out.put("in.m", Tensor.of(d.m(), d.m().length));
      putGrads(out, "student.", nets.student);
      meta.put("k", Integer.toString(d.k()));
      meta.put("dsm_generator_seed", "7");
    }
  }

  /**
   * MeanFlow (kind U) or iMF (kind V): the network's weights with its second-time path made non-zero (it starts at
   * zero, and the check must cover it), the draws (n_t, n_r, u_ratio, ε), per-sample losses, du/dt and gradients.
   */
  static void exportMeanFlow(SongUNet.Config cfg, Tensor x, Map<String, Tensor> out, Map<String, String> meta,
      MeanFlow.LossKind kind) {
    Torch.manualSeed(0);
    try (TwoTimeNetwork net = new TwoTimeNetwork(new SongUNet(cfg.withSEmbedding()))) {
      Torch.manualSeed(6);
      try (var g = dev.cm4j.tensor.GradMode.noGrad()) {
        for (var e : net.namedParameters().entrySet()) {
          if (e.getKey().contains("affine_s") || e.getKey().contains("aux_conv")) {
            Tensor p = e.getValue().get();
            p.copy_(Tensor.randn(p.shape()).mul(0.05));
          }
        }
      }
      putState(out, "", net);
      MeanFlow mf = new MeanFlow(MeanFlow.Config.cifar10().withLoss(kind));
      Torch.manualSeed(4);
      MeanFlow.Draws d = mf.draw(x, false, null);
      MeanFlow.Result r = mf.loss(net, x, null, d, null);
      r.loss().mean().backward();
      out.put("in.n_t", d.nT());
      out.put("in.n_r", d.nR());
      out.put("in.u_ratio", d.uRatio());
      out.put("in.eps", d.eps());
      out.put("out.loss", r.loss().detach());
      out.put("out.dudt", r.dudt());
      putGrads(out, "", net);
      meta.put("loss", kind.name().toLowerCase(java.util.Locale.ROOT));
    }
  }

  /** The second-time path of a network with s-embedding made non-zero (it starts at zero; the check must cover it). */
  private static void perturbSPath(Module net) {
    Torch.manualSeed(6);
    try (var g = dev.cm4j.tensor.GradMode.noGrad()) {
      for (var e : net.namedParameters().entrySet()) {
        if (e.getKey().contains("affine_s") || e.getKey().contains("aux_conv")) {
          Tensor p = e.getValue().get();
          p.copy_(Tensor.randn(p.shape()).mul(0.05));
        }
      }
    }
  }

  /**
   * AYF-EMD at iteration 2500 (tangent warm-up r = 0.25): student and teacher weights, the draws (n_a, n_b, u, ε),
   * per-sample losses, the tangent g, its norm, dF/dt and the student's gradients.
   */
  static void exportAyf(SongUNet.Config cfg, Tensor x, Map<String, Tensor> out, Map<String, String> meta) {
    try (AyfNets nets = new AyfNets(cfg)) {
      perturbSPath(nets.student);
      putState(out, "student.", nets.student);
      putState(out, "teacher.", nets.teacher);
      AlignYourFlow ayf = new AlignYourFlow(AlignYourFlow.Config.defaults());
      Torch.manualSeed(4);
      AlignYourFlow.Draws d = ayf.draw(x, null);
      long iteration = 2500;
      AlignYourFlow.Result r = ayf.loss(nets.student, nets.velocity, x, null, iteration, d, null);
      r.loss().mean().backward();
      out.put("in.n_a", d.nA());
      out.put("in.n_b", d.nB());
      out.put("in.u", d.u());
      out.put("in.eps", d.eps());
      out.put("out.loss", r.loss().detach());
      out.put("out.g", r.tangent());
      out.put("out.norm", r.tangentNorm());
      putGrads(out, "student.", nets.student);
      meta.put("r", Double.toString(ayf.config().warmup(iteration)));
    }
  }

  /** IMM (CIFAR-10 settings): weights, the draws (u_t, u_s, ε), per-group losses and MMD², y_t and gradients. */
  static void exportImm(SongUNet.Config cfg, Tensor x, Map<String, Tensor> out, Map<String, String> meta) {
    Torch.manualSeed(0);
    try (IMMPrecond net = new IMMPrecond(new SongUNet(cfg.withSEmbedding()), IMMPrecond.Config.cifar10())) {
      perturbSPath(net);
      putState(out, "net.", net);
      IMM imm = new IMM(IMM.Config.cifar10());
      Torch.manualSeed(4);
      IMM.Draws d = imm.draw(x, null);
      IMM.Result r = imm.loss(net, null, x, null, d, null);
      r.loss().mean().backward();
      out.put("in.u_t", d.uT());
      out.put("in.u_s", d.uS());
      out.put("in.eps", d.eps());
      out.put("out.loss", r.loss().detach());
      out.put("out.mmd", r.mmd());
      out.put("out.yt", r.yT().detach());
      putGrads(out, "net.", net);
    }
  }

  /** For tests: the objectives. */
  static List<String> objectives() {
    return List.copyOf(OBJECTIVES.keySet());
  }
}
