package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.EDMNetwork;
import dev.cm4j.nn.Module;
import dev.cm4j.objectives.ConsistencyTraining;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.sampling.Guidance;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** iCT (docs/algorithms/ctm.md §5.3): consistency boundary, doubling curriculum, log-normal pairs, θ⁻ = θ. */
final class IctObjective extends RunObjective {
  /**
   * objective.kind "ict": {@link ConsistencyTraining.Config#ict}'s curriculum over total_iterations.
   *
   * @param totalIterations K of the doubling curriculum (0: the run's length, ⌈duration_kimg·1000 / batch⌉)
   */
  record Options(@JsonProperty("kind") String kind, @JsonProperty("total_iterations") long totalIterations)
      implements ObjectiveOptions {
    public Options {
      OptionException.oneOf("kind", kind, List.of("ict"));
      OptionException.atLeast("total_iterations", totalIterations, 0);
    }

    static Options defaults(String kind) {
      return new Options("ict", 0);
    }

    @Override
    public String precondition() {
      return "cm";
    }
  }

  /** K: the option, or the run's number of iterations. */
  static long iterations(long option, TrainingOptions o) {
    return option > 0 ? option : (long) Math.ceil(o.durationKimg() * 1000 / o.batch());
  }

  final EDMPrecond net;
  final ConsistencyTraining ict;
  final double sigmaMin;
  final double sigmaMax;
  final dev.cm4j.data.SplitMix64 rnd;
  final Generator gen;

  IctObjective(TrainingOptions o, Supplier<Module> newNet, double sd, long seed, dev.cm4j.tensor.Device device) {
    super(device);
    Module raw = newNet.get();
    sigmaMin = o.precond().sigmaMin();
    sigmaMax = o.precond().sigmaMax();
    net = new EDMPrecond(asNet(raw), sd, sigmaMin, sigmaMax, EDMPrecond.Boundary.CM);
    long iters = iterations(((Options) o.objective()).totalIterations(), o);
    int dim = ((EDMNetwork) raw).resolution() > 0
        ? ((EDMNetwork) raw).channels() * ((EDMNetwork) raw).resolution() * ((EDMNetwork) raw).resolution()
        : ((EDMNetwork) raw).channels();
    ConsistencyTraining.Config c = ConsistencyTraining.Config.ict(iters, dim);
    ict = new ConsistencyTraining(new ConsistencyTraining.Config(c.schedule(), c.s0(), c.s1(), c.totalIterations(),
        c.timeSampling(), c.pMean(), c.pStd(), c.solver(), c.pseudoHuberC(), c.weighting(), c.mu0(), c.adaptiveEma(),
        sigmaMin, sigmaMax, c.rho()));
    rnd = new dev.cm4j.data.SplitMix64(seed ^ 0x1c7);
    gen = newGenerator(seed ^ 0x1c8);
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
  Tensor loss(Tensor x, Tensor labels, long iteration, long images, StepStats stats) {
    stats.put("levels", (double) ict.numLevels(iteration));
    double[] grid = ict.grid(iteration);
    long[] global = ict.drawPairs(grid, (int) x.size(0) * shardWorld, rnd);
    long[] pairs = new long[(int) x.size(0)];
    for (int i = 0; i < pairs.length; i++) pairs[i] = global[shardRank + i * shardWorld];
    var y = augmented(x, gen);
    Tensor z = draw(x.shape(), x.dtype(), x.device(), gen);
    return ict.loss(net.withAugmentLabels(y.labels()), null, null, y.images(), labels, grid, pairs, z, null);
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
    times[0] = sigmaMax;
    System.arraycopy(mids, 0, times, 1, mids.length);
    return Samplers.consistency(Guidance.denoiser((EDMPrecond) m, (EDMPrecond) guide, w), z, times, labels, sigmaMin,
        g);
  }
}
