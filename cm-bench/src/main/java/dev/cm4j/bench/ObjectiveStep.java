package dev.cm4j.bench;

import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.Param;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.objectives.CTM;
import dev.cm4j.objectives.ECT;
import dev.cm4j.objectives.SCM;
import dev.cm4j.optim.Adam;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.EDMPrecond;
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

/**
 * One training step per consistency objective on the small SongUNet (batch 8), Java side of
 * {@code bench/objective_step.sh}; {@code bench/objective_step.py} implements the same steps in PyTorch. A step is:
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
 *       steps fixed, N = 18, DSM on with λ_DSM from the gradient norms at the student's output convolution weight.
 * </ul>
 *
 * <p>Usage: {@code ObjectiveStep time <ect|sct|ctm> [warmupSteps,warmupSeconds,reps|default [plain]]} (without
 * {@code plain}, also the diagnostic {@code java_scoped} variant, see {@link #time}) or
 * {@code ObjectiveStep export <ect|sct|ctm> <file>} (weights, draws, per-sample losses and gradients for the Python
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

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: ObjectiveStep time <ect|sct|ctm> [warmupSteps,warmupSeconds,reps|default [plain]]"
          + " | export <ect|sct|ctm> <file>");
      System.exit(2);
    }
    Torch.load();
    Torch.setNumThreads(1);
    switch (args[0]) {
      case "time" -> time(args[1], StepTimer.parse(args.length > 2 ? args[2] : null, new StepTimer(3, 2.0, 21)),
          args.length <= 3 || !args[3].equals("plain"));
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

  /**
   * Times one training step of the objective (variant {@code java}) and, if scoped, the diagnostic variant
   * {@code java_scoped}: ECT with the network, CTM with the teacher wrapped by {@link #scoped} (sCT takes no
   * Denoiser, so it has no such variant).
   */
  static StepTimer.Result time(String objective, StepTimer timer, boolean scoped) {
    SongUNet.Config cfg = small(true);
    Torch.manualSeed(1);
    Tensor x = Tensor.randn(BATCH, 3, 16, 16);
    try {
      switch (objective) {
        case "ect": {
          Torch.manualSeed(0);
          EDMPrecond net = EDMPrecond.ect(new SongUNet(cfg));
          ECT ect = new ECT(ECT.Config.cifar10());
          try (Adam opt = new Adam(net, Adam.Config.defaults())) {
            StepTimer.Result r = timer.measure("ect", "java", () -> {
              try (var s = TensorScope.open()) {
                Tensor loss = ect.loss(net, x, null, 1, null, null).mean();
                opt.zeroGrad();
                loss.backward();
                opt.step();
              }
            });
            if (!scoped) return r;
            Denoiser sn = scoped(net);
            return timer.measure("ect", "java_scoped", () -> {
              try (var s = TensorScope.open()) {
                Tensor loss = ect.loss(sn, x, null, 1, null, null).mean();
                opt.zeroGrad();
                loss.backward();
                opt.step();
              }
            });
          } finally {
            net.close();
          }
        }
        case "sct": {
          Torch.manualSeed(0);
          SctPair pair = new SctPair(cfg);
          SCM scm = new SCM(SCM.Config.cifar10());
          long[] it = {0};
          try (Adam opt = new Adam(pair, Adam.Config.defaults())) {
            return timer.measure("sct", "java", () -> {
              try (var s = TensorScope.open()) {
                Tensor loss = scm.loss(pair.net, pair.weight, x, null, it[0]++, null, null, null).loss().mean();
                opt.zeroGrad();
                loss.backward();
                opt.step();
              }
            });
          } finally {
            pair.close();
          }
        }
        case "ctm": {
          CtmNets nets = new CtmNets(cfg, false);
          CTM ctm = new CTM(CTM.Config.cifar10());
          Random rnd = new Random(0);
          Tensor last = nets.lastLayer();
          try (Adam opt = new Adam(nets.student, Adam.Config.defaults())) {
            StepTimer.Result r = timer.measure("ctm", "java", () -> {
              try (var s = TensorScope.open()) {
                CTM.Draw d = drawFixedK(ctm, x, rnd, null);
                Tensor loss = ctm.loss(nets.student, nets.target, nets.teacher, x, null, d, last, null).total();
                opt.zeroGrad();
                loss.backward();
                opt.step();
              }
            });
            if (!scoped) return r;
            Denoiser teacher = scoped(nets.teacher);
            return timer.measure("ctm", "java_scoped", () -> {
              try (var s = TensorScope.open()) {
                CTM.Draw d = drawFixedK(ctm, x, rnd, null);
                Tensor loss = ctm.loss(nets.student, nets.target, teacher, x, null, d, last, null).total();
                opt.zeroGrad();
                loss.backward();
                opt.step();
              }
            });
          } finally {
            nets.close();
          }
        }
        default:
          throw new IllegalArgumentException("unknown objective '" + objective + "' (ect, sct, ctm)");
      }
    } finally {
      x.close();
    }
  }

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
    SongUNet.Config cfg = small(false);
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("objective", objective);
    try (var s = TensorScope.open()) {
      Map<String, Tensor> out = new LinkedHashMap<>();
      Torch.manualSeed(1);
      Tensor x = Tensor.randn(BATCH, 3, 16, 16);
      out.put("in.x", x);
      switch (objective) {
        case "ect" -> {
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
        case "sct" -> {
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
        case "ctm" -> {
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
        default -> throw new IllegalArgumentException("unknown objective '" + objective + "' (ect, sct, ctm)");
      }
      SafeTensors.write(file, out, meta);
    }
  }

  /** For tests: the objectives. */
  static List<String> objectives() {
    return List.of("ect", "sct", "ctm");
  }
}
