package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The escape hatch: any registered ATen operator by name and overload, called through the dispatcher with
 * arguments checked against its schema and omitted trailing arguments taken from the schema's defaults.
 *
 * <pre>{@code
 * Op addmm = Op.of("aten::addmm", "");
 * Tensor y = addmm.callTensor(bias, x, w);        // beta = 1, alpha = 1 from the schema
 * }</pre>
 *
 * Arguments: {@link Tensor}, null (None), Double/Float, Long/Integer, Boolean, String, {@link DType} (as its code),
 * long[] / int[] (int lists), double[], and a List or array of Tensors (tensor list; null entries for lists of
 * optional tensors). Results: Tensor (null for None), Double, Long, Boolean, or a List of Tensors; other result
 * types (int lists, strings, ...) throw a {@link TorchException}, as the C API has no accessor for them.
 */
public final class Op {
  static {
    Native.ensureLoaded();
  }

  private static final ConcurrentHashMap<String, Op> CACHE = new ConcurrentHashMap<>();
  private static final ThreadLocal<MemorySegment> STACK = new ThreadLocal<>();

  private final MemorySegment handle;
  private final String name;

  private Op(MemorySegment handle, String name) {
    this.handle = handle;
    this.name = name;
  }

  /** The operator {@code name} ("aten::add") with overload ("Tensor", or "" for the default one). */
  public static Op of(String name, String overload) {
    String key = name + "." + overload;
    Op op = CACHE.get(key);
    if (op != null) return op;
    Native.scratch();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      Native.check(cm_op_find(a.allocateFrom(name, StandardCharsets.UTF_8),
          a.allocateFrom(overload, StandardCharsets.UTF_8), out));
      op = new Op(out.get(ValueLayout.ADDRESS, 0), key);
    }
    Op prev = CACHE.putIfAbsent(key, op);
    return prev != null ? prev : op;
  }

  /** The schema, e.g. {@code aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor}. */
  public String schema() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_op_schema(handle, MemorySegment.NULL, 0, s.out));
    long n = s.out.get(ValueLayout.JAVA_LONG, 0);
    MemorySegment buf = s.bytes(n + 1);
    Native.check(cm_op_schema(handle, buf, n + 1, s.out));
    return buf.getString(0);
  }

  private static MemorySegment stack() {
    MemorySegment st = STACK.get();
    if (st == null) {
      Native.Scratch s = Native.scratch();
      Native.check(cm_stack_new(s.out));
      st = s.out.get(ValueLayout.ADDRESS, 0);
      STACK.set(st); // one per thread, reused; freed with the process
    }
    Native.check(cm_stack_clear(st));
    return st;
  }

  /** Calls the operator and returns all results. */
  public List<Object> call(Object... args) {
    return callOnStack(name, args, st -> cm_op_call(handle, st));
  }

  /**
   * Pushes args on this thread's stack, runs call on it (a C API call that leaves its results on the stack) and
   * returns the results converted as {@link #call} does. {@code what} names the callee in error messages.
   */
  static List<Object> callOnStack(String what, Object[] args, java.util.function.ToIntFunction<MemorySegment> call) {
    MemorySegment st = stack();
    for (int i = 0; i < args.length; i++) push(st, args[i], i, what);
    Native.check(call.applyAsInt(st));
    Native.Scratch s = Native.scratch();
    Native.check(cm_stack_size(st, s.out));
    long n = s.out.get(ValueLayout.JAVA_LONG, 0);
    List<Object> r = new ArrayList<>((int) n);
    for (long i = 0; i < n; i++) r.add(pop(st, i));
    Native.check(cm_stack_clear(st));
    return r;
  }

  /** Calls an operator with one tensor result. */
  public Tensor callTensor(Object... args) {
    List<Object> r = call(args);
    if (r.size() != 1 || !(r.get(0) instanceof Tensor t)) {
      throw new TorchException(name + " did not return exactly one tensor (got " + r.size() + " results)");
    }
    return t;
  }

  private static void push(MemorySegment st, Object a, int i, String name) {
    Native.Scratch s = Native.scratch();
    int rc;
    if (a == null) {
      rc = cm_stack_push_none(st);
    } else if (a instanceof Tensor t) {
      rc = cm_stack_push_tensor(st, t.handle());
    } else if (a instanceof Double || a instanceof Float) {
      rc = cm_stack_push_double(st, ((Number) a).doubleValue());
    } else if (a instanceof Long || a instanceof Integer || a instanceof Short || a instanceof Byte) {
      rc = cm_stack_push_int(st, ((Number) a).longValue());
    } else if (a instanceof Boolean b) {
      rc = cm_stack_push_bool(st, b ? 1 : 0);
    } else if (a instanceof DType d) {
      rc = cm_stack_push_int(st, d.code());
    } else if (a instanceof String str) {
      byte[] b = (str + "\0").getBytes(StandardCharsets.UTF_8);
      MemorySegment m = s.bytes(b.length);
      MemorySegment.copy(b, 0, m, ValueLayout.JAVA_BYTE, 0, b.length);
      rc = cm_stack_push_string(st, m);
    } else if (a instanceof long[] v) {
      rc = cm_stack_push_int_list(st, s.longs(v), v.length);
    } else if (a instanceof int[] v) {
      long[] l = new long[v.length];
      for (int k = 0; k < v.length; k++) l[k] = v[k];
      rc = cm_stack_push_int_list(st, s.longs(l), l.length);
    } else if (a instanceof double[] v) {
      rc = cm_stack_push_double_list(st, s.doubles(v), v.length);
    } else if (a instanceof Tensor[] v) {
      rc = pushList(st, java.util.Arrays.asList(v), s);
    } else if (a instanceof Collection<?> c) {
      List<Tensor> l = new ArrayList<>(c.size());
      for (Object o : c) {
        if (o != null && !(o instanceof Tensor)) {
          throw new IllegalArgumentException("argument " + i + " of " + name + ": lists must hold Tensors, got "
              + o.getClass().getSimpleName());
        }
        l.add((Tensor) o);
      }
      rc = pushList(st, l, s);
    } else {
      throw new IllegalArgumentException("argument " + i + " of " + name + ": unsupported type "
          + a.getClass().getName());
    }
    Native.check(rc);
  }

  private static int pushList(MemorySegment st, List<Tensor> l, Native.Scratch s) {
    boolean hasNull = l.contains(null);
    MemorySegment arr = s.handles(l, true, "tensor list");
    return hasNull ? cm_stack_push_optional_tensor_list(st, arr, l.size()) : cm_stack_push_tensor_list(st, arr, l.size());
  }

  private static Object pop(MemorySegment st, long i) {
    Native.Scratch s = Native.scratch();
    Native.check(cm_stack_kind(st, i, s.out));
    int kind = s.out.get(ValueLayout.JAVA_INT, 0);
    switch (kind) {
      case 0:
        return null;
      case 1:
        Native.check(cm_stack_get_tensor(st, i, s.out));
        return Tensor.wrapNullable(s.out.get(ValueLayout.ADDRESS, 0));
      case 2:
        Native.check(cm_stack_get_double(st, i, s.out));
        return s.out.get(ValueLayout.JAVA_DOUBLE, 0);
      case 3:
        Native.check(cm_stack_get_int(st, i, s.out));
        return s.out.get(ValueLayout.JAVA_LONG, 0);
      case 4:
        Native.check(cm_stack_get_int(st, i, s.out));
        return s.out.get(ValueLayout.JAVA_LONG, 0) != 0;
      case 5: {
        Native.check(cm_stack_list_size(st, i, s.out));
        long n = s.out.get(ValueLayout.JAVA_LONG, 0);
        List<Tensor> l = new ArrayList<>((int) n);
        for (long j = 0; j < n; j++) {
          Native.check(cm_stack_list_tensor(st, i, j, s.out));
          l.add(Tensor.wrapNullable(s.out.get(ValueLayout.ADDRESS, 0)));
        }
        return l;
      }
      default:
        throw new TorchException("result " + i + " has a type cm4j does not convert (kind " + kind + ")");
    }
  }
}
