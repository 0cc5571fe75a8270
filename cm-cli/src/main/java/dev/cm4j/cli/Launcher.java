package dev.cm4j.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code cm train --nproc-per-node N [--nnodes M --node-rank R --master-addr A --master-port P]}: starts N worker JVMs
 * on this node with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
 * MASTER_PORT), each running {@code cm train} with the remaining arguments. Workers get the same java binary, JVM
 * flags and class path as this process, and {@code --threads cores / N} unless --threads is given. Rank 0's output
 * passes through; other ranks' lines are prefixed {@code [rank r]}. When a worker exits non-zero the others are
 * stopped (SIGTERM, then SIGKILL after a grace period) and the launcher exits non-zero naming the rank; SIGINT/SIGTERM
 * to the launcher are forwarded to the workers, which finish their step and write a state.
 */
final class Launcher {
  private Launcher() {}

  /** Seconds a worker gets to stop after SIGTERM before it is killed. */
  static final long GRACE_SECONDS = 30;

  record Spec(int nprocPerNode, int nnodes, int nodeRank, String masterAddr, int masterPort) {
    Spec {
      if (nprocPerNode < 1) throw new IllegalArgumentException("--nproc-per-node must be >= 1: " + nprocPerNode);
      if (nnodes < 1) throw new IllegalArgumentException("--nnodes must be >= 1: " + nnodes);
      if (nodeRank < 0 || nodeRank >= nnodes) {
        throw new IllegalArgumentException("--node-rank must be in [0, " + nnodes + "): " + nodeRank);
      }
      if (masterPort < 0 || masterPort > 65535) throw new IllegalArgumentException("--master-port out of range: " + masterPort);
    }
  }

  /**
   * How many worker processes {@code cm train} runs on this node. An explicit {@code --nproc-per-node} wins; inside a
   * launched worker (RANK set) it is 1; with {@code --device auto} on a CUDA machine it is one per visible GPU; else
   * 1 (CPU, or an explicit device: one process trains on it).
   *
   * @param explicit the --nproc-per-node value, or null when not given
   * @param device the --device value (auto when not given)
   * @param cudaCount the CUDA devices libtorch reports (0 on a CPU build); libtorch already honours
   *     CUDA_VISIBLE_DEVICES, which is passed as well so that a list naming fewer devices also bounds the count
   * @param cudaVisibleDevices CUDA_VISIBLE_DEVICES, or null when unset
   * @param inWorker whether this process is itself a launched worker (RANK is set)
   */
  static int workersPerNode(Integer explicit, DeviceSpec device, int cudaCount, String cudaVisibleDevices,
      boolean inWorker) {
    if (explicit != null) {
      if (explicit < 1) throw new IllegalArgumentException("--nproc-per-node must be >= 1: " + explicit);
      return explicit;
    }
    if (inWorker || !device.isAuto() || cudaCount <= 0) return 1;
    int n = cudaCount;
    if (cudaVisibleDevices != null) n = Math.min(n, visibleCount(cudaVisibleDevices));
    return Math.max(1, n);
  }

  /**
   * The number of devices a CUDA_VISIBLE_DEVICES value makes visible: its comma-separated entries up to the first
   * invalid one (CUDA stops there), where an entry is an index (no repeats) or a GPU UUID/MIG identifier. An empty
   * value, or one starting with an invalid entry such as "-1", hides every device.
   */
  static int visibleCount(String cudaVisibleDevices) {
    String v = cudaVisibleDevices.trim();
    if (v.isEmpty()) return 0;
    java.util.Set<String> seen = new java.util.HashSet<>();
    int n = 0;
    for (String e : v.split(",", -1)) {
      String t = e.trim();
      boolean index = !t.isEmpty() && t.chars().allMatch(Character::isDigit);
      boolean uuid = t.startsWith("GPU-") || t.startsWith("MIG-");
      if (!(index || uuid) || !seen.add(index ? t.replaceFirst("^0+(?=\\d)", "") : t)) break;
      n++;
    }
    return n;
  }

  /** Runs the workers; returns the exit code. {@code workerArgs} are the cm arguments each worker gets. */
  static int launch(Spec spec, List<String> workerArgs, PrintStream out, PrintStream err) {
    int port = spec.masterPort() > 0 ? spec.masterPort() : (spec.nnodes() == 1 ? freePort() : 29500);
    int world = spec.nprocPerNode() * spec.nnodes();
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java"));
    // The JVM's arguments carry --module-path on the module path; its main module shows as -Djdk.module.main.
    for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (!a.startsWith("-agentlib:jdwp") && !a.startsWith("-Djdk.module.main=")) cmd.add(a);
    }
    if (Main.class.getModule().isNamed()) {
      cmd.add("-m");
      cmd.add(Main.class.getModule().getName() + "/" + Main.class.getName());
    } else {
      cmd.add("-cp");
      cmd.add(System.getProperty("java.class.path"));
      cmd.add(Main.class.getName());
    }
    cmd.addAll(workerArgs);
    if (!workerArgs.contains("--threads")) {
      cmd.add("--threads");
      cmd.add(Integer.toString(Math.max(1, Runtime.getRuntime().availableProcessors() / spec.nprocPerNode())));
    }
    List<Process> procs = new ArrayList<>();
    List<Thread> pumps = new ArrayList<>();
    Thread hook = new Thread(() -> stopAll(procs), "cm4j-launcher-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      for (int i = 0; i < spec.nprocPerNode(); i++) {
        int rank = spec.nodeRank() * spec.nprocPerNode() + i;
        ProcessBuilder pb = new ProcessBuilder(cmd);
        Map<String, String> env = pb.environment();
        env.put("RANK", Integer.toString(rank));
        env.put("WORLD_SIZE", Integer.toString(world));
        env.put("LOCAL_RANK", Integer.toString(i));
        env.put("LOCAL_WORLD_SIZE", Integer.toString(spec.nprocPerNode()));
        env.put("GROUP_RANK", Integer.toString(spec.nodeRank()));
        env.put("MASTER_ADDR", spec.masterAddr());
        env.put("MASTER_PORT", Integer.toString(port));
        Process p;
        try {
          p = pb.start();
        } catch (IOException e) {
          throw new IllegalStateException("cannot start worker " + rank + ": " + e.getMessage(), e);
        }
        procs.add(p);
        String prefix = rank == 0 ? "" : "[rank " + rank + "] ";
        pumps.add(pump(p.getInputStream(), out, prefix));
        pumps.add(pump(p.getErrorStream(), err, prefix));
      }
      out.printf("cm train: started %d worker(s) on node %d of %d (world size %d, master %s:%d)%n",
          spec.nprocPerNode(), spec.nodeRank(), spec.nnodes(), world, spec.masterAddr(), port);
      int failed = -1;
      int code = 0;
      List<Process> running = new ArrayList<>(procs);
      while (!running.isEmpty() && failed < 0) {
        for (Process p : new ArrayList<>(running)) {
          try {
            if (p.waitFor(200, TimeUnit.MILLISECONDS)) {
              running.remove(p);
              if (p.exitValue() != 0) {
                failed = spec.nodeRank() * spec.nprocPerNode() + procs.indexOf(p);
                code = p.exitValue();
                break;
              }
            }
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopAll(procs);
            return 130;
          }
        }
      }
      if (failed >= 0) {
        stopAll(procs);
        joinAll(pumps);
        err.printf("cm train: rank %d exited with code %d; stopped the other workers%n", failed, code);
        return 1;
      }
      joinAll(pumps);
      return 0;
    } finally {
      stopAll(procs);
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException e) {
        // shutting down already
      }
    }
  }

  /** SIGTERM to every live worker, then SIGKILL to those still alive after the grace period. */
  static void stopAll(List<Process> procs) {
    for (Process p : procs) if (p.isAlive()) p.destroy();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(GRACE_SECONDS);
    for (Process p : procs) {
      try {
        long left = deadline - System.nanoTime();
        if (left > 0) p.waitFor(left, TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (p.isAlive()) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
      }
    }
  }

  private static Thread pump(InputStream in, PrintStream to, String prefix) {
    Thread t = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          synchronized (to) {
            to.println(prefix + line);
          }
        }
      } catch (IOException e) {
        // the worker is gone
      }
    }, "cm4j-launcher-pump");
    t.setDaemon(true);
    t.start();
    return t;
  }

  private static void joinAll(List<Thread> ts) {
    for (Thread t : ts) {
      try {
        t.join(5000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    } catch (IOException e) {
      return 29500;
    }
  }
}
