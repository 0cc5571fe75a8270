package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.objectives.MeanFlow;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.List;
import java.util.Locale;

/**
 * MeanFlow (docs/algorithms/meanflow.md): the average-velocity network u(z, r, t) on the raw network built with its
 * second-time path, trained from scratch with the MeanFlow identity; samples with z_0 = z_1 − u(z_1, 0, 1), and with
 * sample_steps as the intermediate times of the multi-step sampler (e.g. [0.5]: 1 → 0.5 → 0).
 */
final class MeanFlowObjective extends NoiseObjective {
  /**
   * objective.kind "meanflow": {@link MeanFlow.Config}'s parameters (defaults: the paper's CIFAR-10 ones) and the time
   * scale of the network's inputs.
   *
   * @param trSampler "v0" (the paper's: order the two draws, then r = t for 1 − ratio) or "v1" (py-meanflow's later one)
   * @param loss "u" (MeanFlow) or "v" (iMF's v-loss)
   * @param timeScale c of the network's time inputs c·t and c·(t − r)
   */
  record Options(
      @JsonProperty("kind") String kind,
      @JsonProperty("P_mean_t") double pMeanT,
      @JsonProperty("P_std_t") double pStdT,
      @JsonProperty("P_mean_r") double pMeanR,
      @JsonProperty("P_std_r") double pStdR,
      @JsonProperty("ratio") double ratio,
      @JsonProperty("tr_sampler") String trSampler,
      @JsonProperty("norm_p") double normP,
      @JsonProperty("norm_eps") double normEps,
      @JsonProperty("omega") double omega,
      @JsonProperty("kappa") double kappa,
      @JsonProperty("t_start") double tStart,
      @JsonProperty("t_end") double tEnd,
      @JsonProperty("class_dropout") double classDropout,
      @JsonProperty("loss") String loss,
      @JsonProperty("time_scale") double timeScale) implements ObjectiveOptions {
    public Options {
      OptionException.oneOf("kind", kind, List.of("meanflow"));
      OptionException.finite("P_mean_t", pMeanT);
      OptionException.positive("P_std_t", pStdT);
      OptionException.finite("P_mean_r", pMeanR);
      OptionException.positive("P_std_r", pStdR);
      OptionException.within("ratio", ratio, 0, 1);
      OptionException.oneOf("tr_sampler", trSampler, List.of("v0", "v1"));
      OptionException.atLeast("norm_p", normP, 0);
      OptionException.positive("norm_eps", normEps);
      OptionException.finite("omega", omega);
      OptionException.finite("kappa", kappa);
      OptionException.within("t_start", tStart, 0, 1);
      OptionException.within("t_end", tEnd, 0, 1);
      if (tStart > tEnd) throw new OptionException("t_start", "must not exceed t_end (" + tEnd + "), got " + tStart);
      OptionException.within("class_dropout", classDropout, 0, 1);
      if (classDropout >= 1) throw new OptionException("class_dropout", "must be below 1, got " + classDropout);
      OptionException.oneOf("loss", loss, List.of("u", "v"));
      OptionException.positive("time_scale", timeScale);
    }

    static Options defaults(String kind) {
      MeanFlow.Config c = MeanFlow.Config.cifar10();
      return new Options("meanflow", c.pMeanT(), c.pStdT(), c.pMeanR(), c.pStdR(), c.ratio(),
          c.sampler().name().toLowerCase(Locale.ROOT), c.normP(), c.normEps(), c.omega(), c.kappa(), c.tStart(),
          c.tEnd(), c.classDropout(), "u", 1.0);
    }

    MeanFlow.Config config() {
      return new MeanFlow.Config(pMeanT, pStdT, pMeanR, pStdR, ratio,
          MeanFlow.TimeSampler.valueOf(trSampler.toUpperCase(Locale.ROOT)), normP, normEps, omega, kappa, tStart, tEnd,
          classDropout, MeanFlow.LossKind.valueOf(loss.toUpperCase(Locale.ROOT)));
    }

    @Override
    public String precondition() {
      return "meanflow";
    }
  }

  final TwoTimeNetwork net;
  final MeanFlow meanFlow;

  MeanFlowObjective(TrainingOptions o, NetFactory nets, long seed, dev.cm4j.tensor.Device device) {
    super(device, seed ^ 0x3ea7f10L);
    Options ob = (Options) o.objective();
    Module raw = nets.build(o.network(), true);
    net = new TwoTimeNetwork(asTwoTime(raw, "network.arch " + o.network().arch(), " for MeanFlow"), ob.timeScale());
    MeanFlow.Config c = ob.config();
    if ((c.guided() || c.classDropout() > 0) && net.labelDim() == 0) {
      throw new OptionException("objective.omega", "guidance and class_dropout need a class-conditional network "
          + "(network.label_dim > 0)");
    }
    if (net.labelDim() > 0 && o.network() instanceof NetworkOptions.UNet u && u.labelDropout() > 0 && c.classDropout() > 0) {
      throw new OptionException("network.label_dropout", "MeanFlow drops labels itself (objective.class_dropout): set "
          + "network.label_dropout to 0");
    }
    meanFlow = new MeanFlow(c);
  }


  @Override
  Module model() {
    return net;
  }

  @Override
  Tensor loss(Tensor x, Tensor labels, long iteration, long images, StepStats stats) {
    boolean conditional = net.labelDim() > 0;
    // MeanFlow.Draws from the run's noise stream, in MeanFlow.draw's order (the uniforms as Φ of normal draws)
    Tensor nT = normalPerSample(x);
    Tensor nR = normalPerSample(x);
    Tensor uRatio = uniformPerSample(x);
    Tensor eps = noiseLike(x);
    Tensor uDrop = conditional ? uniformPerSample(x) : null;
    MeanFlow.Result r = meanFlow.loss(net, x, conditional ? labels : null,
        new MeanFlow.Draws(nT, nR, uRatio, eps, uDrop), null);
    stats.put("sq_error", r.sqError().mean());
    stats.put("v_loss", r.vLoss().mean());
    return r.loss();
  }

  @Override
  Tensor sample(Module m, Tensor z, double[] mids, Tensor labels, double w, Module guide, Generator g) {
    if (guide != null || w != 1) {
      throw new IllegalArgumentException("meanflow folds classifier-free guidance into training (objective.cfg_omega); "
          + "sampling-time guidance (--guidance, --guide) does not apply to it");
    }
    TwoTimeNetwork tn = (TwoTimeNetwork) m;
    return MeanFlow.sample(tn, z, oneToZero(mids), labelsOrNullClass(labels, z, tn.labelDim()));
  }
}
