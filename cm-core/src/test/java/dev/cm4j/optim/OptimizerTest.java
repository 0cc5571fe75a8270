package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.Init;
import dev.cm4j.nn.Linear;
import dev.cm4j.nn.Module;
import dev.cm4j.optim.Optimizer.Impl;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class OptimizerTest {
  /** A two-layer MLP with a fixed regression task. */
  static final class Mlp extends Module {
    final Linear fc0 = child("fc0", new Linear(3, 8, true, Init.XAVIER));
    final Linear fc1 = child("fc1", new Linear(8, 2, true, Init.XAVIER));

    Tensor loss(int t) {
      Tensor x = Tensor.linspace(-1, 1, 12, DType.FLOAT32, Device.CPU).reshape(4, 3).mul(1 + 0.1 * t);
      Tensor y = x.narrow(1, 0, 2).sin();
      Tensor dtypeX = x.to(fc0.weight().get().dtype());
      return fc1.forward(fc0.forward(dtypeX).silu()).sub(y.to(dtypeX.dtype())).square().mean();
    }
  }

  static void trainSteps(Mlp m, Optimizer opt, int from, int to) {
    for (int t = from; t < to; t++) {
      try (TensorScope s = TensorScope.open()) {
        opt.zeroGrad();
        m.loss(t).backward();
        opt.step();
      }
    }
  }

  static Mlp copyOf(Mlp src) {
    Mlp m = new Mlp();
    m.copyFrom(src);
    return m;
  }

  static void assertBitEqual(Module a, Module b) {
    for (var e : a.stateDict().entrySet()) {
      byte[] x = e.getValue().detach().toByteArray();
      byte[] y = b.stateDict().get(e.getKey()).detach().toByteArray();
      assertArrayEquals(x, y, e.getKey() + " differs");
    }
  }

  static List<Function<Module, Optimizer>> optimizers() {
    return List.of(
        m -> new Adam(m, Adam.Config.defaults().withLr(0.01).withAmsgrad(true).withImpl(Impl.FUSED)),
        m -> new Adam(m, Adam.Config.defaults().withLr(0.01).withWeightDecay(0.01).withImpl(Impl.FOREACH)),
        m -> new AdamW(m, AdamW.defaults().withLr(0.01).withImpl(Impl.PER_TENSOR)),
        m -> new RAdam(m, RAdam.Config.defaults().withLr(0.01)),
        m -> new RAdam(m, RAdam.Config.defaults().withLr(0.01).withImpl(Impl.PER_TENSOR)),
        m -> new SGD(m, SGD.Config.defaults().withLr(0.1).withMomentum(0.9, 0).withNesterov(true)),
        m -> new SGD(m, SGD.Config.defaults().withLr(0.1).withMomentum(0.9, 0.1).withImpl(Impl.FOREACH)));
  }

  @Test
  void saveThenLoadIntoANewOptimizerContinuesBitExactly() {
    for (Function<Module, Optimizer> make : optimizers()) {
      try (Mlp a = new Mlp(); Mlp b = copyOf(a)) {
        try (Optimizer optA = make.apply(a)) {
          trainSteps(a, optA, 0, 20);
          assertEquals(20, optA.stepCount("fc0.weight"));
        }
        Map<String, Tensor> saved = new LinkedHashMap<>();
        String name;
        try (Optimizer optB = make.apply(b)) {
          name = optB.getClass().getSimpleName();
          trainSteps(b, optB, 0, 10);
          for (var e : optB.stateDict().entrySet()) saved.put(e.getKey(), TensorScope.release(e.getValue().clone()));
        }
        assertTrue(saved.containsKey("state.fc1.bias.step"), name + ": " + saved.keySet());
        try (Optimizer optC = make.apply(b)) {
          optC.loadStateDict(saved);
          assertEquals(10, optC.stepCount("fc1.bias"));
          trainSteps(b, optC, 10, 20);
        }
        assertBitEqual(a, b);
        saved.values().forEach(Tensor::close);
      }
    }
  }

  @Test
  void stateFollowsModuleTo() {
    try (Mlp m = new Mlp(); Adam opt = new Adam(m, Adam.Config.defaults().withLr(0.01))) {
      trainSteps(m, opt, 0, 3);
      m.to(Device.CPU, DType.FLOAT64);
      float[] before = m.fc0.weight().get().detach().toFloatArray();
      trainSteps(m, opt, 3, 5);
      assertNotEquals(before[0], m.fc0.weight().get().detach().toFloatArray()[0]);
      try (TensorScope s = TensorScope.open()) {
        Map<String, Tensor> sd = opt.stateDict();
        assertEquals(DType.FLOAT64, sd.get("state.fc0.weight.exp_avg").dtype());
        assertEquals(5, sd.get("state.fc0.weight.step").itemLong());
      }
    }
  }

  @Test
  void parametersWithoutGradientsAreSkippedAndZeroGradClears() {
    Tensor a = Tensor.ones(3).requiresGrad_(true);
    Tensor b = Tensor.ones(2).requiresGrad_(true);
    try (SGD opt = new SGD(ParamGroup.single(ParamRef.ofTensors(List.of(a, b))), SGD.Config.defaults().withLr(0.5))) {
      a.setGrad(Tensor.full(new long[] {3}, 2.0, DType.FLOAT32, Device.CPU));
      opt.step();
      assertArrayEquals(new float[] {0, 0, 0}, a.detach().toFloatArray());
      assertArrayEquals(new float[] {1, 1}, b.detach().toFloatArray());
      assertEquals(1, opt.stepCount("0"));
      assertEquals(0, opt.stepCount("1"));
      opt.zeroGrad();
      assertNull(a.grad());
    }
    a.close();
    b.close();
  }

  @Test
  void groupsHaveTheirOwnLearningRates() {
    Tensor a = Tensor.ones(1).requiresGrad_(true);
    Tensor b = Tensor.ones(1).requiresGrad_(true);
    List<ParamRef> refs = ParamRef.ofTensors(List.of(a, b));
    List<ParamGroup> groups = List.of(ParamGroup.of(refs.subList(0, 1)), ParamGroup.of(refs.subList(1, 2)).withLr(0.1));
    try (SGD opt = new SGD(groups, SGD.Config.defaults().withLr(0.01))) {
      assertEquals(0.01, opt.groups().get(0).lr());
      assertEquals(0.1, opt.groups().get(1).lr());
      opt.setLrFactor(0.5);
      assertEquals(0.005, opt.groups().get(0).lr(), 1e-18);
      assertEquals(0.05, opt.groups().get(1).lr(), 1e-18);
      a.setGrad(Tensor.ones(1));
      b.setGrad(Tensor.ones(1));
      opt.step();
      assertEquals(1 - 0.005, a.detach().item(), 1e-7);
      assertEquals(1 - 0.05, b.detach().item(), 1e-7);
      opt.setLr(0.2);
      assertEquals(0.2, opt.lr());
      assertEquals(0.2, opt.groups().get(1).lr());
    }
    a.close();
    b.close();
  }

  @Test
  void loadStateDictRejectsForeignState() {
    try (Mlp m = new Mlp(); RAdam opt = new RAdam(m, RAdam.Config.defaults()); TensorScope s = TensorScope.open()) {
      trainSteps(m, opt, 0, 2);
      Map<String, Tensor> sd = opt.stateDict();
      Map<String, Tensor> bad = new LinkedHashMap<>(sd);
      bad.put("state.nope.exp_avg", Tensor.zeros(1));
      assertThrows(IllegalArgumentException.class, () -> opt.loadStateDict(bad));
      Map<String, Tensor> wrongShape = new LinkedHashMap<>(sd);
      wrongShape.put("state.fc0.weight.exp_avg", Tensor.zeros(2, 2));
      assertThrows(IllegalArgumentException.class, () -> opt.loadStateDict(wrongShape));
      Map<String, Tensor> foreignBuffer = new LinkedHashMap<>(sd);
      foreignBuffer.put("state.fc0.weight.momentum_buffer", Tensor.zeros(8, 3));
      assertThrows(IllegalArgumentException.class, () -> opt.loadStateDict(foreignBuffer));
      assertEquals(2, opt.stepCount("fc0.weight")); // unchanged by the failed loads
    }
  }

  @Test
  void duplicateParametersAreRejected() {
    Tensor a = Tensor.ones(1).requiresGrad_(true);
    List<ParamRef> refs = List.of(new ParamRef("x", () -> a), new ParamRef("x", () -> a));
    assertThrows(IllegalArgumentException.class, () -> new Adam(ParamGroup.single(refs), Adam.Config.defaults()));
    a.close();
  }
}
