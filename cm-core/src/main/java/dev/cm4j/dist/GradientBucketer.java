package dev.cm4j.dist;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.List;

/**
 * Averages many tensors (typically every parameter's gradient, after backward and before the optimizer step)
 * over the ranks of a process group with few collectives: consecutive tensors of one dtype and device are
 * flattened into buckets of at most {@link #capBytes()} bytes (a larger tensor gets a bucket of its own), each
 * bucket is all-reduced once, divided by the world size and copied back. Elementwise the result is the same as
 * an all-reduce of each tensor on its own (with two ranks bit for bit: a + b is exact to commute).
 *
 * <p>Every rank must pass the same list layout (same order, shapes and dtypes). Communication is not
 * overlapped with backward (unlike PyTorch's DDP reducer): the buckets are reduced one after another.
 */
public final class GradientBucketer {
  /** The default bucket cap: 25 MB, as PyTorch's DistributedDataParallel. */
  public static final long DEFAULT_CAP_BYTES = 25L * 1024 * 1024;

  private final ProcessGroup pg;
  private final long capBytes;

  /** A bucketer with the default 25 MB cap. */
  public GradientBucketer(ProcessGroup pg) {
    this(pg, DEFAULT_CAP_BYTES);
  }

  /** A bucketer with buckets of at most capBytes (> 0). */
  public GradientBucketer(ProcessGroup pg, long capBytes) {
    if (pg == null) throw new NullPointerException("process group");
    if (capBytes <= 0) throw new IllegalArgumentException("bucket cap must be > 0 bytes: " + capBytes);
    this.pg = pg;
    this.capBytes = capBytes;
  }

  /** The bucket cap in bytes. */
  public long capBytes() {
    return capBytes;
  }

  /**
   * Replaces each parameter's gradient by its mean over the ranks. A parameter without a gradient gets a zero
   * one first, so every rank reduces the same layout (as DDP does for unused parameters).
   */
  public void averageGradients(List<Tensor> parameters) {
    try (TensorScope scope = TensorScope.open()) {
      List<Tensor> grads = new ArrayList<>(parameters.size());
      for (Tensor p : parameters) {
        Tensor g = p.grad();
        if (g == null) {
          g = p.detach().zerosLike();
          p.setGrad(g);
        }
        grads.add(g);
      }
      average_(grads);
    }
  }

  /** Replaces each tensor, in place, by its elementwise mean over the ranks (floating-point tensors). */
  public void average_(List<Tensor> tensors) {
    List<List<Integer>> plan = plan(tensors);
    for (List<Integer> bucket : plan) {
      try (TensorScope scope = TensorScope.open()) {
        if (bucket.size() == 1) {
          pg.allReduce_(tensors.get(bucket.get(0)), ReduceOp.AVG);
          continue;
        }
        List<Tensor> flat = new ArrayList<>(bucket.size());
        for (int i : bucket) flat.add(tensors.get(i).detach().reshape(-1));
        Tensor buf = Tensor.cat(flat, 0);
        pg.allReduce_(buf, ReduceOp.AVG);
        long off = 0;
        for (int i : bucket) {
          Tensor t = tensors.get(i);
          long n = t.numel();
          t.detach().copy_(buf.narrow(0, off, n).view(t.shape()));
          off += n;
        }
      }
    }
  }

  /**
   * The buckets the tensors fall into: lists of indices into tensors, in order. A bucket holds consecutive
   * tensors of one dtype and device whose sizes sum to at most the cap (or a single larger tensor).
   */
  public List<List<Integer>> plan(List<Tensor> tensors) {
    List<List<Integer>> buckets = new ArrayList<>();
    List<Integer> cur = new ArrayList<>();
    long curBytes = 0;
    DType curType = null;
    Device curDevice = null;
    for (int i = 0; i < tensors.size(); i++) {
      Tensor t = tensors.get(i);
      if (t == null) throw new NullPointerException("tensor " + i + " is null");
      DType d = t.dtype();
      Device dev = t.device();
      long bytes = t.numel() * d.byteSize();
      boolean fits = !cur.isEmpty() && d == curType && dev.equals(curDevice) && curBytes + bytes <= capBytes;
      if (!fits && !cur.isEmpty()) {
        buckets.add(cur);
        cur = new ArrayList<>();
        curBytes = 0;
      }
      cur.add(i);
      curBytes += bytes;
      curType = d;
      curDevice = dev;
    }
    if (!cur.isEmpty()) buckets.add(cur);
    return buckets;
  }
}
