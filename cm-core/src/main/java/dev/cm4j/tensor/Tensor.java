package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A handle to a libtorch tensor.
 *
 * <p>Ownership: a tensor created while a {@link TensorScope} is open on this thread belongs to that scope and is
 * released when it closes; otherwise the caller owns it and should {@link #close()} it (a Cleaner frees it after
 * it becomes unreachable, as a leak net). Using a released tensor throws {@link IllegalStateException}; bad
 * arguments throw {@link TorchException} (libtorch's message) or standard Java exceptions — never a crash.
 *
 * <p>Operations follow PyTorch's names and semantics (broadcasting, type promotion, autograd). In-place variants
 * end in {@code _}. A tensor is not thread-safe; libtorch work must run on platform threads.
 */
public final class Tensor implements AutoCloseable {
  static {
    Native.ensureLoaded();
  }

  private static final Cleaner CLEANER = Cleaner.create();

  /** Frees an unowned tensor's handle exactly once, from close() or from the Cleaner. */
  private static final class Releaser implements Runnable {
    private MemorySegment handle;

    Releaser(MemorySegment handle) {
      this.handle = handle;
    }

    @Override
    public synchronized void run() {
      if (handle != null) {
        cm_tensor_free(handle);
        handle = null;
      }
    }

    synchronized MemorySegment take() {
      MemorySegment h = handle;
      handle = null;
      return h;
    }
  }

  private MemorySegment handle;
  private TensorScope owner;
  private Releaser releaser;
  private Cleaner.Cleanable cleanable;

  private Tensor(MemorySegment handle) {
    this.handle = handle;
    TensorScope s = TensorScope.current();
    if (s != null) {
      owner = s;
      s.adopt(this);
    } else {
      registerCleaner();
    }
  }

  /** Wraps a fresh handle returned by the C API (NULL is an error). */
  static Tensor wrap(MemorySegment h) {
    if (h.equals(MemorySegment.NULL)) throw new TorchException("libtorch returned an undefined tensor");
    return new Tensor(h);
  }

  /** Wraps a handle that may be NULL (e.g. an undefined grad). */
  static Tensor wrapNullable(MemorySegment h) {
    return h.equals(MemorySegment.NULL) ? null : new Tensor(h);
  }

  private void registerCleaner() {
    releaser = new Releaser(handle);
    cleanable = CLEANER.register(this, releaser);
  }

  /** The native handle; throws if the tensor was released. */
  MemorySegment handle() {
    MemorySegment h = handle;
    if (h == null) throw new IllegalStateException("tensor was released (closed, or its scope was closed)");
    return h;
  }

  TensorScope owner() {
    return owner;
  }

  boolean isReleased() {
    return handle == null;
  }

  /** Called by a closing scope: detaches the handle so the scope frees it in a batch. */
  MemorySegment takeHandle() {
    MemorySegment h = handle;
    handle = null;
    return h;
  }

  /** Moves ownership to another scope, or to the caller (null). */
  void moveTo(TensorScope s) {
    handle();
    owner = s;
    if (s != null) {
      s.adopt(this);
    } else if (cleanable == null) {
      registerCleaner();
    }
  }

  /** True once the tensor was closed or its scope closed. */
  public boolean released() {
    return handle == null;
  }

  /** Releases this handle now (idempotent). Views and autograd graphs that share the storage keep it alive. */
  @Override
  public void close() {
    MemorySegment h = handle;
    if (h == null) return;
    handle = null;
    if (cleanable != null) {
      releaser.take();
      cleanable.clean();
      cleanable = null;
      Native.check(cm_tensor_free(h));
    } else {
      Native.check(cm_tensor_free(h));
    }
  }

  // ------------------------------------------------------------------------------------------ helpers

  private static Tensor result(Native.Scratch s, int rc) {
    Native.check(rc);
    return wrap(s.out.get(ValueLayout.ADDRESS, 0));
  }

  private static MemorySegment h(Tensor t, String what) {
    if (t == null) throw new NullPointerException(what + " is null");
    return t.handle();
  }

  private static MemorySegment hOpt(Tensor t) {
    return t == null ? MemorySegment.NULL : t.handle();
  }

  private static MemorySegment gen(Generator g) {
    return g == null ? MemorySegment.NULL : g.handle();
  }

  static void checkShape(long[] shape) {
    if (shape == null) throw new NullPointerException("shape is null");
    for (long d : shape) {
      if (d < 0) throw new IllegalArgumentException("negative dimension " + d + " in shape " + Arrays.toString(shape));
    }
  }

  // ------------------------------------------------------------------------------------------ metadata

  /** Number of dimensions. */
  public int dim() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_dim(handle(), s.out));
    return (int) s.out.get(ValueLayout.JAVA_LONG, 0);
  }

  /** The sizes of every dimension. */
  public long[] shape() {
    Native.Scratch s = Native.scratch();
    MemorySegment buf = s.bytes(64 * 8);
    Native.check(cm_tensor_sizes(handle(), buf, 64, s.out));
    int n = (int) s.out.get(ValueLayout.JAVA_LONG, 0);
    if (n > 64) {
      buf = s.bytes(n * 8L);
      Native.check(cm_tensor_sizes(handle(), buf, n, s.out));
    }
    return buf.asSlice(0, n * 8L).toArray(ValueLayout.JAVA_LONG);
  }

  /** Size of dimension d (negative d counts from the end). */
  public long size(int d) {
    long[] sh = shape();
    int i = d < 0 ? d + sh.length : d;
    if (i < 0 || i >= sh.length) {
      throw new IndexOutOfBoundsException("dimension " + d + " out of range for a " + sh.length + "-D tensor");
    }
    return sh[i];
  }

  /** The strides of every dimension, in elements. */
  public long[] strides() {
    Native.Scratch s = Native.scratch();
    MemorySegment buf = s.bytes(64 * 8);
    Native.check(cm_tensor_strides(handle(), buf, 64, s.out));
    int n = (int) s.out.get(ValueLayout.JAVA_LONG, 0);
    if (n > 64) {
      buf = s.bytes(n * 8L);
      Native.check(cm_tensor_strides(handle(), buf, n, s.out));
    }
    return buf.asSlice(0, n * 8L).toArray(ValueLayout.JAVA_LONG);
  }

  /** Element type. */
  public DType dtype() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_dtype(handle(), s.out));
    return DType.ofCode(s.out.get(ValueLayout.JAVA_INT, 0));
  }

  /** Device. */
  public Device device() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_device(handle(), s.out));
    return Device.ofCode(s.out.get(ValueLayout.JAVA_INT, 0));
  }

  /** Number of elements. */
  public long numel() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_numel(handle(), s.out));
    return s.out.get(ValueLayout.JAVA_LONG, 0);
  }

  /**
   * The native address of the first element (0 for an empty tensor), valid while this tensor's storage lives. For
   * diagnostics (alignment, which mapping holds the data); the safe API never writes through it.
   */
  public long dataAddress() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_data_ptr(handle(), s.out));
    return s.out.get(ValueLayout.JAVA_LONG, 0);
  }

  /** Whether autograd records operations on this tensor. */
  public boolean requiresGrad() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_requires_grad(handle(), s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  /** Sets requires_grad (leaf tensors only) and returns this. */
  public Tensor requiresGrad_(boolean requiresGrad) {
    Native.check(cm_tensor_set_requires_grad(handle(), requiresGrad ? 1 : 0));
    return this;
  }

  /** Whether this tensor is an autograd leaf. */
  public boolean isLeaf() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_is_leaf(handle(), s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  /** Whether the memory layout is contiguous. */
  public boolean isContiguous() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_is_contiguous(handle(), s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  /** Whether the memory layout is contiguous in {@code format} (e.g. channels-last strides for CHANNELS_LAST). */
  public boolean isContiguous(MemoryFormat format) {
    java.util.Objects.requireNonNull(format, "memory format");
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_is_contiguous_in(handle(), format.code(), s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  /** Whether this tensor lives in pinned (page-locked) host memory; false wherever pinned memory is unavailable. */
  public boolean isPinned() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_is_pinned(handle(), s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  /** The accumulated gradient (a new handle), or null if there is none. */
  public Tensor grad() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_grad(handle(), s.out));
    return wrapNullable(s.out.get(ValueLayout.ADDRESS, 0));
  }

  /** Sets (or with null clears) the accumulated gradient. */
  public void setGrad(Tensor g) {
    Native.check(cm_tensor_set_grad(handle(), hOpt(g)));
  }

  /** A second handle to the same tensor (same storage and autograd identity), owned like any new tensor. */
  public Tensor share() {
    Native.Scratch s = Native.scratch();
    return result(s, cm_tensor_share(handle(), s.out));
  }

  @Override
  public String toString() {
    if (handle == null) return "Tensor(released)";
    return "Tensor(" + dtype() + ", " + Arrays.toString(shape()) + ", " + device() + ")";
  }

  // ------------------------------------------------------------------------------------------ creation

  /** A tensor with a copy of the given bytes (little-endian, row-major) on device. */
  public static Tensor fromBytes(MemorySegment data, DType dtype, long[] shape, Device device) {
    checkShape(shape);
    if (!data.isNative()) {
      // Downcalls take only off-heap memory: stage heap arrays through a confined arena.
      try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
        MemorySegment m = a.allocate(Math.max(data.byteSize(), 1), 16).asSlice(0, data.byteSize());
        m.copyFrom(data);
        return fromBytes(m, dtype, shape, device);
      }
    }
    Native.Scratch s = Native.scratch();
    return result(s, cm_from_data(data, data.byteSize(), s.longs(shape), shape.length, dtype.code(), device.code(),
        s.out));
  }

  /** A CPU tensor with a copy of the given bytes (little-endian, row-major). */
  public static Tensor fromBytes(MemorySegment data, DType dtype, long... shape) {
    return fromBytes(data, dtype, shape, Device.CPU);
  }

  /** A CPU tensor with a copy of the given bytes (little-endian, row-major). */
  public static Tensor fromBytes(byte[] data, DType dtype, long... shape) {
    if (data == null) throw new NullPointerException("data");
    return fromBytes(MemorySegment.ofArray(data), dtype, shape, Device.CPU);
  }

  /**
   * A tensor on device with a copy of {@code length} bytes of data starting at {@code offset} (little-endian,
   * row-major).
   */
  public static Tensor fromBytes(byte[] data, int offset, int length, DType dtype, long[] shape, Device device) {
    if (data == null) throw new NullPointerException("data");
    java.util.Objects.checkFromIndexSize(offset, length, data.length);
    return fromBytes(MemorySegment.ofArray(data).asSlice(offset, length), dtype, shape, device);
  }

  private static long count(long[] shape) {
    long n = 1;
    for (long d : shape) n = Math.multiplyExact(n, d);
    return n;
  }

  private static void checkCount(int len, long[] shape) {
    checkShape(shape);
    if (count(shape) != len) {
      throw new IllegalArgumentException("array of " + len + " elements does not fit shape " + Arrays.toString(shape));
    }
  }

  /** A float32 CPU tensor from data with the given shape (no shape: 1-D). */
  public static Tensor of(float[] data, long... shape) {
    long[] sh = shape.length == 0 ? new long[] {data.length} : shape;
    checkCount(data.length, sh);
    return fromBytes(MemorySegment.ofArray(data), DType.FLOAT32, sh);
  }

  /** A float64 CPU tensor from data with the given shape (no shape: 1-D). */
  public static Tensor of(double[] data, long... shape) {
    long[] sh = shape.length == 0 ? new long[] {data.length} : shape;
    checkCount(data.length, sh);
    return fromBytes(MemorySegment.ofArray(data), DType.FLOAT64, sh);
  }

  /** An int64 CPU tensor from data with the given shape (no shape: 1-D). */
  public static Tensor of(long[] data, long... shape) {
    long[] sh = shape.length == 0 ? new long[] {data.length} : shape;
    checkCount(data.length, sh);
    return fromBytes(MemorySegment.ofArray(data), DType.INT64, sh);
  }

  /** An int32 CPU tensor from data with the given shape (no shape: 1-D). */
  public static Tensor of(int[] data, long... shape) {
    long[] sh = shape.length == 0 ? new long[] {data.length} : shape;
    checkCount(data.length, sh);
    return fromBytes(MemorySegment.ofArray(data), DType.INT32, sh);
  }

  /** A bool CPU tensor from data with the given shape (no shape: 1-D). */
  public static Tensor of(boolean[] data, long... shape) {
    long[] sh = shape.length == 0 ? new long[] {data.length} : shape;
    checkCount(data.length, sh);
    byte[] b = new byte[data.length];
    for (int i = 0; i < b.length; i++) b[i] = (byte) (data[i] ? 1 : 0);
    return fromBytes(MemorySegment.ofArray(b), DType.BOOL, sh);
  }

  /** A 0-D float32 tensor. */
  public static Tensor scalar(double v) {
    return full(new long[0], v, DType.FLOAT32, Device.CPU);
  }

  /** A 0-D tensor of the given dtype. */
  public static Tensor scalar(double v, DType dtype) {
    return full(new long[0], v, dtype, Device.CPU);
  }

  /** Uninitialised tensor. */
  public static Tensor empty(long[] shape, DType dtype, Device device) {
    checkShape(shape);
    Native.Scratch s = Native.scratch();
    return result(s, cm_empty(s.longs(shape), shape.length, dtype.code(), device.code(), s.out));
  }

  /** Zeros. */
  public static Tensor zeros(long[] shape, DType dtype, Device device) {
    checkShape(shape);
    Native.Scratch s = Native.scratch();
    return result(s, cm_zeros(s.longs(shape), shape.length, dtype.code(), device.code(), s.out));
  }

  /** float32 CPU zeros. */
  public static Tensor zeros(long... shape) {
    return zeros(shape, DType.FLOAT32, Device.CPU);
  }

  /** Ones. */
  public static Tensor ones(long[] shape, DType dtype, Device device) {
    checkShape(shape);
    Native.Scratch s = Native.scratch();
    return result(s, cm_ones(s.longs(shape), shape.length, dtype.code(), device.code(), s.out));
  }

  /** float32 CPU ones. */
  public static Tensor ones(long... shape) {
    return ones(shape, DType.FLOAT32, Device.CPU);
  }

  /** Filled with value. */
  public static Tensor full(long[] shape, double value, DType dtype, Device device) {
    checkShape(shape);
    Native.Scratch s = Native.scratch();
    return result(s, cm_full(s.longs(shape), shape.length, CM_SCALAR_DOUBLE(), value, (long) value, dtype.code(),
        device.code(), s.out));
  }

  /** start, start+step, ... below end. */
  public static Tensor arange(double start, double end, double step, DType dtype, Device device) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_arange(start, end, step, dtype.code(), device.code(), s.out));
  }

  /** 0, 1, ..., n-1 as int64 on the CPU. */
  public static Tensor arange(long n) {
    return arange(0, n, 1, DType.INT64, Device.CPU);
  }

  /** steps evenly spaced values from start to end inclusive. */
  public static Tensor linspace(double start, double end, long steps, DType dtype, Device device) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_linspace(start, end, steps, dtype.code(), device.code(), s.out));
  }

  /**
   * A draw with a {@link Generator#stacked} generator: row i of shape {@code [n, …]} drawn by {@code one} with row
   * generator i as a tensor of shape {@code [1, …]}, the rows concatenated.
   */
  private static Tensor stackedDraw(long[] shape, Generator gen,
      java.util.function.BiFunction<long[], Generator, Tensor> one) {
    Generator[] rows = gen.rows();
    if (shape.length == 0 || shape[0] != rows.length) {
      throw new IllegalArgumentException("a stacked generator of " + rows.length + " rows draws shapes [" + rows.length
          + ", ...], not " + Arrays.toString(shape));
    }
    long[] row = shape.clone();
    row[0] = 1;
    List<Tensor> parts = new ArrayList<>(rows.length);
    try {
      for (Generator g : rows) parts.add(one.apply(row, g));
      return cat(parts, 0);
    } finally {
      for (Tensor p : parts) p.close();
    }
  }

  /** Standard normal samples (gen may be null for the default generator). */
  public static Tensor randn(long[] shape, DType dtype, Device device, Generator gen) {
    checkShape(shape);
    if (gen != null && gen.isStacked()) return stackedDraw(shape, gen, (r, g) -> randn(r, dtype, device, g));
    Native.Scratch s = Native.scratch();
    return result(s, cm_randn(s.longs(shape), shape.length, dtype.code(), device.code(), gen(gen), s.out));
  }

  /** float32 CPU standard normal samples from the default generator. */
  public static Tensor randn(long... shape) {
    return randn(shape, DType.FLOAT32, Device.CPU, null);
  }

  /** Uniform samples on [0, 1). */
  public static Tensor rand(long[] shape, DType dtype, Device device, Generator gen) {
    checkShape(shape);
    if (gen != null && gen.isStacked()) return stackedDraw(shape, gen, (r, g) -> rand(r, dtype, device, g));
    Native.Scratch s = Native.scratch();
    return result(s, cm_rand(s.longs(shape), shape.length, dtype.code(), device.code(), gen(gen), s.out));
  }

  /** float32 CPU uniform samples from the default generator. */
  public static Tensor rand(long... shape) {
    return rand(shape, DType.FLOAT32, Device.CPU, null);
  }

  /** Uniform integers on [low, high). */
  public static Tensor randint(long low, long high, long[] shape, DType dtype, Device device, Generator gen) {
    checkShape(shape);
    if (gen != null && gen.isStacked()) {
      return stackedDraw(shape, gen, (r, g) -> randint(low, high, r, dtype, device, g));
    }
    Native.Scratch s = Native.scratch();
    return result(s, cm_randint(low, high, s.longs(shape), shape.length, dtype.code(), device.code(), gen(gen),
        s.out));
  }

  /** Normal(mean, std) samples. */
  public static Tensor normal(double mean, double std, long[] shape, DType dtype, Device device, Generator gen) {
    checkShape(shape);
    if (gen != null && gen.isStacked()) return stackedDraw(shape, gen, (r, g) -> normal(mean, std, r, dtype, device, g));
    Native.Scratch s = Native.scratch();
    return result(s, cm_normal(mean, std, s.longs(shape), shape.length, dtype.code(), device.code(), gen(gen),
        s.out));
  }

  /** A random permutation of 0..n-1 (int64). */
  public static Tensor randperm(long n, Device device, Generator gen) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_randperm(n, device.code(), gen(gen), s.out));
  }

  private Tensor like(int op, Generator g) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_like(op, handle(), gen(g), s.out));
  }

  /** Uninitialised tensor like this one. */
  public Tensor emptyLike() {
    return like(CM_LIKE_EMPTY(), null);
  }

  /** Zeros like this one. */
  public Tensor zerosLike() {
    return like(CM_LIKE_ZEROS(), null);
  }

  /** Ones like this one. */
  public Tensor onesLike() {
    return like(CM_LIKE_ONES(), null);
  }

  /** Standard normal samples like this one. */
  public Tensor randnLike(Generator g) {
    return like(CM_LIKE_RANDN(), g);
  }

  /** Standard normal samples like this one, from the default generator. */
  public Tensor randnLike() {
    return like(CM_LIKE_RANDN(), null);
  }

  /** Uniform [0,1) samples like this one. */
  public Tensor randLike(Generator g) {
    return like(CM_LIKE_RAND(), g);
  }

  /** Uniform [0,1) samples like this one, from the default generator. */
  public Tensor randLike() {
    return like(CM_LIKE_RAND(), null);
  }

  // ------------------------------------------------------------------------------------------ host transfer

  /** Copies the elements (row-major) into a new segment allocated from the given allocator. */
  public MemorySegment toSegment(java.lang.foreign.SegmentAllocator alloc) {
    long n = numel() * dtype().byteSize();
    MemorySegment m = alloc.allocate(Math.max(n, 1), 16).asSlice(0, n);
    if (m.isReadOnly()) throw new IllegalArgumentException("the allocator returned a read-only segment");
    Native.check(cm_copy_to_host(handle(), m, n));
    return m;
  }

  /** Copies the elements (row-major) into dst, whose size must equal numel × element size. */
  public void copyTo(MemorySegment dst) {
    if (dst == null) throw new NullPointerException("destination segment is null");
    // Native code would write through a read-only (e.g. read-only mapped) segment and crash the process.
    if (dst.isReadOnly()) throw new IllegalArgumentException("destination segment is read-only");
    if (!dst.isNative()) {
      try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
        MemorySegment m = a.allocate(Math.max(dst.byteSize(), 1), 16).asSlice(0, dst.byteSize());
        Native.check(cm_copy_to_host(handle(), m, m.byteSize()));
        dst.copyFrom(m);
        return;
      }
    }
    Native.check(cm_copy_to_host(handle(), dst, dst.byteSize()));
  }

  /** The elements converted to float32, row-major. */
  public float[] toFloatArray() {
    try (Tensor c = to(DType.FLOAT32)) {
      float[] a = new float[Math.toIntExact(c.numel())];
      c.copyTo(MemorySegment.ofArray(a));
      return a;
    }
  }

  /** The elements converted to float64, row-major. */
  public double[] toDoubleArray() {
    try (Tensor c = to(DType.FLOAT64)) {
      double[] a = new double[Math.toIntExact(c.numel())];
      c.copyTo(MemorySegment.ofArray(a));
      return a;
    }
  }

  /** The elements converted to int64, row-major. */
  public long[] toLongArray() {
    try (Tensor c = to(DType.INT64)) {
      long[] a = new long[Math.toIntExact(c.numel())];
      c.copyTo(MemorySegment.ofArray(a));
      return a;
    }
  }

  /** The elements converted to int32, row-major. */
  public int[] toIntArray() {
    try (Tensor c = to(DType.INT32)) {
      int[] a = new int[Math.toIntExact(c.numel())];
      c.copyTo(MemorySegment.ofArray(a));
      return a;
    }
  }

  /** The elements as booleans (non-zero is true), row-major. */
  public boolean[] toBooleanArray() {
    try (Tensor c = to(DType.BOOL)) {
      byte[] b = new byte[Math.toIntExact(c.numel())];
      c.copyTo(MemorySegment.ofArray(b));
      boolean[] r = new boolean[b.length];
      for (int i = 0; i < b.length; i++) r[i] = b[i] != 0;
      return r;
    }
  }

  /** The raw little-endian bytes of the elements, row-major, in this tensor's dtype. */
  public byte[] toByteArray() {
    long n = numel() * dtype().byteSize();
    byte[] b = new byte[Math.toIntExact(n)];
    copyTo(MemorySegment.ofArray(b));
    assert ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;
    return b;
  }

  /** The single element as a double. */
  public double item() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_item_double(handle(), s.out));
    return s.out.get(ValueLayout.JAVA_DOUBLE, 0);
  }

  /** The single element as a long. */
  public long itemLong() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_item_int64(handle(), s.out));
    return s.out.get(ValueLayout.JAVA_LONG, 0);
  }

  /** The single element as a boolean. */
  public boolean itemBoolean() {
    return itemLong() != 0;
  }

  /** Converted to dtype: a new handle, which shares this storage when the dtype is unchanged (as torch.Tensor.to). */
  public Tensor to(DType dtype) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_to(handle(), dtype.code(), deviceCode(), 0, 0, s.out));
  }

  /** Moved to device. */
  public Tensor to(Device device) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_to(handle(), -1, device.code(), 0, 0, s.out));
  }

  /** Converted to dtype and moved to device. */
  public Tensor to(Device device, DType dtype) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_to(handle(), dtype.code(), device.code(), 0, 0, s.out));
  }

  /**
   * Moved to device; with {@code nonBlocking} a copy between pinned host memory and a CUDA device is queued on the
   * current stream without waiting for it (the result must then not be read on the host before that stream is
   * synchronised). Without pinned memory or CUDA involved it behaves as {@link #to(Device)}.
   */
  public Tensor to(Device device, boolean nonBlocking) {
    java.util.Objects.requireNonNull(device, "device");
    Native.Scratch s = Native.scratch();
    return result(s, cm_to(handle(), -1, device.code(), nonBlocking ? 1 : 0, 0, s.out));
  }

  /**
   * A copy of this CPU tensor in pinned (page-locked) host memory, or a new handle to this tensor if it is pinned
   * already. Pinned memory makes host-to-GPU copies faster and lets {@link #to(Device, boolean)} overlap them with
   * compute. It needs CUDA: where {@link Torch#pinnedMemoryAvailable()} is false this throws a
   * {@link TorchException} saying so.
   */
  public Tensor pinMemory() {
    Native.Scratch s = Native.scratch();
    return result(s, cm_tensor_pin_memory(handle(), s.out));
  }

  /**
   * Marks this tensor's memory as in use by {@code stream}, so the CUDA caching allocator does not hand it out
   * again, after this tensor is freed, before the work queued on that stream so far is done
   * ({@code torch.Tensor.record_stream}). Needed when a tensor allocated on one stream is used on another. The stream
   * must be on this tensor's device; for CPU tensors it does nothing.
   */
  public void recordStream(Stream stream) {
    java.util.Objects.requireNonNull(stream, "stream");
    Native.check(cm_tensor_record_stream(handle(), stream.device().code(), stream.id()));
  }

  private int deviceCode() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_tensor_device(handle(), s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0);
  }

  // ------------------------------------------------------------------------------------------ elementwise

  private Tensor un(int op) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_unary(op, handle(), s.out));
  }

  private Tensor un_(int op) {
    Native.check(cm_unary_(op, handle()));
    return this;
  }

  private Tensor bin(int op, Tensor o) {
    MemorySegment b = h(o, "other");
    Native.Scratch s = Native.scratch();
    return result(s, cm_binary(op, handle(), b, s.out));
  }

  private Tensor bin_(int op, Tensor o) {
    Native.check(cm_binary_(op, handle(), h(o, "other")));
    return this;
  }

  private Tensor bin(int op, double v) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_binary_scalar(op, handle(), CM_SCALAR_DOUBLE(), v, 0, s.out));
  }

  private Tensor bin(int op, long v) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_binary_scalar(op, handle(), CM_SCALAR_INT(), 0, v, s.out));
  }

  private Tensor bin_(int op, double v) {
    Native.check(cm_binary_scalar_(op, handle(), CM_SCALAR_DOUBLE(), v, 0));
    return this;
  }

  private Tensor bin_(int op, long v) {
    Native.check(cm_binary_scalar_(op, handle(), CM_SCALAR_INT(), 0, v));
    return this;
  }

  /** this + other. */
  public Tensor add(Tensor other) { return bin(CM_BINARY_ADD(), other); }
  /** this + alpha·other. */
  public Tensor add(Tensor other, double alpha) {
    MemorySegment b = h(other, "other");
    Native.Scratch s = Native.scratch();
    return result(s, cm_add_scaled(handle(), b, alpha, s.out));
  }
  /** this + v. */
  public Tensor add(double v) { return bin(CM_BINARY_ADD(), v); }
  /** this + v (integer scalar: integer tensors stay integer). */
  public Tensor add(long v) { return bin(CM_BINARY_ADD(), v); }
  /** this − other. */
  public Tensor sub(Tensor other) { return bin(CM_BINARY_SUB(), other); }
  /** this − v. */
  public Tensor sub(double v) { return bin(CM_BINARY_SUB(), v); }
  /** this − v. */
  public Tensor sub(long v) { return bin(CM_BINARY_SUB(), v); }
  /** v − this. */
  public Tensor rsub(double v) { return bin(CM_BINARY_RSUB(), v); }
  /** this · other. */
  public Tensor mul(Tensor other) { return bin(CM_BINARY_MUL(), other); }
  /** this · v. */
  public Tensor mul(double v) { return bin(CM_BINARY_MUL(), v); }
  /** this · v. */
  public Tensor mul(long v) { return bin(CM_BINARY_MUL(), v); }
  /** this / other (true division). */
  public Tensor div(Tensor other) { return bin(CM_BINARY_DIV(), other); }
  /** this / v. */
  public Tensor div(double v) { return bin(CM_BINARY_DIV(), v); }
  /** v / this. */
  public Tensor rdiv(double v) { return bin(CM_BINARY_RDIV(), v); }
  /** this ** other. */
  public Tensor pow(Tensor other) { return bin(CM_BINARY_POW(), other); }
  /** this ** v. */
  public Tensor pow(double v) { return bin(CM_BINARY_POW(), v); }
  /** Python-style remainder. */
  public Tensor remainder(double v) { return bin(CM_BINARY_REMAINDER(), v); }
  /** atan2(this, other). */
  public Tensor atan2(Tensor other) { return bin(CM_BINARY_ATAN2(), other); }
  /** atan2(this, v). */
  public Tensor atan2(double v) { return bin(CM_BINARY_ATAN2(), v); }
  /** Elementwise minimum (NaN-propagating). */
  public Tensor minimum(Tensor other) { return bin(CM_BINARY_MINIMUM(), other); }
  /** Elementwise maximum (NaN-propagating). */
  public Tensor maximum(Tensor other) { return bin(CM_BINARY_MAXIMUM(), other); }
  /** Matrix product with broadcasting (torch.matmul). */
  public Tensor matmul(Tensor other) { return bin(CM_BINARY_MATMUL(), other); }
  /** Batched matrix product [B,n,m]×[B,m,p]. */
  public Tensor bmm(Tensor other) { return bin(CM_BINARY_BMM(), other); }
  /** Elementwise ==. */
  public Tensor eq(Tensor other) { return bin(CM_BINARY_EQ(), other); }
  /** Elementwise == v. */
  public Tensor eq(double v) { return bin(CM_BINARY_EQ(), v); }
  /** Elementwise !=. */
  public Tensor ne(Tensor other) { return bin(CM_BINARY_NE(), other); }
  /** Elementwise != v. */
  public Tensor ne(double v) { return bin(CM_BINARY_NE(), v); }
  /** Elementwise <. */
  public Tensor lt(Tensor other) { return bin(CM_BINARY_LT(), other); }
  /** Elementwise < v. */
  public Tensor lt(double v) { return bin(CM_BINARY_LT(), v); }
  /** Elementwise <=. */
  public Tensor le(Tensor other) { return bin(CM_BINARY_LE(), other); }
  /** Elementwise <= v. */
  public Tensor le(double v) { return bin(CM_BINARY_LE(), v); }
  /** Elementwise >. */
  public Tensor gt(Tensor other) { return bin(CM_BINARY_GT(), other); }
  /** Elementwise > v. */
  public Tensor gt(double v) { return bin(CM_BINARY_GT(), v); }
  /** Elementwise >=. */
  public Tensor ge(Tensor other) { return bin(CM_BINARY_GE(), other); }
  /** Elementwise >= v. */
  public Tensor ge(double v) { return bin(CM_BINARY_GE(), v); }
  /** Logical and (bool). */
  public Tensor logicalAnd(Tensor other) { return bin(CM_BINARY_LOGICAL_AND(), other); }
  /** Logical or (bool). */
  public Tensor logicalOr(Tensor other) { return bin(CM_BINARY_LOGICAL_OR(), other); }
  /** Logical not (bool). */
  public Tensor logicalNot() { return un(CM_UNARY_LOGICAL_NOT()); }

  /** −this. */
  public Tensor neg() { return un(CM_UNARY_NEG()); }
  /** √this. */
  public Tensor sqrt() { return un(CM_UNARY_SQRT()); }
  /** 1/√this. */
  public Tensor rsqrt() { return un(CM_UNARY_RSQRT()); }
  /** e^this. */
  public Tensor exp() { return un(CM_UNARY_EXP()); }
  /** ln this. */
  public Tensor log() { return un(CM_UNARY_LOG()); }
  /** ln(1 + this). */
  public Tensor log1p() { return un(CM_UNARY_LOG1P()); }
  /** e^this − 1. */
  public Tensor expm1() { return un(CM_UNARY_EXPM1()); }
  /** sin. */
  public Tensor sin() { return un(CM_UNARY_SIN()); }
  /** cos. */
  public Tensor cos() { return un(CM_UNARY_COS()); }
  /** tan. */
  public Tensor tan() { return un(CM_UNARY_TAN()); }
  /** atan. */
  public Tensor atan() { return un(CM_UNARY_ATAN()); }
  /** asin. */
  public Tensor asin() { return un(CM_UNARY_ASIN()); }
  /** acos. */
  public Tensor acos() { return un(CM_UNARY_ACOS()); }
  /** erf. */
  public Tensor erf() { return un(CM_UNARY_ERF()); }
  /** |this|. */
  public Tensor abs() { return un(CM_UNARY_ABS()); }
  /** sign. */
  public Tensor sign() { return un(CM_UNARY_SIGN()); }
  /** this². */
  public Tensor square() { return un(CM_UNARY_SQUARE()); }
  /** 1/this. */
  public Tensor reciprocal() { return un(CM_UNARY_RECIPROCAL()); }
  /** floor. */
  public Tensor floor() { return un(CM_UNARY_FLOOR()); }
  /** ceil. */
  public Tensor ceil() { return un(CM_UNARY_CEIL()); }
  /** round half to even. */
  public Tensor round() { return un(CM_UNARY_ROUND()); }
  /** max(this, 0). */
  public Tensor relu() { return un(CM_UNARY_RELU()); }
  /** this·σ(this). */
  public Tensor silu() { return un(CM_UNARY_SILU()); }
  /** GELU (exact, erf form). */
  public Tensor gelu() { return un(CM_UNARY_GELU()); }
  /** GELU (tanh approximation). */
  public Tensor geluTanh() { return un(CM_UNARY_GELU_TANH()); }
  /** σ(this). */
  public Tensor sigmoid() { return un(CM_UNARY_SIGMOID()); }
  /** tanh. */
  public Tensor tanh() { return un(CM_UNARY_TANH()); }
  /** Bool mask of NaNs. */
  public Tensor isnan() { return un(CM_UNARY_ISNAN()); }
  /** Bool mask of finite values. */
  public Tensor isfinite() { return un(CM_UNARY_ISFINITE()); }
  /** Bool mask of ±inf. */
  public Tensor isinf() { return un(CM_UNARY_ISINF()); }
  /** A contiguous tensor with the same values (this data if already contiguous). */
  public Tensor contiguous() { return un(CM_UNARY_CONTIGUOUS()); }

  /**
   * Laid out in {@code format}: this tensor's values with the same shape, in a new handle that shares this storage
   * when it already has that layout, else a copy (differentiable). CHANNELS_LAST needs a 4-D tensor,
   * CHANNELS_LAST_3D a 5-D one.
   */
  public Tensor contiguous(MemoryFormat format) {
    java.util.Objects.requireNonNull(format, "memory format");
    Native.Scratch s = Native.scratch();
    return result(s, cm_contiguous(handle(), format.code(), s.out));
  }
  /** A copy with its own storage (differentiable, as torch.clone). */
  @Override
  public Tensor clone() { return un(CM_UNARY_CLONE()); }
  /** Same storage, no autograd history. */
  public Tensor detach() { return un(CM_UNARY_DETACH()); }

  /** clamp to [min, max]. */
  public Tensor clamp(double min, double max) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_clamp(handle(), 1, min, 1, max, s.out));
  }
  /** clamp from below. */
  public Tensor clampMin(double min) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_clamp(handle(), 1, min, 0, 0, s.out));
  }
  /** clamp from above. */
  public Tensor clampMax(double max) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_clamp(handle(), 0, 0, 1, max, s.out));
  }
  /** In place clamp to [min, max]. */
  public Tensor clamp_(double min, double max) {
    Native.check(cm_clamp_(handle(), 1, min, 1, max));
    return this;
  }

  /** NaN → nan, +inf → posinf, −inf → neginf. */
  public Tensor nanToNum(double nan, double posinf, double neginf) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_nan_to_num(handle(), nan, 1, posinf, 1, neginf, s.out));
  }
  /** NaN → 0, ±inf → the dtype's largest finite values (torch.nan_to_num defaults). */
  public Tensor nanToNum() {
    Native.Scratch s = Native.scratch();
    return result(s, cm_nan_to_num(handle(), 0, 0, 0, 0, 0, s.out));
  }
  /** In place nan_to_num. */
  public Tensor nanToNum_(double nan, double posinf, double neginf) {
    Native.check(cm_nan_to_num_(handle(), nan, 1, posinf, 1, neginf));
    return this;
  }

  /** this + w·(end − this). */
  public Tensor lerp(Tensor end, double w) {
    MemorySegment e = h(end, "end");
    Native.Scratch s = Native.scratch();
    return result(s, cm_lerp_scalar(handle(), e, w, s.out));
  }
  /** this + w·(end − this), tensor weight. */
  public Tensor lerp(Tensor end, Tensor w) {
    MemorySegment e = h(end, "end"), ww = h(w, "weight");
    Native.Scratch s = Native.scratch();
    return result(s, cm_lerp(handle(), e, ww, s.out));
  }
  /** In place this += w·(end − this). */
  public Tensor lerp_(Tensor end, double w) {
    Native.check(cm_lerp_scalar_(handle(), h(end, "end"), w));
    return this;
  }
  /** In place lerp with a tensor weight. */
  public Tensor lerp_(Tensor end, Tensor w) {
    Native.check(cm_lerp_(handle(), h(end, "end"), h(w, "weight")));
    return this;
  }

  /** where(cond, a, b): a where cond is true, else b. */
  public static Tensor where(Tensor cond, Tensor a, Tensor b) {
    MemorySegment c = h(cond, "cond"), x = h(a, "a"), y = h(b, "b");
    Native.Scratch s = Native.scratch();
    return result(s, cm_where(c, x, y, s.out));
  }

  /** masked_fill(mask, value). */
  public Tensor maskedFill(Tensor mask, double value) {
    MemorySegment m = h(mask, "mask");
    Native.Scratch s = Native.scratch();
    return result(s, cm_masked_fill(handle(), m, value, s.out));
  }

  // in place

  /** this += other. */
  public Tensor add_(Tensor other) { return bin_(CM_BINARY_ADD(), other); }
  /** this += alpha·other. */
  public Tensor add_(Tensor other, double alpha) {
    Native.check(cm_add_scaled_(handle(), h(other, "other"), alpha));
    return this;
  }
  /** this += v. */
  public Tensor add_(double v) { return bin_(CM_BINARY_ADD(), v); }
  /** this += v (integer scalar: valid on integer tensors). */
  public Tensor add_(long v) { return bin_(CM_BINARY_ADD(), v); }
  /** this −= other. */
  public Tensor sub_(Tensor other) { return bin_(CM_BINARY_SUB(), other); }
  /** this −= v. */
  public Tensor sub_(double v) { return bin_(CM_BINARY_SUB(), v); }
  /** this −= v (integer scalar: valid on integer tensors). */
  public Tensor sub_(long v) { return bin_(CM_BINARY_SUB(), v); }
  /** this ·= other. */
  public Tensor mul_(Tensor other) { return bin_(CM_BINARY_MUL(), other); }
  /** this ·= v. */
  public Tensor mul_(double v) { return bin_(CM_BINARY_MUL(), v); }
  /** this ·= v (integer scalar: valid on integer tensors). */
  public Tensor mul_(long v) { return bin_(CM_BINARY_MUL(), v); }
  /** this /= other. */
  public Tensor div_(Tensor other) { return bin_(CM_BINARY_DIV(), other); }
  /** this /= v. */
  public Tensor div_(double v) { return bin_(CM_BINARY_DIV(), v); }
  /** Copies src into this (broadcasting, converting dtype/device). */
  public Tensor copy_(Tensor src) { return bin_(CM_BINARY_COPY(), src); }
  /** Fills with v. */
  public Tensor fill_(double v) { return bin_(CM_BINARY_FILL(), v); }
  /** Fills with the integer v. */
  public Tensor fill_(long v) { return bin_(CM_BINARY_FILL(), v); }
  /** Fills with zeros. */
  public Tensor zero_() { return un_(CM_UNARY_ZERO()); }
  /** In place sqrt. */
  public Tensor sqrt_() { return un_(CM_UNARY_SQRT()); }
  /** In place negation. */
  public Tensor neg_() { return un_(CM_UNARY_NEG()); }

  /** In-place SiLU (torch.nn.functional.silu(x, inplace=True)). */
  public Tensor silu_() { return un_(CM_UNARY_SILU()); }
  /** this += value·t1·t2. */
  public Tensor addcmul_(Tensor t1, Tensor t2, double value) {
    Native.check(cm_addcmul_(handle(), h(t1, "t1"), h(t2, "t2"), value));
    return this;
  }
  /** this += value·t1/t2. */
  public Tensor addcdiv_(Tensor t1, Tensor t2, double value) {
    Native.check(cm_addcdiv_(handle(), h(t1, "t1"), h(t2, "t2"), value));
    return this;
  }

  // random in place

  /** Fills with Normal(mean, std) samples. */
  public Tensor normal_(double mean, double std, Generator g) {
    Native.check(cm_normal_(handle(), mean, std, gen(g)));
    return this;
  }
  /** Fills with Uniform[from, to) samples. */
  public Tensor uniform_(double from, double to, Generator g) {
    Native.check(cm_uniform_(handle(), from, to, gen(g)));
    return this;
  }
  /** Fills with Bernoulli(p) samples. */
  public Tensor bernoulli_(double p, Generator g) {
    Native.check(cm_bernoulli_(handle(), p, gen(g)));
    return this;
  }
  /** 0/1 samples with probabilities given by this tensor. */
  public Tensor bernoulli(Generator g) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_bernoulli(handle(), gen(g), s.out));
  }

  // ------------------------------------------------------------------------------------------ reductions

  private Tensor reduce(int op, long[] dims, boolean keepdim, DType dtype) {
    Native.Scratch s = Native.scratch();
    MemorySegment d = dims.length == 0 ? MemorySegment.NULL : s.longs(dims);
    return result(s, cm_reduce(op, handle(), d, dims.length, keepdim ? 1 : 0, dtype == null ? -1 : dtype.code(),
        s.out));
  }

  private static long[] dims(int... d) {
    long[] r = new long[d.length];
    for (int i = 0; i < d.length; i++) r[i] = d[i];
    return r;
  }

  /** Sum of all elements (0-D). */
  public Tensor sum() { return reduce(CM_REDUCE_SUM(), new long[0], false, null); }
  /** Sum over dims. */
  public Tensor sum(boolean keepdim, int... dims) { return reduce(CM_REDUCE_SUM(), dims(dims), keepdim, null); }
  /** Sum over dims, accumulated and returned in dtype. */
  public Tensor sum(DType dtype, boolean keepdim, int... dims) { return reduce(CM_REDUCE_SUM(), dims(dims), keepdim, dtype); }
  /** Mean of all elements (0-D). */
  public Tensor mean() { return reduce(CM_REDUCE_MEAN(), new long[0], false, null); }
  /** Mean over dims. */
  public Tensor mean(boolean keepdim, int... dims) { return reduce(CM_REDUCE_MEAN(), dims(dims), keepdim, null); }
  /** Maximum over dims (all if none). */
  public Tensor amax(boolean keepdim, int... dims) { return reduce(CM_REDUCE_AMAX(), dims(dims), keepdim, null); }
  /** Minimum over dims (all if none). */
  public Tensor amin(boolean keepdim, int... dims) { return reduce(CM_REDUCE_AMIN(), dims(dims), keepdim, null); }
  /** log Σ exp over dims (all if none). */
  public Tensor logsumexp(boolean keepdim, int... dims) { return reduce(CM_REDUCE_LOGSUMEXP(), dims(dims), keepdim, null); }
  /** True if any element (over dims) is non-zero. */
  public Tensor any(boolean keepdim, int... dims) { return reduce(CM_REDUCE_ANY(), dims(dims), keepdim, null); }
  /** True if any element is non-zero (0-D bool). */
  public Tensor any() { return reduce(CM_REDUCE_ANY(), new long[0], false, null); }
  /** True if all elements (over dims) are non-zero. */
  public Tensor all(boolean keepdim, int... dims) { return reduce(CM_REDUCE_ALL(), dims(dims), keepdim, null); }
  /** True if all elements are non-zero (0-D bool). */
  public Tensor all() { return reduce(CM_REDUCE_ALL(), new long[0], false, null); }
  /** Product of all elements. */
  public Tensor prod() { return reduce(CM_REDUCE_PROD(), new long[0], false, null); }

  /** Variance over dims (all if none) with the given correction (1 = unbiased, as torch.var). */
  public Tensor var(double correction, boolean keepdim, int... dims) {
    Native.Scratch s = Native.scratch();
    long[] d = dims(dims);
    return result(s, cm_var_std(CM_VAR_STD_VAR(), handle(), d.length == 0 ? MemorySegment.NULL : s.longs(d), d.length,
        correction, keepdim ? 1 : 0, s.out));
  }
  /** Standard deviation over dims (all if none) with the given correction. */
  public Tensor std(double correction, boolean keepdim, int... dims) {
    Native.Scratch s = Native.scratch();
    long[] d = dims(dims);
    return result(s, cm_var_std(CM_VAR_STD_STD(), handle(), d.length == 0 ? MemorySegment.NULL : s.longs(d), d.length,
        correction, keepdim ? 1 : 0, s.out));
  }
  /** Unbiased variance of all elements. */
  public Tensor var() { return var(1, false); }
  /** Unbiased standard deviation of all elements. */
  public Tensor std() { return std(1, false); }

  /** p-norm over dims (all if none). */
  public Tensor norm(double p, boolean keepdim, int... dims) {
    Native.Scratch s = Native.scratch();
    long[] d = dims(dims);
    return result(s, cm_norm(handle(), p, d.length == 0 ? MemorySegment.NULL : s.longs(d), d.length, keepdim ? 1 : 0,
        s.out));
  }
  /** Euclidean norm of all elements. */
  public Tensor norm() { return norm(2, false); }

  /** Index of the maximum of the flattened tensor. */
  public Tensor argmax() {
    Native.Scratch s = Native.scratch();
    return result(s, cm_arg(CM_ARG_MAX(), handle(), 0, 0, 0, s.out));
  }
  /** Indices of the maxima along dim. */
  public Tensor argmax(int dim, boolean keepdim) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_arg(CM_ARG_MAX(), handle(), 1, dim, keepdim ? 1 : 0, s.out));
  }
  /** Indices of the minima along dim. */
  public Tensor argmin(int dim, boolean keepdim) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_arg(CM_ARG_MIN(), handle(), 1, dim, keepdim ? 1 : 0, s.out));
  }
  /** softmax along dim. */
  public Tensor softmax(int dim) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_softmax(CM_SOFTMAX_PLAIN(), handle(), dim, s.out));
  }
  /** log softmax along dim. */
  public Tensor logSoftmax(int dim) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_softmax(CM_SOFTMAX_LOG(), handle(), dim, s.out));
  }

  // ------------------------------------------------------------------------------------------ shapes

  private Tensor shapeOp(int op, long[] v) {
    if (v == null) throw new NullPointerException("shape/dims is null");
    Native.Scratch s = Native.scratch();
    return result(s, cm_shape_op(op, handle(), s.longs(v), v.length, s.out));
  }

  /** reshape (−1 infers one size). */
  public Tensor reshape(long... shape) { return shapeOp(CM_SHAPE_RESHAPE(), shape); }
  /** view (−1 infers one size); fails when strides do not allow a view. */
  public Tensor view(long... shape) { return shapeOp(CM_SHAPE_VIEW(), shape); }
  /** expand to shape (−1 keeps a size). */
  public Tensor expand(long... shape) { return shapeOp(CM_SHAPE_EXPAND(), shape); }
  /** repeat along each dimension. */
  public Tensor repeat(long... repeats) { return shapeOp(CM_SHAPE_REPEAT(), repeats); }
  /** permute dimensions. */
  public Tensor permute(long... dims) { return shapeOp(CM_SHAPE_PERMUTE(), dims); }
  /** flip along dims. */
  public Tensor flip(long... dims) { return shapeOp(CM_SHAPE_FLIP(), dims); }
  /** removes the given size-1 dims (all size-1 dims if none given). */
  public Tensor squeeze(long... dims) { return shapeOp(CM_SHAPE_SQUEEZE(), dims); }
  /** flatten dims start..end. */
  public Tensor flatten(int start, int end) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_flatten(handle(), start, end, s.out));
  }
  /** flatten to 1-D. */
  public Tensor flatten() { return flatten(0, -1); }
  /** swap two dims. */
  public Tensor transpose(int d0, int d1) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_transpose(handle(), d0, d1, s.out));
  }
  /** insert a size-1 dim. */
  public Tensor unsqueeze(int dim) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_unsqueeze(handle(), dim, s.out));
  }
  /** narrow(dim, start, length): a view. */
  public Tensor narrow(int dim, long start, long length) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_narrow(handle(), dim, start, length, s.out));
  }
  /** a[start:end:step] along dim (Python semantics). */
  public Tensor slice(int dim, long start, long end, long step) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_slice(handle(), dim, start, end, step, s.out));
  }
  /** select(dim, index): removes dim. */
  public Tensor select(int dim, long index) {
    Native.Scratch s = Native.scratch();
    return result(s, cm_select(handle(), dim, index, s.out));
  }
  /** index_select(dim, index). */
  public Tensor indexSelect(int dim, Tensor index) {
    MemorySegment i = h(index, "index");
    Native.Scratch s = Native.scratch();
    return result(s, cm_index_select(handle(), dim, i, s.out));
  }
  /** gather(dim, index). */
  public Tensor gather(int dim, Tensor index) {
    MemorySegment i = h(index, "index");
    Native.Scratch s = Native.scratch();
    return result(s, cm_gather(handle(), dim, i, s.out));
  }
  /** Advanced indexing this[i0, i1, ...]; null entries mean ':'. */
  public Tensor index(Tensor... indices) {
    Native.Scratch s = Native.scratch();
    MemorySegment arr = s.handles(indices, true, "indices");
    return result(s, cm_index(handle(), arr, indices.length, s.out));
  }
  /** In place this[i0, i1, ...] = values (or += when accumulate). */
  public Tensor indexPut_(Tensor[] indices, Tensor values, boolean accumulate) {
    MemorySegment v = h(values, "values");
    Native.Scratch s = Native.scratch();
    MemorySegment arr = s.handles(indices, true, "indices");
    Native.check(cm_index_put_(handle(), arr, indices.length, v, accumulate ? 1 : 0));
    return this;
  }

  /** Concatenation along dim. */
  public static Tensor cat(List<Tensor> ts, int dim) {
    Native.Scratch s = Native.scratch();
    MemorySegment arr = s.handles(ts, false, "tensors");
    return result(s, cm_cat(arr, ts.size(), dim, s.out));
  }

  /** Stacking along a new dim. */
  public static Tensor stack(List<Tensor> ts, int dim) {
    Native.Scratch s = Native.scratch();
    MemorySegment arr = s.handles(ts, false, "tensors");
    return result(s, cm_stack_tensors(arr, ts.size(), dim, s.out));
  }

  private static List<Tensor> many(Native.Scratch s, int rc, int cap) {
    Native.check(rc);
    int n = (int) s.out.get(ValueLayout.JAVA_LONG, 0);
    List<Tensor> r = new ArrayList<>(n);
    MemorySegment outs = s.outs.asSlice(8);
    for (int i = 0; i < Math.min(n, cap); i++) r.add(wrap(Native.handleAt(outs, i)));
    if (n > cap) throw new TorchException("too many results (" + n + "); at most " + cap + " are supported");
    return r;
  }

  /** Splits into chunks along dim. */
  public List<Tensor> chunk(int chunks, int dim) {
    Native.Scratch s = Native.scratch();
    int cap = Native.OUT_SLOTS - 1;
    if (chunks > cap) throw new IllegalArgumentException("at most " + cap + " chunks are supported");
    return many(s, cm_chunk(handle(), chunks, dim, s.outs.asSlice(8), cap, s.out), cap);
  }

  /** Splits into pieces of the given sizes along dim. */
  public List<Tensor> split(long[] sizes, int dim) {
    Native.Scratch s = Native.scratch();
    int cap = Native.OUT_SLOTS - 1;
    if (sizes.length > cap) throw new IllegalArgumentException("at most " + cap + " pieces are supported");
    return many(s, cm_split(handle(), s.longs(sizes), sizes.length, dim, s.outs.asSlice(8), cap, s.out), cap);
  }

  // ------------------------------------------------------------------------------------------ linear algebra

  /** einsum(equation, tensors). */
  public static Tensor einsum(String equation, Tensor... ts) {
    if (equation == null) throw new NullPointerException("equation");
    Native.Scratch s = Native.scratch();
    MemorySegment arr = s.handles(ts, false, "tensors");
    byte[] eq = (equation + "\0").getBytes(java.nio.charset.StandardCharsets.UTF_8);
    MemorySegment e = s.bytes(eq.length);
    MemorySegment.copy(eq, 0, e, ValueLayout.JAVA_BYTE, 0, eq.length);
    return result(s, cm_einsum(e, arr, ts.length, s.out));
  }

  /** Symmetric eigendecomposition: ascending eigenvalues and column eigenvectors (use float64 for accuracy). */
  public Eigh eigh() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_eigh(handle(), s.out, s.out2));
    return new Eigh(wrap(s.out.get(ValueLayout.ADDRESS, 0)), wrap(s.out2.get(ValueLayout.ADDRESS, 0)));
  }

  /** Result of {@link #eigh()}. */
  public record Eigh(Tensor eigenvalues, Tensor eigenvectors) {}

  // ------------------------------------------------------------------------------------------ autograd

  /** Backpropagates from this scalar (grad seeded with 1). */
  public void backward() {
    Autograd.backward(List.of(this), null, false, false);
  }
}
