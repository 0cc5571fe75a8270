package dev.cm4j.dist;

import dev.cm4j.tensor.internal.NativeInterop;
import static dev.cm4j.bindings.ffi.CmTorch.*;

import dev.cm4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A c10d process group: {@link #worldSize()} processes (ranks) that run collectives on tensors, in place. Every
 * rank must issue the same collectives in the same order, from one thread at a time.
 *
 * <p>Each collective blocks until it has completed on this rank. A peer that died or stopped participating makes
 * the collective throw a {@link dev.cm4j.tensor.TorchException} within about the group's {@link #timeout()}
 * (a closed connection usually at once) — never a hang. After such a failure the group is unusable: close it
 * and, normally, end the process with a non-zero status.
 *
 * <pre>{@code
 * try (ProcessGroup pg = ProcessGroup.fromEnvironment()) {   // torchrun-style RANK, WORLD_SIZE, MASTER_*
 *   pg.broadcast_(parameters, 0);                            // same initial weights everywhere
 *   ...
 *   bucketer.averageGradients(parameters);                   // after backward, before the optimizer step
 * }
 * }</pre>
 */
public final class ProcessGroup implements AutoCloseable {
  static {
    NativeInterop.ensureLoaded();
  }

  /** c10d's default process-group timeout (30 minutes), used by {@link #fromEnvironment()}. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(30);

  private MemorySegment handle;
  private final Backend backend;
  private final int rank;
  private final int worldSize;
  private final int localRank;
  private final Duration timeout;
  private final Store store;
  private final boolean ownsStore;

  private ProcessGroup(MemorySegment handle, Backend backend, int rank, int worldSize, int localRank,
      Duration timeout, Store store, boolean ownsStore) {
    this.handle = handle;
    this.backend = backend;
    this.rank = rank;
    this.worldSize = worldSize;
    this.localRank = localRank;
    this.timeout = timeout;
    this.store = store;
    this.ownsStore = ownsStore;
  }

  /**
   * Joins a group of worldSize processes: rank 0 hosts the rendezvous store on masterAddr:port, the others
   * connect to it. Waits up to timeout for every rank; timeout also bounds every later collective.
   */
  public static ProcessGroup init(Backend backend, String masterAddr, int port, int rank, int worldSize,
      Duration timeout) {
    return init(backend, masterAddr, port, rank, worldSize, rank, timeout);
  }

  private static ProcessGroup init(Backend backend, String masterAddr, int port, int rank, int worldSize,
      int localRank, Duration timeout) {
    if (backend == null) throw new NullPointerException("backend");
    checkRank(rank, worldSize);
    Store store = Store.tcp(masterAddr, port, worldSize, rank == 0, timeout);
    try {
      return create(backend, store, rank, worldSize, localRank, timeout, true);
    } catch (RuntimeException e) {
      store.close();
      throw e;
    }
  }

  /**
   * A group that rendezvouses through an existing store (which stays the caller's to close). Groups made from
   * one store must be created in the same order on every rank.
   */
  public static ProcessGroup create(Backend backend, Store store, int rank, int worldSize, Duration timeout) {
    return create(backend, store, rank, worldSize, rank, timeout, false);
  }

  private static ProcessGroup create(Backend backend, Store store, int rank, int worldSize, int localRank,
      Duration timeout, boolean ownsStore) {
    if (backend == null) throw new NullPointerException("backend");
    if (store == null) throw new NullPointerException("store");
    checkRank(rank, worldSize);
    long ms = Store.millis(timeout);
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      NativeInterop.check(cm_dist_pg_new(a.allocateFrom(backend.id()), store.handle(), rank, worldSize, ms, out));
      return new ProcessGroup(out.get(ValueLayout.ADDRESS, 0), backend, rank, worldSize, localRank, timeout, store,
          ownsStore);
    }
  }

  private static void checkRank(int rank, int worldSize) {
    if (worldSize < 1) throw new IllegalArgumentException("world size must be >= 1: " + worldSize);
    if (rank < 0 || rank >= worldSize) {
      throw new IllegalArgumentException("rank must be in [0, " + worldSize + "): " + rank);
    }
  }

  /**
   * Joins the group described by torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, and
   * LOCAL_RANK, which defaults to RANK), with the backend for tensors on device ({@link Backend#forDevice}: NCCL for
   * CUDA tensors, Gloo otherwise) and c10d's default timeout of 30 minutes.
   *
   * @throws IllegalStateException when that backend is not in this build (NCCL in a CPU-only build)
   */
  public static ProcessGroup fromEnvironment(dev.cm4j.tensor.Device device) {
    Backend b = Backend.forDevice(device);
    if (!b.isAvailable()) {
      throw new IllegalStateException("the " + b.id() + " backend that " + device + " tensors need is not in this "
          + "build of the native library");
    }
    return fromEnvironment(b, DEFAULT_TIMEOUT);
  }

  /** Joins the group described by torchrun's environment variables with the given backend and timeout. */
  public static ProcessGroup fromEnvironment(Backend backend, Duration timeout) {
    return fromEnvironment(System.getenv(), backend, timeout);
  }

  /** As {@link #fromEnvironment(Backend, Duration)}, reading the variables from env. */
  public static ProcessGroup fromEnvironment(Map<String, String> env, Backend backend, Duration timeout) {
    EnvSpec s = EnvSpec.parse(env);
    return init(backend, s.masterAddr(), s.masterPort(), s.rank(), s.worldSize(), s.localRank(), timeout);
  }

  /** A job's place as described by torchrun-style environment variables. */
  public record EnvSpec(int rank, int worldSize, int localRank, String masterAddr, int masterPort) {
    /** Reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (all required) and LOCAL_RANK (default RANK). */
    public static EnvSpec parse(Map<String, String> env) {
      List<String> missing = new ArrayList<>();
      for (String k : List.of("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")) {
        String v = env.get(k);
        if (v == null || v.isBlank()) missing.add(k);
      }
      if (!missing.isEmpty()) {
        throw new IllegalStateException("distributed environment incomplete: " + String.join(", ", missing)
            + " not set (launch with torchrun, or set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)");
      }
      int rank = intVar(env, "RANK");
      int world = intVar(env, "WORLD_SIZE");
      int port = intVar(env, "MASTER_PORT");
      String lr = env.get("LOCAL_RANK");
      int local = lr == null || lr.isBlank() ? rank : intVar(env, "LOCAL_RANK");
      checkRank(rank, world);
      if (port < 1 || port > 65535) throw new IllegalStateException("MASTER_PORT must be in [1, 65535]: " + port);
      return new EnvSpec(rank, world, local, env.get("MASTER_ADDR").trim(), port);
    }

    private static int intVar(Map<String, String> env, String k) {
      try {
        return Integer.parseInt(env.get(k).trim());
      } catch (NumberFormatException e) {
        throw new IllegalStateException(k + " is not an integer: '" + env.get(k) + "'");
      }
    }
  }

  private MemorySegment handle() {
    MemorySegment h = handle;
    if (h == null) throw new IllegalStateException("process group was closed");
    return h;
  }

  /** This process's rank. */
  public int rank() {
    return rank;
  }

  /** Number of ranks. */
  public int worldSize() {
    return worldSize;
  }

  /** The rank on this machine (LOCAL_RANK when created from the environment, else the rank). */
  public int localRank() {
    return localRank;
  }

  /** The backend. */
  public Backend backend() {
    return backend;
  }

  /** The timeout that bounds rendezvous and every collective. */
  public Duration timeout() {
    return timeout;
  }

  /** The rendezvous store (also usable for the job's own small key-value exchanges). */
  public Store store() {
    return store;
  }

  /** All-reduces t in place with op; returns t. */
  public Tensor allReduce_(Tensor t, ReduceOp op) {
    allReduce_(List.of(t), op);
    return t;
  }

  /** All-reduces each tensor in place with op (one collective each; see {@link GradientBucketer} for many). */
  public void allReduce_(List<Tensor> ts, ReduceOp op) {
    if (op == null) throw new NullPointerException("op");
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      NativeInterop.check(cm_dist_allreduce(handle(), handles(a, ts), ts.size(), op.code()));
    }
  }

  /** Replaces t by rank root's values, in place; returns t. */
  public Tensor broadcast_(Tensor t, int root) {
    broadcast_(List.of(t), root);
    return t;
  }

  /** Replaces each tensor by rank root's values, in place (e.g. the initial parameters). */
  public void broadcast_(List<Tensor> ts, int root) {
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      NativeInterop.check(cm_dist_broadcast(handle(), handles(a, ts), ts.size(), root));
    }
  }

  /** Blocks until every rank has reached the barrier. */
  public void barrier() {
    NativeInterop.requirePlatformThread();
    NativeInterop.check(cm_dist_barrier(handle()));
  }

  /** Every rank's copy of t (same shape and dtype on all ranks), indexed by rank; new tensors. */
  public List<Tensor> allGather(Tensor t) {
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment outs = a.allocate(ValueLayout.ADDRESS, worldSize);
      NativeInterop.check(cm_dist_allgather(handle(), NativeInterop.handle(t), outs, worldSize));
      List<Tensor> r = new ArrayList<>(worldSize);
      for (int i = 0; i < worldSize; i++) r.add(NativeInterop.wrap(outs.getAtIndex(ValueLayout.ADDRESS, i)));
      return r;
    }
  }

  /** All-reduces one number (e.g. a loss for logging: {@code pg.allReduce(loss, ReduceOp.AVG)}). */
  public double allReduce(double value, ReduceOp op) {
    if (op == null) throw new NullPointerException("op");
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.JAVA_DOUBLE);
      NativeInterop.check(cm_dist_allreduce_double(handle(), value, op.code(), out));
      return out.get(ValueLayout.JAVA_DOUBLE, 0);
    }
  }

  private static MemorySegment handles(Arena a, List<Tensor> ts) {
    MemorySegment arr = a.allocate(ValueLayout.ADDRESS, Math.max(1, ts.size()));
    for (int i = 0; i < ts.size(); i++) {
      Tensor t = ts.get(i);
      if (t == null) throw new NullPointerException("tensor " + i + " is null");
      arr.setAtIndex(ValueLayout.ADDRESS, i, NativeInterop.handle(t));
    }
    return arr;
  }

  /** Leaves the group (and closes the store if this group created it). Idempotent. */
  @Override
  public void close() {
    MemorySegment h = handle;
    if (h == null) return;
    handle = null;
    try {
      NativeInterop.check(cm_dist_pg_free(h));
    } finally {
      if (ownsStore) store.close();
    }
  }

  @Override
  public String toString() {
    return "ProcessGroup(" + backend.id() + ", rank " + rank + " of " + worldSize + ")";
  }
}
