package dev.cm4j.bench;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.function.Supplier;

/**
 * Where Java's per-op time goes. Each op of {@link Overhead} is timed
 * <ul>
 *   <li>{@code ffm_free}: through the raw generated bindings, the C API calls the safe API makes (op, then
 *       {@code cm_tensor_free}), with none of its bookkeeping: the FFM floor;
 *   <li>{@code ffm_batch}: the same, results freed 64 at a time with {@code cm_tensor_free_many}, as scopes do;
 *   <li>{@code scopeN}: the public API with a scope per N ops; {@code close}: the public API, no scope, each result
 *       closed (with the Cleaner registration an unscoped tensor carries); {@code close_in_scope}: each result
 *       closed while a scope is open (no Cleaner).
 * </ul>
 * plus {@code share} (a second handle: the cheapest op that returns a new handle, ~20 ns natively, which shows
 * the API's own per-result cost best) and an empty scope. Same line format as {@link Overhead}. Compare with
 * {@code overhead_capi} (the C API from C++) and {@code overhead} (libtorch from C++).
 * Usage: {@code Breakdown [quick]}.
 */
public final class Breakdown {
  private Breakdown() {}

  static void ok(int rc) {
    if (rc != 0) throw new IllegalStateException("cm4j error: " + cString(cm_last_error()));
  }

  private static String cString(MemorySegment p) {
    return p.reinterpret(1 << 16).getString(0);
  }

  /** A raw C API op writing its result handle into out. */
  interface RawOp {
    int call(MemorySegment out);
  }

  private static final Arena ARENA = Arena.ofAuto();
  private static final MemorySegment OUT = ARENA.allocate(8, 16);
  private static final MemorySegment MANY = ARENA.allocate(8 * 64, 16);

  static void variants(Overhead h, String name, long n, RawOp raw, Supplier<Tensor> op) {
    h.measure(name, "ffm_free", n, k -> {
      for (long i = 0; i < k; i++) {
        ok(raw.call(OUT));
        ok(cm_tensor_free(OUT.get(ValueLayout.ADDRESS, 0)));
      }
    });
    h.measure(name, "ffm_batch", n, k -> {
      int m = 0;
      for (long i = 0; i < k; i++) {
        ok(raw.call(OUT));
        MANY.setAtIndex(ValueLayout.ADDRESS, m++, OUT.get(ValueLayout.ADDRESS, 0));
        if (m == 64) {
          ok(cm_tensor_free_many(MANY, m));
          m = 0;
        }
      }
      if (m > 0) ok(cm_tensor_free_many(MANY, m));
    });
    for (int batch : new int[] {1, 10, 100}) {
      h.measure(name, "scope" + batch, n, k -> {
        for (long done = 0; done < k; done += batch) {
          try (var s = TensorScope.open()) {
            for (int i = 0; i < batch; i++) op.get();
          }
        }
      });
    }
    h.measure(name, "close", n, k -> {
      for (long i = 0; i < k; i++) op.get().close();
    });
    h.measure(name, "close_in_scope", n, k -> {
      for (long done = 0; done < k; done += 100) {
        try (var s = TensorScope.open()) {
          for (int i = 0; i < 100; i++) op.get().close();
        }
      }
    });
  }

  public static void main(String[] args) {
    boolean quick = args.length > 0 && args[0].equals("quick");
    Overhead h = new Overhead(quick ? 0.02 : 0.4, quick ? 3 : 31);
    Torch.load();
    Torch.setNumThreads(1);
    Torch.manualSeed(0);
    MemorySegment a = randn(4, 4), b = randn(4, 4);
    Tensor ta = Tensor.randn(4, 4), tb = Tensor.randn(4, 4);
    int add = CM_BINARY_ADD(), mul = CM_BINARY_MUL(), sum = CM_REDUCE_SUM(), dbl = CM_SCALAR_DOUBLE();

    h.measure("scope", "empty", 10000, k -> {
      for (long i = 0; i < k; i++) {
        try (var s = TensorScope.open()) {
          // nothing: the fixed cost of opening and closing a scope
        }
      }
    });
    variants(h, "share", 10000, o -> cm_tensor_share(a, o), ta::share);
    variants(h, "add", 1000, o -> cm_binary(add, a, b, o), () -> ta.add(tb));
    variants(h, "mul_scalar", 1000, o -> cm_binary_scalar(mul, a, dbl, 2.0, 0, o), () -> ta.mul(2.0));
    variants(h, "sum", 1000, o -> cm_reduce(sum, a, MemorySegment.NULL, 0, 0, -1, o), ta::sum);

    // MLP step through the raw bindings (the calls of overhead_capi.cpp), then through the API.
    MemorySegment x = randn(16, 8);
    MemorySegment w1 = randn(32, 8), w2 = randn(1, 32);
    MemorySegment b1 = zeros(32), b2 = zeros(1);
    MemorySegment[] params = {w1, b1, w2, b2};
    for (MemorySegment p : params) ok(cm_tensor_set_requires_grad(p, 1));
    MemorySegment outs = ARENA.allocate(8 * 8, 16);
    int silu = CM_UNARY_SILU(), mean = CM_REDUCE_MEAN();
    h.measure("mlp_step", "ffm", 40, k -> {
      for (long i = 0; i < k; i++) {
        ok(cm_linear(x, w1, b1, outs.asSlice(0, 8)));
        ok(cm_unary(silu, outs.get(ValueLayout.ADDRESS, 0), outs.asSlice(8, 8)));
        ok(cm_linear(outs.get(ValueLayout.ADDRESS, 8), w2, b2, outs.asSlice(16, 8)));
        ok(cm_reduce(mean, outs.get(ValueLayout.ADDRESS, 16), MemorySegment.NULL, 0, 0, -1, outs.asSlice(24, 8)));
        ok(cm_backward(outs.asSlice(24, 8), 1, MemorySegment.NULL, 0, 0));
        for (MemorySegment p : params) ok(cm_tensor_set_grad(p, MemorySegment.NULL));
        ok(cm_tensor_free_many(outs, 4));
      }
    });
    Tensor tx = Tensor.randn(16, 8);
    Tensor tw1 = Tensor.randn(32, 8).requiresGrad_(true), tw2 = Tensor.randn(1, 32).requiresGrad_(true);
    Tensor tb1 = Tensor.zeros(32).requiresGrad_(true), tb2 = Tensor.zeros(1).requiresGrad_(true);
    List<Tensor> tp = List.of(tw1, tb1, tw2, tb2);
    h.measure("mlp_step", "scope", 40, k -> {
      for (long i = 0; i < k; i++) {
        try (var s = TensorScope.open()) {
          Tensor loss = F.linear(F.linear(tx, tw1, tb1).silu(), tw2, tb2).mean();
          loss.backward();
          for (Tensor p : tp) p.setGrad(null);
        }
      }
    });
  }

  private static MemorySegment randn(long... shape) {
    ok(cm_randn(ARENA.allocateFrom(ValueLayout.JAVA_LONG, shape), shape.length, CM_DTYPE_FLOAT32(), CM_DEVICE_CPU(),
        MemorySegment.NULL, OUT));
    return OUT.get(ValueLayout.ADDRESS, 0);
  }

  private static MemorySegment zeros(long... shape) {
    ok(cm_zeros(ARENA.allocateFrom(ValueLayout.JAVA_LONG, shape), shape.length, CM_DTYPE_FLOAT32(), CM_DEVICE_CPU(),
        OUT));
    return OUT.get(ValueLayout.ADDRESS, 0);
  }
}
