package dev.cm4j.optim;

import dev.cm4j.nn.Module;
import dev.cm4j.nn.Param;
import dev.cm4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * A named trainable tensor as optimizers and EMAs see it: the slot is read at every step, so a {@link Param} whose
 * tensor {@link Module#to} replaced is followed. The name keys the optimizer state in state dicts.
 *
 * @param name the state-dict key (a module's dotted path, or the index for plain tensors)
 * @param slot yields the current tensor
 */
public record ParamRef(String name, Supplier<Tensor> slot) {
  public ParamRef {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(slot, "slot");
  }

  /** The current tensor. */
  public Tensor get() {
    return slot.get();
  }

  /** A module's trainable parameters, keyed by dotted path, in state-dict order. */
  public static List<ParamRef> of(Module m) {
    return of(m.namedParameters());
  }

  /** Named parameter slots (e.g. a filtered {@link Module#namedParameters()}). */
  public static List<ParamRef> of(Map<String, Param> named) {
    List<ParamRef> l = new ArrayList<>(named.size());
    for (var e : named.entrySet()) l.add(new ParamRef(e.getKey(), e.getValue()::get));
    return l;
  }

  /** Plain tensors keyed "0", "1", ... (the caller keeps them alive). */
  public static List<ParamRef> ofTensors(List<Tensor> ts) {
    List<ParamRef> l = new ArrayList<>(ts.size());
    for (int i = 0; i < ts.size(); i++) {
      Tensor t = Objects.requireNonNull(ts.get(i), "tensor " + i);
      l.add(new ParamRef(Integer.toString(i), () -> t));
    }
    return l;
  }
}
