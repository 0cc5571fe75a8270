package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.Module;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.PythonRef;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EMATest {
  /** A module with two parameters and a buffer. */
  static final class Net extends Module {
    final dev.cm4j.nn.Param w = parameter("w", Tensor.of(new float[] {1, -2, 3, 0.5f}, 2, 2));
    final dev.cm4j.nn.Param b = parameter("b", Tensor.of(new float[] {0.25f}));
    final dev.cm4j.nn.Param count = buffer("count", Tensor.of(new long[] {0}));

    /** Sets every parameter element to the given function of its index and step t (and count to t). */
    void set(int t, java.util.function.BiFunction<Integer, Integer, Double> f) {
      try (GradMode ng = GradMode.noGrad(); TensorScope s = TensorScope.open()) {
        int k = 0;
        for (dev.cm4j.nn.Param p : List.of(w, b)) {
          double[] v = new double[(int) p.get().numel()];
          for (int i = 0; i < v.length; i++) v[i] = f.apply(k++, t);
          p.get().copy_(Tensor.of(v).reshape(p.get().shape()));
        }
        count.get().fill_((long) t);
      }
    }
  }

  /** The value of parameter element k at step t. */
  static double value(int k, int t) {
    return Math.sin(0.3 * k + 0.7 * t) + 0.1 * k;
  }

  static double[] emaParams(EMA ema, int track) {
    try (TensorScope s = TensorScope.open()) {
      Map<String, Tensor> m = ema.tensors(track);
      double[] w = m.get("w").toDoubleArray();
      double[] b = m.get("b").toDoubleArray();
      double[] out = new double[w.length + b.length];
      System.arraycopy(w, 0, out, 0, w.length);
      System.arraycopy(b, 0, out, w.length, b.length);
      return out;
    }
  }

  static void assertClose(double[] expected, double[] actual, double rel, String what) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], rel * Math.max(1, Math.abs(expected[i])), what + " element " + i);
    }
  }

  @Test
  void fixedBetaIsEctsUpdateComputedInDouble() {
    double beta = 0.9;
    try (Net net = new Net()) {
      net.set(0, EMATest::value);
      try (EMA ema = EMA.of(net, new EMA.Fixed(beta))) {
        double[] expected = new double[5];
        for (int k = 0; k < 5; k++) expected[k] = (float) value(k, 0);
        for (int t = 1; t <= 30; t++) {
          net.set(t, EMATest::value);
          ema.update(128);
          for (int k = 0; k < 5; k++) expected[k] = beta * expected[k] + (1 - beta) * (float) value(k, t);
        }
        assertClose(expected, emaParams(ema, 0), 2e-6, "fixed-β EMA");
        assertEquals(30, ema.steps());
        assertEquals(30 * 128, ema.nimg());
        assertEquals(beta, ema.lastBeta(0));
        try (TensorScope s = TensorScope.open()) {
          assertEquals(30, ema.tensors(0).get("count").itemLong(), "buffers are copied");
        }
      }
    }
  }

  @Test
  void constantParametersAttractTheAverageGeometrically() {
    try (Net net = new Net(); EMA ema = EMA.of(net, new EMA.Fixed(0.99))) {
      double[] start = emaParams(ema, 0);
      net.set(0, (k, t) -> 2.0);
      for (int i = 0; i < 500; i++) ema.update(1);
      double[] got = emaParams(ema, 0);
      double decay = Math.pow(0.99, 500);
      for (int k = 0; k < got.length; k++) assertEquals(2 + (start[k] - 2) * decay, got[k], 1e-5);
      for (int i = 0; i < 2000; i++) ema.update(1);
      // float32 stalls once (1 − β)·|θ_ema − θ| is below half an ulp: |θ_ema − 2| < ulp(2)/(2(1 − β)) ≈ 1.2e-5
      for (double v : emaParams(ema, 0)) assertEquals(2.0, v, 1.3e-5);
    }
  }

  @Test
  void halfLifeFollowsEdmsRampUp() {
    EMA.HalfLife rule = new EMA.HalfLife(0.5, 0.05); // 500 images, ramp-up 5 %
    long batch = 64;
    try (Net net = new Net(); EMA ema = EMA.of(net, rule)) {
      double[] expected = new double[5];
      long nimg = 0;
      for (int t = 1; t <= 40; t++) {
        net.set(t, EMATest::value);
        ema.update(batch);
        double h = Math.min(500, nimg * 0.05);
        double beta = Math.pow(0.5, batch / Math.max(h, 1e-8));
        assertEquals(beta, ema.lastBeta(0), "β at step " + t);
        for (int k = 0; k < 5; k++) expected[k] = (float) value(k, t) + beta * (expected[k] - (float) value(k, t));
        nimg += batch;
      }
      assertEquals(0, rule.beta(0, batch), "EDM's first update copies the network");
      assertEquals(Math.pow(0.5, 64 / 500.0), rule.beta(1_000_000, batch));
      assertEquals(Math.pow(0.5, 64 / 500.0), new EMA.HalfLife(0.5, Double.NaN).beta(0, batch));
      assertClose(expected, emaParams(ema, 0), 2e-6, "half-life EMA");
    }
  }

  @Test
  void sigmaRelToGammaMatchesEdm2sCubicRoot() {
    double[] sigmas = {0.01, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25};
    StringBuilder py = new StringBuilder("import numpy as np\n");
    py.append("""
        def std_to_exp(std):
            t = np.float64(std) ** -2
            return np.roots([1, 7, 16 - t, 12 - t]).real.max()
        def power_function_beta(std, t_next, t_delta):
            return (1 - t_delta / t_next) ** (std_to_exp(std) + 1)
        """);
    for (double s : sigmas) py.append("print(repr(float(std_to_exp(").append(s).append("))))\n");
    long[][] steps = {{2048, 2048}, {4096, 2048}, {2048 * 1000, 2048}, {128 * 77, 128}};
    for (long[] st : steps) {
      py.append("print(repr(float(power_function_beta(0.05, ").append(st[0]).append(", ").append(st[1])
          .append("))))\n");
    }
    String[] ref = PythonRef.run(py.toString()).trim().split("\n");
    for (int i = 0; i < sigmas.length; i++) {
      double gamma = EMA.sigmaRelToGamma(sigmas[i]);
      double g = Double.parseDouble(ref[i]);
      assertEquals(g, gamma, 1e-10 * Math.abs(g), "γ for σ_rel " + sigmas[i]);
      assertEquals(sigmas[i], EMA.gammaToSigmaRel(gamma), 1e-14, "round trip");
    }
    EMA.PowerFunction pf = new EMA.PowerFunction(0.05);
    for (int i = 0; i < steps.length; i++) {
      double b = Double.parseDouble(ref[sigmas.length + i]);
      assertEquals(b, pf.beta(steps[i][0] - steps[i][1], steps[i][1]), 1e-12 * Math.max(b, 1e-300), "β " + i);
    }
    assertEquals(16.97, new EMA.PowerFunction(0.05).gamma(), 0.01); // EDM2: σ_rel 0.05 ↔ γ ≈ 16.97
    assertEquals(6.94, new EMA.PowerFunction(0.10).gamma(), 0.01); // σ_rel 0.10 ↔ γ ≈ 6.94
    assertThrows(IllegalArgumentException.class, () -> new EMA.PowerFunction(0.5));
    assertThrows(IllegalArgumentException.class, () -> new EMA.PowerFunction(0));
  }

  @Test
  void powerFunctionEmaWeightsStepsByTheTelescopingPowerProfile() {
    // With β_τ = (1 − 1/τ)^(γ+1), after T steps the average is Σ_τ [(τ/T)^(γ+1) − ((τ−1)/T)^(γ+1)]·θ_τ.
    double[] sigmaRels = {0.05, 0.1};
    int steps = 60;
    try (Net net = new Net();
        EMA ema = EMA.of(net, new EMA.PowerFunction(sigmaRels[0]), new EMA.PowerFunction(sigmaRels[1]))) {
      for (int t = 1; t <= steps; t++) {
        net.set(t, EMATest::value);
        ema.update(256);
      }
      for (int tr = 0; tr < 2; tr++) {
        double g1 = EMA.sigmaRelToGamma(sigmaRels[tr]) + 1;
        double[] expected = new double[5];
        for (int tau = 1; tau <= steps; tau++) {
          double w = Math.pow((double) tau / steps, g1) - Math.pow((tau - 1.0) / steps, g1);
          for (int k = 0; k < 5; k++) expected[k] += w * (float) value(k, tau);
        }
        assertClose(expected, emaParams(ema, tr), 5e-6, "power-function EMA σ_rel " + sigmaRels[tr]);
      }
    }
  }

  @Test
  void tracksCanLiveInCallerModules() {
    try (Net net = new Net(); Net copy0 = new Net(); Net copy1 = new Net()) {
      net.set(0, EMATest::value);
      copy0.copyFrom(net);
      copy1.copyFrom(net);
      try (EMA ema = EMA.of(net, List.of(copy0, copy1), List.of(new EMA.Fixed(0.5), new EMA.PowerFunction(0.1)))) {
        net.set(1, EMATest::value);
        ema.update(10);
        float[] w = copy0.w.get().detach().toFloatArray();
        assertEquals(0.5 * value(0, 0) + 0.5 * value(0, 1), w[0], 1e-6);
        assertArrayEquals(net.w.get().detach().toFloatArray(), copy1.w.get().detach().toFloatArray(),
            "the power-function EMA's first update is the network");
        assertEquals(1, copy1.count.get().itemLong());
      }
      assertFalse(copy0.w.get().released(), "caller modules are not released");
    }
  }

  @Test
  void saveThenLoadContinuesBitExactly() {
    EMA.Beta[] rules = {new EMA.HalfLife(0.5, 0.05), new EMA.PowerFunction(0.05), new EMA.Fixed(0.9993)};
    try (Net a = new Net(); Net b = new Net()) {
      try (EMA emaA = EMA.of(a, rules)) {
        for (int t = 1; t <= 20; t++) {
          a.set(t, EMATest::value);
          emaA.update(32);
        }
        Map<String, Tensor> saved = new LinkedHashMap<>();
        try (EMA emaB = EMA.of(b, rules)) {
          for (int t = 1; t <= 10; t++) {
            b.set(t, EMATest::value);
            emaB.update(32);
          }
          for (var e : emaB.stateDict().entrySet()) saved.put(e.getKey(), TensorScope.release(e.getValue().clone()));
        }
        assertTrue(saved.containsKey("ema.1.w") && saved.containsKey("ema.2.count") && saved.containsKey("nimg"));
        try (EMA emaC = EMA.of(b, rules)) {
          emaC.loadStateDict(saved);
          assertEquals(320, emaC.nimg());
          for (int t = 11; t <= 20; t++) {
            b.set(t, EMATest::value);
            emaC.update(32);
          }
          for (int tr = 0; tr < rules.length; tr++) {
            try (TensorScope s = TensorScope.open()) {
              Map<String, Tensor> x = emaA.tensors(tr);
              Map<String, Tensor> y = emaC.tensors(tr);
              for (String k : x.keySet()) {
                assertArrayEquals(x.get(k).toByteArray(), y.get(k).toByteArray(), "track " + tr + " " + k);
              }
            }
          }
          Map<String, Tensor> bad = new LinkedHashMap<>(saved);
          bad.remove("ema.0.b");
          assertThrows(IllegalArgumentException.class, () -> emaC.loadStateDict(bad));
        }
        saved.values().forEach(Tensor::close);
      }
    }
  }

  @Test
  void updatesAreBitExactWithEdmEctAndEdm2Code() {
    // Python: ECT/EDM p_ema.copy_(p_net.lerp(p_ema, β)) with half-life β; EDM2 p_ema.lerp_(p_net, 1 − β) with the
    // power-function β — each fed the same β sequence and parameters as cm4j.
    EMA.Beta[] rules = {new EMA.HalfLife(0.5, 0.05), new EMA.Fixed(0.9993), new EMA.PowerFunction(0.1)};
    long batch = 64;
    int steps = 30;
    StringBuilder py = new StringBuilder("import math, torch\nbetas = [");
    long nimg = 0;
    for (int t = 1; t <= steps; t++) {
      py.append("[");
      for (int r = 0; r < rules.length; r++) py.append(r == 0 ? "" : ",").append(rules[r].beta(nimg, batch));
      py.append("],");
      nimg += batch;
    }
    py.append("]\n");
    py.append("""
        def value(k, t):
            return math.sin(0.3 * k + 0.7 * t) + 0.1 * k
        net = torch.tensor([value(k, 0) for k in range(5)], dtype=torch.float32)
        emas = [net.clone() for _ in range(3)]
        for t in range(1, 31):
            net = torch.tensor([value(k, t) for k in range(5)], dtype=torch.float32)
            for r in range(3):
                beta = betas[t - 1][r]
                if r < 2:
                    emas[r].copy_(net.detach().lerp(emas[r], beta))
                else:
                    emas[r].lerp_(net, 1 - beta)
        for e in emas:
            print(' '.join(repr(x) for x in e.tolist()))
        """);
    String[] ref = PythonRef.run(py.toString()).trim().split("\n");
    try (Net net = new Net()) {
      net.set(0, EMATest::value);
      try (EMA ema = EMA.of(net, rules)) {
        for (int t = 1; t <= steps; t++) {
          net.set(t, EMATest::value);
          ema.update(batch);
        }
        for (int r = 0; r < rules.length; r++) {
          double[] mine = emaParams(ema, r);
          String[] theirs = ref[r].trim().split(" ");
          for (int k = 0; k < mine.length; k++) {
            assertEquals(Double.parseDouble(theirs[k]), mine[k], "rule " + rules[r] + " element " + k);
          }
        }
      }
    }
  }

  @Test
  void plainTensorsAreSupported() {
    Tensor p = Tensor.full(new long[] {3}, 1.0, DType.FLOAT32, Device.CPU);
    try (EMA ema = EMA.ofTensors(Map.of("p", p), new EMA.Fixed(0.75))) {
      p.fill_(5.0);
      ema.update(1);
      try (TensorScope s = TensorScope.open()) {
        assertArrayEquals(new float[] {2, 2, 2}, ema.tensors(0).get("p").toFloatArray());
      }
    }
    p.close();
  }
}
