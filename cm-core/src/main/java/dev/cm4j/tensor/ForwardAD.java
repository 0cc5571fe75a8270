package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Forward-mode automatic differentiation with dual tensors (torch.autograd.forward_ad), and {@link #jvp}, the
 * Jacobian-vector product torch.func.jvp computes. The sCM objective differentiates the network along a tangent
 * with one forward pass this way.
 */
public final class ForwardAD {
  static {
    Native.ensureLoaded();
  }

  private ForwardAD() {}

  /** A dual level: tangents attached at this level are dropped when it closes (always, also on exceptions). */
  public static final class DualLevel implements AutoCloseable {
    private final long level;
    private boolean closed;

    private DualLevel(long level) {
      this.level = level;
    }

    /** Enters a new dual level. */
    public static DualLevel enter() {
      Native.Scratch s = Native.scratch();
      Native.check(cm_fw_enter_dual_level(s.out));
      return new DualLevel(s.out.get(ValueLayout.JAVA_LONG, 0));
    }

    /** The level index. */
    public long index() {
      return level;
    }

    /** primal + tangent·ε at this level (tangent must match primal's shape). */
    public Tensor makeDual(Tensor primal, Tensor tangent) {
      check();
      Native.Scratch s = Native.scratch();
      Native.check(cm_fw_make_dual(primal.handle(), tangent.handle(), level, s.out));
      return Tensor.wrap(s.out.get(ValueLayout.ADDRESS, 0));
    }

    /** The primal of t and its tangent at this level (tangent null if none). */
    public Dual unpack(Tensor t) {
      check();
      Native.Scratch s = Native.scratch();
      Native.check(cm_fw_unpack_dual(t.handle(), level, s.out, s.out2));
      return new Dual(Tensor.wrap(s.out.get(ValueLayout.ADDRESS, 0)),
          Tensor.wrapNullable(s.out2.get(ValueLayout.ADDRESS, 0)));
    }

    private void check() {
      if (closed) throw new IllegalStateException("dual level " + level + " was exited");
    }

    @Override
    public void close() {
      if (closed) return;
      closed = true;
      Native.check(cm_fw_exit_dual_level(level));
    }
  }

  /** A primal and its tangent (null when the value does not depend on any dual input). */
  public record Dual(Tensor primal, Tensor tangent) {}

  /** Outputs of f and their directional derivatives J·v. */
  public record Jvp(List<Tensor> outputs, List<Tensor> tangents) {}

  /**
   * Evaluates f at primals and its Jacobian-vector product along tangents in one forward pass. Outputs that do not
   * depend on the inputs get zero tangents. Returned tensors carry no forward-mode tangents.
   */
  public static Jvp jvp(Function<List<Tensor>, List<Tensor>> f, List<Tensor> primals, List<Tensor> tangents) {
    if (primals.size() != tangents.size()) {
      throw new IllegalArgumentException(primals.size() + " primals but " + tangents.size() + " tangents");
    }
    try (DualLevel level = DualLevel.enter()) {
      List<Tensor> duals = new ArrayList<>(primals.size());
      for (int i = 0; i < primals.size(); i++) duals.add(level.makeDual(primals.get(i), tangents.get(i)));
      List<Tensor> outs = f.apply(duals);
      List<Tensor> values = new ArrayList<>(outs.size());
      List<Tensor> jv = new ArrayList<>(outs.size());
      for (Tensor o : outs) {
        Dual d = level.unpack(o);
        values.add(d.primal());
        jv.add(d.tangent() != null ? d.tangent() : d.primal().zerosLike());
      }
      // The dual inputs and outputs are internal: release their handles (the primal views keep the storage).
      for (Tensor t : duals) t.close();
      for (Tensor t : outs) if (!primals.contains(t)) t.close();
      return new Jvp(values, jv);
    }
  }

  /** Single-input, single-output {@link #jvp}. */
  public static Jvp jvp(Function<Tensor, Tensor> f, Tensor primal, Tensor tangent) {
    return jvp(xs -> List.of(f.apply(xs.get(0))), List.of(primal), List.of(tangent));
  }

}
