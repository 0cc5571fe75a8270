package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.LoadReport;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.objectives.AlignYourFlow;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Align Your Flow (docs/algorithms/ayf.md): a flow map f_θ(x, t, s) = x + (s − t)·F_θ(x, t, s), F_θ the raw network
 * with its second-time path fed (t, t − s), distilled from a teacher's probability-flow ODE by AYF-EMD or AYF-LMD. The
 * teacher is an EDM snapshot (teacher_kind "edm": D(x; σ) converted to the flow velocity) or a flow network
 * (teacher_kind "flow": u(x, t, t) of a MeanFlow/AYF snapshot, e.g. a toy2d-meanflow run's), optionally autoguided by
 * a weaker snapshot of the same kind; with guidance_cond the autoguidance scale is drawn per sample from
 * [guidance_min, guidance_max] and fed to the student (docs/algorithms/ayf.md §2.1). Samples with the flow-map chain
 * from 1 to 0 through sample_steps, γ-free or with γ-sampling (sample_gamma; docs/algorithms/ayf.md §3).
 */
final class AyfObjective extends NoiseObjective {
  /**
   * objective.kind "ayf": {@link AlignYourFlow.Config}'s parameters (defaults: docs/algorithms/ayf.md §1), the teacher
   * and the guide.
   *
   * @param loss "emd" (AYF-EMD) or "lmd" (AYF-LMD)
   * @param trSampler "interval" (t − s logit-normal, s uniform below) or "sorted" (two logit-normals ordered)
   * @param teacher the teacher's safetensors file (required)
   * @param teacherKind "edm" (an EDM-preconditioned network's state dict) or "flow" (a two-time network's: u(x, t, t))
   * @param teacherNetwork the teacher's network when it differs from options.network (null: the same)
   * @param guide autoguidance: the weaker teacher's file, of the same kind (null: none)
   * @param guideNetwork the guide's network (null: the teacher's)
   * @param guidance λ of v_weak + λ·(v_teacher − v_weak) (1: no guidance); with guidanceCond the w the grids and
   *     {@code cm sample} (without --guidance) sample the guidance-conditioned student at
   * @param timeScale c of the student's (and a flow teacher's) time inputs c·t and c·(t − s)
   * @param initFromTeacher start the student from a flow teacher's weights when init_from is not given (Algorithm 1's
   *     θ ← φ; the teacher is a two-time network of the same structure)
   * @param guidanceCond guidance-scale conditioning: w ~ U[guidanceMin, guidanceMax] per sample, the teacher
   *     autoguided at w (needs guide), w fed to the student through a zero-initialised embedding
   * @param guidanceMin w_min
   * @param guidanceMax w_max
   * @param sampleGamma γ of the grids' and {@code cm sample}'s γ-sampling (0: the γ-free sampler; --gamma overrides)
   */
  record Options(
      @JsonProperty("kind") String kind,
      @JsonProperty("loss") String loss,
      @JsonProperty("tr_sampler") String trSampler,
      @JsonProperty("P_mean") double pMean,
      @JsonProperty("P_std") double pStd,
      @JsonProperty("tangent_norm_c") double tangentNormC,
      @JsonProperty("warmup_iterations") long warmupIterations,
      @JsonProperty("warmup_max") double warmupMax,
      @JsonProperty("teacher") String teacher,
      @JsonProperty("teacher_kind") String teacherKind,
      @JsonProperty("teacher_network") NetworkOptions teacherNetwork,
      @JsonProperty("guide") String guide,
      @JsonProperty("guide_network") NetworkOptions guideNetwork,
      @JsonProperty("guidance") double guidance,
      @JsonProperty("time_scale") double timeScale,
      @JsonProperty("init_from_teacher") boolean initFromTeacher,
      @JsonProperty("guidance_cond") boolean guidanceCond,
      @JsonProperty("guidance_min") double guidanceMin,
      @JsonProperty("guidance_max") double guidanceMax,
      @JsonProperty("sample_gamma") double sampleGamma) implements ObjectiveOptions {
    public Options {
      OptionException.oneOf("kind", kind, List.of("ayf"));
      OptionException.oneOf("loss", loss, List.of("emd", "lmd"));
      OptionException.oneOf("tr_sampler", trSampler, List.of("interval", "sorted"));
      OptionException.finite("P_mean", pMean);
      OptionException.positive("P_std", pStd);
      OptionException.atLeast("tangent_norm_c", tangentNormC, 0);
      OptionException.atLeast("warmup_iterations", warmupIterations, 0);
      OptionException.within("warmup_max", warmupMax, 0, 1);
      if (warmupMax <= 0) throw new OptionException("warmup_max", "must be positive, got " + warmupMax);
      OptionException.oneOf("teacher_kind", teacherKind, List.of("edm", "flow"));
      OptionException.finite("guidance", guidance);
      if (guidance != 1.0 && guide == null && !guidanceCond) {
        throw new OptionException("guidance", "autoguidance needs the weaker teacher: set objective.guide to its file");
      }
      OptionException.finite("guidance_min", guidanceMin);
      OptionException.finite("guidance_max", guidanceMax);
      if (guidanceMax < guidanceMin) {
        throw new OptionException("guidance_max", "must be ≥ guidance_min (" + guidanceMin + "), got " + guidanceMax);
      }
      if (guidanceCond && guide == null) {
        throw new OptionException("guidance_cond", "guidance-scale conditioning distils the autoguided teacher "
            + "v_weak + w·(v_teacher − v_weak): set objective.guide to the weaker teacher's file");
      }
      OptionException.within("sample_gamma", sampleGamma, 0, 1);
      OptionException.positive("time_scale", timeScale);
      if (initFromTeacher && !teacherKind.equals("flow")) {
        throw new OptionException("init_from_teacher", "only for teacher_kind flow (an EDM teacher's network is "
            + "preconditioned differently from the flow map's F)");
      }
    }

    static Options defaults(String kind) {
      AlignYourFlow.Config c = AlignYourFlow.Config.defaults();
      return new Options("ayf", c.loss().name().toLowerCase(Locale.ROOT), c.sampler().name().toLowerCase(Locale.ROOT),
          c.pMean(), c.pStd(), c.tangentNormC(), c.warmupIterations(), c.warmupMax(), null, "edm", null, null, null,
          1.0, 1.0, false, false, 1.0, 3.0, 0.0);
    }

    AlignYourFlow.Config config() {
      return new AlignYourFlow.Config(AlignYourFlow.Loss.valueOf(loss.toUpperCase(Locale.ROOT)),
          AlignYourFlow.TimeSampler.valueOf(trSampler.toUpperCase(Locale.ROOT)), pMean, pStd, tangentNormC,
          warmupIterations, warmupMax, guidanceCond, guidanceCond ? guidanceMin : 1, guidanceCond ? guidanceMax : 1);
    }

    @Override
    public String precondition() {
      return "ayf";
    }
  }

  final TwoTimeNetwork net;
  final AlignYourFlow ayf;
  private final TrainingOptions opts;
  private final NetFactory nets;
  private AlignYourFlow.Velocity teacher;
  private AlignYourFlow.GuidedVelocity guidedTeacher;
  /** γ of the sampler (objective.sample_gamma; cm sample --gamma). */
  private double sampleGamma;
  /** The w a guidance-conditioned student samples at (objective.guidance; cm sample --guidance). */
  private double sampleW;

  AyfObjective(TrainingOptions o, NetFactory nets, long seed, dev.cm4j.tensor.Device device) {
    super(device, seed ^ 0xa7f0L);
    Options ob = (Options) o.objective();
    if (ob.teacher() == null) {
      throw new IllegalArgumentException("objective.teacher is required for ayf (Align Your Flow distils a teacher): "
          + (ob.teacherKind().equals("flow")
              ? "a flow network's snapshot, e.g. the network-snapshot-*.safetensors of a `cm train --preset "
                  + "toy2d-meanflow` run, --set objective.teacher=PATH"
              : "an EDM network's safetensors (tools/export_pytorch.py converts EDM's network-snapshot .pkl), "
                  + "--set objective.teacher=edm.safetensors"));
    }
    Module raw = nets.build(o.network(), true);
    if (ob.guidanceCond()) {
      if (!(raw instanceof dev.cm4j.nn.CTMNetwork c)) {
        throw new IllegalArgumentException("network.arch " + o.network().arch() + " has no second time input for AYF");
      }
      c.addGuidanceEmbedding(); // zero-initialised: the student starts as the w-free network
    }
    net = new TwoTimeNetwork(asTwoTime(raw, "network.arch " + o.network().arch(), " for AYF"), ob.timeScale());
    sampleGamma = ob.sampleGamma();
    sampleW = ob.guidance();
    this.opts = o;
    this.nets = nets;
    ayf = new AlignYourFlow(ob.config());
  }


  @Override
  Module model() {
    return net;
  }

  @Override
  String defaultInit() {
    Options ob = (Options) opts.objective();
    return ob.initFromTeacher() ? ob.teacher() : null;
  }

  /** The (autoguided) teacher velocity, loaded at the first step (the objective is also built to sample snapshots). */
  AlignYourFlow.Velocity teacher() {
    if (teacher == null) {
      Options ob = (Options) opts.objective();
      NetworkOptions tn = ob.teacherNetwork() != null ? ob.teacherNetwork() : opts.network();
      AlignYourFlow.Velocity strong = velocity(ob, ob.teacher(), tn, "teacher");
      teacher = ob.guide() == null ? strong : AlignYourFlow.autoguided(strong,
          velocity(ob, ob.guide(), ob.guideNetwork() != null ? ob.guideNetwork() : tn, "guide"), ob.guidance());
    }
    return teacher;
  }

  /** The autoguided teacher at per-sample scales (guidance_cond), loaded at the first step. */
  AlignYourFlow.GuidedVelocity guidedTeacher() {
    if (guidedTeacher == null) {
      Options ob = (Options) opts.objective();
      NetworkOptions tn = ob.teacherNetwork() != null ? ob.teacherNetwork() : opts.network();
      guidedTeacher = AlignYourFlow.autoguided(velocity(ob, ob.teacher(), tn, "teacher"),
          velocity(ob, ob.guide(), ob.guideNetwork() != null ? ob.guideNetwork() : tn, "guide"));
    }
    return guidedTeacher;
  }

  /** A frozen teacher's velocity from its file: an EDM denoiser converted, or a two-time network's u(x, t, t). */
  private AlignYourFlow.Velocity velocity(Options ob, String path, NetworkOptions tn, String what) {
    Path file = Path.of(path);
    Module m;
    if (ob.teacherKind().equals("edm")) {
      m = new EDMPrecond(asNet(nets.build(tn, false)), opts.precond().sigmaData(), opts.precond().sigmaMin(),
          opts.precond().sigmaMax(), EDMPrecond.Boundary.EDM);
    } else {
      Module raw = nets.build(tn, true);
      m = new TwoTimeNetwork(asTwoTime(raw, "objective." + what + "_network arch " + tn.arch(), ""), ob.timeScale());
    }
    LoadReport r = InitFrom.apply(m, file);
    List<String> guidance = r.unexpected().stream().filter(k -> k.matches("(.*\\.)?(map_guidance|emb_guidance)[._].*"))
        .toList();
    if (!guidance.isEmpty()) {
      // a guidance-conditioned student (objective.guidance_cond) as a teacher: without its w input the loaded network
      // would be a different function, not the teacher at some w
      throw new IllegalArgumentException("objective." + what + " " + path + " is a guidance-conditioned snapshot ("
          + String.join(", ", guidance) + "): a teacher takes no guidance scale; distil from a snapshot trained "
          + "without objective.guidance_cond");
    }
    if (!r.missing().isEmpty() || !r.shapeMismatched().isEmpty()) {
      throw new IllegalArgumentException("objective." + what + " " + path + " does not fit its network (objective."
          + what + "_network or options.network, teacher_kind " + ob.teacherKind() + "): "
          + InitFrom.summary(file, r, m.namedState().size()));
    }
    m.eval();
    m.requiresGrad_(false);
    onDevice(m);
    return m instanceof EDMPrecond e
        ? AlignYourFlow.fromDenoiser(e, opts.precond().sigmaMax())
        : AlignYourFlow.fromFlowNetwork((TwoTimeNetwork) m);
  }

  @Override
  Tensor loss(Tensor x, Tensor labels, long iteration, long images, StepStats stats) {
    boolean conditional = net.labelDim() > 0;
    Tensor nA = normalPerSample(x);
    Tensor nB = normalPerSample(x);
    Tensor u = uniformPerSample(x);
    Tensor eps = noiseLike(x);
    AlignYourFlow.Result r;
    if (ayf.config().guidanceCond()) {
      Tensor w = ayf.guidanceScales(uniformPerSample(x)); // drawn after ε: the other draws are those of a w-free run
      r = ayf.guidedLoss(net, guidedTeacher(), x, conditional ? labels : null, iteration,
          new AlignYourFlow.Draws(nA, nB, u, eps, w), null);
      stats.put("guidance", w.mean());
    } else {
      r = ayf.loss(net, teacher(), x, conditional ? labels : null, iteration,
          new AlignYourFlow.Draws(nA, nB, u, eps), null);
    }
    stats.put("tangent_norm", r.tangentNorm().mean());
    return r.loss();
  }


  @Override
  void setSampleGamma(double gamma) {
    if (!(gamma >= 0 && gamma <= 1)) throw new IllegalArgumentException("γ must be in [0, 1], got " + gamma);
    sampleGamma = gamma;
  }

  @Override
  boolean takesGuidanceScale() {
    return net.hasGuidance();
  }

  @Override
  double defaultGuidance() {
    return net.hasGuidance() ? sampleW : 1;
  }

  @Override
  void setSampleGuidanceScale(double w) {
    if (!net.hasGuidance()) super.setSampleGuidanceScale(w);
    if (!Double.isFinite(w)) throw new IllegalArgumentException("the guidance scale must be finite, got " + w);
    sampleW = w;
  }

  /**
   * The flow-map chain through 1, mids, 0 with γ-sampling at the set γ (re-noising drawn from g: per-image generators
   * under {@link Snapshot#sample}); a guidance-conditioned student at the set w (w here, sampling-time guidance, is
   * refused: the guidance is distilled).
   */
  @Override
  Tensor sample(Module m, Tensor z, double[] mids, Tensor labels, double w, Module guide, Generator g) {
    if (guide != null || w != 1) {
      throw new IllegalArgumentException("ayf distils the (auto)guided teacher (objective.guide, objective.guidance); "
          + "sampling-time guidance (--guide) does not apply to it"
          + (net.hasGuidance() ? "; --guidance sets the guidance scale this student samples at" : ""));
    }
    TwoTimeNetwork tn = (TwoTimeNetwork) m;
    Tensor ws = tn.hasGuidance() ? Tensor.full(new long[] {z.size(0)}, sampleW, z.dtype(), z.device()) : null;
    return AlignYourFlow.sample(tn, z, oneToZero(mids), labelsOrNullClass(labels, z, tn.labelDim()), ws, sampleGamma,
        g);
  }
}
