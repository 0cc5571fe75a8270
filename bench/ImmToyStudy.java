import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.objectives.IMM;
import dev.cm4j.precond.IMMPrecond;
import java.util.Locale;

/**
 * The IMM toy study of docs/algorithms/imm.md §7: ImmToyLearningTest's setup (the same data, MLP, seeds, EMA and
 * evaluation, as {@link ToyStudy}) with every factor settable, one run per invocation. Prints one RESULT line: the
 * settings that differ from the defaults, the 1-step SW2, the 2-step SW2 at each intermediate η ({@code mids}), the
 * noise floor, and the training thread's CPU time.
 *
 * <p>Usage (as bench/toy2d_study.sh builds the class path): {@code java -cp ... bench/ImmToyStudy.java key=value ...};
 * keys and defaults in {@link #DEFAULTS} (the defaults are the test's settings).
 */
public class ImmToyStudy {
  static final String[] DEFAULTS = {"toy", "gauss", "k", "10", "M", "4", "a", "1", "b", "5", "mapping", "eta",
      "kernel", "laplace", "gap", "0", "param", "simple_edm", "sched", "fm", "temb", "identity", "tmax", "0.994",
      "eps", "0.006", "sd", "0.5", "lr", "1e-3", "lr2", "3e-4", "decay", "4000", "warmup", "0", "iters", "6000",
      "ema", "0.998", "batch", "128", "seed", "1", "mids", "1.4", "beta2", "0.999", "emb", "32"};

  public static void main(String[] args) {
    ToyStudy t = new ToyStudy(DEFAULTS, args);
    IMMPrecond.Config pc = new IMMPrecond.Config(IMMPrecond.Schedule.valueOf(t.up("sched")),
        IMMPrecond.Param.valueOf(t.up("param")), IMMPrecond.TimeEmbedding.valueOf(t.up("temb")), t.d("sd"),
        t.d("tmax"), t.d("eps"), 1000);
    IMM imm = new IMM(new IMM.Config(t.i("M"), IMM.Mapping.valueOf(t.up("mapping")), t.i("k"), t.d("gap"), t.d("a"),
        t.d("b"), 1e-8, IMM.Kernel.valueOf(t.up("kernel"))));
    MLPDenoiser.Config nc = new MLPDenoiser.Config(2, 96, 3, t.i("emb"), 0, true);
    t.train("imm ", () -> new IMMPrecond(new MLPDenoiser(nc), pc), "warmup",
        (net, x, it, gen) -> imm.loss(net, null, x, null, gen, null).loss(),
        ema -> sw2(t, ema, new double[0]),
        ema -> {
          StringBuilder two = new StringBuilder();
          for (String m : t.get("mids").split(",")) {
            two.append(String.format(Locale.ROOT, " %s:%.4f", m, sw2(t, ema, new double[] {Double.parseDouble(m)})));
          }
          return two.toString();
        });
  }

  /** SW2 of the pushforward sampler with the given intermediate η (none: 1 step). */
  static double sw2(ToyStudy t, IMMPrecond net, double[] midEta) {
    double[] times = IMM.pushforwardTimes(net.config(), midEta);
    return t.sw2(z -> IMM.sample(net, z, times, null));
  }
}
