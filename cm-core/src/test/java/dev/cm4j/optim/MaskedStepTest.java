package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.Init;
import dev.cm4j.nn.Linear;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import dev.cm4j.testing.TestDevice;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The device-side skip ({@link Optimizer#step(Tensor)}, {@link EMA#update(long, Tensor)}): a step whose flag is set
 * leaves parameters, moments, step counts and EMA averages exactly as they were, although its gradients are
 * non-finite; the other steps equal a reference optimizer that only ever sees the applied steps (plain {@code step()},
 * host bias corrections) up to rounding; on the test device no step reads anything on the host.
 */
class MaskedStepTest {
  static final Set<Integer> SKIPPED = Set.of(1, 4, 5, 9);
  static final int STEPS = 14; // RAdam: ten applied steps, so its rectified branch (ρ_t > 5 from t = 6) is reached

  static Map<String, double[]> snapshot(Linear lin, Optimizer opt, EMA ema) {
    Map<String, double[]> m = new LinkedHashMap<>();
    try (TensorScope s = TensorScope.open()) {
      lin.stateDict().forEach((k, v) -> m.put("param " + k, v.toDoubleArray()));
      opt.stateDict().forEach((k, v) -> m.put("opt " + k, v.to(Device.CPU, DType.FLOAT64).toDoubleArray()));
      ema.tensors(0).forEach((k, v) -> m.put("ema " + k, v.toDoubleArray()));
    }
    return m;
  }

  static void run(String name, Device d, Function<Linear, Optimizer> make) {
    Torch.manualSeed(5);
    try (Linear masked = new Linear(5, 3, true, Init.DEFAULT); TensorScope scope = TensorScope.open()) {
      Linear ref = new Linear(5, 3, true, Init.DEFAULT);
      ref.loadStateDict(masked.stateDict(), true);
      masked.to(d, null);
      Optimizer a = make.apply(masked);
      Optimizer b = make.apply(ref);
      EMA emaA = EMA.of(masked, new EMA.Fixed(0.8));
      EMA emaB = EMA.of(ref, new EMA.Fixed(0.8));
      Tensor x = Tensor.of(new float[] {0.2f, -0.5f, 0.3f, 0.8f, -0.1f, 0.6f, 0.4f, -0.7f, 0.05f, 0.9f}, 2, 5);
      Tensor xd = x.to(d);
      for (int step = 0; step < STEPS; step++) {
        boolean skip = SKIPPED.contains(step);
        Map<String, double[]> before = snapshot(masked, a, emaA);
        try (TensorScope s = TensorScope.open()) {
          double scale = skip ? Double.POSITIVE_INFINITY : 1.0; // a skipped step's gradients are inf/NaN
          a.zeroGrad();
          masked.forward(xd).square().mean().mul(scale).backward();
          Tensor flag = Tensor.full(new long[0], skip ? 1 : 0, DType.FLOAT32, d).gt(0.5);
          TestDevice.resetCounters();
          a.step(flag);
          emaA.update(2, flag);
          if (d.isAccelerator()) {
            assertEquals(0, TestDevice.hostSyncs(), name + ": host round trip in a masked step: "
                + TestDevice.lastSync());
          }
          if (!skip) {
            b.zeroGrad();
            ref.forward(x).square().mean().backward();
            b.step();
            emaB.update(2);
          }
        }
        Map<String, double[]> got = snapshot(masked, a, emaA);
        if (skip) {
          for (var e : before.entrySet()) {
            assertArrayEquals(e.getValue(), got.get(e.getKey()), 0.0, name + ": step " + step + " changed " + e.getKey());
          }
        }
        Map<String, double[]> want = snapshot(ref, b, emaB);
        assertEquals(want.keySet(), got.keySet(), name);
        for (var e : want.entrySet()) {
          double[] w = e.getValue();
          double[] g = got.get(e.getKey());
          for (int i = 0; i < w.length; i++) {
            double tol = e.getKey().endsWith(".step") ? 0 : 2e-6 * Math.max(1, Math.abs(w[i]));
            assertEquals(w[i], g[i], tol, name + ": step " + step + ", " + e.getKey() + "[" + i + "]");
          }
        }
      }
      assertEquals(STEPS - SKIPPED.size(), a.stepCount("weight"), name + ": skipped steps are not counted");
      emaA.close();
      emaB.close();
      a.close();
      b.close();
      ref.close();
    }
  }

  static final Map<String, Function<Linear, Optimizer>> MAKERS = Map.of(
      "adam", m -> new Adam(m, Adam.Config.defaults().withLr(0.05)),
      "adam amsgrad + L2", m -> new Adam(m, Adam.Config.defaults().withLr(0.05).withAmsgrad(true)
          .withWeightDecay(0.01)),
      "adamw", m -> new Adam(m, Adam.Config.defaults().withLr(0.05).withWeightDecay(0.1)
          .withDecoupledWeightDecay(true)),
      "radam", m -> new RAdam(m, RAdam.Config.defaults().withLr(0.05)),
      "sgd", m -> new SGD(m, SGD.Config.defaults().withLr(0.05)),
      "sgd momentum + dampening + L2", m -> new SGD(m, SGD.Config.defaults().withLr(0.05).withMomentum(0.9, 0.2)
          .withWeightDecay(0.01)),
      "sgd nesterov", m -> new SGD(m, SGD.Config.defaults().withLr(0.05).withMomentum(0.8, 0).withNesterov(true)));

  @Test
  void aSkippedStepChangesNothingAndTheOthersEqualTheAppliedStepsOnTheCpu() {
    MAKERS.forEach((name, make) -> run(name, Device.CPU, make));
  }

  @Test
  void onTheTestDeviceTheMaskedStepMakesNoHostRoundTrip() {
    Device d = TestDevice.device();
    MAKERS.forEach((name, make) -> run(name, d, make));
  }

  @Test
  void aNullFlagIsThePlainStep() {
    try (Linear lin = new Linear(2, 1, false, Init.DEFAULT); TensorScope s = TensorScope.open();
        SGD sgd = new SGD(lin, SGD.Config.defaults().withLr(0.1))) {
      lin.forward(Tensor.of(new float[] {1, 2}, 1, 2)).sum().backward();
      double[] w0 = lin.parameters().get(0).toDoubleArray();
      sgd.step(null);
      assertEquals(1, sgd.stepCount("weight"));
      assertNotEquals(w0[0], lin.parameters().get(0).toDoubleArray()[0]);
    }
  }

  /**
   * SGD with momentum whose first masked steps are all skipped: its zero buffer must not count as a started one,
   * neither in the masked step nor in a plain step that follows (b₁ = g, not (1 − τ)·g).
   */
  @Test
  void sgdsBufferStartsAtTheFirstAppliedStep() {
    for (boolean plainAfter : new boolean[] {false, true}) {
      Torch.manualSeed(3);
      try (Linear a = new Linear(3, 2, true, Init.DEFAULT); TensorScope s = TensorScope.open()) {
        Linear b = new Linear(3, 2, true, Init.DEFAULT);
        b.loadStateDict(a.stateDict(), true);
        SGD.Config cfg = SGD.Config.defaults().withLr(0.1).withMomentum(0.9, 0.3);
        SGD sa = new SGD(a, cfg);
        SGD sb = new SGD(b, cfg);
        Tensor x = Tensor.of(new float[] {0.5f, -1, 2}, 1, 3);
        for (int step = 0; step < 4; step++) {
          boolean skip = step < 2;
          sa.zeroGrad();
          a.forward(x).square().sum().mul(skip ? Double.NaN : 1.0).backward();
          if (plainAfter && step == 3) sa.step();
          else sa.step(Tensor.full(new long[0], skip ? 1 : 0, DType.FLOAT32, Device.CPU).gt(0.5));
          if (!skip) {
            sb.zeroGrad();
            b.forward(x).square().sum().backward();
            sb.step();
          }
        }
        assertArrayEquals(b.parameters().get(0).toDoubleArray(), a.parameters().get(0).toDoubleArray(), 1e-6);
        assertEquals(2, sa.stepCount("weight"));
        sa.close();
        sb.close();
        b.close();
      }
    }
  }
}
