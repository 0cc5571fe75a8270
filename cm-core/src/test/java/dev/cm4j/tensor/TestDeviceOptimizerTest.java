package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.Init;
import dev.cm4j.nn.Linear;
import dev.cm4j.optim.Adam;
import dev.cm4j.optim.EMA;
import dev.cm4j.optim.Optimizer;
import dev.cm4j.optim.RAdam;
import dev.cm4j.optim.SGD;
import dev.cm4j.testing.TestDevice;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * cm4j's optimizers (fused, multi-tensor and per-tensor kernels) and EMA update parameters on the test device as
 * on the CPU, keep their state on the device, and make no host round trip in a step.
 */
class TestDeviceOptimizerTest {
  private static List<double[]> run(Device d, Function<Linear, Optimizer> make) {
    List<double[]> out = new ArrayList<>();
    Torch.manualSeed(4);
    try (Linear lin = new Linear(6, 4, true, Init.DEFAULT); TensorScope scope = TensorScope.open()) {
      lin.to(d, null);
      Optimizer opt = make.apply(lin);
      EMA ema = EMA.of(lin, new EMA.Fixed(0.9));
      Tensor x = Tensor.of(new float[] {0.1f, -0.4f, 0.3f, 0.9f, -0.2f, 0.5f, 0.7f, 0.0f, -0.6f, 0.2f, 0.4f, -0.1f},
          2, 6).to(d);
      for (int step = 0; step < 3; step++) {
        try (TensorScope s = TensorScope.open()) {
          TestDevice.resetCounters();
          opt.zeroGrad();
          lin.forward(x).square().mean().backward();
          opt.step();
          ema.update(2);
          if (d.isAccelerator()) {
            assertEquals(0, TestDevice.hostSyncs(), "host round trip in a step: " + TestDevice.lastSync());
          }
        }
      }
      for (Tensor p : lin.parameters()) {
        assertEquals(d, p.device());
        out.add(p.toDoubleArray());
      }
      for (Tensor e : ema.tensors(0).values()) {
        assertEquals(d, e.device());
        out.add(e.toDoubleArray());
      }
      ema.close();
      opt.close();
    }
    return out;
  }

  @Test
  void optimizerStepsOnTheDeviceEqualTheCpu() {
    Device dev = TestDevice.device();
    Map<String, Function<Linear, Optimizer>> makers = Map.of(
        "adam fused", m -> new Adam(m, Adam.Config.defaults().withLr(0.1).withImpl(Optimizer.Impl.FUSED)),
        "adamw foreach", m -> new Adam(m, Adam.Config.defaults().withLr(0.1).withWeightDecay(0.1)
            .withDecoupledWeightDecay(true).withImpl(Optimizer.Impl.FOREACH)),
        "adam per tensor", m -> new Adam(m, Adam.Config.defaults().withLr(0.1).withAmsgrad(true)
            .withImpl(Optimizer.Impl.PER_TENSOR)),
        "radam", m -> new RAdam(m, RAdam.Config.defaults().withLr(0.1)),
        "sgd", m -> new SGD(m, new SGD.Config(0.1, 0.9, 0, 0.01, true, Optimizer.Impl.AUTO)));
    makers.forEach((name, make) -> {
      List<double[]> cpu = run(Device.CPU, make);
      List<double[]> onDev = run(dev, make);
      for (int i = 0; i < cpu.size(); i++) {
        double[] a = cpu.get(i), b = onDev.get(i);
        for (int j = 0; j < a.length; j++) {
          assertEquals(a[j], b[j], 1e-6, name + ": tensor " + i + " element " + j);
        }
      }
    });
  }
}
