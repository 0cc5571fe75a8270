package dev.cm4j.optim;

import dev.cm4j.nn.Module;
import dev.cm4j.tensor.Op;
import dev.cm4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Stochastic gradient descent with momentum as torch.optim.SGD (Sutskever et al. 2013 form): g ← g + λθ;
 * b ← μb + (1−τ)g (b₁ = g); g ← g + μb with Nesterov, else g ← b; θ ← θ − lr·g.
 */
public final class SGD extends Optimizer {
  /**
   * SGD's hyperparameters (defaults as torch.optim.SGD).
   *
   * @param lr learning rate (1e-3)
   * @param momentum μ (0)
   * @param dampening τ (0)
   * @param weightDecay λ, L2 added to the gradient (0)
   * @param nesterov Nesterov momentum (false; needs μ &gt; 0 and τ = 0)
   * @param impl which kernels to use (AUTO)
   */
  public record Config(double lr, double momentum, double dampening, double weightDecay, boolean nesterov,
      Impl impl) {
    public Config {
      if (!(lr >= 0)) throw new IllegalArgumentException("invalid learning rate: " + lr);
      if (!(momentum >= 0)) throw new IllegalArgumentException("invalid momentum value: " + momentum);
      if (!(weightDecay >= 0)) throw new IllegalArgumentException("invalid weight_decay value: " + weightDecay);
      if (nesterov && (momentum <= 0 || dampening != 0)) {
        throw new IllegalArgumentException("Nesterov momentum requires a momentum and zero dampening");
      }
      if (impl == null) throw new NullPointerException("impl");
    }

    /** torch.optim.SGD's defaults. */
    public static Config defaults() {
      return new Config(1e-3, 0, 0, 0, false, Impl.AUTO);
    }

    /** With learning rate lr. */
    public Config withLr(double lr) {
      return new Config(lr, momentum, dampening, weightDecay, nesterov, impl);
    }

    /** With momentum μ and dampening τ. */
    public Config withMomentum(double momentum, double dampening) {
      return new Config(lr, momentum, dampening, weightDecay, nesterov, impl);
    }

    /** With weight decay λ. */
    public Config withWeightDecay(double weightDecay) {
      return new Config(lr, momentum, dampening, weightDecay, nesterov, impl);
    }

    /** With or without Nesterov momentum. */
    public Config withNesterov(boolean nesterov) {
      return new Config(lr, momentum, dampening, weightDecay, nesterov, impl);
    }

    /** With the given kernels. */
    public Config withImpl(Impl impl) {
      return new Config(lr, momentum, dampening, weightDecay, nesterov, impl);
    }
  }

  private static final Op FUSED_SGD = Foreach.find("aten::_fused_sgd_", "");

  private final Config config;

  /** SGD over parameter groups. */
  public SGD(List<ParamGroup> groups, Config config) {
    super(groups, config.lr(), config.weightDecay());
    this.config = config;
  }

  /** SGD over a module's trainable parameters. */
  public SGD(Module module, Config config) {
    this(ParamGroup.single(ParamRef.of(module)), config);
  }

  /** The hyperparameters this optimizer was built with. */
  public Config config() {
    return config;
  }

  @Override
  Set<String> stateNames() {
    return setOf("momentum_buffer");
  }

  @Override
  void initState(Tensor param, State s) {
    // the momentum buffer is created from the first gradient, as in torch
  }

  /** The masked step's momentum buffer exists from the start (zeros); its first applied step overwrites it with g. */
  @Override
  void initDeviceState(Tensor param, State s) {
    if (config.momentum() != 0 && s.get("momentum_buffer") == null) s.put("momentum_buffer", param.zerosLike());
  }

  @Override
  public boolean hasDeviceStep() {
    return true;
  }

  /**
   * The masked step: as {@link #perTensor}, with "first step" (b₁ = g) decided on the device from the device step
   * count (b ← where(t = 1, g, μb + (1−τ)g)) instead of by the buffer's absence, so nothing is read on the host.
   */
  @Override
  void updateOnDevice(Group g, List<Item> items) {
    double wd = g.weightDecay();
    double mu = config.momentum();
    for (Item it : items) {
      Tensor p = it.param();
      Tensor grad = it.grad();
      if (wd != 0) grad = grad.add(p, wd);
      if (mu != 0) {
        Tensor buf = it.state().get("momentum_buffer");
        Tensor first = it.state().stepT.eq(1.0);
        buf.copy_(Tensor.where(first, grad, buf.mul(mu).add(grad, 1 - config.dampening())));
        grad = config.nesterov() ? grad.add(buf, mu) : buf;
      }
      p.add_(grad, -g.lr());
    }
  }

  @Override
  void update(Group g, List<Item> items) {
    for (Item it : items) {
      // a buffer made by masked steps that were all skipped: the first applied step starts it afresh (b₁ = g)
      if (it.state().step == 1 && it.state().get("momentum_buffer") != null) {
        it.state().tensors.remove("momentum_buffer").close();
      }
    }
    Impl impl = config.impl();
    if (impl == Impl.AUTO) impl = FUSED_SGD != null ? Impl.FUSED : Impl.FOREACH;
    if (impl == Impl.FUSED && FUSED_SGD == null) {
      throw new UnsupportedOperationException("this libtorch has no fused SGD kernel");
    }
    if (impl == Impl.PER_TENSOR) {
      for (Item it : items) perTensor(g, it);
      return;
    }
    for (List<Item> part : partition(items, false)) {
      if (impl == Impl.FUSED && part.get(0).state().dtype.isFloatingPoint()) fused(g, part);
      else foreach(g, part);
    }
  }

  /** torch.optim.sgd._single_tensor_sgd. */
  private void perTensor(Group g, Item it) {
    Tensor p = it.param();
    Tensor grad = it.grad();
    double wd = g.weightDecay();
    if (wd != 0) grad = grad.add(p, wd);
    double mu = config.momentum();
    if (mu != 0) {
      Tensor buf = it.state().get("momentum_buffer");
      if (buf == null) {
        buf = it.state().put("momentum_buffer", grad.detach().clone());
      } else {
        buf.mul_(mu).add_(grad, 1 - config.dampening());
      }
      grad = config.nesterov() ? grad.add(buf, mu) : buf;
    }
    p.add_(grad, -g.lr());
  }

  /** torch.optim.sgd._multi_tensor_sgd (Nesterov's update written out of place, so p.grad is never modified). */
  private void foreach(Group g, List<Item> part) {
    List<Tensor> ps = params(part);
    List<Tensor> gs = grads(part);
    double wd = g.weightDecay();
    if (wd != 0) gs = Foreach.add(gs, ps, wd);
    double mu = config.momentum();
    if (mu != 0) {
      List<Tensor> bufs = states(part, "momentum_buffer");
      if (!bufs.contains(null)) {
        Foreach.mul_(bufs, mu);
        Foreach.add_(bufs, gs, 1 - config.dampening());
      } else {
        bufs = new ArrayList<>(part.size());
        for (int i = 0; i < part.size(); i++) {
          Tensor buf = part.get(i).state().get("momentum_buffer");
          if (buf == null) {
            buf = part.get(i).state().put("momentum_buffer", gs.get(i).detach().clone());
          } else {
            buf.mul_(mu).add_(gs.get(i), 1 - config.dampening());
          }
          bufs.add(buf);
        }
      }
      gs = config.nesterov() ? Foreach.add(gs, bufs, mu) : bufs;
    }
    Foreach.add_(ps, gs, -g.lr());
  }

  /** torch.optim.sgd._fused_sgd: ATen's {@code _fused_sgd_} kernel (first steps and later ones in separate calls). */
  private void fused(Group g, List<Item> part) {
    double mu = config.momentum();
    if (mu == 0) {
      fusedCall(g, params(part), grads(part), List.of(), false);
      return;
    }
    List<Item> first = new ArrayList<>();
    List<Item> later = new ArrayList<>();
    for (Item it : part) (it.state().get("momentum_buffer") == null ? first : later).add(it);
    if (!later.isEmpty()) fusedCall(g, params(later), grads(later), states(later, "momentum_buffer"), false);
    if (!first.isEmpty()) {
      for (Item it : first) it.state().put("momentum_buffer", it.grad().emptyLike());
      fusedCall(g, params(first), grads(first), states(first, "momentum_buffer"), true);
    }
  }

  private void fusedCall(Group g, List<Tensor> ps, List<Tensor> gs, List<Tensor> bufs, boolean firstStep) {
    FUSED_SGD.call(ps, gs, bufs, g.weightDecay(), config.momentum(), g.lr(), config.dampening(), config.nesterov(),
        false, firstStep);
  }
}
