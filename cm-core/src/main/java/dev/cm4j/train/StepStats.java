package dev.cm4j.train;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The objective's per-step values for the tick report, kept where they were computed: a value computed on the device
 * stays a (detached, 0-dim) device tensor until {@link #toHost()} reads it at the tick's end, so that recording a
 * step's statistics never waits for the device. Host-known values (a stage, a level count) are stored as numbers. The
 * report shows each key's latest value.
 */
final class StepStats implements AutoCloseable {
  private final Map<String, Object> latest = new LinkedHashMap<>();

  /** Records a host-known value. */
  void put(String key, double v) {
    replace(key, v);
  }

  /** Records a device value (its mean is taken when it has more than one element); no host read happens here. */
  void put(String key, Tensor v) {
    Tensor t = v.numel() == 1 ? v.detach().reshape() : v.detach().mean();
    replace(key, TensorScope.release(t));
  }

  private void replace(String key, Object v) {
    Object old = latest.put(key, v);
    if (old instanceof Tensor t && t != v) t.close();
  }

  /** The latest values as numbers: the one place these statistics are copied to the host. */
  Map<String, Double> toHost() {
    Map<String, Double> m = new LinkedHashMap<>();
    for (var e : latest.entrySet()) {
      m.put(e.getKey(), e.getValue() instanceof Tensor t ? t.item() : (Double) e.getValue());
    }
    return m;
  }

  @Override
  public void close() {
    for (Object v : latest.values()) if (v instanceof Tensor t) t.close();
    latest.clear();
  }
}
