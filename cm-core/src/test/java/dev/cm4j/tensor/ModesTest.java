package dev.cm4j.tensor;

import static dev.cm4j.tensor.Checks.*;
import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Thread-local modes (grad, inference, autocast) as scoped guards, and the intra-op thread setting. */
class ModesTest {
  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
    assertTrue(GradMode.isEnabled(), "tests start with grad mode on");
    assertFalse(InferenceMode.isEnabled());
  }

  @AfterEach
  void close() {
    scope.close();
    assertTrue(GradMode.isEnabled(), "grad mode restored");
    assertFalse(InferenceMode.isEnabled(), "inference mode restored");
  }

  @Test
  void noGradStopsRecordingAndRestoresOnClose() {
    Tensor x = Tensor.of(new double[] {1, 2}).requiresGrad_(true);
    try (GradMode g = GradMode.noGrad()) {
      assertFalse(GradMode.isEnabled());
      Tensor y = x.mul(2.0);
      assertFalse(y.requiresGrad());
      assertArrayEquals(new double[] {2, 4}, y.toDoubleArray());
      try (GradMode inner = GradMode.enableGrad()) {
        assertTrue(GradMode.isEnabled());
        assertTrue(x.mul(2.0).requiresGrad());
      }
      assertFalse(GradMode.isEnabled(), "inner guard restores the outer (disabled) mode");
      g.close();
      g.close(); // idempotent
      assertTrue(GradMode.isEnabled());
    }
    assertTrue(x.mul(2.0).requiresGrad());
    // set returns the previous mode.
    assertTrue(GradMode.set(false));
    assertFalse(GradMode.set(true));
    assertTrue(GradMode.isEnabled());
  }

  @Test
  void gradModeIsRestoredWhenTheBlockThrows() {
    assertThrows(TorchException.class, () -> {
      try (GradMode g = GradMode.noGrad()) {
        Tensor.of(new double[] {1}).reshape(5);
      }
    });
    assertTrue(GradMode.isEnabled());
  }

  @Test
  void inferenceModeGuards() {
    Tensor x = Tensor.of(new double[] {1, 2}).requiresGrad_(true);
    try (InferenceMode m = InferenceMode.enter()) {
      assertTrue(InferenceMode.isEnabled());
      assertFalse(GradMode.isEnabled(), "inference mode disables grad mode");
      Tensor y = x.mul(3.0);
      assertFalse(y.requiresGrad());
      assertArrayEquals(new double[] {3, 6}, y.toDoubleArray());
      try (InferenceMode off = InferenceMode.exit()) {
        assertFalse(InferenceMode.isEnabled());
      }
      assertTrue(InferenceMode.isEnabled());
    }
    assertFalse(InferenceMode.isEnabled());
    assertTrue(GradMode.isEnabled());
    // A tensor made in inference mode cannot be saved for backward outside it.
    Tensor inf;
    try (InferenceMode m = InferenceMode.enter()) {
      inf = Tensor.of(new double[] {1, 2}).mul(1.0);
    }
    Tensor w = Tensor.of(new double[] {1, 1}).requiresGrad_(true);
    assertThrows(TorchException.class, () -> w.mul(inf).sum().backward());
  }

  @Test
  void cpuBf16AutocastMakesMatmulBfloat16AndRestoresOnClose() {
    double[] a = gaussian(12, 1), b = gaussian(12, 2);
    Tensor ta = Tensor.of(toFloats(a), 3, 4), tb = Tensor.of(toFloats(b), 4, 3);
    double[] exact = LinalgTest.mm(f32(a), f32(b), 3, 4, 3);
    assertEquals(DType.FLOAT32, ta.matmul(tb).dtype());
    try (Autocast ac = Autocast.enable(Device.Type.CPU, DType.BFLOAT16)) {
      Tensor y = ta.matmul(tb);
      assertEquals(DType.BFLOAT16, y.dtype());
      // bf16 has an 8-bit significand: inputs and output rounded, relative error ~1e-2.
      assertClose(exact, y, 3e-2, 3e-2);
      assertEquals(DType.BFLOAT16, F.linear(ta, tb.transpose(0, 1), null).dtype());
      Tensor img = Tensor.of(toFloats(gaussian(2 * 3 * 5 * 5, 5)), 2, 3, 5, 5);
      Tensor ker = Tensor.of(toFloats(gaussian(4 * 3 * 3 * 3, 6)), 4, 3, 3, 3);
      assertEquals(DType.BFLOAT16, F.conv2d(img, ker, null, 1, 1, 1, 1).dtype());
      // Ops outside the lower-precision list keep float32.
      assertEquals(DType.FLOAT32, ta.add(1.0).dtype());
      try (Autocast off = Autocast.disable(Device.Type.CPU)) {
        Tensor z = ta.matmul(tb);
        assertEquals(DType.FLOAT32, z.dtype());
        assertClose(exact, z, 1e-5, 1e-5);
      }
      assertEquals(DType.BFLOAT16, ta.matmul(tb).dtype(), "inner guard restores the enabled state");
      ac.close();
      assertEquals(DType.FLOAT32, ta.matmul(tb).dtype());
    }
    assertEquals(DType.FLOAT32, ta.matmul(tb).dtype());
  }

  @Test
  void autocastFloat16OnCpuAndNestedDtypes() {
    Tensor ta = Tensor.of(toFloats(gaussian(6, 3)), 2, 3), tb = Tensor.of(toFloats(gaussian(6, 4)), 3, 2);
    try (Autocast h = Autocast.enable(Device.Type.CPU, DType.FLOAT16)) {
      assertEquals(DType.FLOAT16, ta.matmul(tb).dtype());
      try (Autocast bf = Autocast.enable(Device.Type.CPU, DType.BFLOAT16)) {
        assertEquals(DType.BFLOAT16, ta.matmul(tb).dtype());
      }
      assertEquals(DType.FLOAT16, ta.matmul(tb).dtype(), "the previous dtype returns");
    }
    assertEquals(DType.FLOAT32, ta.matmul(tb).dtype());
    assertThrows(IllegalArgumentException.class, () -> Autocast.enable(Device.Type.CPU, DType.FLOAT32));
  }

  @Test
  void numThreadsSetAndRead() {
    int before = Torch.numThreads();
    assertTrue(before >= 1);
    try {
      Torch.setNumThreads(1);
      assertEquals(1, Torch.numThreads());
      Torch.setNumThreads(3);
      assertEquals(3, Torch.numThreads());
      // Results do not depend on the thread count.
      Tensor x = Tensor.of(gaussian(100_000, 9));
      double s3 = x.sum().item();
      Torch.setNumThreads(1);
      assertEquals(s3, x.sum().item(), 1e-9);
    } finally {
      Torch.setNumThreads(before);
    }
    assertEquals(before, Torch.numThreads());
    assertThrows(IllegalArgumentException.class, () -> Torch.setNumThreads(0));
    assertTrue(Torch.numInteropThreads() >= 1);
  }
}
