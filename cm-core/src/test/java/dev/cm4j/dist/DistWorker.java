package dev.cm4j.dist;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A worker process of the multi-process tests (launched by {@link DistMultiProcessTest} with the test classpath).
 * Usage: {@code DistWorker SCENARIO RANK WORLD PORT TIMEOUT_MS}. Prints {@code name=v1,v2,...} result lines on
 * stdout and exits 0; on any failure prints {@code ERROR <message>} on stderr and exits 3.
 */
public final class DistWorker {
  private DistWorker() {}

  public static void main(String[] args) {
    String scenario = args[0];
    int rank = Integer.parseInt(args[1]);
    int world = Integer.parseInt(args[2]);
    int port = Integer.parseInt(args[3]);
    Duration timeout = Duration.ofMillis(Long.parseLong(args[4]));
    try (ProcessGroup pg = ProcessGroup.init(Backend.GLOO, "127.0.0.1", port, rank, world, timeout);
        TensorScope scope = TensorScope.open()) {
      switch (scenario) {
        case "collectives" -> collectives(pg);
        case "bucket" -> bucket(pg);
        case "exit-early" -> exitEarly(pg);
        case "stall" -> stall(pg);
        case "kill" -> kill(pg);
        default -> throw new IllegalArgumentException("unknown scenario " + scenario);
      }
    } catch (Throwable e) {
      System.out.flush();
      System.err.println("ERROR " + e);
      System.err.flush();
      System.exit(3);
    }
    System.out.flush();
    System.exit(0);
  }

  static void out(String name, float[] v) {
    StringBuilder b = new StringBuilder(name).append('=');
    for (int i = 0; i < v.length; i++) b.append(i == 0 ? "" : ",").append(v[i]);
    System.out.println(b);
  }

  static void out(String name, Object v) {
    System.out.println(name + "=" + v);
  }

  /** Rank r's base tensor: [r+1, 2(r+1), ..., 6(r+1)] as 2x3 float32. */
  static Tensor base(int rank) {
    float[] v = new float[6];
    for (int i = 0; i < 6; i++) v[i] = (i + 1) * (rank + 1);
    return Tensor.of(v, 2, 3);
  }

  static void collectives(ProcessGroup pg) {
    int r = pg.rank();
    out("rank", pg.rank());
    out("world", pg.worldSize());
    for (ReduceOp op : ReduceOp.values()) {
      Tensor t = base(r);
      pg.allReduce_(t, op);
      out("allreduce_" + op.name().toLowerCase(Locale.ROOT), t.toFloatArray());
    }
    // a list of differently shaped tensors, and a non-contiguous view (written back through its strides)
    Tensor a = Tensor.of(new float[] {r, 10 + r}, 2);
    Tensor b = base(r);
    Tensor bt = b.transpose(0, 1);
    pg.allReduce_(List.of(a, bt), ReduceOp.SUM);
    out("list_a", a.toFloatArray());
    out("list_b", b.toFloatArray());
    Tensor ints = Tensor.of(new long[] {r + 1, 7}, 2);
    pg.allReduce_(ints, ReduceOp.MAX);
    out("int_max", Arrays.toString(ints.toLongArray()));
    // broadcast from the last rank, one tensor and a list
    Tensor bc = base(r);
    pg.broadcast_(bc, pg.worldSize() - 1);
    out("broadcast", bc.toFloatArray());
    Tensor c1 = Tensor.of(new float[] {r}, 1);
    Tensor c2 = Tensor.of(new double[] {r * 0.5, r * 0.25, 1}, 3);
    pg.broadcast_(List.of(c1, c2), 0);
    out("broadcast_list_1", c1.toFloatArray());
    out("broadcast_list_2", Arrays.toString(c2.toDoubleArray()));
    pg.barrier();
    List<Tensor> g = pg.allGather(Tensor.of(new float[] {r, r * 10}, 2));
    List<String> gs = new ArrayList<>();
    for (Tensor x : g) gs.add(Arrays.toString(x.toFloatArray()));
    out("allgather", String.join(";", gs));
    out("scalar_avg", pg.allReduce(r + 0.5, ReduceOp.AVG));
    out("scalar_max", pg.allReduce(r + 0.5, ReduceOp.MAX));
    // the store: every rank publishes a value and reads every other's
    Store s = pg.store();
    s.set("hello/" + r, ("from " + r).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    String[] keys = new String[pg.worldSize()];
    for (int i = 0; i < keys.length; i++) keys[i] = "hello/" + i;
    s.waitFor(Duration.ofSeconds(10), keys);
    List<String> got = new ArrayList<>();
    for (String k : keys) got.add(s.getString(k));
    out("store", String.join(";", got));
    out("store_add", s.add("counter", 1) <= pg.worldSize());
    pg.barrier();
    out("store_counter", s.add("counter", 0));
  }

  /** The gradients rank r contributes in the bucket scenario (also computed by the test, for the expectation). */
  static List<Tensor> grads(int rank) {
    long[][] shapes = {{3}, {4, 5}, {1}, {300}, {2, 2, 2}, {7}, {5}};
    DType[] types = {DType.FLOAT32, DType.FLOAT32, DType.FLOAT32, DType.FLOAT32, DType.FLOAT64, DType.FLOAT64,
        DType.FLOAT32};
    try (Generator gen = Generator.cpu(1234 + rank)) {
      List<Tensor> r = new ArrayList<>();
      for (int i = 0; i < shapes.length; i++) r.add(Tensor.randn(shapes[i], types[i], Device.CPU, gen));
      return r;
    }
  }

  static String bits(Tensor t) {
    StringBuilder b = new StringBuilder();
    if (t.dtype() == DType.FLOAT64) {
      for (double d : t.toDoubleArray()) b.append(Long.toHexString(Double.doubleToRawLongBits(d))).append(' ');
    } else {
      for (float f : t.toFloatArray()) b.append(Integer.toHexString(Float.floatToRawIntBits(f))).append(' ');
    }
    return b.toString().trim();
  }

  static void bucket(ProcessGroup pg) {
    int r = pg.rank();
    // 1. parameters with gradients, averaged through small buckets (256 bytes: several buckets, and the
    //    300-float tensor alone in its own)
    List<Tensor> params = new ArrayList<>();
    List<Tensor> g = grads(r);
    for (Tensor x : g) {
      Tensor p = x.zerosLike().requiresGrad_(true);
      p.setGrad(x.detach().mul(1.0));
      params.add(p);
    }
    // a parameter without a gradient: gets a zero one on every rank
    Tensor unused = Tensor.zeros(2).requiresGrad_(true);
    params.add(unused);
    GradientBucketer small = new GradientBucketer(pg, 256);
    List<Tensor> gradsNow = new ArrayList<>();
    for (Tensor p : params.subList(0, g.size())) gradsNow.add(p.grad());
    out("plan_small", small.plan(gradsNow));
    out("plan_default", new GradientBucketer(pg).plan(gradsNow));
    small.averageGradients(params);
    for (int i = 0; i < g.size(); i++) out("avg_" + i, bits(params.get(i).grad()));
    out("unused_grad", Arrays.toString(unused.grad().toFloatArray()));
    // 2. the same gradients through per-tensor all-reduce and through the default-cap bucketer
    List<Tensor> per = new ArrayList<>();
    List<Tensor> big = new ArrayList<>();
    for (Tensor x : g) {
      per.add(x.mul(1.0));
      big.add(x.mul(1.0));
    }
    for (Tensor x : per) pg.allReduce_(x, ReduceOp.AVG);
    new GradientBucketer(pg).average_(big);
    boolean same = true;
    for (int i = 0; i < g.size(); i++) {
      same &= bits(per.get(i)).equals(bits(params.get(i).grad()));
      same &= bits(per.get(i)).equals(bits(big.get(i)));
    }
    out("bucketed_equals_per_tensor", same);
  }

  static void exitEarly(ProcessGroup pg) {
    Tensor t = base(pg.rank());
    pg.allReduce_(t, ReduceOp.SUM);
    out("first", t.toFloatArray());
    if (pg.rank() == 1) {
      System.out.println("EXITING");
      System.out.flush();
      Runtime.getRuntime().halt(0); // leaves without closing anything, as a crash would
    }
    long t0 = System.nanoTime();
    try {
      pg.allReduce_(t, ReduceOp.SUM);
    } finally {
      out("failed_after_ms", (System.nanoTime() - t0) / 1_000_000);
    }
    out("second", t.toFloatArray());
  }

  static void stall(ProcessGroup pg) throws InterruptedException {
    Tensor t = base(pg.rank());
    pg.allReduce_(t, ReduceOp.SUM);
    out("first", t.toFloatArray());
    if (pg.rank() == 1) {
      System.out.println("STALLING");
      System.out.flush();
      Thread.sleep(120_000); // alive, but never joins the next collective (the test kills it at the end)
      return;
    }
    long t0 = System.nanoTime();
    try {
      pg.allReduce_(t, ReduceOp.SUM);
    } finally {
      out("failed_after_ms", (System.nanoTime() - t0) / 1_000_000);
    }
  }

  static void kill(ProcessGroup pg) throws InterruptedException {
    Tensor t = base(pg.rank());
    pg.allReduce_(t, ReduceOp.SUM);
    if (pg.rank() == 1) {
      System.out.println("READY");
      System.out.flush();
      Thread.sleep(120_000); // killed by the test while rank 0 waits in the next collective
      return;
    }
    System.out.println("WAITING");
    System.out.flush();
    long t0 = System.nanoTime();
    try {
      pg.barrier();
      pg.allReduce_(t, ReduceOp.SUM);
    } finally {
      out("failed_after_ms", (System.nanoTime() - t0) / 1_000_000);
    }
  }
}
