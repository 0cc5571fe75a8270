package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.EDMNetwork;
import dev.cm4j.nn.Module;
import dev.cm4j.objectives.SCM;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.sampling.Guidance;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.List;

/**
 * sCT and sCD (docs/algorithms/scm.md): TrigFlow network (c_noise = t, or precond.time_label "edm" for a network with EDM's
 * parameterisation, e.g. initialised from an EDM teacher), learned weight, tangent warm-up and normalisation; sCD
 * takes the velocity from the EDM teacher converted to TrigFlow (§1.4).
 */
final class SctObjective extends NoiseObjective {
  /**
   * objective.kind "sct" or "scd": {@link SCM.Config}'s parameters (its defaults: CIFAR-10's), and for sCD the teacher.
   *
   * @param teacher sCD: safetensors file of the EDM teacher (required); sCT: must be null
   * @param teacherNetwork sCD: the teacher's network when it differs from options.network (null: the same)
   * @param initFromTeacher sCD: initialise the student from the teacher's weights when init_from is not given
   */
  record Options(
      @JsonProperty("kind") String kind,
      @JsonProperty("P_mean") double pMean,
      @JsonProperty("P_std") double pStd,
      @JsonProperty("warmup_iterations") long warmupIterations,
      @JsonProperty("tangent_norm_c") double tangentNormC,
      @JsonProperty("teacher") String teacher,
      @JsonProperty("teacher_network") NetworkOptions teacherNetwork,
      @JsonProperty("init_from_teacher") boolean initFromTeacher) implements ObjectiveOptions {
    public Options {
      OptionException.oneOf("kind", kind, List.of("sct", "scd"));
      OptionException.finite("P_mean", pMean);
      OptionException.positive("P_std", pStd);
      OptionException.atLeast("warmup_iterations", warmupIterations, 0);
      OptionException.atLeast("tangent_norm_c", tangentNormC, 0);
      if (kind.equals("sct")) {
        if (teacher != null) throw new OptionException("teacher", "only for kind scd (sct trains without a teacher)");
        if (teacherNetwork != null) throw new OptionException("teacher_network", "only for kind scd");
        if (initFromTeacher) throw new OptionException("init_from_teacher", "only for kind scd");
      }
    }

    static Options defaults(String kind) {
      SCM.Config c = SCM.Config.cifar10();
      return new Options(kind, c.pMean(), c.pStd(), c.warmupIterations(), c.tangentNormC(), null, null, false);
    }

    SCM.Config config() {
      return new SCM.Config(pMean, pStd, warmupIterations, tangentNormC);
    }

    @Override
    public String precondition() {
      return "trigflow";
    }
  }

  /** The trained pair of sCT: the TrigFlow network and the adaptive weight head. */
  static final class SctModel extends Module {
    final TrigFlowPrecond net;
    final AdaptiveWeight weight;

    <N extends Module & EDMNetwork> SctModel(N raw, double sd, TrigFlowPrecond.TimeLabel label) {
      net = child("net", new TrigFlowPrecond(raw, sd, label));
      weight = child("logvar", new AdaptiveWeight(128));
    }
  }

  final SctModel model;
  final SCM scm;
  final double sigmaMax;
  private final TrainingOptions opts;
  private final NetFactory nets;
  private final boolean distill;
  private TrigFlowPrecond teacher;

  SctObjective(TrainingOptions o, NetFactory nets, double sd, long seed, boolean distill,
      dev.cm4j.tensor.Device device) {
    super(device, seed ^ 0x5c7);
    Options ob = (Options) o.objective();
    this.opts = o;
    this.nets = nets;
    this.distill = distill;
    TrigFlowPrecond.TimeLabel label = o.precond().trigflowLabel();
    model = new SctModel(asNet(nets.build(o.network(), false)), sd, label);
    scm = new SCM(ob.config());
    sigmaMax = o.precond().sigmaMax();
  }

  @Override
  Module model() {
    return model;
  }

  @Override
  String defaultInit() {
    Options ob = (Options) opts.objective();
    return distill && ob.initFromTeacher() ? ob.teacher() : null;
  }

  @Override
  Tensor loss(Tensor x, Tensor labels, long iteration, long images, StepStats stats) {
    Tensor n = normalPerSample(x);
    var y = augmented(x, gen); // as ECT's ECMLoss: after the time draw, before the noise; labels to every call
    Tensor z = noiseLike(x);
    if (distill && teacher == null) teacher = TrigFlowPrecond.fromEDM(loadTeacher(opts, nets, model.net.sigmaData()));
    SCM.Result r = scm.loss(model.net.withAugmentLabels(y.labels()), model.weight, y.images(), labels, iteration,
        distill ? teacher.withAugmentLabels(y.labels()) : null, scm.timeFromDraw(n, model.net.sigmaData()), z, null);
    stats.put("tangent_norm", r.tangentNorm().mean());
    stats.put("logvar", r.logWeight().mean());
    return r.loss();
  }

  @Override
  Tensor sample(Module m, Tensor z, double[] mids, Tensor labels, double w, Module guide, Generator g) {
    SctModel sm = (SctModel) m;
    double[] times = new double[mids.length + 1];
    times[0] = Samplers.trigflowTMax(sigmaMax, sm.net.sigmaData());
    System.arraycopy(mids, 0, times, 1, mids.length);
    return Samplers.trigflow(Guidance.trigflow(sm.net::f, guide == null ? null : ((SctModel) guide).net::f, w),
        sm.net.sigmaData(), z, times, labels, g);
  }
}
