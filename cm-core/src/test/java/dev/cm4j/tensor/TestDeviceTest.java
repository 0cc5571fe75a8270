package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.testing.TestDevice;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The test device (libcm_testdevice, libtorch's PrivateUse1 backend): tensors live on a device that is not the
 * CPU, compute like the CPU, refuse CPU tensor arguments as CUDA does, draw random numbers from a device
 * generator with its own state, and count host round trips.
 */
class TestDeviceTest {
  private TensorScope scope;
  private Device dev;

  @BeforeEach
  void open() {
    dev = TestDevice.device();
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  private static float[] range(int n, double scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) (scale * Math.sin(0.37 * i + 0.1));
    return v;
  }

  @Test
  void tensorsMadeOnTheDeviceReportIt() {
    assertEquals(Device.privateUse1(0), dev);
    assertEquals("privateuseone:0", dev.toString());
    long[] sh = {2, 3};
    List<Tensor> made = List.of(Tensor.zeros(sh, DType.FLOAT32, dev), Tensor.ones(sh, DType.FLOAT64, dev),
        Tensor.empty(sh, DType.INT64, dev), Tensor.full(sh, 2.5, DType.FLOAT32, dev),
        Tensor.arange(0, 6, 1, DType.FLOAT32, dev), Tensor.linspace(0, 1, 5, DType.FLOAT32, dev),
        Tensor.randn(sh, DType.FLOAT32, dev, null), Tensor.rand(sh, DType.FLOAT32, dev, null),
        Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).to(dev));
    for (Tensor t : made) assertEquals(dev, t.device(), t.toString());
    Tensor a = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).to(dev);
    // Views and results stay on the device and compute what the CPU computes.
    Tensor t = a.transpose(0, 1).mul(2.0).add(1.0);
    assertEquals(dev, t.device());
    assertArrayEquals(new float[] {3, 9, 5, 11, 7, 13}, t.toFloatArray());
    assertEquals(Device.CPU, t.to(Device.CPU).device());
    assertArrayEquals(new float[] {2.5f, 2.5f}, Tensor.full(new long[] {2}, 2.5, DType.FLOAT32, dev).toFloatArray());
  }

  /** conv2d -> group_norm -> silu -> matmul -> softmax, forward and backward; returns output and gradients. */
  private static List<double[]> net(Device d, float[] xv, float[] wv, float[] bv, float[] gv, float[] mv) {
    Tensor x = Tensor.of(xv, 2, 3, 6, 6).to(d);
    Tensor w = Tensor.of(wv, 4, 3, 3, 3).to(d).requiresGrad_(true);
    Tensor b = Tensor.of(bv, 4).to(d).requiresGrad_(true);
    Tensor g = Tensor.of(gv, 4).to(d).requiresGrad_(true);
    Tensor m = Tensor.of(mv, 4, 5).to(d).requiresGrad_(true);
    Tensor y = F.conv2d(x, w, b, 1, 1, 1, 1);
    y = F.groupNorm(y, 2, g, null, 1e-5).silu();
    y = y.reshape(2, 4, 36).transpose(1, 2).matmul(m).softmax(-1);
    assertEquals(d, y.device());
    Tensor target = Tensor.of(range(2 * 36 * 5, 0.5), 2, 36, 5).to(d);
    y.sub(target).square().sum().backward();
    List<double[]> r = new ArrayList<>();
    r.add(y.toDoubleArray());
    for (Tensor p : List.of(w, b, g, m)) {
      assertEquals(d, p.grad().device(), "the gradient stays on the parameter's device");
      r.add(p.grad().toDoubleArray());
    }
    return r;
  }

  @Test
  void aSmallNetworkForwardAndBackwardEqualsTheCpuRun() {
    float[] xv = range(2 * 3 * 36, 1.0), wv = range(4 * 27, 0.3), bv = range(4, 0.1), gv = range(4, 1.0);
    float[] mv = range(20, 0.7);
    List<double[]> cpu = net(Device.CPU, xv, wv, bv, gv, mv);
    List<double[]> onDev = net(dev, xv, wv, bv, gv, mv);
    String[] names = {"output", "conv weight grad", "conv bias grad", "norm weight grad", "matmul grad"};
    for (int i = 0; i < cpu.size(); i++) {
      double[] e = cpu.get(i), a = onDev.get(i);
      assertEquals(e.length, a.length);
      double max = 0;
      for (int j = 0; j < e.length; j++) max = Math.max(max, Math.abs(e[j] - a[j]));
      assertTrue(max <= 1e-6, names[i] + " differs from the CPU run by " + max);
    }
  }

  @Test
  void aCpuTensorArgumentFailsNamingTheOperation() {
    Tensor d = Tensor.ones(new long[] {2, 3}, DType.FLOAT32, dev);
    Tensor c = Tensor.ones(new long[] {2, 3}, DType.FLOAT32, Device.CPU);
    TorchException e = assertThrows(TorchException.class, () -> d.add(c));
    assertTrue(e.getMessage().contains("privateuseone:0") && e.getMessage().contains("cpu"), e.getMessage());
    e = assertThrows(TorchException.class, () -> d.matmul(Tensor.ones(new long[] {3, 2}, DType.FLOAT32,
        Device.CPU)));
    assertTrue(e.getMessage().contains("aten::mm") && e.getMessage().contains("CPU tensor"), e.getMessage());
    Tensor x = Tensor.ones(new long[] {1, 3, 5, 5}, DType.FLOAT32, dev);
    Tensor w = Tensor.ones(new long[] {2, 3, 3, 3}, DType.FLOAT32, Device.CPU);
    e = assertThrows(TorchException.class, () -> F.conv2d(x, w, null, 1, 0, 1, 1));
    assertTrue(e.getMessage().contains("convolution") || e.getMessage().contains("same device"), e.getMessage());
    // The reverse order (CPU tensor first) fails as well.
    e = assertThrows(TorchException.class, () -> c.mul(d));
    assertTrue(e.getMessage().contains("privateuseone"), e.getMessage());
    // And the process is fine afterwards.
    assertArrayEquals(new float[] {2, 2, 2, 2, 2, 2}, d.add(d).toFloatArray());
  }

  @Test
  void twoDevicesOfTheBackendDoNotMix() {
    Tensor a = Tensor.ones(new long[] {3}, DType.FLOAT32, dev);
    Tensor b = Tensor.ones(new long[] {3}, DType.FLOAT32, TestDevice.secondDevice());
    assertEquals(Device.privateUse1(1), b.device());
    TorchException e = assertThrows(TorchException.class, () -> a.add(b));
    assertTrue(e.getMessage().contains("privateuseone:1"), e.getMessage());
    assertArrayEquals(new float[] {2, 2, 2}, a.add(b.to(dev)).toFloatArray());
    // The backend has two devices: a third is an error, not a crash.
    e = assertThrows(TorchException.class, () -> Tensor.zeros(new long[] {2}, DType.FLOAT32, Device.privateUse1(2)));
    assertTrue(e.getMessage().contains("privateuseone:2"), e.getMessage());
    e = assertThrows(TorchException.class, () -> Generator.defaultFor(Device.privateUse1(2)));
    assertTrue(e.getMessage().contains("privateuseone:2"), e.getMessage());
  }

  @Test
  void aZeroDimCpuScalarMixesAsOnCuda() {
    Tensor d = Tensor.of(new float[] {1, 2, 3}, 3).to(dev);
    Tensor r = d.mul(Tensor.scalar(2.0));
    assertEquals(dev, r.device());
    assertArrayEquals(new float[] {2, 4, 6}, r.toFloatArray());
    Tensor s = d.add(Tensor.scalar(1.0, DType.FLOAT32));
    assertArrayEquals(new float[] {2, 3, 4}, s.toFloatArray());
  }

  private double[] draw(Generator g) {
    return Tensor.randn(new long[] {64}, DType.FLOAT32, dev, g).toDoubleArray();
  }

  @Test
  void deviceGeneratorsSeedAndRestoreTheirOwnState() {
    try (Generator g = Generator.create(dev, 7); Generator h = Generator.create(dev, 7)) {
      assertEquals(dev, g.device());
      assertEquals(7, g.seed());
      double[] a = draw(g);
      assertArrayEquals(a, draw(h), 0.0, "same seed, same numbers");
      byte[] st = g.getState();
      double[] next = draw(g);
      assertFalse(java.util.Arrays.equals(a, next), "the stream advances");
      g.setState(st);
      assertArrayEquals(st, g.getState());
      assertArrayEquals(next, draw(g), 0.0, "a restored state repeats the numbers");
      g.setSeed(7);
      assertArrayEquals(a, draw(g), 0.0, "re-seeding restarts the stream");
    }
    // The device's default generator: the one used when none is given, independent of the CPU's.
    try (Generator def = Generator.defaultFor(dev); Generator cpu = Generator.defaultFor(Device.CPU)) {
      def.setSeed(11);
      double[] a = Tensor.randn(new long[] {16}, DType.FLOAT32, dev, null).toDoubleArray();
      def.setSeed(11);
      byte[] cpuState = cpu.getState();
      Tensor.randn(new long[] {16}, DType.FLOAT32, Device.CPU, null); // a CPU draw in between
      assertFalse(java.util.Arrays.equals(cpuState, cpu.getState()), "the CPU draw used the CPU generator");
      assertArrayEquals(a, Tensor.randn(new long[] {16}, DType.FLOAT32, dev, null).toDoubleArray(), 0.0,
          "the device stream ignores CPU draws");
      byte[] devState = def.getState();
      Tensor.rand(new long[] {5}, DType.FLOAT32, dev, null);
      assertFalse(java.util.Arrays.equals(devState, def.getState()), "device draws advance the device generator");
      Torch.manualSeed(123);
      double[] s1 = Tensor.randn(new long[] {8}, DType.FLOAT32, dev, null).toDoubleArray();
      Torch.manualSeed(123);
      assertArrayEquals(s1, Tensor.randn(new long[] {8}, DType.FLOAT32, dev, null).toDoubleArray(), 0.0,
          "manualSeed seeds the device's default generator too");
      assertEquals(123, def.seed());
    }
  }

  @Test
  void otherRandomOperationsUseTheDeviceGenerator() {
    try (Generator g = Generator.create(dev, 3)) {
      byte[] st = g.getState();
      Tensor a = Tensor.randint(0, 100, new long[] {20}, DType.INT64, dev, g);
      Tensor p = Tensor.randperm(10, dev, g);
      Tensor n = Tensor.normal(1.0, 2.0, new long[] {10}, DType.FLOAT32, dev, g);
      Tensor x = Tensor.ones(new long[] {1000}, DType.FLOAT32, dev);
      Tensor drop = F.dropout(x, 0.5, true, g);
      for (Tensor t : List.of(a, p, n, drop)) assertEquals(dev, t.device());
      g.setState(st);
      assertArrayEquals(a.toLongArray(), Tensor.randint(0, 100, new long[] {20}, DType.INT64, dev, g).toLongArray());
      assertArrayEquals(p.toLongArray(), Tensor.randperm(10, dev, g).toLongArray());
      assertArrayEquals(n.toFloatArray(), Tensor.normal(1.0, 2.0, new long[] {10}, DType.FLOAT32, dev, g)
          .toFloatArray());
      float[] d = drop.toFloatArray();
      assertArrayEquals(d, F.dropout(x, 0.5, true, g).toFloatArray(), "dropout's mask comes from the generator");
      int kept = 0;
      for (float v : d) {
        assertTrue(v == 0f || v == 2f, "dropout keeps and rescales: " + v);
        if (v != 0f) kept++;
      }
      assertTrue(kept > 400 && kept < 600, "about half kept: " + kept);
    }
    try (Generator cpu = Generator.cpu(1)) {
      TorchException e = assertThrows(TorchException.class,
          () -> Tensor.randn(new long[] {3}, DType.FLOAT32, dev, cpu));
      assertTrue(e.getMessage().contains("generator"), e.getMessage());
    }
  }

  @Test
  void theHostSyncCounterCountsRoundTripsOnly() {
    Tensor a = Tensor.randn(new long[] {4, 4}, DType.FLOAT32, dev, null);
    Tensor cpu = Tensor.ones(new long[] {4, 4}, DType.FLOAT32, Device.CPU);
    TestDevice.resetCounters();
    Tensor loss = a.matmul(a).add(1.0).softmax(1).sum();
    Tensor up = cpu.to(dev);
    up.mul_(2.0);
    assertEquals(0, TestDevice.hostSyncs(), "device-only work and uploads: " + TestDevice.lastSync());
    assertEquals(1, TestDevice.hostToDeviceCopies());
    loss.item();
    assertEquals(1, TestDevice.hostSyncs());
    assertEquals(1, TestDevice.scalarReads());
    assertTrue(TestDevice.lastSync().contains("item"), TestDevice.lastSync());
    loss.to(Device.CPU);
    assertEquals(2, TestDevice.hostSyncs());
    assertEquals(1, TestDevice.deviceToHostCopies());
    a.toFloatArray();
    assertEquals(3, TestDevice.hostSyncs());
    // An operation whose result size depends on the data makes the host wait, as on CUDA.
    Op.of("aten::nonzero", "").callTensor(a.gt(0.0));
    assertEquals(4, TestDevice.hostSyncs());
    assertEquals("aten::nonzero", TestDevice.lastSync());
    // So do boolean-mask indexing (a nonzero inside) and equal (a host boolean); integer indexing does not.
    Tensor mask = a.gt(0.0).flatten();
    Tensor flat = a.flatten();
    assertEquals(dev, flat.index(mask).device());
    assertEquals(5, TestDevice.hostSyncs(), "one wait for the mask's nonzero: " + TestDevice.lastSync());
    flat.indexPut_(new Tensor[] {mask}, Tensor.scalar(0.0, DType.FLOAT32), false);
    assertEquals(6, TestDevice.hostSyncs());
    assertEquals("aten::_index_put_impl_", TestDevice.lastSync());
    flat.index(Tensor.arange(0, 3, 1, DType.INT64, dev));
    assertEquals(6, TestDevice.hostSyncs(), "integer indexing: " + TestDevice.lastSync());
    assertEquals(Boolean.TRUE, Op.of("aten::equal", "").call(a, a).get(0));
    assertEquals(7, TestDevice.hostSyncs());
    TestDevice.resetCounters();
    assertEquals(0, TestDevice.hostSyncs());
    assertEquals("", TestDevice.lastSync());
  }

  @Test
  void pinnedHostMemoryIsRecognised() {
    Tensor c = Tensor.of(new float[] {1, 2, 3}, 3);
    Op isPinned = Op.of("aten::is_pinned", "");
    assertEquals(Boolean.FALSE, isPinned.call(c).get(0));
    Tensor p = Op.of("aten::pin_memory", "").callTensor(c);
    assertEquals(Device.CPU, p.device());
    assertEquals(Boolean.TRUE, isPinned.call(p).get(0));
    Tensor onDev = p.to(dev);
    assertArrayEquals(new float[] {1, 2, 3}, onDev.toFloatArray());
  }

  @Test
  void aMissingLibraryIsAFailureNamingBothSettings(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp)
      throws java.io.IOException {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> TestDevice.libraryPath(null, " "));
    assertTrue(e.getMessage().contains(TestDevice.PROPERTY) && e.getMessage().contains(TestDevice.ENV),
        e.getMessage());
    String missing = tmp.resolve("nope.so").toString();
    e = assertThrows(IllegalStateException.class, () -> TestDevice.libraryPath(missing, null));
    assertTrue(e.getMessage().contains("nope.so") && e.getMessage().contains("system property"), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> TestDevice.libraryPath("", missing));
    assertTrue(e.getMessage().contains("environment variable"), e.getMessage());
    java.nio.file.Path lib = java.nio.file.Files.createFile(tmp.resolve("lib.so"));
    assertEquals(lib.toAbsolutePath(), TestDevice.libraryPath(lib.toString(), missing), "the property wins");
    assertEquals(lib.toAbsolutePath(), TestDevice.libraryPath(null, lib.toString()));
  }

  @Test
  void attentionAndCommonOpsMatchTheCpuWithoutHostRoundTrips() {
    Generator g = Generator.cpu(9);
    Tensor q = Tensor.randn(new long[] {2, 3, 5, 4}, DType.FLOAT32, Device.CPU, g);
    Tensor k = Tensor.randn(new long[] {2, 3, 5, 4}, DType.FLOAT32, Device.CPU, g);
    Tensor v = Tensor.randn(new long[] {2, 3, 5, 4}, DType.FLOAT32, Device.CPU, g);
    Tensor qd = q.to(dev).requiresGrad_(true), kd = k.to(dev), vd = v.to(dev);
    Tensor qc = q.detach().requiresGrad_(true);
    TestDevice.resetCounters();
    Tensor od = F.scaledDotProductAttention(qd, kd, vd, null, false, Double.NaN);
    od.sum().backward();
    Tensor mixed = Tensor.cat(List.of(od, od.abs().sqrt(), od.clamp(-0.5, 0.5)), 1).flatten(2, 3);
    Tensor picked = Tensor.where(mixed.gt(0.0), mixed, mixed.neg()).sum(false, 2);
    assertEquals(0, TestDevice.hostSyncs(), "host round trip: " + TestDevice.lastSync());
    Tensor oc = F.scaledDotProductAttention(qc, k, v, null, false, Double.NaN);
    oc.sum().backward();
    Tensor mixedC = Tensor.cat(List.of(oc, oc.abs().sqrt(), oc.clamp(-0.5, 0.5)), 1).flatten(2, 3);
    Tensor pickedC = Tensor.where(mixedC.gt(0.0), mixedC, mixedC.neg()).sum(false, 2);
    assertEquals(dev, od.device());
    assertEquals(dev, qd.grad().device());
    assertArrayEquals(oc.toFloatArray(), od.toFloatArray(), 1e-6f);
    assertArrayEquals(qc.grad().toFloatArray(), qd.grad().toFloatArray(), 1e-6f);
    assertArrayEquals(pickedC.toFloatArray(), picked.toFloatArray(), 1e-5f);
  }
}
