package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** Reverse-mode automatic differentiation (torch.autograd.backward / torch.autograd.grad). */
public final class Autograd {
  static {
    Native.ensureLoaded();
  }

  private Autograd() {}

  /**
   * Accumulates gradients of outputs into the .grad of the leaves they depend on.
   *
   * @param outputs the tensors to differentiate
   * @param gradOutputs seeds for each output (null, or null entries, for ones on scalar outputs)
   * @param retainGraph keep the graph for another backward
   * @param createGraph record the backward pass for higher-order derivatives
   */
  public static void backward(List<Tensor> outputs, List<Tensor> gradOutputs, boolean retainGraph, boolean createGraph) {
    if (gradOutputs != null && gradOutputs.size() != outputs.size()) {
      throw new IllegalArgumentException("gradOutputs has " + gradOutputs.size() + " entries for " + outputs.size()
          + " outputs");
    }
    Native.Scratch s = Native.scratch();
    MemorySegment o = s.handles(outputs, false, "outputs");
    MemorySegment g = gradOutputs == null ? MemorySegment.NULL : s.handles(gradOutputs, true, "gradOutputs");
    Native.check(cm_backward(o, outputs.size(), g, retainGraph ? 1 : 0, createGraph ? 1 : 0));
  }

  /**
   * Gradients of outputs with respect to inputs, returned (not accumulated), as torch.autograd.grad.
   *
   * @return one gradient per input; an entry is null for an unused input when allowUnused
   */
  public static List<Tensor> grad(List<Tensor> outputs, List<Tensor> inputs, List<Tensor> gradOutputs,
      boolean retainGraph, boolean createGraph, boolean allowUnused) {
    if (gradOutputs != null && gradOutputs.size() != outputs.size()) {
      throw new IllegalArgumentException("gradOutputs has " + gradOutputs.size() + " entries for " + outputs.size()
          + " outputs");
    }
    if (inputs.size() > Native.OUT_SLOTS) {
      // Large parameter lists: a dedicated result array.
      try (var arena = java.lang.foreign.Arena.ofConfined()) {
        MemorySegment res = arena.allocate(8L * inputs.size());
        Native.Scratch s = Native.scratch();
        return call(s, outputs, inputs, gradOutputs, retainGraph, createGraph, allowUnused, res);
      }
    }
    Native.Scratch s = Native.scratch();
    return call(s, outputs, inputs, gradOutputs, retainGraph, createGraph, allowUnused, s.outs);
  }

  private static List<Tensor> call(Native.Scratch s, List<Tensor> outputs, List<Tensor> inputs,
      List<Tensor> gradOutputs, boolean retainGraph, boolean createGraph, boolean allowUnused, MemorySegment res) {
    MemorySegment o = s.handles(outputs, false, "outputs");
    MemorySegment in = s.handles(inputs, false, "inputs");
    MemorySegment g = gradOutputs == null ? MemorySegment.NULL : s.handles(gradOutputs, true, "gradOutputs");
    Native.check(cm_autograd_grad(o, outputs.size(), g, in, inputs.size(), retainGraph ? 1 : 0, createGraph ? 1 : 0,
        allowUnused ? 1 : 0, res));
    List<Tensor> r = new ArrayList<>(inputs.size());
    for (int i = 0; i < inputs.size(); i++) r.add(Tensor.wrapNullable(Native.handleAt(res, i)));
    return r;
  }

  /** Gradient of a scalar output with respect to inputs (no graph kept). */
  public static List<Tensor> grad(Tensor output, List<Tensor> inputs) {
    return grad(List.of(output), inputs, null, false, false, false);
  }
}
