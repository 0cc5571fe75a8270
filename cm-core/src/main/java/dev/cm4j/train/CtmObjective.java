package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.Module;
import dev.cm4j.objectives.CTM;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.sampling.Guidance;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.List;
import java.util.Map;

/**
 * CTM (docs/algorithms/ctm.md §2): the student G_θ is a {@link CTMPrecond} around the network with the s input; the target
 * θ⁻ is an EMA of it (objective.target_ema, CIFAR-10 0.999); the teacher is EDM's Heun on the frozen EDM network
 * (objective.teacher) unless objective.self_learn; DSM with the adaptive λ at the output layer. Sampling: γ = 0
 * (deterministic long jumps) over σ_max, the intermediate times, σ_min.
 */
final class CtmObjective extends RunObjective {
  /**
   * objective.kind "ctm": {@link CTM.Config}'s parameters (defaults: {@link CTM.Config#cifar10()}; σ_min and σ_max come
   * from precond), the target EMA, the teacher and the LPIPS network.
   *
   * @param targetEma μ of the target network θ⁻ ← μ·θ⁻ + (1 − μ)·θ
   * @param teacher safetensors file of the EDM teacher (required unless self_learn)
   * @param teacherNetwork the teacher's network when it differs from options.network (null: the same)
   * @param lpips TorchScript file of the LPIPS network (required for distance lpips)
   */
  record Options(
      @JsonProperty("kind") String kind,
      @JsonProperty("num_levels") int numLevels,
      @JsonProperty("max_heun_steps") int maxHeunSteps,
      @JsonProperty("rho") double rho,
      @JsonProperty("distance") CTM.Distance distance,
      @JsonProperty("huber_c") double huberC,
      @JsonProperty("dsm") boolean dsm,
      @JsonProperty("dsm_P_mean") double dsmPMean,
      @JsonProperty("dsm_P_std") double dsmPStd,
      @JsonProperty("dsm_uniform_max") double dsmUniformMax,
      @JsonProperty("self_learn") boolean selfLearn,
      @JsonProperty("target_ema") double targetEma,
      @JsonProperty("teacher") String teacher,
      @JsonProperty("teacher_network") NetworkOptions teacherNetwork,
      @JsonProperty("lpips") String lpips) implements ObjectiveOptions {
    public Options {
      OptionException.oneOf("kind", kind, List.of("ctm"));
      OptionException.atLeast("num_levels", numLevels, 2);
      OptionException.within("max_heun_steps", maxHeunSteps, 1, numLevels - 1);
      OptionException.positive("rho", rho);
      OptionException.atLeast("huber_c", huberC, 0);
      OptionException.positive("dsm_P_std", dsmPStd);
      OptionException.within("dsm_uniform_max", dsmUniformMax, 0, 1);
      OptionException.within("target_ema", targetEma, 0, 1);
    }

    static Options defaults(String kind) {
      CTM.Config c = CTM.Config.cifar10();
      return new Options("ctm", c.numLevels(), c.maxHeunSteps(), c.rho(), c.distance(), c.huberC(), c.dsm(),
          c.dsmPMean(), c.dsmPStd(), c.dsmUniformMax(), c.selfLearn(), 0.999, null, null, null);
    }

    CTM.Config config(PrecondOptions pc) {
      return new CTM.Config(numLevels, maxHeunSteps, pc.sigmaMin(), pc.sigmaMax(), rho, distance, huberC, dsm,
          dsmPMean, dsmPStd, dsmUniformMax, selfLearn);
    }

    @Override
    public String precondition() {
      return "ctm";
    }
  }

  final CTMPrecond student;
  final CTM ctm;
  final dev.cm4j.data.SplitMix64 rnd;
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

  CtmObjective(TrainingOptions o, NetFactory nets, double sd, long seed, dev.cm4j.tensor.Device device) {
    super(device);
    this.opts = o;
    this.nets = nets;
    this.sd = sd;
    Options ob = (Options) o.objective();
    ctm = new CTM(ob.config(o.precond()));
    mu = ob.targetEma();
    String lp = ob.lpips();
    if (ctm.config().distance() == CTM.Distance.LPIPS) {
      if (lp == null) {
        throw new IllegalArgumentException("objective.distance lpips needs objective.lpips: a TorchScript file of "
            + "the LPIPS network (e.g. torch.jit.trace of piq.LPIPS(replace_pooling=True, reduction='none')), "
            + "or set objective.distance to l2 or pseudo_huber");
      }
      lpipsPath = lp;
    }
    student = newNet();
    rnd = new dev.cm4j.data.SplitMix64(seed ^ 0xc7e1);
    gen = newGenerator(seed ^ 0xc7e2);
  }

  private CTMPrecond newNet() {
    Module raw = nets.build(opts.network(), true);
    return new CTMPrecond((Module & dev.cm4j.nn.CTMNetwork) asCtm(raw), sd, opts.precond().sigmaMin(),
        opts.precond().sigmaMax());
  }

  @SuppressWarnings("unchecked")
  private static <N extends Module & dev.cm4j.nn.CTMNetwork> N asCtm(Module m) {
    return (N) m;
  }

  CTMPrecond target() {
    if (target == null) {
      target = onDevice(newNet());
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
  Tensor loss(Tensor x, Tensor labels, long iteration, long images, StepStats stats) {
    if (!ctm.config().selfLearn() && teacher == null) teacher = loadTeacher(opts, nets, sd);
    if (lpipsPath != null && !lpipsLoaded) {
      ctm.withLpips(dev.cm4j.jit.ScriptModule.load(java.nio.file.Path.of(lpipsPath), device));
      lpipsLoaded = true;
    }
    var y = augmented(x, gen); // EDM's augmentation, its labels to every network call (student, target, teacher)
    x = y.images();
    Tensor a = y.labels();
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
      // DSM draws happen inside the loss on the local batch: one stream per rank, re-seeded from (seed, rank,
      // iteration) at every step, so it needs no saved state and a multi-process resume draws what the run would have
      if (rankGen == null) rankGen = newGenerator(0);
      rankGen.setSeed(dev.cm4j.data.SplitMix64.derive(dev.cm4j.data.SplitMix64.derive(opts.seed() ^ 0xd5, shardRank),
          iteration));
    }
    CTM.Result r = ctm.loss(student.withAugmentLabels(a), target().withAugmentLabels(a),
        teacher == null ? null : teacher.withAugmentLabels(a), x, labels, d, lastWeight(student),
        shardWorld == 1 ? gen : rankGen);
    stats.put("ctm", r.ctm().mean());
    if (r.dsm() != null) stats.put("dsm", r.dsm().mean());
    stats.put("lambda_dsm", r.lambdaDsm());
    return r.total();
  }

  @Override
  void afterStep(long iteration) {
    emaInto(target(), student, mu);
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

  /**
   * γ of CTM's γ-sampling (Kim et al. 2023, Algorithm 2; {@code Samplers.ctmGamma}) for {@code cm sample --gamma}:
   * 0 (the default, the grids' sampler) jumps deterministically along the PF ODE, 1 is the consistency-model
   * multistep sampler.
   */
  private double sampleGamma;

  @Override
  void setSampleGamma(double gamma) {
    if (!(gamma >= 0 && gamma <= 1)) throw new IllegalArgumentException("γ must be in [0, 1], got " + gamma);
    sampleGamma = gamma;
  }

  @Override
  Tensor sample(Module m, Tensor z, double[] mids, Tensor labels, double w, Module guide, Generator g) {
    double[] grid = new double[mids.length + 2];
    grid[0] = opts.precond().sigmaMax();
    System.arraycopy(mids, 0, grid, 1, mids.length);
    grid[grid.length - 1] = opts.precond().sigmaMin();
    return Samplers.ctmGamma(Guidance.jump(((CTMPrecond) m)::jump, guide == null ? null : ((CTMPrecond) guide)::jump, w),
        z, grid, sampleGamma, labels, false, g);
  }
}
