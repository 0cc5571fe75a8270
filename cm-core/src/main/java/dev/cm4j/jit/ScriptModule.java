package dev.cm4j.jit;

import dev.cm4j.tensor.internal.NativeInterop;
import static dev.cm4j.bindings.ffi.CmTorch.*;

import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TorchException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A TorchScript module loaded from a file written by {@code torch.jit.save} (of a {@code torch.jit.script}ed or
 * {@code torch.jit.trace}d model), e.g. the Inception-v3 feature extractor of FID or an LPIPS network.
 *
 * <pre>{@code
 * try (ScriptModule inception = ScriptModule.load(Path.of("inception.pt"), Device.CPU)) {
 *   inception.eval();
 *   try (var mode = InferenceMode.enter()) {
 *     Tensor features = inception.forward(images);
 *   }
 * }
 * }</pre>
 *
 * Results are new tensors owned like any other (the current {@link dev.cm4j.tensor.TensorScope}, or the caller).
 * Loading or running a module that fails throws a {@link TorchException} naming the file.
 */
public final class ScriptModule implements AutoCloseable {
  static {
    NativeInterop.ensureLoaded();
  }

  private static final int MAX_OUTPUTS = 256;

  private MemorySegment handle;
  private final Path path;
  private final Device device;

  private ScriptModule(MemorySegment handle, Path path, Device device) {
    this.handle = handle;
    this.path = path;
    this.device = device;
  }

  /** Loads a TorchScript file onto device (its parameters and buffers are moved there). */
  public static ScriptModule load(Path path, Device device) {
    if (path == null) throw new NullPointerException("path");
    if (device == null) throw new NullPointerException("device");
    NativeInterop.requirePlatformThread();
    Path abs = path.toAbsolutePath();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      NativeInterop.check(cm_jit_load(a.allocateFrom(abs.toString()), device.code(), out));
      return new ScriptModule(out.get(ValueLayout.ADDRESS, 0), abs, device);
    }
  }

  /** Loads a TorchScript file onto the CPU. */
  public static ScriptModule load(Path path) {
    return load(path, Device.CPU);
  }

  private MemorySegment handle() {
    MemorySegment h = handle;
    if (h == null) throw new IllegalStateException("TorchScript module " + path + " was closed");
    return h;
  }

  /** The file the module was loaded from. */
  public Path path() {
    return path;
  }

  /** The device the module was loaded onto. */
  public Device device() {
    return device;
  }

  /** Switches to eval mode (dropout off, batch norm uses running statistics); returns this. */
  public ScriptModule eval() {
    return train(false);
  }

  /** Switches training mode on or off; returns this. */
  public ScriptModule train(boolean training) {
    NativeInterop.requirePlatformThread();
    NativeInterop.check(cm_jit_set_training(handle(), training ? 1 : 0));
    return this;
  }

  /** Whether the module is in training mode. */
  public boolean isTraining() {
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.JAVA_INT);
      NativeInterop.check(cm_jit_is_training(handle(), out));
      return out.get(ValueLayout.JAVA_INT, 0) != 0;
    }
  }

  /**
   * Sets requires_grad on every parameter; {@code false} freezes the module (e.g. LPIPS used as a loss, whose
   * gradient should reach the inputs only). Returns this.
   */
  public ScriptModule requiresGrad(boolean requiresGrad) {
    NativeInterop.requirePlatformThread();
    NativeInterop.check(cm_jit_set_requires_grad(handle(), requiresGrad ? 1 : 0));
    return this;
  }

  /** Runs forward(inputs...) and returns its tensor, or the first tensor of a returned tuple or list. */
  public Tensor forward(Tensor... inputs) {
    List<Tensor> all = forwardAll(inputs);
    Tensor first = null;
    for (Tensor t : all) {
      if (t != null && first == null) first = t;
      else if (t != null) t.close();
    }
    if (first == null) throw new TorchException("forward of TorchScript module " + path + " returned no tensor");
    return first;
  }

  /**
   * Runs forward(inputs...) and returns every tensor of the result: one for a tensor, one per element of a tuple
   * or list (null for an element that is not a tensor).
   */
  public List<Tensor> forwardAll(Tensor... inputs) {
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment in = a.allocate(ValueLayout.ADDRESS, Math.max(1, inputs.length));
      for (int i = 0; i < inputs.length; i++) {
        if (inputs[i] == null) throw new NullPointerException("input " + i + " is null");
        in.setAtIndex(ValueLayout.ADDRESS, i, NativeInterop.handle(inputs[i]));
      }
      MemorySegment outs = a.allocate(ValueLayout.ADDRESS, MAX_OUTPUTS);
      MemorySegment n = a.allocate(ValueLayout.JAVA_LONG);
      NativeInterop.check(cm_jit_forward(handle(), in, inputs.length, outs, MAX_OUTPUTS, n));
      long count = n.get(ValueLayout.JAVA_LONG, 0);
      List<Tensor> r = new ArrayList<>((int) Math.min(count, MAX_OUTPUTS));
      for (int i = 0; i < Math.min(count, MAX_OUTPUTS); i++) {
        MemorySegment h = outs.getAtIndex(ValueLayout.ADDRESS, i);
        r.add(h.equals(MemorySegment.NULL) ? null : NativeInterop.wrap(h));
      }
      if (count > MAX_OUTPUTS) {
        for (Tensor t : r) if (t != null) t.close();
        throw new TorchException("forward of TorchScript module " + path + " returned " + count
            + " values; at most " + MAX_OUTPUTS + " are supported");
      }
      return Collections.unmodifiableList(r);
    }
  }

  /**
   * Runs the module's method {@code method} with positional arguments of any type the generic operator call takes
   * (see {@link dev.cm4j.tensor.Op}: tensors, null, numbers, booleans, strings, int/double lists, tensor lists),
   * checked against the method's TorchScript schema, with omitted trailing arguments taken from its defaults.
   * Returns the result: one entry, or one per element of a returned tuple (tensors as new tensors, numbers as
   * Double/Long, booleans, tensor lists as Lists). For example, the Inception-v3 detector of EDM's FID is called as
   * {@code call("forward", images, true)} ({@code return_features=True}).
   */
  public List<Object> call(String method, Object... args) {
    NativeInterop.requirePlatformThread();
    if (method == null || method.isEmpty()) throw new IllegalArgumentException("method name is null or empty");
    MemorySegment h = handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment name = a.allocateFrom(method);
      return NativeInterop.callOnStack(method + " of TorchScript module " + path, args, st -> cm_jit_call(h, name, st));
    }
  }

  /** {@link #call} of {@code method} that must return exactly one tensor. */
  public Tensor callTensor(String method, Object... args) {
    List<Object> r = call(method, args);
    if (r.size() != 1 || !(r.get(0) instanceof Tensor t)) {
      for (Object o : r) if (o instanceof Tensor t) t.close();
      throw new TorchException(method + " of TorchScript module " + path + " did not return exactly one tensor (got "
          + r.size() + " values)");
    }
    return t;
  }

  /** Releases the module. Idempotent. */
  @Override
  public void close() {
    MemorySegment h = handle;
    if (h == null) return;
    handle = null;
    NativeInterop.check(cm_jit_free(h));
  }

  @Override
  public String toString() {
    return "ScriptModule(" + path + ", " + device + ")";
  }
}
