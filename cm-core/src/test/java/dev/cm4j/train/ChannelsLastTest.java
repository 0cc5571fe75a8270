package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.SongUNet;
import dev.cm4j.optim.SGD;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.MemoryFormat;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The channels_last option: the network's 4-D weights (and its EMA copies') and the image batches in NHWC layout. On
 * the CPU a SongUNet step laid out so equals the default layout's step to 1e-5 (the kernels differ, the arithmetic
 * does not), and the weights stay channels-last through the optimizer steps.
 */
class ChannelsLastTest {
  static final String CFG = "{\"img_resolution\":8,\"img_channels\":3,\"model_channels\":16,\"channel_mult\":[1,2],"
      + "\"num_blocks\":1,\"attn_resolutions\":[4],\"dropout\":0,\"label_dim\":0}";

  static SongUNet net() {
    Torch.manualSeed(3);
    return new SongUNet(SongUNet.Config.fromKwargs(CFG));
  }

  static void assertClose(Tensor want, Tensor got, String what) {
    float[] a = want.contiguous().toFloatArray();
    float[] b = got.contiguous().toFloatArray();
    assertEquals(a.length, b.length, what);
    double scale = 1; // relative to the tensor's largest magnitude: gradients are sums of many float32 products
    for (float v : a) scale = Math.max(scale, Math.abs(v));
    for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-5 * scale, what + " [" + i + "]");
  }

  @Test
  void aChannelsLastStepEqualsTheContiguousOneAndKeepsTheLayout() {
    try (SongUNet plain = net(); SongUNet nhwc = net(); SongUNet ema = net(); TensorScope s = TensorScope.open()) {
      TrainingLoop.channelsLast(nhwc, List.of(ema));
      int fourD = 0;
      for (var e : nhwc.namedParameters().entrySet()) {
        Tensor p = e.getValue().get();
        if (p.dim() != 4) continue;
        fourD++;
        assertTrue(p.isContiguous(MemoryFormat.CHANNELS_LAST), e.getKey() + " is channels-last");
        assertTrue(p.requiresGrad(), e.getKey() + " is still trained");
        if (p.shape()[2] > 1) assertFalse(p.isContiguous(), e.getKey() + " is no longer NCHW-contiguous");
        assertTrue(ema.namedParameters().get(e.getKey()).get().isContiguous(MemoryFormat.CHANNELS_LAST),
            "EMA copy " + e.getKey());
      }
      assertTrue(fourD > 5, "the network has convolution weights: " + fourD);
      Generator g = Generator.cpu(11);
      Tensor x = Tensor.randn(new long[] {4, 3, 8, 8}, DType.FLOAT32, Device.CPU, g);
      Tensor noise = Tensor.randn(new long[] {4}, DType.FLOAT32, Device.CPU, g);
      Tensor w = Tensor.randn(new long[] {4, 3, 8, 8}, DType.FLOAT32, Device.CPU, g);
      Tensor xl = TrainingLoop.layout(x, true);
      assertTrue(xl.isContiguous(MemoryFormat.CHANNELS_LAST) && !xl.isContiguous(), "the batch is NHWC");
      assertSame(x, TrainingLoop.layout(x, false), "without the option the batch is left alone");
      Tensor noiseVec = Tensor.randn(new long[] {2, 5}, DType.FLOAT32, Device.CPU, g);
      assertSame(noiseVec, TrainingLoop.layout(noiseVec, true), "points are left alone");

      // SGD: an update linear in the gradient, so rounding differences stay rounding differences (Adam's first steps
      // are ±lr wherever a gradient is tiny, which turns rounding noise into lr-sized differences)
      try (SGD a = new SGD(plain, SGD.Config.defaults().withLr(1e-2));
          SGD b = new SGD(nhwc, SGD.Config.defaults().withLr(1e-2))) {
        for (int step = 0; step < 2; step++) {
          a.zeroGrad();
          b.zeroGrad();
          Tensor outA = plain.forward(x, noise, null, null);
          Tensor outB = nhwc.forward(xl, noise, null, null);
          assertClose(outA, outB, "output at step " + step);
          outA.mul(w).sum().backward();
          outB.mul(w).sum().backward();
          for (var e : plain.namedParameters().entrySet()) {
            Tensor ga = e.getValue().get().grad();
            Tensor gb = nhwc.namedParameters().get(e.getKey()).get().grad();
            assertClose(ga, gb, "gradient of " + e.getKey() + " at step " + step);
          }
          a.step();
          b.step();
        }
      }
      for (var e : plain.namedParameters().entrySet()) {
        Tensor pb = nhwc.namedParameters().get(e.getKey()).get();
        assertClose(e.getValue().get(), pb, "parameter " + e.getKey() + " after two steps");
        if (pb.dim() == 4) assertTrue(pb.isContiguous(MemoryFormat.CHANNELS_LAST), e.getKey() + " after the steps");
      }
    }
  }

  @Test
  void theOptionDefaultsToOffAndIsRead() {
    TrainingOptions o = TrainerTest.toy(0.128, "ect");
    assertFalse(o.channelsLast());
    assertTrue(o.with(Map.of("channels_last", "true")).channelsLast());
    assertTrue(o.with(Map.of("channels_last", "true")).toJson().contains("\"channels_last\" : true"));
  }
}
