package dev.cm4j.optim;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A first-order optimizer over parameter groups, following torch.optim: parameters without a gradient are skipped;
 * per-parameter state (moments, step count) is created at a parameter's first update and keyed by its name.
 *
 * <p>State and the tensors it holds belong to the optimizer ({@link #close()} releases them). {@link #step()} runs
 * under no-grad inside its own {@link TensorScope}. The parameter slots are read at every step, so tensors replaced
 * by {@code Module.to} are followed and their state is moved to the new device/dtype.
 */
public abstract class Optimizer implements AutoCloseable {
  /**
   * Which kernels perform the update.
   *
   * <ul>
   *   <li>{@link #PER_TENSOR}: one op sequence per parameter, the arithmetic of torch.optim's for-loop implementation
   *       ({@code foreach=False}, torch's default on the CPU);
   *   <li>{@link #FOREACH}: ATen's {@code _foreach_*} multi-tensor ops, the arithmetic of torch.optim's
   *       {@code foreach=True} implementation (torch's default on CUDA);
   *   <li>{@link #FUSED}: ATen's fused kernels ({@code _fused_adam_}, {@code _fused_adamw_}, {@code _fused_sgd_}),
   *       as torch.optim's {@code fused=True}: one pass over memory, equal to the others up to rounding;
   *   <li>{@link #AUTO}: FUSED where libtorch has a fused kernel for the algorithm and dtype, else FOREACH.
   * </ul>
   */
  public enum Impl { AUTO, FUSED, FOREACH, PER_TENSOR }

  /** A parameter group at run time: its parameters and current hyperparameters. */
  public static final class Group {
    private final List<ParamRef> params;
    private final double baseLr;
    private double lr;
    private double weightDecay;

    Group(List<ParamRef> params, double lr, double weightDecay) {
      this.params = params;
      this.baseLr = lr;
      this.lr = lr;
      this.weightDecay = weightDecay;
    }

    /** The group's parameters. */
    public List<ParamRef> params() {
      return params;
    }

    /** The current learning rate. */
    public double lr() {
      return lr;
    }

    /** The learning rate the group was created with (the base for {@link Optimizer#setLrFactor}). */
    public double baseLr() {
      return baseLr;
    }

    /** Sets the learning rate. */
    public void setLr(double lr) {
      if (!(lr >= 0)) throw new IllegalArgumentException("invalid learning rate: " + lr);
      this.lr = lr;
    }

    /** The weight decay. */
    public double weightDecay() {
      return weightDecay;
    }

    /** Sets the weight decay. */
    public void setWeightDecay(double weightDecay) {
      if (!(weightDecay >= 0)) throw new IllegalArgumentException("invalid weight_decay value: " + weightDecay);
      this.weightDecay = weightDecay;
    }
  }

  /** Per-parameter state: the step count and named state tensors (owned by the optimizer). */
  static final class State {
    long step;
    /** The step count as a float32 0-dim tensor on the parameter's device once a masked step ran (then it rules). */
    Tensor stepT;
    Device device;
    DType dtype;
    final LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();

    Tensor get(String name) {
      return tensors.get(name);
    }

    /** Stores t (taken out of any scope) under name, closing a previous tensor. */
    Tensor put(String name, Tensor t) {
      Tensor old = tensors.put(name, TensorScope.release(t));
      if (old != null && old != t) old.close();
      return t;
    }

    /** The step count; a host read when it lives on the device. */
    long count() {
      return stepT == null ? step : (long) stepT.item();
    }

    void close() {
      for (Tensor t : tensors.values()) t.close();
      tensors.clear();
      if (stepT != null) stepT.close();
      stepT = null;
    }
  }

  /** A parameter taking part in this step: its tensor, gradient and state. */
  record Item(ParamRef ref, Tensor param, Tensor grad, State state) {}

  private final List<Group> groups;
  private final LinkedHashMap<String, ParamRef> byName = new LinkedHashMap<>();
  private final LinkedHashMap<String, State> state = new LinkedHashMap<>();
  private boolean closed;

  /**
   * An optimizer over parameter groups; a group's NaN lr or weight decay takes the defaults given here.
   *
   * @param groups the parameter groups (names must be unique across groups)
   * @param lr the default learning rate
   * @param weightDecay the default weight decay
   */
  protected Optimizer(List<ParamGroup> groups, double lr, double weightDecay) {
    if (groups.isEmpty()) throw new IllegalArgumentException("optimizer got an empty parameter list");
    List<Group> gs = new ArrayList<>(groups.size());
    for (ParamGroup pg : groups) {
      for (ParamRef r : pg.params()) {
        if (byName.put(r.name(), r) != null) {
          throw new IllegalArgumentException("parameter '" + r.name() + "' appears more than once");
        }
      }
      Group g = new Group(pg.params(), Double.isNaN(pg.lr()) ? lr : pg.lr(),
          Double.isNaN(pg.weightDecay()) ? weightDecay : pg.weightDecay());
      g.setLr(g.lr);
      g.setWeightDecay(g.weightDecay);
      gs.add(g);
    }
    this.groups = List.copyOf(gs);
  }

  /** The parameter groups. */
  public final List<Group> groups() {
    return groups;
  }

  /** The first group's learning rate. */
  public final double lr() {
    return groups.get(0).lr();
  }

  /** Sets every group's learning rate (as EDM2's loop does with its schedule). */
  public final void setLr(double lr) {
    for (Group g : groups) g.setLr(lr);
  }

  /** Sets every group's learning rate to its base rate times factor (torch's LambdaLR). */
  public final void setLrFactor(double factor) {
    for (Group g : groups) g.setLr(g.baseLr() * factor);
  }

  /** The number of updates applied to the named parameter (0 before its first). */
  public final long stepCount(String name) {
    State s = state.get(name);
    return s == null ? 0 : s.count();
  }

  /** Sets every parameter's gradient to None (torch's {@code zero_grad(set_to_none=True)}). */
  public final void zeroGrad() {
    checkOpen();
    for (ParamRef r : byName.values()) r.get().setGrad(null);
  }

  /** Applies one update to every parameter that has a gradient. */
  public final void step() {
    checkOpen();
    try (GradMode ng = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
      for (Group g : groups) {
        List<Item> items = new ArrayList<>(g.params().size());
        for (ParamRef r : g.params()) {
          Tensor p = r.get();
          Tensor grad = p.grad();
          if (grad == null) continue;
          State s = state.computeIfAbsent(r.name(), k -> new State());
          follow(s, p);
          items.add(new Item(r, p, grad, s));
        }
        if (items.isEmpty()) continue;
        for (Item it : items) {
          State s = it.state();
          if (s.tensors.isEmpty()) initState(it.param(), s);
          if (s.stepT != null) { // after masked steps: the count comes back to the host (one read)
            s.step = s.count();
            s.stepT.close();
            s.stepT = null;
          }
          s.step++;
        }
        update(g, items);
      }
    }
  }

  /**
   * One update decided on the device: where {@code skip} (a 0-dim boolean tensor on the parameters' device) is true,
   * parameters, state tensors and step counts are left exactly as they were, otherwise this equals {@link #step()} up
   * to rounding. Nothing is read on the host, so a step can be skipped (a non-finite loss or gradient, found by
   * tensor operations) without waiting for the device. As torch.optim's {@code capturable} implementations do, the
   * step counts then live on the device as float32 tensors and the bias corrections are computed there; the update
   * is computed, then each tensor takes {@code where(skip, old, new)}. Null {@code skip} is {@link #step()}.
   *
   * @throws UnsupportedOperationException for an algorithm without a device-side step (SGD)
   */
  public final void step(Tensor skip) {
    if (skip == null) {
      step();
      return;
    }
    checkOpen();
    if (!hasDeviceStep()) {
      throw new UnsupportedOperationException(getClass().getSimpleName() + " has no device-side (masked) step");
    }
    try (GradMode ng = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
      Tensor skipF = skip.to(DType.FLOAT32);
      for (Group g : groups) {
        List<Item> items = new ArrayList<>(g.params().size());
        for (ParamRef r : g.params()) {
          Tensor p = r.get();
          Tensor grad = p.grad();
          if (grad == null) continue;
          State s = state.computeIfAbsent(r.name(), k -> new State());
          follow(s, p);
          items.add(new Item(r, p, grad, s));
        }
        if (items.isEmpty()) continue;
        List<Tensor> before = new ArrayList<>();
        for (Item it : items) {
          State s = it.state();
          if (s.tensors.isEmpty()) initDeviceState(it.param(), s);
          if (s.stepT == null) {
            s.stepT = TensorScope.release(Tensor.full(new long[0], s.step, DType.FLOAT32, s.device));
          }
          before.add(it.param().clone());
          for (Tensor t : s.tensors.values()) before.add(t.clone());
          s.stepT.add_(1.0);
        }
        updateOnDevice(g, items);
        int k = 0;
        for (Item it : items) {
          Tensor p = it.param();
          p.copy_(Tensor.where(skip, before.get(k++), p));
          for (Tensor t : it.state().tensors.values()) t.copy_(Tensor.where(skip, before.get(k++), t));
          it.state().stepT.sub_(skipF);
        }
      }
    }
  }

  /**
   * The update of {@link #step(Tensor)} for one group, the step counts being device tensors ({@code State.stepT},
   * already incremented); state tensors a first update creates must already exist ({@link #initState}).
   */
  void updateOnDevice(Group g, List<Item> items) {
    throw new UnsupportedOperationException(getClass().getSimpleName() + " has no device-side (masked) step");
  }

  /**
   * Creates the state tensors of {@link #step(Tensor)} before its first update (the masked step keeps a copy of every
   * state tensor, so none may appear during the update): {@link #initState} unless an algorithm creates lazily what
   * a device step needs up front (SGD's momentum buffer).
   */
  void initDeviceState(Tensor param, State s) {
    initState(param, s);
  }

  /** Whether {@link #step(Tensor)} is implemented (Adam, AdamW, RAdam, SGD). */
  public boolean hasDeviceStep() {
    return false;
  }

  /**
   * The part of the device step that Adam and RAdam share (torch's _single_tensor_adam/_radam): weight decay —
   * decoupled on p, else added to the gradient — then exp_avg ← lerp(exp_avg, grad, 1 − β₁) and
   * exp_avg_sq ← β₂·exp_avg_sq + (1 − β₂)·grad², in place in s.
   */
  static void decayAndMoments(Tensor p, Tensor grad, State s, double lr, double wd, boolean decoupled, double beta1,
      double beta2) {
    if (wd != 0) {
      if (decoupled) p.mul_(1 - lr * wd);
      else grad = grad.add(p, wd);
    }
    s.get("exp_avg").lerp_(grad, 1 - beta1);
    s.get("exp_avg_sq").mul_(beta2).addcmul_(grad, grad, 1 - beta2);
  }

  /** β^t for the device step count t, as a float64 0-dim tensor (the bias corrections' precision on the host). */
  static Tensor powStep(double beta, State s) {
    return Tensor.full(new long[0], beta, DType.FLOAT64, s.device).pow(s.stepT.to(DType.FLOAT64));
  }

  /** Moves a parameter's state to its tensor's current device and dtype (after Module.to). */
  private static void follow(State s, Tensor p) {
    Device d = p.device();
    DType t = p.dtype();
    if (s.device == null) {
      s.device = d;
      s.dtype = t;
      return;
    }
    if (d.equals(s.device) && t == s.dtype) return;
    for (var e : List.copyOf(s.tensors.entrySet())) s.put(e.getKey(), e.getValue().to(d, t));
    if (s.stepT != null && !d.equals(s.device)) {
      Tensor old = s.stepT;
      s.stepT = TensorScope.release(old.to(d, DType.FLOAT32));
      old.close();
    }
    s.device = d;
    s.dtype = t;
  }

  /** Creates the state tensors of a parameter before its first update. */
  abstract void initState(Tensor param, State s);

  /** The names of the state tensors this algorithm keeps (for validating loaded state). */
  abstract Set<String> stateNames();

  /** Updates the parameters of one group (their step counts are already incremented). */
  abstract void update(Group g, List<Item> items);

  /** Splits items into lists sharing device and dtype (and the step count, when byStep), as foreach kernels need. */
  static Collection<List<Item>> partition(List<Item> items, boolean byStep) {
    LinkedHashMap<String, List<Item>> parts = new LinkedHashMap<>();
    for (Item it : items) {
      String key = it.state().device + "/" + it.state().dtype + (byStep ? "/" + it.state().step : "");
      parts.computeIfAbsent(key, k -> new ArrayList<>()).add(it);
    }
    return parts.values();
  }

  static List<Tensor> params(List<Item> items) {
    List<Tensor> l = new ArrayList<>(items.size());
    for (Item it : items) l.add(it.param());
    return l;
  }

  static List<Tensor> grads(List<Item> items) {
    List<Tensor> l = new ArrayList<>(items.size());
    for (Item it : items) l.add(it.grad());
    return l;
  }

  static List<Tensor> states(List<Item> items, String name) {
    List<Tensor> l = new ArrayList<>(items.size());
    for (Item it : items) l.add(it.state().get(name));
    return l;
  }

  // ------------------------------------------------------------------------------------------ state dict

  /**
   * The optimizer state: {@code state.<param>.step} (int64 0-D), {@code state.<param>.<buffer>} (new handles sharing
   * the optimizer's storage: copy them before stepping again if a frozen snapshot is needed) and
   * {@code param_groups.<i>.lr}, {@code param_groups.<i>.weight_decay} (float64 0-D). The handles belong to the current
   * scope or, without one, to the caller.
   */
  public final LinkedHashMap<String, Tensor> stateDict() {
    checkOpen();
    LinkedHashMap<String, Tensor> sd = new LinkedHashMap<>();
    for (var e : state.entrySet()) {
      String k = "state." + e.getKey() + ".";
      sd.put(k + "step", Tensor.of(new long[] {e.getValue().count()}, new long[0]));
      for (var b : e.getValue().tensors.entrySet()) sd.put(k + b.getKey(), b.getValue().share());
    }
    for (int i = 0; i < groups.size(); i++) {
      sd.put("param_groups." + i + ".lr", Tensor.scalar(groups.get(i).lr(), DType.FLOAT64));
      sd.put("param_groups." + i + ".weight_decay", Tensor.scalar(groups.get(i).weightDecay(), DType.FLOAT64));
    }
    return sd;
  }

  /**
   * Replaces the state with a copy of a {@link #stateDict()} (values converted to each parameter's device and dtype).
   * Keys of unknown parameters or buffers, missing step counts and shape mismatches throw IllegalArgumentException
   * before anything is changed.
   */
  public final void loadStateDict(Map<String, Tensor> sd) {
    checkOpen();
    List<String> errors = new ArrayList<>();
    LinkedHashMap<String, Map<String, Tensor>> byParam = new LinkedHashMap<>();
    Set<String> names = stateNames();
    for (var e : sd.entrySet()) {
      String k = e.getKey();
      if (k.startsWith("param_groups.")) {
        String[] parts = k.split("\\.");
        int gi = -1;
        try {
          gi = parts.length == 3 ? Integer.parseInt(parts[1]) : -1;
        } catch (NumberFormatException ignored) {
          // reported below
        }
        if (gi < 0 || gi >= groups.size() || !(parts[2].equals("lr") || parts[2].equals("weight_decay"))) {
          errors.add("unexpected key " + k);
        }
      } else if (k.startsWith("state.") && k.lastIndexOf('.') > "state.".length()) {
        int dot = k.lastIndexOf('.');
        String p = k.substring("state.".length(), dot);
        String b = k.substring(dot + 1);
        ParamRef r = byName.get(p);
        if (r == null) {
          errors.add("state for unknown parameter '" + p + "'");
        } else if (!b.equals("step") && !names.contains(b)) {
          errors.add("unexpected state '" + b + "' for parameter '" + p + "'");
        } else {
          if (!b.equals("step") && !Arrays.equals(e.getValue().shape(), r.get().shape())) {
            errors.add("state " + k + " has shape " + Arrays.toString(e.getValue().shape()) + ", parameter has "
                + Arrays.toString(r.get().shape()));
          }
          byParam.computeIfAbsent(p, x -> new LinkedHashMap<>()).put(b, e.getValue());
        }
      } else {
        errors.add("unexpected key " + k);
      }
    }
    for (var e : byParam.entrySet()) {
      if (!e.getValue().containsKey("step")) errors.add("no step count for parameter '" + e.getKey() + "'");
    }
    if (!errors.isEmpty()) throw new IllegalArgumentException("optimizer state dict does not match: " + errors);

    for (State s : state.values()) s.close();
    state.clear();
    try (GradMode ng = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
      for (var e : byParam.entrySet()) {
        Tensor p = byName.get(e.getKey()).get();
        State s = new State();
        s.device = p.device();
        s.dtype = p.dtype();
        for (var b : e.getValue().entrySet()) {
          if (b.getKey().equals("step")) {
            s.step = b.getValue().itemLong();
          } else {
            s.put(b.getKey(), b.getValue().to(s.device, s.dtype).clone());
          }
        }
        state.put(e.getKey(), s);
      }
      for (int i = 0; i < groups.size(); i++) {
        Tensor lr = sd.get("param_groups." + i + ".lr");
        if (lr != null) groups.get(i).setLr(lr.item());
        Tensor wd = sd.get("param_groups." + i + ".weight_decay");
        if (wd != null) groups.get(i).setWeightDecay(wd.item());
      }
    }
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("optimizer was closed");
  }

  /** Releases the state tensors (the parameters are not touched). */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    for (State s : state.values()) s.close();
    state.clear();
  }

  /** Validates hyperparameters shared by the Adam family. */
  static void checkBetas(double lr, double beta1, double beta2, double eps, double weightDecay) {
    if (!(lr >= 0)) throw new IllegalArgumentException("invalid learning rate: " + lr);
    if (!(eps >= 0)) throw new IllegalArgumentException("invalid epsilon value: " + eps);
    if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("invalid beta parameter at index 0: " + beta1);
    if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("invalid beta parameter at index 1: " + beta2);
    if (!(weightDecay >= 0)) throw new IllegalArgumentException("invalid weight_decay value: " + weightDecay);
  }

  static Set<String> setOf(String... names) {
    return new HashSet<>(Arrays.asList(names));
  }
}
