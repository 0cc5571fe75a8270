package dev.cm4j.train;

import dev.cm4j.dist.Backend;
import dev.cm4j.dist.GradientBucketer;
import dev.cm4j.dist.ProcessGroup;
import dev.cm4j.dist.ReduceOp;
import dev.cm4j.nn.Module;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Device;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The trainer's data-parallel side over c10d: one process per device, started by {@code cm train --nproc-per-node},
 * torchrun, SLURM or anything that sets torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
 * MASTER_PORT; SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID are read when RANK is absent). The backend follows the device
 * of the tensors it reduces ({@link Backend#forDevice}): Gloo for a CPU run, NCCL for a CUDA one.
 *
 * <p>Every rank builds the same model; rank 0's parameters and buffers are broadcast at the start (and after a
 * resume). Gradients are averaged in size-capped buckets ({@link GradientBucketer}) after backward; loss and stats
 * are averaged for logging; decisions that end or skip a step (a non-finite loss, a stop request) are agreed by an
 * all-reduce so that no rank waits in a collective another rank skipped. A rank that dies makes the others' next
 * collective fail within the timeout ({@code CM4J_DIST_TIMEOUT_SEC}, default 1800 s; c10d's default), and the trainer
 * then exits with an error naming the failure.
 */
final class DataParallel implements AutoCloseable {
  private final ProcessGroup pg;
  private final GradientBucketer buckets;

  private DataParallel(ProcessGroup pg) {
    this.pg = pg;
    this.buckets = new GradientBucketer(pg);
  }

  /**
   * The group described by the environment for a run whose tensors are on device, or null for a single-process run
   * (no WORLD_SIZE, or 1).
   */
  static DataParallel fromEnvironment(Map<String, String> env, Device device) {
    Map<String, String> e = torchrunEnv(env);
    String ws = e.get("WORLD_SIZE");
    if (ws == null || ws.isBlank() || ws.trim().equals("1")) return null;
    Duration timeout = Duration.ofSeconds(Long.parseLong(env.getOrDefault("CM4J_DIST_TIMEOUT_SEC", "1800").trim()));
    Backend b = Backend.forDevice(device);
    if (!b.isAvailable()) {
      throw new IllegalStateException("a data-parallel run on " + device + " needs the " + b.id() + " backend, which "
          + "this build of the native library lacks");
    }
    try {
      return new DataParallel(ProcessGroup.fromEnvironment(e, b, timeout));
    } catch (RuntimeException ex) {
      throw new IllegalStateException("cannot join the process group (rank " + e.get("RANK") + " of " + ws + " at "
          + e.get("MASTER_ADDR") + ":" + e.get("MASTER_PORT") + "): " + ex.getMessage(), ex);
    }
  }

  /** torchrun's variables, filled from SLURM's when RANK is not set. */
  static Map<String, String> torchrunEnv(Map<String, String> env) {
    if (env.get("RANK") != null || env.get("SLURM_PROCID") == null) return env;
    Map<String, String> e = new java.util.HashMap<>(env);
    e.put("RANK", env.get("SLURM_PROCID"));
    if (env.get("SLURM_NTASKS") != null) e.putIfAbsent("WORLD_SIZE", env.get("SLURM_NTASKS"));
    if (env.get("SLURM_LOCALID") != null) e.putIfAbsent("LOCAL_RANK", env.get("SLURM_LOCALID"));
    return e;
  }

  int rank() {
    return pg.rank();
  }

  int world() {
    return pg.worldSize();
  }

  /** Rank 0's parameters and buffers into every rank's modules (same structure on every rank). */
  void broadcast(List<Module> modules) {
    List<Tensor> all = new ArrayList<>();
    for (Module m : modules) all.addAll(m.stateDict().values());
    try (TensorScope s = TensorScope.open()) {
      pg.broadcast_(all, 0);
    }
  }

  /** Averages the gradients of the module's parameters over the ranks (in place). */
  void averageGradients(Module model) {
    buckets.averageGradients(model.parameters());
  }

  /** The local rank (the process's index on its machine), from torchrun's variables: LOCAL_RANK, else 0. */
  static int localRank(Map<String, String> env) {
    return Devices.localRank(torchrunEnv(env).get("LOCAL_RANK"));
  }

  /** Averages a tensor over the ranks in place (a collective on its device; no host read). */
  void meanInPlace(Tensor t) {
    pg.allReduce_(t, ReduceOp.AVG);
  }

  /** The mean of a value over the ranks. */
  double mean(double v) {
    return pg.allReduce(v, ReduceOp.AVG);
  }

  /** Every rank's copy of t (same shape and dtype everywhere), by rank: a collective on t's device. */
  java.util.List<Tensor> allGather(Tensor t) {
    return pg.allGather(t);
  }

  /** True when any rank's flag is true. */
  boolean any(boolean flag) {
    return pg.allReduce(flag ? 1 : 0, ReduceOp.MAX) > 0;
  }

  @Override
  public void close() {
    pg.close();
  }
}
