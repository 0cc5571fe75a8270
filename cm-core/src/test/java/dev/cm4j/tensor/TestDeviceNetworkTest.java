package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.SongUNet;
import dev.cm4j.testing.TestDevice;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * cm4j's networks run on the test device with everything on it (weights, inputs, labels) and give the CPU's
 * results: the forward pass, the parameter gradients, a forward-mode (JVP) pass, and bf16 autocast. Nothing of
 * it may leave the device (host round trips are counted).
 */
class TestDeviceNetworkTest {
  private static final String CFG = "{\"img_resolution\":8,\"img_channels\":2,\"model_channels\":8,"
      + "\"channel_mult\":[1,2],\"num_blocks\":1,\"attn_resolutions\":[4],\"dropout\":0,\"label_dim\":3}";

  private static SongUNet.Config config(String variant) {
    return SongUNet.Config.fromKwargs(variant.equals("ddpmpp") ? CFG
        : CFG.replace("}", ",\"embedding_type\":\"fourier\",\"channel_mult_noise\":2,\"encoder_type\":\"residual\","
            + "\"decoder_type\":\"skip\",\"resample_filter\":[1,3,3,1]}"));
  }

  private record Pass(double[] out, List<double[]> grads) {}

  private static Pass pass(SongUNet net, Device d, Tensor x0, Tensor noise0, Tensor labels0, Tensor w0) {
    Tensor x = x0.to(d), noise = noise0.to(d), labels = labels0.to(d), w = w0.to(d);
    for (Tensor p : net.parameters()) assertEquals(d, p.device());
    TestDevice.resetCounters();
    Tensor out = net.forward(x, noise, labels, null);
    out.mul(w).sum().backward();
    if (d.isAccelerator()) {
      assertEquals(0, TestDevice.hostSyncs(), "host round trip inside the pass: " + TestDevice.lastSync());
    }
    assertEquals(d, out.device());
    List<double[]> grads = new ArrayList<>();
    for (Tensor p : net.parameters()) {
      assertEquals(d, p.grad().device());
      grads.add(p.grad().toDoubleArray());
    }
    return new Pass(out.toDoubleArray(), grads);
  }

  private static double maxDiff(double[] a, double[] b) {
    assertEquals(a.length, b.length);
    double m = 0;
    for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  }

  @Test
  void songUNetForwardAndBackwardOnTheDeviceEqualTheCpu() {
    Device dev = TestDevice.device();
    for (String variant : List.of("ddpmpp", "ncsnpp")) {
      try (SongUNet net = new SongUNet(config(variant)); TensorScope scope = TensorScope.open()) {
        Generator g = Generator.cpu(11);
        Tensor x = Tensor.randn(new long[] {2, 2, 8, 8}, DType.FLOAT32, Device.CPU, g);
        Tensor noise = Tensor.of(new float[] {-0.3f, 0.8f}, 2);
        Tensor labels = Tensor.of(new float[] {1, 0, 0, 0, 0, 1}, 2, 3);
        Tensor w = Tensor.randn(new long[] {2, 2, 8, 8}, DType.FLOAT32, Device.CPU, g);
        Pass cpu = pass(net, Device.CPU, x, noise, labels, w);
        for (Tensor p : net.parameters()) p.setGrad(null);
        net.to(dev, null);
        Pass onDev = pass(net, dev, x, noise, labels, w);
        assertTrue(maxDiff(cpu.out(), onDev.out()) <= 1e-6, variant + " output: " + maxDiff(cpu.out(), onDev.out()));
        for (int i = 0; i < cpu.grads().size(); i++) {
          double m = maxDiff(cpu.grads().get(i), onDev.grads().get(i));
          double scale = 0;
          for (double v : cpu.grads().get(i)) scale = Math.max(scale, Math.abs(v));
          assertTrue(m <= 1e-6 * Math.max(1, scale), variant + " gradient " + i + " differs by " + m);
        }
      }
    }
  }

  @Test
  void forwardModeAndAutocastRunOnTheDevice() {
    Device dev = TestDevice.device();
    Tensor a = Tensor.randn(new long[] {4, 4}, DType.FLOAT32, dev, null);
    Tensor b = Tensor.randn(new long[] {4, 4}, DType.FLOAT32, dev, null);
    try (Autocast ac = Autocast.enable(Device.Type.PRIVATEUSE1, DType.BFLOAT16)) {
      Tensor p = a.matmul(b);
      assertEquals(DType.BFLOAT16, p.dtype(), "matmul runs in bf16 under the device's autocast");
      assertEquals(dev, p.device());
      assertEquals(DType.FLOAT32, a.add(b).dtype(), "elementwise ops keep float32");
    }
    assertEquals(DType.FLOAT32, a.matmul(b).dtype(), "autocast ends with its block");
    try (Autocast cpuAc = Autocast.enable(Device.Type.CPU, DType.BFLOAT16)) {
      assertEquals(DType.FLOAT32, a.matmul(b).dtype(), "the CPU's autocast does not touch device tensors");
    }
  }

  @Test
  void aJvpThroughTheNetworkOnTheDeviceEqualsTheCpu() {
    Device dev = TestDevice.device();
    try (SongUNet net = new SongUNet(config("ncsnpp")); TensorScope scope = TensorScope.open()) {
      Generator g = Generator.cpu(5);
      Tensor x = Tensor.randn(new long[] {2, 2, 8, 8}, DType.FLOAT32, Device.CPU, g);
      Tensor dx = Tensor.randn(new long[] {2, 2, 8, 8}, DType.FLOAT32, Device.CPU, g);
      Tensor noise = Tensor.of(new float[] {-0.3f, 0.8f}, 2);
      Tensor dn = Tensor.of(new float[] {1f, -0.5f}, 2);
      Tensor labels = Tensor.of(new float[] {1, 0, 0, 0, 0, 1}, 2, 3);
      double[][] cpu = jvp(net, x, dx, noise, dn, labels, Device.CPU);
      net.to(dev, null);
      double[][] onDev = jvp(net, x, dx, noise, dn, labels, dev);
      assertTrue(maxDiff(cpu[0], onDev[0]) <= 1e-6, "primal: " + maxDiff(cpu[0], onDev[0]));
      assertTrue(maxDiff(cpu[1], onDev[1]) <= 1e-5, "tangent: " + maxDiff(cpu[1], onDev[1]));
    }
  }

  private static double[][] jvp(SongUNet net, Tensor x, Tensor dx, Tensor noise, Tensor dn, Tensor labels, Device d) {
    Tensor lab = labels.to(d);
    TestDevice.resetCounters();
    ForwardAD.Jvp r = ForwardAD.jvp(in -> List.of(net.forward(in.get(0), in.get(1), lab, null)),
        List.of(x.to(d), noise.to(d)), List.of(dx.to(d), dn.to(d)));
    if (d.isAccelerator()) {
      assertEquals(0, TestDevice.hostSyncs(), "host round trip inside the JVP: " + TestDevice.lastSync());
    }
    assertEquals(d, r.tangents().get(0).device());
    return new double[][] {r.outputs().get(0).toDoubleArray(), r.tangents().get(0).toDoubleArray()};
  }
}
