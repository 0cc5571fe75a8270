package dev.cm4j.nn;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;

/**
 * A named slot holding a module's parameter or buffer. Layers and optimizers hold the slot, not the tensor, so
 * {@link Module#to} can replace the tensor (new device or dtype) without leaving stale references behind.
 */
public final class Param {
  private final String name;
  private final boolean buffer;
  private Tensor value;

  Param(String name, Tensor value, boolean buffer) {
    this.name = name;
    this.buffer = buffer;
    this.value = TensorScope.release(value);
  }

  /** The local name (without the module path). */
  public String name() {
    return name;
  }

  /** True for buffers (persistent non-trainable state), false for parameters. */
  public boolean isBuffer() {
    return buffer;
  }

  /** The current tensor. */
  public Tensor get() {
    return value;
  }

  /** Replaces the tensor (closing the old one) — for device/dtype moves and loading. */
  void set(Tensor t) {
    Tensor old = value;
    value = TensorScope.release(t);
    if (old != null && old != t) old.close();
  }

  void close() {
    if (value != null) value.close();
  }
}
