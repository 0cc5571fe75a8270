import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.objectives.AlignYourFlow;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import java.util.Locale;

/**
 * The AYF toy study of docs/toy2d.md (Align Your Flow section): AyfToyLearningTest's setup (the same data, analytic
 * teachers, MLP, seeds, EMA and evaluation, as {@link ToyStudy}) with the AYF settings and the schedule settable, one
 * run per invocation. Prints one RESULT line: the settings that differ from the defaults, the 1-step and 2-step SW2,
 * the noise floor, the CPU time.
 *
 * <p>Usage (as bench/toy2d_study.sh builds the class path): {@code java -cp ... bench/AyfToyStudy.java key=value ...};
 * keys and defaults in {@link #DEFAULTS} (the defaults are the test's settings; {@code warmup} is AYF's tangent
 * warm-up, {@code lrwarmup} the learning rate's).
 */
public class AyfToyStudy {
  static final String[] DEFAULTS = {"toy", "gauss", "loss", "emd", "sampler", "interval", "pm", "-0.8", "ps", "1.0",
      "c", "0.1", "warmup", "1000", "rmax", "0.99", "lr", "1e-3", "lr2", "3e-4", "decay", "4000", "iters", "6000",
      "ema", "0.998", "batch", "128", "seed", "1", "beta2", "0.999", "lrwarmup", "0"};

  public static void main(String[] args) {
    ToyStudy t = new ToyStudy(DEFAULTS, args);
    AlignYourFlow ayf = new AlignYourFlow(new AlignYourFlow.Config(AlignYourFlow.Loss.valueOf(t.up("loss")),
        AlignYourFlow.TimeSampler.valueOf(t.up("sampler")), t.d("pm"), t.d("ps"), t.d("c"), (long) t.d("warmup"),
        t.d("rmax")));
    AlignYourFlow.Velocity teacher = AlignYourFlow.fromDenoiser(
        t.spiral ? mixture(spiralCenters(128), 0.02) : mixture(gaussCenters(), 0.05), 80);
    MLPDenoiser.Config nc = new MLPDenoiser.Config(2, 96, 3, 32, 0, true);
    t.train("ayf ", () -> new TwoTimeNetwork(new MLPDenoiser(nc)), "lrwarmup",
        (net, x, it, gen) -> ayf.loss(net, teacher, x, null, it, gen, null).loss(),
        ema -> t.sw2(z -> AlignYourFlow.sample(ema, z, 1, null)),
        ema -> String.format(Locale.ROOT, " %.4f", t.sw2(z -> AlignYourFlow.sample(ema, z, 2, null))));
  }

  /** AyfToyLearningTest.mixture: the exact EDM denoiser of an equal-weight isotropic Gaussian mixture. */
  static Denoiser mixture(double[][] centers, double std) {
    double[] c = new double[2 * centers.length];
    for (int k = 0; k < centers.length; k++) {
      c[2 * k] = centers[k][0];
      c[2 * k + 1] = centers[k][1];
    }
    return (x, sigma, labels) -> {
      Tensor xd = x.to(DType.FLOAT64);
      Tensor var = TrigFlowPrecond.broadcast(sigma.to(DType.FLOAT64), xd).square().add(std * std);
      Tensor mu = Tensor.of(c, centers.length, 2);
      Tensor diff = xd.unsqueeze(1).sub(mu.unsqueeze(0));
      Tensor w = diff.square().sum(false, 2).div(var.mul(-2.0)).softmax(1).unsqueeze(2);
      Tensor comp = mu.unsqueeze(0).add(diff.mul(var.rdiv(std * std).unsqueeze(2)));
      return comp.mul(w).sum(false, 1).to(x.dtype());
    };
  }

  static double[][] gaussCenters() {
    double[][] c = new double[8][];
    for (int k = 0; k < 8; k++) c[k] = new double[] {0.7 * Math.cos(2 * Math.PI * k / 8), 0.7 * Math.sin(2 * Math.PI * k / 8)};
    return c;
  }

  static double[][] spiralCenters(int perArm) {
    double[][] c = new double[2 * perArm][];
    for (int i = 0; i < perArm; i++) {
      double s = Math.sqrt((i + 0.5) / perArm);
      double th = 0.3 + s * 3 * Math.PI;
      double rad = 0.08 + 0.8 * s;
      c[2 * i] = new double[] {rad * Math.cos(th), rad * Math.sin(th)};
      c[2 * i + 1] = new double[] {rad * Math.cos(th + Math.PI), rad * Math.sin(th + Math.PI)};
    }
    return c;
  }
}
