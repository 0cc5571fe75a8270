package dev.cm4j.precond;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.nn.CTMNetwork;
import dev.cm4j.nn.Module;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import java.util.Arrays;
import java.util.Locale;

/**
 * Inductive Moment Matching's preconditioner (Zhou, Ermon, Song 2025, arXiv 2503.07565; docs/algorithms/imm.md §2):
 * the one-step map f_{s,t}(x_t) = c_skip(s,t)·x_t + c_out(s,t)·G(c_in(t)·x_t, c_noise(t), c_noise(s or t − s)) from
 * time t down to s ≤ t of a stochastic interpolant x_t = α_t·x + σ_t·ε, ε ~ N(0, σ_d²I) (the paper's §4.2 and
 * Appendix C.5). The math follows lumalabs/imm {@code training/preconds.py} (commit c9473e9) class {@code IMMPrecond}:
 * the schedules of {@code get_logsnr} / {@code get_alpha_sigma} / {@code nt_to_t} (lines 86-111, 151-171), c_in and the
 * time labels of {@code forward_model} (178-213), and the three maps {@code ddim} (identity), {@code
 * simple_edm_sample_function} and {@code euler_fm_sample_function} (122-149), with its numerics: the raw network runs
 * in float32 on float32 times, while c_skip, c_out and the combination use the times' own dtype (the training loss
 * passes float64 times, as the official sampler does). State-dict names are the raw network's under {@code model.}.
 */
public final class IMMPrecond extends Module {
  /** The flow trajectory (α_t, σ_t), t ∈ [0, 1]. */
  public enum Schedule {
    /** OT-FM ({@code noise_schedule="fm"}): α = 1 − t, σ = t. */
    FM,
    /** Cosine ({@code "vp_cosine"}): α = cos(πt/2), σ = sin(πt/2). */
    COSINE
  }

  /** The network parameterisation g_θ ({@code f_type}). */
  public enum Param {
    /** DDIM with an x-prediction network: c_skip = σ_s/σ_t, c_out = α_s − α_t·σ_s/σ_t. */
    IDENTITY,
    /** Simple-EDM: c_skip = (α_tα_s + σ_tσ_s)/(α_t² + σ_t²), c_out = −(α_sσ_t − α_tσ_s)·σ_d/√(α_t² + σ_t²). */
    SIMPLE_EDM,
    /** Euler-FM (OT-FM only): c_skip = 1, c_out = −(t − s)·σ_d. */
    EULER_FM
  }

  /** The second time the network sees ({@code temb_type}). */
  public enum TimeEmbedding {
    /** (c·t, c·s) ({@code "identity"}, the CIFAR-10 setting). */
    IDENTITY,
    /** (c·t, c·(t − s)) ({@code "stride"}). */
    STRIDE
  }

  /**
   * @param schedule the flow trajectory
   * @param param the parameterisation
   * @param timeEmbedding the second time input
   * @param sigmaData σ_d (prior N(0, σ_d²I); 0.5 in every published setting)
   * @param tMax T, the largest time (0.994 for OT-FM)
   * @param eps ε, the smallest time (0.006 for pixel-space CIFAR-10)
   * @param timeScale c of c_noise(t) = c·t (1000)
   */
  public record Config(
      @JsonProperty("schedule") Schedule schedule,
      @JsonProperty("f_type") Param param,
      @JsonProperty("temb_type") TimeEmbedding timeEmbedding,
      @JsonProperty("sigma_data") double sigmaData,
      @JsonProperty("T") double tMax,
      @JsonProperty("eps") double eps,
      @JsonProperty("time_scale") double timeScale) {
    public Config {
      if (schedule == null || param == null || timeEmbedding == null) {
        throw new IllegalArgumentException("schedule, f_type and temb_type are required");
      }
      if (param == Param.EULER_FM && schedule != Schedule.FM) {
        throw new IllegalArgumentException("f_type euler_fm needs the OT-FM schedule (fm), got " + schedule);
      }
      if (!(sigmaData > 0) || Double.isInfinite(sigmaData)) {
        throw new IllegalArgumentException("sigma_data must be positive and finite, got " + sigmaData);
      }
      if (!(eps >= 0 && eps < tMax && tMax < 1)) {
        throw new IllegalArgumentException("need 0 ≤ eps < T < 1, got eps " + eps + ", T " + tMax);
      }
      if (!(timeScale > 0) || Double.isInfinite(timeScale)) {
        throw new IllegalArgumentException("time_scale must be positive and finite, got " + timeScale);
      }
    }

    /** CIFAR-10 (configs/cifar10_generate_images.yaml; paper Table 5): OT-FM, Simple-EDM, (t, s), σ_d 0.5, T 0.994, ε 0.006, c 1000. */
    public static Config cifar10() {
      return new Config(Schedule.FM, Param.SIMPLE_EDM, TimeEmbedding.IDENTITY, 0.5, 0.994, 0.006, 1000);
    }

    /** A schedule name as the official code spells it ("fm", "vp_cosine"). */
    public static Schedule schedule(String name) {
      return switch (name.toLowerCase(Locale.ROOT)) {
        case "fm" -> Schedule.FM;
        case "vp_cosine", "cosine" -> Schedule.COSINE;
        default -> throw new IllegalArgumentException("schedule must be fm or vp_cosine, got " + name);
      };
    }

    /** η_min = η(ε). */
    public double etaMin() {
      return eta(schedule, eps);
    }

    /** η_max = η(T). */
    public double etaMax() {
      return eta(schedule, tMax);
    }
  }

  private final CTMNetwork net;
  private final Config cfg;

  /** Wraps a raw network with the second time input (registered as child "model"). */
  public <N extends Module & CTMNetwork> IMMPrecond(N net, Config cfg) {
    if (!net.hasSEmbedding()) {
      throw new IllegalArgumentException("IMM's f_{s,t} needs a network with the second time input: build it with "
          + "s_embedding = true (network.s_embedding)");
    }
    child("model", net);
    this.net = net;
    this.cfg = cfg;
  }

  public Config config() {
    return cfg;
  }

  /** The raw network. */
  public CTMNetwork network() {
    return net;
  }

  public int labelDim() {
    return net.labelDim();
  }

  // ------------------------------------------------------------------------------------------------ schedules

  /** {α_t, σ_t} of a tensor of times (their dtype). */
  public Tensor[] alphaSigma(Tensor t) {
    if (cfg.schedule() == Schedule.FM) return new Tensor[] {t.neg().add(1.0), t};
    Tensor a = t.mul(Math.PI * 0.5);
    return new Tensor[] {a.cos(), a.sin()};
  }

  /** λ_t = log-SNR = 2·log(α_t/σ_t) ({@code get_logsnr}). */
  public Tensor logSnr(Tensor t) {
    Tensor[] as = alphaSigma(t);
    return as[0].log().sub(as[1].log()).mul(2.0);
  }

  /** dλ/dt: OT-FM −2/(t(1 − t)); cosine −π/(sin(πt/2)cos(πt/2)). */
  public Tensor logSnrPrime(Tensor t) {
    if (cfg.schedule() == Schedule.FM) return t.mul(t.neg().add(1.0)).reciprocal().mul(-2.0);
    Tensor[] as = alphaSigma(t);
    return as[0].mul(as[1]).reciprocal().mul(-Math.PI);
  }

  /** η(t) = σ_t/α_t for a double (the mapping function's and the sampler's noise level). */
  public static double eta(Schedule schedule, double t) {
    return schedule == Schedule.FM ? t / (1 - t) : Math.tan(t * Math.PI * 0.5);
  }

  /** η⁻¹ ({@code nt_to_t}): OT-FM η/(1 + η), cosine atan(η)/(π/2); NaN becomes 1 as upstream. */
  public static double etaInverse(Schedule schedule, double eta) {
    double t = schedule == Schedule.FM ? eta / (1 + eta) : Math.atan(eta) / (Math.PI * 0.5);
    return Double.isNaN(t) ? 1 : t;
  }

  /** η⁻¹ on a tensor. */
  public Tensor etaInverse(Tensor eta) {
    if (cfg.schedule() == Schedule.FM) return eta.div(eta.add(1.0));
    return eta.atan().mul(2 / Math.PI);
  }

  /** η(t) on a tensor. */
  public Tensor eta(Tensor t) {
    Tensor[] as = alphaSigma(t);
    return as[1].div(as[0]);
  }

  /** c_in(t) = 1/(σ_d·√(α_t² + σ_t²)). */
  public Tensor cIn(Tensor t) {
    Tensor[] as = alphaSigma(t);
    return as[0].square().add(as[1].square()).rsqrt().div(cfg.sigmaData());
  }

  /** {c_skip(s, t), c_out(s, t)} (paper Appendix C.5; the official sample functions). */
  public Tensor[] cSkipOut(Tensor s, Tensor t) {
    Tensor[] at = alphaSigma(t);
    Tensor[] as = alphaSigma(s);
    return switch (cfg.param()) {
      case IDENTITY -> {
        Tensor ratio = as[1].div(at[1]);                            // σ_s/σ_t
        yield new Tensor[] {ratio, as[0].sub(at[0].mul(ratio))};    // (σ_s/σ_t, α_s − α_t·σ_s/σ_t)
      }
      case SIMPLE_EDM -> {
        Tensor norm2 = at[0].square().add(at[1].square());
        Tensor skip = at[0].mul(as[0]).add(at[1].mul(as[1])).div(norm2);
        Tensor out = as[0].mul(at[1]).sub(at[0].mul(as[1])).mul(norm2.rsqrt()).mul(-cfg.sigmaData());
        yield new Tensor[] {skip, out};
      }
      case EULER_FM -> new Tensor[] {t.onesLike(), t.sub(s).mul(-cfg.sigmaData())};
    };
  }

  // ------------------------------------------------------------------------------------------------ the map

  /**
   * f_{s,t}(x_t) for times t, s [N] (s ≤ t) and labels (one-hot [N, L] or null): the raw network on float32 inputs
   * c_in(t)·x_t and time labels (c·t, c·s) or (c·t, c·(t − s)), its output in the times' dtype, then
   * c_skip(s, t)·x_t + c_out(s, t)·G in that dtype.
   */
  public Tensor forward(Tensor x, Tensor t, Tensor s, Tensor classLabels) {
    if (t.dim() != 1 || s.dim() != 1 || t.size(0) != x.size(0) || s.size(0) != x.size(0)) {
      throw new IllegalArgumentException("t and s must be 1-d with one entry per sample of x [" + x.size(0) + "], got "
          + Arrays.toString(t.shape()) + " and " + Arrays.toString(s.shape()));
    }
    DType dt = t.dtype();
    Tensor t32 = t.to(DType.FLOAT32);
    Tensor s32 = s.to(DType.FLOAT32);
    Tensor in = x.to(DType.FLOAT32).mul(bcast(cIn(t32), x));
    Tensor noiseT = t32.mul(cfg.timeScale());
    Tensor noiseS = (cfg.timeEmbedding() == TimeEmbedding.IDENTITY ? s32 : t32.sub(s32)).mul(cfg.timeScale());
    Tensor g = net.forward(in, noiseT, noiseS, classLabels, null).to(dt);
    Tensor[] c = cSkipOut(s.to(dt), t);
    return bcast(c[0], x).mul(x.to(dt)).add(bcast(c[1], x).mul(g));
  }

  /** v [N] viewed as [N, 1, ...] to broadcast against x. */
  public static Tensor bcast(Tensor v, Tensor x) {
    long[] shape = new long[x.dim()];
    Arrays.fill(shape, 1);
    shape[0] = v.size(0);
    return v.reshape(shape);
  }
}
