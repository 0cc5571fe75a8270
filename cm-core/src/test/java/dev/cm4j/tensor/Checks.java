package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cm4j.testing.PythonRef;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.DoubleUnaryOperator;

/** Shared assertions and reference helpers of the tensor op tests. */
final class Checks {
  private Checks() {}

  private static final JsonMapper JSON =
      JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

  /** |actual − expected| ≤ atol + rtol·|expected| elementwise (NaN matches NaN), and the same length. */
  static void assertClose(double[] expected, double[] actual, double rtol, double atol) {
    assertEquals(expected.length, actual.length, "number of elements");
    for (int i = 0; i < expected.length; i++) {
      double e = expected[i], a = actual[i];
      if (Double.isNaN(e) && Double.isNaN(a)) continue;
      if (e == a) continue; // also equal infinities
      if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
        fail("element " + i + ": expected " + e + " but was " + a + " (rtol " + rtol + ", atol " + atol
            + ")\nexpected " + abbreviate(expected) + "\nactual   " + abbreviate(actual));
      }
    }
  }

  /** Values and shape. */
  static void assertClose(double[] expected, long[] expectedShape, Tensor actual, double rtol, double atol) {
    assertArrayEquals(expectedShape, actual.shape(), "shape");
    assertClose(expected, actual.toDoubleArray(), rtol, atol);
  }

  /** Values only (the number of elements must match). */
  static void assertClose(double[] expected, Tensor actual, double rtol, double atol) {
    assertClose(expected, actual.toDoubleArray(), rtol, atol);
  }

  /** Exact values and shape. */
  static void assertExact(double[] expected, long[] expectedShape, Tensor actual) {
    assertArrayEquals(expectedShape, actual.shape(), "shape");
    assertArrayEquals(expected, actual.toDoubleArray(), 0.0);
  }

  static String abbreviate(double[] v) {
    return v.length <= 24 ? Arrays.toString(v) : Arrays.toString(Arrays.copyOf(v, 24)) + "... (" + v.length + ")";
  }

  /** f applied to every element. */
  static double[] map(double[] x, DoubleUnaryOperator f) {
    double[] r = new double[x.length];
    for (int i = 0; i < x.length; i++) r[i] = f.applyAsDouble(x[i]);
    return r;
  }

  /** n reproducible Gaussian values (java.util.Random, so independent of libtorch). */
  static double[] gaussian(int n, long seed) {
    Random r = new Random(seed);
    double[] v = new double[n];
    for (int i = 0; i < n; i++) v[i] = r.nextGaussian();
    return v;
  }

  /** n reproducible uniform values on [lo, hi). */
  static double[] uniform(int n, long seed, double lo, double hi) {
    Random r = new Random(seed);
    double[] v = new double[n];
    for (int i = 0; i < n; i++) v[i] = lo + (hi - lo) * r.nextDouble();
    return v;
  }

  /** The doubles rounded to float32 (so a float32 tensor holds exactly these values). */
  static double[] f32(double[] v) {
    double[] r = new double[v.length];
    for (int i = 0; i < v.length; i++) r[i] = (float) v[i];
    return r;
  }

  static float[] toFloats(double[] v) {
    float[] r = new float[v.length];
    for (int i = 0; i < v.length; i++) r[i] = (float) v[i];
    return r;
  }

  /** erf by its Maclaurin series (accurate to ~1e-13 for |x| ≤ 3; Java has no erf). */
  static double erf(double x) {
    if (Math.abs(x) > 3) throw new IllegalArgumentException("erf series used outside |x| <= 3");
    double sum = 0, term = x; // term = (-1)^n x^(2n+1) / n!
    for (int n = 0; n < 200; n++) {
      double add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-18) break;
      term = -term * x * x / (n + 1);
    }
    return 2 / Math.sqrt(Math.PI) * sum;
  }

  // ------------------------------------------------------------------------------------------ reference Python

  /** A Python float list literal of v (Java's shortest repr round-trips in Python). */
  static String py(double[] v) {
    StringBuilder b = new StringBuilder("[");
    for (int i = 0; i < v.length; i++) {
      if (i > 0) b.append(',');
      double d = v[i];
      if (Double.isNaN(d)) b.append("float('nan')");
      else if (Double.isInfinite(d)) b.append(d > 0 ? "float('inf')" : "float('-inf')");
      else b.append(d);
    }
    return b.append(']').toString();
  }

  /** A Python int list literal. */
  static String py(long[] v) {
    StringBuilder b = new StringBuilder("[");
    for (int i = 0; i < v.length; i++) {
      if (i > 0) b.append(',');
      b.append(v[i]);
    }
    return b.append(']').toString();
  }

  /** A reference result: flattened values and shape. */
  record Ref(double[] data, long[] shape) {}

  /**
   * Runs body in the reference Python (torch, F = torch.nn.functional, t(list, shape) making a float64 tensor)
   * and returns the tensors of the dict {@code out} that body must define, flattened as float64.
   */
  static Map<String, Ref> python(String body) {
    String script = String.join("\n",
        "import json, torch",
        "import torch.nn.functional as F",
        "torch.set_num_threads(1)",
        "def t(v, shape, dtype=torch.float64):",
        "    return torch.tensor(v, dtype=dtype).reshape(shape)",
        body,
        "res = {k: {'shape': list(v.shape), 'data': v.detach().double().flatten().tolist()} for k, v in out.items()}",
        "print(json.dumps(res))",
        "");
    String stdout = PythonRef.run(script);
    try {
      String[] lines = stdout.strip().split("\n");
      JsonNode root = JSON.readTree(lines[lines.length - 1]);
      Map<String, Ref> r = new LinkedHashMap<>();
      var it = root.fields();
      while (it.hasNext()) {
        var e = it.next();
        JsonNode d = e.getValue().get("data"), s = e.getValue().get("shape");
        double[] data = new double[d.size()];
        for (int i = 0; i < data.length; i++) data[i] = d.get(i).asDouble();
        long[] shape = new long[s.size()];
        for (int i = 0; i < shape.length; i++) shape[i] = s.get(i).asLong();
        r.put(e.getKey(), new Ref(data, shape));
      }
      return r;
    } catch (Exception e) {
      throw new AssertionError("could not parse the reference output:\n" + stdout, e);
    }
  }

  /** Compares a tensor to a reference result: same shape, values within rtol (and a tiny atol). */
  static void assertMatches(Ref expected, Tensor actual, double rtol) {
    assertClose(expected.data(), expected.shape(), actual, rtol, 1e-9);
  }
}
