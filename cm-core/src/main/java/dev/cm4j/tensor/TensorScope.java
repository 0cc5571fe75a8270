package dev.cm4j.tensor;

import dev.cm4j.bindings.ffi.CmTorch;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * A thread-confined memory scope: every tensor created on this thread while the scope is the innermost open one
 * belongs to it and is released, in one native call, when the scope closes — unless it was handed on with
 * {@link #escape} (to the enclosing scope) or {@link #keep} (to the caller).
 *
 * <pre>{@code
 * try (var scope = TensorScope.open()) {
 *   Tensor y = x.mul(2).add(1);        // temporaries of this block
 *   return scope.escape(y.sum());      // the result survives in the enclosing scope
 * }
 * }</pre>
 *
 * Scopes nest and must be closed in reverse order of opening, on the thread that opened them. Tensors created
 * outside any scope are owned by the caller: close them, or a Cleaner frees them after they become unreachable
 * (a leak net, not a memory-management strategy).
 *
 * <p>A scope frees its tensors when it closes, where CPython frees each tensor as soon as its last reference goes.
 * In a pass without autograd (no-grad, a forward-mode JVP, sampling) the difference is the pass's working set. Two
 * helpers release intermediates as soon as they are dead: {@link #scoped} (a block of ops keeps only its result) and
 * {@link #chain} (a sequence of one-input steps keeps only its last result). Releasing a handle never changes a
 * value: views and autograd's saved tensors keep the storage they need.
 */
public final class TensorScope implements AutoCloseable {
  static {
    Native.ensureLoaded();
  }

  /** Handle arrays up to this length are kept for the thread's next scope when a scope closes. */
  private static final int MAX_POOLED = 4096;

  private final TensorScope parent;
  private final Thread thread;
  /** The opening thread's state (scratch and current-scope slot), so that closing needs no ThreadLocal lookup. */
  private final Native.Scratch state;
  private Tensor[] owned;
  private int size;
  private boolean closed;

  private TensorScope(Native.Scratch state) {
    this.state = state;
    this.parent = state.scope;
    this.thread = state.thread;
    Tensor[] spare = state.spareOwned;
    if (spare != null) {
      state.spareOwned = null;
      owned = spare;
    } else {
      owned = new Tensor[32];
    }
  }

  /**
   * Opens a scope nested in the current one (if any) and makes it current on this thread.
   *
   * @throws IllegalStateException on a virtual thread (tensor work must run on platform threads)
   */
  public static TensorScope open() {
    Native.Scratch st = Native.state();
    TensorScope s = new TensorScope(st);
    st.scope = s;
    return s;
  }

  /** The innermost open scope of this thread, or null. */
  static TensorScope current() {
    return Native.state().scope;
  }

  void adopt(Tensor t) {
    if (size == owned.length) owned = Arrays.copyOf(owned, Math.max(32, size * 2));
    owned[size++] = t;
  }

  /** Moves t to the enclosing scope (or, if there is none, to the caller) and returns it. */
  public <T extends Tensor> T escape(T t) {
    checkOpen();
    if (t.owner() != this) throw new IllegalArgumentException("tensor does not belong to this scope");
    if (parent != null) t.moveTo(parent);
    else t.moveTo(null);
    return t;
  }

  /** Releases t from this scope: the caller now owns it and must close it. */
  public <T extends Tensor> T keep(T t) {
    checkOpen();
    if (t.owner() != this) throw new IllegalArgumentException("tensor does not belong to this scope");
    t.moveTo(null);
    return t;
  }

  /**
   * Takes t out of whatever scope owns it (if any): the caller now owns it and must close it. Used for long-lived
   * tensors such as module parameters, which may be created while a scope happens to be open.
   */
  public static <T extends Tensor> T release(T t) {
    TensorScope o = t.owner();
    if (o != null) o.keep(t);
    return t;
  }

  /**
   * Runs body in a scope of its own and returns its result in the current scope: every other tensor body created is
   * released when it returns. A result body did not create (one of its inputs) is returned as it is.
   *
   * <pre>{@code
   * Tensor h = TensorScope.scoped(() -> shift.add(norm.forward(x).mul(scale)));   // norm's output and the product go
   * }</pre>
   */
  public static <T extends Tensor> T scoped(Supplier<T> body) {
    try (TensorScope s = open()) {
      T r = body.get();
      if (r != null && r.owner() == s) s.escape(r);
      return r;
    }
  }

  /**
   * Applies steps in turn to first, releasing first and each intermediate result as soon as the next step has
   * returned (a step that returns its own input, an in-place op, hands it on instead): a chain of layers keeps one
   * link's input and output live, not all of them. first must be a temporary of the caller (typically the first
   * layer's output); the steps must not keep their input elsewhere.
   *
   * <pre>{@code
   * Tensor h = TensorScope.chain(norm.forward(x), Tensor::silu, conv::forward);   // = conv(silu(norm(x)))
   * }</pre>
   */
  @SafeVarargs
  public static Tensor chain(Tensor first, UnaryOperator<Tensor>... steps) {
    Tensor cur = first;
    for (UnaryOperator<Tensor> step : steps) {
      Tensor next = step.apply(cur);
      if (next != cur) cur.close();
      cur = next;
    }
    return cur;
  }

  /** Number of live tensors this scope would release. */
  public int liveCount() {
    int n = 0;
    for (int i = 0; i < size; i++) if (owned[i].owner() == this && !owned[i].isReleased()) n++;
    return n;
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("scope is closed");
    if (Thread.currentThread() != thread) throw new IllegalStateException("scope used from another thread");
  }

  /** Releases every tensor still owned by this scope and makes the enclosing scope current again. */
  @Override
  public void close() {
    if (closed) return;
    if (Thread.currentThread() != thread) throw new IllegalStateException("scope closed from another thread");
    if (state.scope != this) {
      throw new IllegalStateException("scopes must be closed innermost first (an inner scope is still open)");
    }
    closed = true;
    state.scope = parent;
    Native.Scratch s = state.reset();
    int batch = Native.OUT_SLOTS;
    MemorySegment arr = s.outs;
    int k = 0;
    for (int i = 0; i < size; i++) {
      Tensor t = owned[i];
      owned[i] = null;
      if (t.owner() != this) continue;
      MemorySegment h = t.takeHandle();
      if (h == null) continue;
      arr.setAtIndex(ValueLayout.ADDRESS, k++, h);
      if (k == batch) {
        Native.check(CmTorch.cm_tensor_free_many(arr, k));
        k = 0;
      }
    }
    if (k > 0) Native.check(CmTorch.cm_tensor_free_many(arr, k));
    size = 0;
    // Every slot is null again: hand the array to this thread's next scope (the larger one, within a bound).
    Tensor[] spare = state.spareOwned;
    if (owned.length <= MAX_POOLED && (spare == null || spare.length < owned.length)) state.spareOwned = owned;
    owned = EMPTY;
  }

  private static final Tensor[] EMPTY = new Tensor[0];
}
