package dev.cm4j.optim;

import dev.cm4j.nn.Module;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Op;
import dev.cm4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Adam (Kingma &amp; Ba 2015, Algorithm 1) as torch.optim.Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
 * θ ← θ − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε); weight decay is L2 (added to g) unless
 * {@link Config#decoupledWeightDecay} (AdamW, Loshchilov &amp; Hutter 2019: θ ← θ·(1 − lr·λ) first); AMSGrad keeps
 * the running maximum of v.
 */
public class Adam extends Optimizer {
  /**
   * Adam's hyperparameters (defaults as torch.optim.Adam).
   *
   * @param lr learning rate (1e-3)
   * @param beta1 first-moment decay β₁ (0.9)
   * @param beta2 second-moment decay β₂ (0.999)
   * @param eps ε added to the denominator (1e-8)
   * @param weightDecay λ (0)
   * @param amsgrad use the running maximum of v (false)
   * @param decoupledWeightDecay AdamW's decay θ ← θ·(1 − lr·λ) instead of L2 (false)
   * @param impl which kernels to use (AUTO)
   */
  public record Config(double lr, double beta1, double beta2, double eps, double weightDecay, boolean amsgrad,
      boolean decoupledWeightDecay, Impl impl) {
    public Config {
      checkBetas(lr, beta1, beta2, eps, weightDecay);
      if (impl == null) throw new NullPointerException("impl");
    }

    /** torch.optim.Adam's defaults. */
    public static Config defaults() {
      return new Config(1e-3, 0.9, 0.999, 1e-8, 0, false, false, Impl.AUTO);
    }

    /** With learning rate lr. */
    public Config withLr(double lr) {
      return new Config(lr, beta1, beta2, eps, weightDecay, amsgrad, decoupledWeightDecay, impl);
    }

    /** With betas (β₁, β₂). */
    public Config withBetas(double beta1, double beta2) {
      return new Config(lr, beta1, beta2, eps, weightDecay, amsgrad, decoupledWeightDecay, impl);
    }

    /** With ε. */
    public Config withEps(double eps) {
      return new Config(lr, beta1, beta2, eps, weightDecay, amsgrad, decoupledWeightDecay, impl);
    }

    /** With weight decay λ. */
    public Config withWeightDecay(double weightDecay) {
      return new Config(lr, beta1, beta2, eps, weightDecay, amsgrad, decoupledWeightDecay, impl);
    }

    /** With or without AMSGrad. */
    public Config withAmsgrad(boolean amsgrad) {
      return new Config(lr, beta1, beta2, eps, weightDecay, amsgrad, decoupledWeightDecay, impl);
    }

    /** With decoupled (AdamW) or L2 weight decay. */
    public Config withDecoupledWeightDecay(boolean decoupled) {
      return new Config(lr, beta1, beta2, eps, weightDecay, amsgrad, decoupled, impl);
    }

    /** With the given kernels. */
    public Config withImpl(Impl impl) {
      return new Config(lr, beta1, beta2, eps, weightDecay, amsgrad, decoupledWeightDecay, impl);
    }
  }

  private static final Op FUSED_ADAM = Foreach.find("aten::_fused_adam_", "");
  private static final Op FUSED_ADAMW = Foreach.find("aten::_fused_adamw_", "");

  private final Config config;

  /** Adam over parameter groups. */
  public Adam(List<ParamGroup> groups, Config config) {
    super(groups, config.lr(), config.weightDecay());
    this.config = config;
  }

  /** Adam over a module's trainable parameters. */
  public Adam(Module module, Config config) {
    this(ParamGroup.single(ParamRef.of(module)), config);
  }

  /** The hyperparameters this optimizer was built with (group lr and weight decay may differ). */
  public Config config() {
    return config;
  }

  /** Whether this libtorch registers the fused kernel for the configured variant. */
  public boolean fusedAvailable() {
    return (config.decoupledWeightDecay() ? FUSED_ADAMW : FUSED_ADAM) != null;
  }

  @Override
  Set<String> stateNames() {
    return setOf("exp_avg", "exp_avg_sq", "max_exp_avg_sq");
  }

  @Override
  void initState(Tensor param, State s) {
    s.put("exp_avg", param.zerosLike());
    s.put("exp_avg_sq", param.zerosLike());
    if (config.amsgrad()) s.put("max_exp_avg_sq", param.zerosLike());
  }

  @Override
  void update(Group g, List<Item> items) {
    Impl impl = config.impl();
    if (impl == Impl.AUTO) impl = fusedAvailable() ? Impl.FUSED : Impl.FOREACH;
    if (impl == Impl.FUSED && !fusedAvailable()) {
      throw new UnsupportedOperationException("this libtorch has no fused Adam kernel");
    }
    if (impl == Impl.PER_TENSOR) {
      for (Item it : items) perTensor(g, it);
      return;
    }
    for (List<Item> part : partition(items, true)) {
      if (impl == Impl.FUSED && part.get(0).state().dtype.isFloatingPoint()) fused(g, part);
      else foreach(g, part);
    }
  }

  private void ensureAmsgradState(Item it) {
    if (config.amsgrad() && it.state().get("max_exp_avg_sq") == null) {
      it.state().put("max_exp_avg_sq", it.param().zerosLike());
    }
  }

  /** torch.optim.adam._single_tensor_adam (capturable=False). */
  private void perTensor(Group g, Item it) {
    Tensor p = it.param();
    Tensor grad = it.grad();
    State s = it.state();
    double lr = g.lr();
    double wd = g.weightDecay();
    if (wd != 0) {
      if (config.decoupledWeightDecay()) p.mul_(1 - lr * wd);
      else grad = grad.add(p, wd);
    }
    Tensor m = s.get("exp_avg");
    Tensor v = s.get("exp_avg_sq");
    m.lerp_(grad, 1 - config.beta1());
    v.mul_(config.beta2()).addcmul_(grad, grad, 1 - config.beta2());
    double step = s.step;
    double bc1 = 1 - Math.pow(config.beta1(), step);
    double bc2 = 1 - Math.pow(config.beta2(), step);
    double stepSize = lr / bc1;
    double bc2Sqrt = Math.sqrt(bc2);
    Tensor denom;
    if (config.amsgrad()) {
      ensureAmsgradState(it);
      Tensor vMax = s.get("max_exp_avg_sq");
      vMax.copy_(vMax.maximum(v));
      denom = vMax.sqrt().div(bc2Sqrt).add_(config.eps());
    } else {
      denom = v.sqrt().div(bc2Sqrt).add_(config.eps());
    }
    p.addcdiv_(m, denom, -stepSize);
  }

  @Override
  public boolean hasDeviceStep() {
    return true;
  }

  /**
   * torch.optim.adam._single_tensor_adam with capturable=True: the bias corrections from the device step count
   * (in float64), one parameter at a time.
   */
  @Override
  void updateOnDevice(Group g, List<Item> items) {
    double lr = g.lr();
    double wd = g.weightDecay();
    double beta1 = config.beta1();
    double beta2 = config.beta2();
    for (Item it : items) {
      Tensor p = it.param();
      State s = it.state();
      decayAndMoments(p, it.grad(), s, lr, wd, config.decoupledWeightDecay(), beta1, beta2);
      Tensor m = s.get("exp_avg");
      Tensor v = s.get("exp_avg_sq");
      Tensor bc1 = powStep(beta1, s).rsub(1.0);
      Tensor bc2 = powStep(beta2, s).rsub(1.0);
      Tensor stepSizeNeg = bc1.reciprocal().mul(-lr); // −lr / (1 − β₁ᵗ)
      Tensor bc2Sqrt = bc2.sqrt();
      Tensor vUsed = v;
      if (config.amsgrad()) {
        ensureAmsgradState(it);
        Tensor vMax = s.get("max_exp_avg_sq");
        vMax.copy_(vMax.maximum(v));
        vUsed = vMax;
      }
      // denom = √v / (√bc2 · (−step_size)) + ε / (−step_size); θ += m / denom
      Tensor denom = vUsed.sqrt().div(bc2Sqrt.mul(stepSizeNeg)).add_(stepSizeNeg.reciprocal().mul(config.eps()));
      p.addcdiv_(m, denom, 1.0);
    }
  }

  /** torch.optim.adam._multi_tensor_adam (capturable=False), for items sharing device, dtype and step. */
  private void foreach(Group g, List<Item> part) {
    List<Tensor> ps = params(part);
    List<Tensor> gs = grads(part);
    double lr = g.lr();
    double wd = g.weightDecay();
    if (wd != 0) {
      if (config.decoupledWeightDecay()) Foreach.mul_(ps, 1 - lr * wd);
      else gs = Foreach.add(gs, ps, wd);
    }
    List<Tensor> ms = states(part, "exp_avg");
    List<Tensor> vs = states(part, "exp_avg_sq");
    Foreach.lerp_(ms, gs, 1 - config.beta1());
    Foreach.mul_(vs, config.beta2());
    Foreach.addcmul_(vs, gs, gs, 1 - config.beta2());
    double step = part.get(0).state().step;
    double bc1 = 1 - Math.pow(config.beta1(), step);
    double bc2 = 1 - Math.pow(config.beta2(), step);
    double stepSize = (lr / bc1) * -1;
    double bc2Sqrt = Math.sqrt(bc2);
    List<Tensor> denom;
    if (config.amsgrad()) {
      part.forEach(this::ensureAmsgradState);
      List<Tensor> vMax = states(part, "max_exp_avg_sq");
      Foreach.maximum_(vMax, vs);
      denom = Foreach.sqrt(vMax);
    } else {
      denom = Foreach.sqrt(vs);
    }
    Foreach.div_(denom, bc2Sqrt);
    Foreach.add_(denom, config.eps());
    Foreach.addcdiv_(ps, ms, denom, stepSize);
  }

  /** torch.optim.adam._fused_adam: ATen's {@code _fused_adam_} / {@code _fused_adamw_} kernel. */
  private void fused(Group g, List<Item> part) {
    State s0 = part.get(0).state();
    Tensor stepT = Tensor.full(new long[0], s0.step, DType.FLOAT32, s0.device);
    List<Tensor> steps = new ArrayList<>(part.size());
    for (int i = 0; i < part.size(); i++) steps.add(stepT);
    List<Tensor> vMax = List.of();
    if (config.amsgrad()) {
      part.forEach(this::ensureAmsgradState);
      vMax = states(part, "max_exp_avg_sq");
    }
    Op op = config.decoupledWeightDecay() ? FUSED_ADAMW : FUSED_ADAM;
    op.call(params(part), grads(part), states(part, "exp_avg"), states(part, "exp_avg_sq"), vMax, steps, g.lr(),
        config.beta1(), config.beta2(), g.weightDecay(), config.eps(), config.amsgrad(), false);
  }
}
