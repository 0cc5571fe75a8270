package dev.cm4j.optim;

import dev.cm4j.nn.Module;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import java.util.List;
import java.util.Set;

/**
 * RAdam (Liu et al. 2020, Algorithm 2) as torch.optim.RAdam: Adam's moments; with ρ_∞ = 2/(1−β₂) − 1 and
 * ρ_t = ρ_∞ − 2tβ₂ᵗ/(1−β₂ᵗ), the step is rectified by r_t = √((ρ_t−4)(ρ_t−2)ρ_∞ / ((ρ_∞−4)(ρ_∞−2)ρ_t)) when ρ_t &gt; 5,
 * θ ← θ − lr·m̂·r_t·√(1−β₂ᵗ)/(√v + ε), and is the un-adapted momentum step θ ← θ − lr·m̂ otherwise. ECT trains with
 * it (docs/algorithms/ect.md §3.1). There is no fused kernel: {@link Impl#AUTO} and {@link Impl#FUSED} use FOREACH.
 */
public final class RAdam extends Optimizer {
  /**
   * RAdam's hyperparameters (defaults as torch.optim.RAdam).
   *
   * @param lr learning rate (1e-3)
   * @param beta1 β₁ (0.9)
   * @param beta2 β₂ (0.999)
   * @param eps ε (1e-8)
   * @param weightDecay λ (0)
   * @param decoupledWeightDecay AdamW-style decay θ ← θ·(1 − lr·λ) instead of L2 (false)
   * @param impl which kernels to use (AUTO = FOREACH)
   */
  public record Config(double lr, double beta1, double beta2, double eps, double weightDecay,
      boolean decoupledWeightDecay, Impl impl) {
    public Config {
      checkBetas(lr, beta1, beta2, eps, weightDecay);
      if (impl == null) throw new NullPointerException("impl");
    }

    /** torch.optim.RAdam's defaults. */
    public static Config defaults() {
      return new Config(1e-3, 0.9, 0.999, 1e-8, 0, false, Impl.AUTO);
    }

    /** With learning rate lr. */
    public Config withLr(double lr) {
      return new Config(lr, beta1, beta2, eps, weightDecay, decoupledWeightDecay, impl);
    }

    /** With betas (β₁, β₂). */
    public Config withBetas(double beta1, double beta2) {
      return new Config(lr, beta1, beta2, eps, weightDecay, decoupledWeightDecay, impl);
    }

    /** With ε. */
    public Config withEps(double eps) {
      return new Config(lr, beta1, beta2, eps, weightDecay, decoupledWeightDecay, impl);
    }

    /** With weight decay λ. */
    public Config withWeightDecay(double weightDecay) {
      return new Config(lr, beta1, beta2, eps, weightDecay, decoupledWeightDecay, impl);
    }

    /** With decoupled or L2 weight decay. */
    public Config withDecoupledWeightDecay(boolean decoupled) {
      return new Config(lr, beta1, beta2, eps, weightDecay, decoupled, impl);
    }

    /** With the given kernels. */
    public Config withImpl(Impl impl) {
      return new Config(lr, beta1, beta2, eps, weightDecay, decoupledWeightDecay, impl);
    }
  }

  private final Config config;

  /** RAdam over parameter groups. */
  public RAdam(List<ParamGroup> groups, Config config) {
    super(groups, config.lr(), config.weightDecay());
    this.config = config;
  }

  /** RAdam over a module's trainable parameters. */
  public RAdam(Module module, Config config) {
    this(ParamGroup.single(ParamRef.of(module)), config);
  }

  /** The hyperparameters this optimizer was built with. */
  public Config config() {
    return config;
  }

  /** ρ_∞ = 2/(1−β₂) − 1, the maximum length of the approximated SMA (Liu et al. Eq. 5). */
  public static double rhoInf(double beta2) {
    return 2 / (1 - beta2) - 1;
  }

  /** ρ_t = ρ_∞ − 2tβ₂ᵗ/(1−β₂ᵗ), the length of the approximated SMA at step t (Algorithm 2). */
  public static double rhoT(double beta2, double t) {
    return rhoInf(beta2) - 2 * t * Math.pow(beta2, t) / (1 - Math.pow(beta2, t));
  }

  /** The variance rectification term r_t (Algorithm 2), or 0 while ρ_t ≤ 5 (no adaptive step). */
  public static double rectification(double beta2, double t) {
    double rhoInf = rhoInf(beta2);
    double rhoT = rhoT(beta2, t);
    if (!(rhoT > 5)) return 0;
    return Math.sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
  }

  @Override
  Set<String> stateNames() {
    return setOf("exp_avg", "exp_avg_sq");
  }

  @Override
  void initState(Tensor param, State s) {
    s.put("exp_avg", param.zerosLike());
    s.put("exp_avg_sq", param.zerosLike());
  }

  @Override
  void update(Group g, List<Item> items) {
    if (config.impl() == Impl.PER_TENSOR) {
      for (Item it : items) perTensor(g, it);
    } else {
      for (List<Item> part : partition(items, true)) foreach(g, part);
    }
  }

  /** torch.optim.radam._single_tensor_radam (capturable=False). */
  private void perTensor(Group g, Item it) {
    Tensor p = it.param();
    Tensor grad = it.grad();
    State s = it.state();
    double lr = g.lr();
    double wd = g.weightDecay();
    double beta1 = config.beta1();
    double beta2 = config.beta2();
    double step = s.step;
    if (wd != 0) {
      if (config.decoupledWeightDecay()) p.mul_(1 - lr * wd);
      else grad = grad.add(p, wd);
    }
    Tensor m = s.get("exp_avg");
    Tensor v = s.get("exp_avg_sq");
    m.lerp_(grad, 1 - beta1);
    v.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    double bc1 = 1 - Math.pow(beta1, step);
    double bc2 = 1 - Math.pow(beta2, step);
    Tensor mHat = m.div(bc1);
    double rhoInf = 2 / (1 - beta2) - 1;
    double rhoT = rhoInf - 2 * step * Math.pow(beta2, step) / bc2;
    if (rhoT > 5.0) {
      double rect = Math.sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
      Tensor adaptiveLr = v.sqrt().add_(config.eps()).reciprocal().mul(Math.sqrt(bc2));
      p.add_(mHat.mul(lr).mul(adaptiveLr).mul(rect), -1.0);
    } else {
      p.add_(mHat.mul(lr), -1.0);
    }
  }

  @Override
  public boolean hasDeviceStep() {
    return true;
  }

  /**
   * torch.optim.radam._single_tensor_radam with capturable=True: ρ_t, the rectification and the bias corrections
   * from the device step count (in float64), the rectified or plain update chosen per step with where.
   */
  @Override
  void updateOnDevice(Group g, List<Item> items) {
    double lr = g.lr();
    double wd = g.weightDecay();
    double beta1 = config.beta1();
    double beta2 = config.beta2();
    double rhoInf = 2 / (1 - beta2) - 1;
    for (Item it : items) {
      Tensor p = it.param();
      State s = it.state();
      decayAndMoments(p, it.grad(), s, lr, wd, config.decoupledWeightDecay(), beta1, beta2);
      Tensor m = s.get("exp_avg");
      Tensor v = s.get("exp_avg_sq");
      Tensor step = s.stepT;
      Tensor beta2t = powStep(beta2, s);
      Tensor bc1 = powStep(beta1, s).rsub(1.0);
      Tensor bc2 = beta2t.rsub(1.0);
      Tensor mHat = m.div(bc1);
      Tensor rhoT = step.to(DType.FLOAT64).mul(beta2t).mul(2.0).div(bc2).rsub(rhoInf); // ρ_∞ − 2tβ₂ᵗ/(1−β₂ᵗ)
      Tensor rect = rhoT.sub(4.0).mul(rhoT.sub(2.0)).mul(rhoInf)
          .div(rhoT.mul((rhoInf - 4) * (rhoInf - 2))).sqrt();
      Tensor adaptiveLr = bc2.sqrt().div(v.sqrt().add_(config.eps()));
      Tensor one = Tensor.full(new long[0], 1.0, DType.FLOAT32, s.device);
      Tensor update = Tensor.where(rhoT.gt(5.0), rect.mul(adaptiveLr), one);
      p.add_(mHat.mul(lr).mul(update), -1.0);
    }
  }

  /** torch.optim.radam._multi_tensor_radam (capturable=False), for items sharing device, dtype and step. */
  private void foreach(Group g, List<Item> part) {
    List<Tensor> ps = params(part);
    List<Tensor> gs = grads(part);
    double lr = g.lr();
    double wd = g.weightDecay();
    double beta1 = config.beta1();
    double beta2 = config.beta2();
    double step = part.get(0).state().step;
    double rhoInf = 2 / (1 - beta2) - 1;
    double rhoT = rhoInf - 2 * step * Math.pow(beta2, step) / (1 - Math.pow(beta2, step));
    if (wd != 0) {
      if (config.decoupledWeightDecay()) Foreach.mul_(ps, 1 - lr * wd);
      else gs = Foreach.add(gs, ps, wd);
    }
    List<Tensor> ms = states(part, "exp_avg");
    List<Tensor> vs = states(part, "exp_avg_sq");
    Foreach.lerp_(ms, gs, 1 - beta1);
    Foreach.mul_(vs, beta2);
    Foreach.addcmul_(vs, gs, gs, 1 - beta2);
    double rect = rhoT > 5 ? Math.sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT)) : 0;
    double unrectified = rect > 0 ? 0 : 1.0;
    double bc1 = 1 - Math.pow(beta1, step);
    double unrectStepSize = (lr * unrectified / bc1) * -1;
    double bc2Term = Math.sqrt(1 - Math.pow(beta2, step)) * (lr * rect / bc1) * -1;
    // buffer = √(1−β₂ᵗ)·rect·lr/bc1·(−1) / (√v + ε) + unrect_step_size; θ += m·buffer
    List<Tensor> buffer = Foreach.sqrt(vs);
    Foreach.add_(buffer, config.eps());
    Foreach.div_(buffer, bc2Term);
    Foreach.reciprocal_(buffer);
    Foreach.add_(buffer, unrectStepSize);
    Foreach.addcmul_(ps, ms, buffer, 1);
  }
}
