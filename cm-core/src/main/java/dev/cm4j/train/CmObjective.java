package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.Module;
import dev.cm4j.objectives.ConsistencyTraining;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.sampling.Guidance;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.List;
import java.util.Map;

/**
 * CD and CT (docs/algorithms/ctm.md §5.1–5.2) as configurations of {@link ConsistencyTraining}: consistency boundary, a
 * target network θ⁻ updated by EMA (CD: fixed μ; CT: the adaptive μ(k)), pairs on the Karras grid; CD takes one
 * teacher Heun step, CT the data solver x + u·z.
 */
final class CmObjective extends RunObjective {
  /**
   * objective.kind "cd" or "ct": the parameters of {@link ConsistencyTraining.Config#cd} / {@link
   * ConsistencyTraining.Config#ct} (their values are the defaults of each kind) that a run may change.
   *
   * @param teacher CD: safetensors file of the EDM teacher (required); CT: must be null
   * @param teacherNetwork CD: the teacher's network when it differs from options.network (null: the same)
   * @param totalIterations K (0: the run's length, ⌈duration_kimg·1000 / batch⌉)
   * @param s0 initial discretisation (CD: unused, N = s1)
   * @param s1 final discretisation
   * @param pseudoHuberC c of the pseudo-Huber distance (0: mean-squared L2)
   * @param mu0 target EMA decay (CD: fixed μ; CT: μ0 of the adaptive rule)
   */
  record Options(
      @JsonProperty("kind") String kind,
      @JsonProperty("teacher") String teacher,
      @JsonProperty("teacher_network") NetworkOptions teacherNetwork,
      @JsonProperty("total_iterations") long totalIterations,
      @JsonProperty("s0") int s0,
      @JsonProperty("s1") int s1,
      @JsonProperty("pseudo_huber_c") double pseudoHuberC,
      @JsonProperty("mu0") double mu0) implements ObjectiveOptions {
    public Options {
      OptionException.oneOf("kind", kind, List.of("cd", "ct"));
      OptionException.atLeast("total_iterations", totalIterations, 0);
      OptionException.atLeast("s1", s1, 2);
      if (kind.equals("ct")) {
        OptionException.within("s0", s0, 1, s1);
        if (teacher != null) throw new OptionException("teacher", "only for kind cd (ct trains without a teacher)");
        if (teacherNetwork != null) throw new OptionException("teacher_network", "only for kind cd");
      }
      OptionException.atLeast("pseudo_huber_c", pseudoHuberC, 0);
      OptionException.within("mu0", mu0, 0, 1);
    }

    static Options defaults(String kind) {
      ConsistencyTraining.Config c = kind.equals("cd") ? ConsistencyTraining.Config.cd(1) : ConsistencyTraining.Config.ct(1);
      return new Options(kind, null, null, 0, c.s0(), c.s1(), c.pseudoHuberC(), c.mu0());
    }

    @Override
    public String precondition() {
      return "cm";
    }
  }

  final EDMPrecond net;
  final ConsistencyTraining cm;
  final dev.cm4j.data.SplitMix64 rnd;
  final Generator gen;
  private final TrainingOptions opts;
  private final NetFactory nets;
  private final boolean distill;
  private final double sd;
  private EDMPrecond target;
  private EDMPrecond teacher;

  CmObjective(TrainingOptions o, NetFactory nets, double sd, long seed, boolean distill,
      dev.cm4j.tensor.Device device) {
    super(device);
    this.opts = o;
    this.nets = nets;
    this.distill = distill;
    this.sd = sd;
    net = newNet();
    Options ob = (Options) o.objective();
    long iters = IctObjective.iterations(ob.totalIterations(), o);
    ConsistencyTraining.Config c = distill ? ConsistencyTraining.Config.cd(iters) : ConsistencyTraining.Config.ct(iters);
    cm = new ConsistencyTraining(new ConsistencyTraining.Config(c.schedule(), ob.s0(), ob.s1(), iters, c.timeSampling(),
        c.pMean(), c.pStd(), c.solver(), ob.pseudoHuberC(), c.weighting(), ob.mu0(), c.adaptiveEma(),
        o.precond().sigmaMin(), o.precond().sigmaMax(), 7));
    rnd = new dev.cm4j.data.SplitMix64(seed ^ 0xcd1);
    gen = newGenerator(seed ^ 0xcd2);
  }

  private EDMPrecond newNet() {
    return new EDMPrecond(asNet(nets.build(opts.network(), false)), sd, opts.precond().sigmaMin(),
        opts.precond().sigmaMax(), EDMPrecond.Boundary.CM);
  }

  EDMPrecond target() {
    if (target == null) {
      target = onDevice(newNet());
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
  Tensor loss(Tensor x, Tensor labels, long iteration, long images, StepStats stats) {
    if (distill && teacher == null) teacher = loadTeacher(opts, nets, sd);
    double[] grid = cm.grid(iteration);
    long[] global = cm.drawPairs(grid, (int) x.size(0) * shardWorld, rnd);
    long[] pairs = new long[(int) x.size(0)];
    for (int i = 0; i < pairs.length; i++) pairs[i] = global[shardRank + i * shardWorld];
    var y = augmented(x, gen);
    Tensor z = draw(x.shape(), x.dtype(), x.device(), gen);
    stats.put("levels", (double) cm.numLevels(iteration));
    Tensor a = y.labels();
    return cm.loss(net.withAugmentLabels(a), target().withAugmentLabels(a),
        distill ? teacher.withAugmentLabels(a) : null, y.images(), labels, grid, pairs, z, null);
  }

  @Override
  void afterStep(long iteration) {
    emaInto(target(), net, cm.targetEmaDecay(iteration));
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
  Tensor sample(Module m, Tensor z, double[] mids, Tensor labels, double w, Module guide, Generator g) {
    double[] times = new double[mids.length + 1];
    times[0] = opts.precond().sigmaMax();
    System.arraycopy(mids, 0, times, 1, mids.length);
    return Samplers.consistency(Guidance.denoiser((EDMPrecond) m, (EDMPrecond) guide, w), z, times, labels,
        opts.precond().sigmaMin(), g);
  }
}
