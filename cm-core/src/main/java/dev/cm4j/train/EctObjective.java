package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.Module;
import dev.cm4j.objectives.ECT;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.sampling.Guidance;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.List;
import java.util.function.Supplier;

/** ECT (docs/algorithms/ect.md): stage −1 for denoise_kimg, then stages of double_kimg each. */
final class EctObjective extends NoiseObjective {
  /**
   * objective.kind "ect": {@link ECT.Config}'s parameters (its defaults: run_ecm.sh's), with the weighting selectable
   * ("inverse_gap", the CIFAR-10 branch's 1/(t − r), or "edm2", the ImageNet branch's 1/t² + 1/σ_d² with σ_d from
   * precond.sigma_data), plus the stage schedule in kimg.
   *
   * @param denoiseKimg length of the pure-denoising stage −1 (0: none)
   * @param doubleKimg length of each following stage (Δt/t shrinks by 1/q from one to the next)
   */
  record Options(
      @JsonProperty("kind") String kind,
      @JsonProperty("P_mean") double pMean,
      @JsonProperty("P_std") double pStd,
      @JsonProperty("q") double q,
      @JsonProperty("k") double k,
      @JsonProperty("b") double b,
      @JsonProperty("c") double c,
      @JsonProperty("mapping") ECT.Mapping mapping,
      @JsonProperty("weighting") ECT.Weighting weighting,
      @JsonProperty("denoise_kimg") double denoiseKimg,
      @JsonProperty("double_kimg") double doubleKimg) implements ObjectiveOptions {
    public Options {
      OptionException.oneOf("kind", kind, List.of("ect"));
      OptionException.finite("P_mean", pMean);
      OptionException.positive("P_std", pStd);
      OptionException.greater("q", q, 1);
      OptionException.atLeast("c", c, 0);
      OptionException.atLeast("denoise_kimg", denoiseKimg, 0);
      OptionException.positive("double_kimg", doubleKimg);
    }

    static Options defaults(String kind) {
      ECT.Config e = ECT.Config.cifar10();
      return new Options("ect", e.pMean(), e.pStd(), e.q(), e.k(), e.b(), e.c(), e.mapping(), e.weighting(), 0, 3200);
    }

    /** The library's config, with σ_d from precond. */
    ECT.Config config(double sigmaData) {
      return new ECT.Config(pMean, pStd, q, k, b, c, mapping, weighting, sigmaData);
    }

    @Override
    public String precondition() {
      return "ect";
    }
  }

  final EDMPrecond net;
  final ECT ect;
  final double denoiseKimg;
  final double doubleKimg;
  final double sigmaMax;

  EctObjective(TrainingOptions o, Supplier<Module> newNet, double sd, long seed, dev.cm4j.tensor.Device device) {
    super(device, seed ^ 0x5eed);
    Options ob = (Options) o.objective();
    PrecondOptions pc = o.precond();
    sigmaMax = pc.sigmaMax();
    net = new EDMPrecond(asNet(newNet.get()), sd, pc.sigmaMin(), sigmaMax, EDMPrecond.Boundary.ECT);
    ect = new ECT(ob.config(sd));
    denoiseKimg = ob.denoiseKimg();
    doubleKimg = ob.doubleKimg();
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
  Tensor loss(Tensor x, Tensor labels, long iteration, long images, StepStats stats) {
    stats.put("stage", (double) stage(images));
    Tensor n = normalPerSample(x);
    var y = augmented(x, gen); // ECMLoss augments after drawing t, before the noise
    Tensor eps = noiseLike(x);
    return ect.loss(net.withAugmentLabels(y.labels()), y.images(), labels, stage(images), n, eps, null);
  }


  @Override
  Tensor sample(Module m, Tensor z, double[] mids, Tensor labels, double w, Module guide, Generator g) {
    double[] times = new double[mids.length + 1];
    times[0] = sigmaMax;
    System.arraycopy(mids, 0, times, 1, mids.length);
    return Samplers.consistency(Guidance.denoiser((EDMPrecond) m, (EDMPrecond) guide, w), z, times, labels, 0, g);
  }
}
