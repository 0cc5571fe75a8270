package dev.cm4j.nn;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A neural-network module: named parameters and buffers, named submodules, train/eval mode. Dotted paths
 * ("enc.32x32_block0.conv0.weight") are the state-dict keys, in PyTorch's order (a module's own parameters, then its
 * buffers, then its children), so safetensors files interoperate with {@code torch.nn.Module.state_dict()}.
 *
 * <p>A module owns its tensors: {@link #close()} releases them. Subclasses define their own {@code forward}
 * signatures (EDM style: a raw network takes (x, noise labels, class labels, augment labels)).
 */
public abstract class Module implements AutoCloseable {
  private final LinkedHashMap<String, Param> params = new LinkedHashMap<>();
  private final LinkedHashMap<String, Param> buffers = new LinkedHashMap<>();
  private final LinkedHashMap<String, Module> children = new LinkedHashMap<>();
  private boolean training = true;

  /** Registers a trainable parameter (requires grad); null registers nothing and returns null. */
  protected final Param parameter(String name, Tensor t) {
    if (t == null) return null;
    checkName(name);
    Param p = new Param(name, t.requiresGrad_(true), false);
    params.put(name, p);
    return p;
  }

  /** Registers a persistent buffer (saved in the state dict, not trained); null registers nothing. */
  protected final Param buffer(String name, Tensor t) {
    if (t == null) return null;
    checkName(name);
    Param p = new Param(name, t, true);
    buffers.put(name, p);
    return p;
  }

  /** Registers a child module under name. */
  protected final <M extends Module> M child(String name, M m) {
    checkName(name);
    if (m == null) throw new NullPointerException("child module " + name);
    children.put(name, m);
    return m;
  }

  private void checkName(String name) {
    if (name == null || name.isEmpty() || name.contains(".")) {
      throw new IllegalArgumentException("bad member name '" + name + "'");
    }
    if (params.containsKey(name) || buffers.containsKey(name) || children.containsKey(name)) {
      throw new IllegalArgumentException("member '" + name + "' registered twice");
    }
  }

  /** Direct children, in registration order. */
  public final Map<String, Module> children() {
    return java.util.Collections.unmodifiableMap(children);
  }

  /** Whether the module is in training mode. */
  public final boolean isTraining() {
    return training;
  }

  /** Sets training mode on this module and every descendant; returns this. */
  public Module train(boolean on) {
    training = on;
    for (Module c : children.values()) c.train(on);
    return this;
  }

  /** Evaluation mode (train(false)). */
  public Module eval() {
    return train(false);
  }

  /** Every parameter slot with its dotted path, in state-dict order. */
  public final LinkedHashMap<String, Param> namedParameters() {
    LinkedHashMap<String, Param> out = new LinkedHashMap<>();
    collect("", out, true, false);
    return out;
  }

  /** Every buffer slot with its dotted path, in state-dict order. */
  public final LinkedHashMap<String, Param> namedBuffers() {
    LinkedHashMap<String, Param> out = new LinkedHashMap<>();
    collect("", out, false, true);
    return out;
  }

  /** Parameters and buffers with their dotted paths, in PyTorch's state-dict order. */
  public final LinkedHashMap<String, Param> namedState() {
    LinkedHashMap<String, Param> out = new LinkedHashMap<>();
    collect("", out, true, true);
    return out;
  }

  private void collect(String prefix, Map<String, Param> out, boolean p, boolean b) {
    if (p) for (var e : params.entrySet()) out.put(prefix + e.getKey(), e.getValue());
    if (b) for (var e : buffers.entrySet()) out.put(prefix + e.getKey(), e.getValue());
    for (var e : children.entrySet()) e.getValue().collect(prefix + e.getKey() + ".", out, p, b);
  }

  /** The parameter tensors, in state-dict order. */
  public final List<Tensor> parameters() {
    List<Tensor> l = new ArrayList<>();
    for (Param p : namedParameters().values()) l.add(p.get());
    return l;
  }

  /** The state dict: dotted path → tensor (the module's own tensors, not copies). */
  public final LinkedHashMap<String, Tensor> stateDict() {
    LinkedHashMap<String, Tensor> sd = new LinkedHashMap<>();
    for (var e : namedState().entrySet()) sd.put(e.getKey(), e.getValue().get());
    return sd;
  }

  /** Total number of parameter elements. */
  public final long parameterCount() {
    long n = 0;
    for (Param p : namedParameters().values()) n += p.get().numel();
    return n;
  }

  /** Sets requires_grad on every parameter (false freezes the module); returns this. */
  public Module requiresGrad_(boolean on) {
    for (Param p : namedParameters().values()) p.get().requiresGrad_(on);
    return this;
  }

  /** Visits this module and every descendant (pre-order). */
  public final void apply(Consumer<Module> f) {
    f.accept(this);
    for (Module c : children.values()) c.apply(f);
  }

  /**
   * Moves floating-point parameters and buffers to device and dtype (dtype null keeps it; integer tensors only
   * move). The {@link Param} slots keep their identity, so cm4j optimizers and EMAs built before follow the move.
   * Returns this.
   */
  public Module to(Device device, DType dtype) {
    try (GradMode g = GradMode.noGrad()) {
      for (Param p : namedState().values()) {
        Tensor t = p.get();
        boolean rg = !p.isBuffer() && t.requiresGrad();
        DType target = dtype != null && t.dtype().isFloatingPoint() ? dtype : t.dtype();
        Tensor moved = t.to(device, target).detach();
        if (rg) moved.requiresGrad_(true);
        p.set(moved);
      }
    }
    return this;
  }

  /**
   * Lays out every 4-D floating-point parameter and buffer in memory format {@code format} (e.g.
   * {@link dev.cm4j.tensor.MemoryFormat#CHANNELS_LAST}, NHWC: convolution weights), keeping values, device, dtype and
   * the {@link Param} slots (optimizers and EMAs built before follow). Tensors of other ranks are left alone. Returns
   * this.
   */
  public Module toMemoryFormat(dev.cm4j.tensor.MemoryFormat format) {
    try (GradMode g = GradMode.noGrad()) {
      for (Param p : namedState().values()) {
        Tensor t = p.get();
        if (t.dim() != 4 || !t.dtype().isFloatingPoint() || t.isContiguous(format)) continue;
        boolean rg = !p.isBuffer() && t.requiresGrad();
        Tensor laid = t.contiguous(format).detach();
        if (rg) laid.requiresGrad_(true);
        p.set(laid);
      }
    }
    return this;
  }

  /**
   * Loads a state dict by name (values are copied, converting dtype/device). Strict: any missing, unexpected or
   * shape-mismatched key throws IllegalArgumentException listing them, and nothing is loaded. Non-strict: matching
   * keys are loaded and the report says what was skipped.
   */
  public LoadReport loadStateDict(Map<String, Tensor> sd, boolean strict) {
    LinkedHashMap<String, Param> mine = namedState();
    List<String> missing = new ArrayList<>();
    List<String> mismatched = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    for (var e : mine.entrySet()) {
      Tensor src = sd.get(e.getKey());
      if (src == null) {
        missing.add(e.getKey());
        continue;
      }
      long[] a = e.getValue().get().shape();
      long[] b = src.shape();
      if (!Arrays.equals(a, b)) {
        mismatched.add(e.getKey() + ": module " + Arrays.toString(a) + " vs loaded " + Arrays.toString(b));
      }
    }
    for (String k : sd.keySet()) if (!mine.containsKey(k)) unexpected.add(k);
    LoadReport report = new LoadReport(missing, unexpected, mismatched);
    if (strict && !report.clean()) throw new IllegalArgumentException("state dict does not match: " + report);
    try (GradMode g = GradMode.noGrad()) {
      java.util.Set<String> bad = new java.util.HashSet<>();
      for (String m : mismatched) bad.add(m.substring(0, m.indexOf(':')));
      for (var e : mine.entrySet()) {
        Tensor src = sd.get(e.getKey());
        if (src != null && !bad.contains(e.getKey())) e.getValue().get().copy_(src);
      }
    }
    return report;
  }

  /** Copies every parameter and buffer value from other (same structure), e.g. to initialise an EMA copy. */
  public void copyFrom(Module other) {
    loadStateDict(other.stateDict(), true);
  }

  /** Releases every parameter and buffer of this module and its descendants. */
  @Override
  public void close() {
    for (Param p : params.values()) p.close();
    for (Param p : buffers.values()) p.close();
    for (Module c : children.values()) c.close();
  }
}
