package dev.cm4j.objectives;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.ForwardAD;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import java.util.List;

/**
 * Mean Flows (Geng, Deng, Bai, Kolter, He 2025, arXiv 2505.13447; official JAX code Gsunshine/meanflow
 * {@code meanflow.py}, official PyTorch CIFAR-10 code Gsunshine/py-meanflow; docs/algorithms/meanflow.md): a network
 * u_θ(z_t, r, t) learns the <i>average</i> velocity of the flow path z_t = (1 − t)·x + t·ε, v = ε − x, between r and
 * t, trained from scratch by the MeanFlow identity u = v − (t − r)·du/dt: the target u_tgt = v − (t − r)·du/dt with
 * the total derivative du/dt = v·∂_z u + ∂_t u from one forward-mode JVP along (v, 0, 1) in (z, r, t), under
 * stop-gradient; the per-sample loss ‖u − u_tgt‖² summed over the elements, adaptively weighted by
 * 1/sg((‖u − u_tgt‖² + c)^p). (t, r) are two logit-normal draws ordered so that t ≥ r, and r is set to t (plain flow
 * matching) for a fraction 1 − ratio of the samples. A class-conditional model folds classifier-free guidance into
 * training: the velocity in target and tangent becomes v_g = ω·v + (1 − ω − κ)·u(z_t, t, t | ∅) + κ·u(z_t, t, t | y)
 * (κ = 0: v_g = u_∅ + ω·(v − u_∅)) for t in [t_start, t_end], and labels are dropped with a probability (v_g = v for
 * those samples). Samplers: z_r = z_t − (t − r)·u(z_t, r, t), one step from t = 1 to 0 or several.
 *
 * <p>The improved variant's loss (iMF, Geng et al. 2025b, arXiv 2512.02012) is {@link LossKind#V}: the compound
 * velocity V = u + (t − r)·sg(du/dt), whose JVP tangent is the network's own instantaneous velocity sg(u(z_t, t, t))
 * instead of ε − x, regressed onto v (or v_g); see docs/algorithms/meanflow.md §2.5 for what of it is transcribed and
 * what is not.
 */
public final class MeanFlow {
  /** The loss on the average velocity (MeanFlow) or on the re-parameterised instantaneous velocity (iMF). */
  public enum LossKind {
    /** MeanFlow: ‖u − sg(v − (t − r)·du/dt)‖², tangent v. */
    U,
    /** iMF: ‖u + (t − r)·sg(du/dt) − v‖², tangent sg(u(z_t, t, t)). */
    V
  }

  /** How (t, r) are made from the two logit-normal draws. */
  public enum TimeSampler {
    /**
     * py-meanflow "v0" (the paper's): order (t, r) = (max, min), then r = t for a fraction 1 − ratio. The official JAX
     * code orders the same way.
     */
    V0,
    /** py-meanflow "v1": r = t for a fraction 1 − ratio, then r = min(t, r) (the draws keep their roles). */
    V1
  }

  /**
   * @param pMeanT mean of t's logit-normal (t = sigmoid(P_mean + P_std·n))
   * @param pStdT std of t's logit-normal
   * @param pMeanR mean of r's logit-normal
   * @param pStdR std of r's logit-normal
   * @param ratio probability of r ≠ t (before ordering, the two draws may still coincide only with probability 0)
   * @param sampler how the two draws become (t, r)
   * @param normP p of the adaptive weight 1/sg((‖Δ‖² + c)^p) (0: no weighting, plain squared L2)
   * @param normEps c of the adaptive weight
   * @param omega ω of the guidance folded into training (1 with κ = 0: no guidance)
   * @param kappa κ of the guidance's mix of the conditional velocity
   * @param tStart guidance applies where t ≥ t_start
   * @param tEnd and t ≤ t_end
   * @param classDropout probability that a sample's label is dropped (the null class; its velocity stays v)
   * @param loss U (MeanFlow) or V (iMF's v-loss)
   */
  public record Config(
      @JsonProperty("P_mean_t") double pMeanT,
      @JsonProperty("P_std_t") double pStdT,
      @JsonProperty("P_mean_r") double pMeanR,
      @JsonProperty("P_std_r") double pStdR,
      @JsonProperty("ratio") double ratio,
      @JsonProperty("tr_sampler") TimeSampler sampler,
      @JsonProperty("norm_p") double normP,
      @JsonProperty("norm_eps") double normEps,
      @JsonProperty("omega") double omega,
      @JsonProperty("kappa") double kappa,
      @JsonProperty("t_start") double tStart,
      @JsonProperty("t_end") double tEnd,
      @JsonProperty("class_dropout") double classDropout,
      @JsonProperty("loss") LossKind loss) {
    public Config {
      if (!Double.isFinite(pMeanT) || !Double.isFinite(pMeanR)) throw new IllegalArgumentException("P_mean must be finite");
      if (!(pStdT > 0) || !(pStdR > 0) || Double.isInfinite(pStdT) || Double.isInfinite(pStdR)) {
        throw new IllegalArgumentException("P_std must be positive and finite");
      }
      if (!(ratio >= 0 && ratio <= 1)) throw new IllegalArgumentException("ratio (of r ≠ t) must be in [0, 1], got " + ratio);
      if (sampler == null || loss == null) throw new IllegalArgumentException("tr_sampler and loss are required");
      if (!(normP >= 0) || Double.isInfinite(normP)) throw new IllegalArgumentException("norm_p must be ≥ 0, got " + normP);
      if (!(normEps > 0) || Double.isInfinite(normEps)) {
        throw new IllegalArgumentException("norm_eps must be positive, got " + normEps);
      }
      if (!Double.isFinite(omega) || !Double.isFinite(kappa)) throw new IllegalArgumentException("omega, kappa must be finite");
      if (!(tStart >= 0 && tEnd <= 1 && tStart <= tEnd)) {
        throw new IllegalArgumentException("need 0 ≤ t_start ≤ t_end ≤ 1, got " + tStart + ", " + tEnd);
      }
      if (!(classDropout >= 0 && classDropout < 1)) {
        throw new IllegalArgumentException("class_dropout must be in [0, 1), got " + classDropout);
      }
    }

    /**
     * CIFAR-10 unconditional, the paper's configuration (py-meanflow scripts/cifar10_v0.sh: tr_sampler v0, both
     * logit-normals (−2.0, 2.0), ratio 0.75, norm_p 0.75; train_arg_parser.py: norm_eps 1e-3); no guidance.
     */
    public static Config cifar10() {
      return new Config(-2.0, 2.0, -2.0, 2.0, 0.75, TimeSampler.V0, 0.75, 1e-3, 1.0, 0.0, 0.0, 1.0, 0.0, LossKind.U);
    }

    /** Whether guidance is folded into training (ω ≠ 1 or κ ≠ 0). */
    public boolean guided() {
      return omega != 1.0 || kappa != 0.0;
    }

    public Config withLoss(LossKind l) {
      return new Config(pMeanT, pStdT, pMeanR, pStdR, ratio, sampler, normP, normEps, omega, kappa, tStart, tEnd,
          classDropout, l);
    }
  }

  /**
   * The random draws of one batch (all [N] unless noted), standard normal unless noted.
   *
   * @param nT draw of t's logit-normal
   * @param nR draw of r's logit-normal
   * @param uRatio uniform [0, 1): r ≠ t where uRatio &lt; ratio
   * @param eps the noise ε, shaped like x
   * @param uDrop uniform [0, 1): the label is dropped where uDrop &lt; class_dropout (null when unconditional)
   */
  public record Draws(Tensor nT, Tensor nR, Tensor uRatio, Tensor eps, Tensor uDrop) {}

  /**
   * Per-sample loss and its parts (all [N] unless noted).
   *
   * @param loss the adaptively weighted loss ‖Δ‖²/sg((‖Δ‖² + c)^p)
   * @param sqError ‖Δ‖² before weighting (detached)
   * @param u the network's output u(z_t, r, t) [like x] (with gradients)
   * @param dudt du/dt from the JVP [like x] (detached)
   * @param t the end times
   * @param r the start times
   * @param vLoss ‖u − v‖² (monitoring, as the official code logs; detached)
   */
  public record Result(Tensor loss, Tensor sqError, Tensor u, Tensor dudt, Tensor t, Tensor r, Tensor vLoss) {}

  private final Config cfg;

  public MeanFlow(Config cfg) {
    this.cfg = cfg;
  }

  public Config config() {
    return cfg;
  }

  /** Draws for a batch like x from gen (order: n_t, n_r, u_ratio, ε, u_drop). */
  public Draws draw(Tensor x, boolean conditional, Generator gen) {
    Device dev = x.device();
    long[] n = {x.size(0)};
    Tensor nT = Tensor.randn(n, DType.FLOAT32, dev, gen);
    Tensor nR = Tensor.randn(n, DType.FLOAT32, dev, gen);
    Tensor u = Tensor.rand(n, DType.FLOAT32, dev, gen);
    Tensor eps = Tensor.randn(x.shape(), x.dtype(), dev, gen);
    Tensor drop = conditional ? Tensor.rand(n, DType.FLOAT32, dev, gen) : null;
    return new Draws(nT, nR, u, eps, drop);
  }

  /** (t, r) from the draws: the configured sampler over the two logit-normals. Returns {t, r}, each [N]. */
  public Tensor[] times(Tensor nT, Tensor nR, Tensor uRatio) {
    Tensor t = nT.mul(cfg.pStdT()).add(cfg.pMeanT()).sigmoid();
    Tensor r = nR.mul(cfg.pStdR()).add(cfg.pMeanR()).sigmoid();
    Tensor same = uRatio.ge(cfg.ratio()); // probability 1 − ratio: r = t
    if (cfg.sampler() == TimeSampler.V0) {
      Tensor hi = t.maximum(r);
      Tensor lo = t.minimum(r);
      return new Tensor[] {hi, Tensor.where(same, hi, lo)};
    }
    return new Tensor[] {t, Tensor.where(same, t, r).minimum(t)};
  }

  /** The per-sample loss with fresh draws from gen (dropout masks from dropoutGen: null, the default generator). */
  public Result loss(TwoTimeNetwork net, Tensor x, Tensor labels, Generator gen, Generator dropoutGen) {
    return loss(net, x, labels, draw(x, labels != null && net.labelDim() > 0, gen), dropoutGen);
  }

  /**
   * The per-sample loss for explicit draws.
   *
   * @param labels one-hot class labels [N, L] for a conditional network (null: unconditional)
   * @param dropoutGen the generator the network's dropout draws from (the u pass and the JVP pass share masks)
   */
  public Result loss(TwoTimeNetwork net, Tensor x, Tensor labels, Draws d, Generator dropoutGen) {
    if (x.dim() < 2) throw new IllegalArgumentException("x must be [N, ...], got " + java.util.Arrays.toString(x.shape()));
    boolean conditional = net.labelDim() > 0;
    if (conditional && labels == null) throw new IllegalArgumentException("the network is class-conditional: give labels");
    if (!conditional && labels != null) throw new IllegalArgumentException("the network is unconditional: labels must be null");
    if (cfg.guided() && !conditional) {
      throw new IllegalArgumentException("guidance (omega ≠ 1 or kappa ≠ 0) needs a class-conditional network");
    }
    Tensor[] tr = times(d.nT(), d.nR(), d.uRatio());
    Tensor t = tr[0];
    Tensor r = tr[1];
    Tensor tb = bcast(t, x);
    Tensor rb = bcast(r, x);
    Tensor eps = d.eps();
    Tensor z = tb.neg().add(1.0).mul(x).add(tb.mul(eps)); // z_t = (1 − t)·x + t·ε
    Tensor v = eps.sub(x);                                 // v = ε − x

    // Guidance folded into training, then label dropout (the official JAX code's guidance_fn and cond_drop).
    Tensor vg = v;
    Tensor yIn = labels;
    if (conditional) {
      Tensor keep = d.uDrop() == null || cfg.classDropout() == 0 ? null : d.uDrop().ge(cfg.classDropout());
      if (cfg.guided()) vg = guidedVelocity(net, z, t, v, labels);
      if (keep != null) {
        Tensor kb = bcast(keep, x);
        vg = Tensor.where(kb, vg, v);
        yIn = labels.mul(keep.to(labels.dtype()).unsqueeze(1));
      }
    }

    final Tensor tangentV;
    if (cfg.loss() == LossKind.V) {
      try (GradMode g = GradMode.noGrad()) {
        tangentV = net.forwardH(z, t, t.zerosLike(), yIn); // iMF: the network's own instantaneous velocity
      }
    } else {
      tangentV = vg;
    }
    final Tensor y = yIn;
    // u with gradients, then du/dt by one JVP along (v, 0, 1) in (z, r, t) with the same dropout masks, without
    // gradients (py-meanflow README's memory-saving form; r enters only through h = t − r, so its zero tangent is
    // the same as holding r fixed).
    var passes = SharedDropout.run(dropoutGen, x.device(),
        () -> net.forward(z, r, t, y),
        () -> {
          try (GradMode g = GradMode.noGrad()) {
            ForwardAD.Jvp j = ForwardAD.jvp(in -> List.of(net.forward(in.get(0), r, in.get(1), y)),
                List.of(z, t), List.of(tangentV, t.onesLike()));
            return j.tangents().get(0);
          }
        });
    Tensor u = passes.first();
    Tensor dudt = passes.second().detach();
    Tensor gap = tb.sub(rb);
    Tensor delta;
    if (cfg.loss() == LossKind.U) {
      Tensor uTgt = vg.sub(gap.mul(dudt)).detach();  // u_tgt = v − (t − r)·du/dt, stop-gradient
      delta = u.sub(uTgt);
    } else {
      delta = u.add(gap.mul(dudt)).sub(vg.detach()); // V − v with V = u + (t − r)·sg(du/dt)
    }
    long n = x.size(0);
    Tensor sq = delta.square().reshape(n, -1).sum(false, 1);
    Tensor loss = cfg.normP() == 0 ? sq : sq.div(sq.detach().add(cfg.normEps()).pow(cfg.normP()));
    Tensor vLoss;
    try (GradMode g = GradMode.noGrad()) {
      vLoss = u.detach().sub(v).square().reshape(n, -1).sum(false, 1);
    }
    return new Result(loss, sq.detach(), u, dudt, t, r, vLoss);
  }

  /** v_g of the official guidance_fn: ω·v + (1 − ω − κ)·u(z, t, t | ∅) + κ·u(z, t, t | y) on [t_start, t_end]. */
  Tensor guidedVelocity(TwoTimeNetwork net, Tensor z, Tensor t, Tensor v, Tensor labels) {
    try (GradMode g = GradMode.noGrad()) {
      boolean wasTraining = net.isTraining();
      net.eval(); // the reference evaluates these with train=False
      try {
        Tensor h0 = t.zerosLike();
        Tensor vUncond = net.forwardH(z, t, h0, labels.zerosLike());
        Tensor inside = t.ge(cfg.tStart()).logicalAnd(t.le(cfg.tEnd()));
        Tensor om = Tensor.where(inside, t.onesLike().mul(cfg.omega()), t.onesLike());
        Tensor ka = Tensor.where(inside, t.onesLike().mul(cfg.kappa()), t.zerosLike());
        Tensor omB = bcast(om, z);
        Tensor kaB = bcast(ka, z);
        if (cfg.kappa() == 0) return vUncond.add(omB.mul(v.sub(vUncond)));
        Tensor vCond = net.forwardH(z, t, h0, labels);
        return omB.mul(v).add(omB.neg().sub(kaB).add(1.0).mul(vUncond)).add(kaB.mul(vCond));
      } finally {
        net.train(wasTraining);
      }
    }
  }

  /**
   * Deterministic MeanFlow sampling: z ← z − (t_i − t_{i+1})·u(z, t_{i+1}, t_i) along times (from 1 down to 0;
   * {1, 0} is the 1-step sampler z_0 = z_1 − u(z_1, 0, 1), {1, t_mid, 0} the 2-step one).
   *
   * @param z1 standard-normal latents
   * @param labels one-hot labels or null
   */
  public static Tensor sample(TwoTimeNetwork net, Tensor z1, double[] times, Tensor labels) {
    if (times.length < 2) throw new IllegalArgumentException("need at least two times (e.g. {1, 0})");
    for (int i = 0; i + 1 < times.length; i++) {
      if (!(times[i] > times[i + 1]) || times[i] > 1 || times[i + 1] < 0) {
        throw new IllegalArgumentException("times must decrease within [0, 1]: " + java.util.Arrays.toString(times));
      }
    }
    try (GradMode g = GradMode.noGrad()) {
      Tensor z = z1;
      long n = z1.size(0);
      for (int i = 0; i + 1 < times.length; i++) {
        Tensor t = Tensor.full(new long[] {n}, times[i], z.dtype(), z.device());
        Tensor r = Tensor.full(new long[] {n}, times[i + 1], z.dtype(), z.device());
        z = z.sub(net.forward(z, r, t, labels).mul(times[i] - times[i + 1]));
      }
      return z;
    }
  }

  /** The 1-step sampler z_0 = z_1 − u(z_1, 0, 1). */
  public static Tensor sampleOneStep(TwoTimeNetwork net, Tensor z1, Tensor labels) {
    return sample(net, z1, new double[] {1, 0}, labels);
  }

  /** t [N] viewed as [N, 1, ...] to broadcast against x. */
  static Tensor bcast(Tensor t, Tensor x) {
    long[] s = new long[x.dim()];
    java.util.Arrays.fill(s, 1);
    s[0] = t.size(0);
    return t.reshape(s);
  }
}
