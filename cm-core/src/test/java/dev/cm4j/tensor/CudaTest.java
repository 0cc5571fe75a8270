package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * CUDA facts, backend switches and pinned memory. Each test checks the behaviour of the machine it runs on: with
 * CUDA the facts must be plausible, without it every per-device call must fail with a message naming the cause.
 */
class CudaTest {
  private static final String NO_CUDA = "CUDA is not available";

  private static void assertNoCuda(Executable call) {
    TorchException e = assertThrows(TorchException.class, call);
    assertTrue(e.getMessage().contains(NO_CUDA), e.getMessage());
  }

  @Test
  void withoutCudaEveryDeviceFactIsAClearError() {
    if (Cuda.isAvailable()) {
      assertTrue(Cuda.deviceCount() > 0);
      return; // devicePropertiesAndMemoryStatsArePlausible covers this machine
    }
    assertEquals(0, Cuda.deviceCount());
    assertNoCuda(() -> Cuda.properties(0));
    assertNoCuda(() -> Cuda.memoryStats(0));
    assertNoCuda(() -> Cuda.resetPeakMemoryStats(0));
    assertNoCuda(() -> Cuda.memoryInfo(0));
    assertNoCuda(Cuda::emptyCache);
    assertNoCuda(Torch::cudaEmptyCache);
    assertNoCuda(() -> Cuda.synchronize(0));
  }

  @Test
  void negativeDeviceIndicesAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> Cuda.properties(-1));
    assertThrows(IllegalArgumentException.class, () -> Cuda.memoryStats(-1));
    assertThrows(IllegalArgumentException.class, () -> Cuda.memoryInfo(-2));
    // Straight through the C API, the CPU code is refused by name, and a NULL out pointer is an error.
    Native.Scratch s = Native.scratch();
    assertEquals(CM_ERROR(), cm_cuda_memory_stats_get(CM_DEVICE_CPU(), s.out));
    assertTrue(Native.lastError().contains("needs a CUDA device index"), Native.lastError());
    assertEquals(CM_ERROR(), cm_cuda_get_device_properties(0, java.lang.foreign.MemorySegment.NULL));
  }

  @Test
  void devicePropertiesAndMemoryStatsArePlausible() {
    org.junit.jupiter.api.Assumptions.assumeTrue(Cuda.isAvailable(), "needs CUDA");
    Cuda.DeviceProperties p = Cuda.properties(0);
    assertFalse(p.name().isBlank());
    assertTrue(p.totalMemory() > (1L << 30), p.toString());
    assertTrue(p.major() >= 5 && p.minor() >= 0, p.toString());
    assertTrue(p.multiprocessorCount() > 0, p.toString());
    Cuda.MemoryInfo info = Cuda.memoryInfo(0);
    assertEquals(p.totalMemory(), info.totalBytes());
    assertTrue(info.freeBytes() > 0 && info.freeBytes() <= info.totalBytes());

    Cuda.MemoryStats before = Cuda.memoryStats(0);
    long bytes = 64L << 20;
    try (Tensor t = Tensor.zeros(new long[] {bytes / 4}, DType.FLOAT32, Device.cuda(0))) {
      Cuda.MemoryStats during = Cuda.memoryStats(0);
      assertTrue(during.allocatedBytes() - before.allocatedBytes() >= bytes, during.toString());
      assertTrue(during.reservedBytes() >= during.allocatedBytes(), during.toString());
      assertTrue(during.peakAllocatedBytes() >= during.allocatedBytes(), during.toString());
    }
    Cuda.MemoryStats after = Cuda.memoryStats(0);
    assertTrue(after.peakAllocatedBytes() >= after.allocatedBytes() + bytes, after.toString());
    Cuda.resetPeakMemoryStats(0);
    assertEquals(Cuda.memoryStats(0).allocatedBytes(), Cuda.memoryStats(0).peakAllocatedBytes());
    Cuda.emptyCache();
    assertTrue(Cuda.memoryStats(0).reservedBytes() <= after.reservedBytes());
    TorchException e = assertThrows(TorchException.class, () -> Cuda.properties(Cuda.deviceCount()));
    assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
  }

  /** One switch: its getter and setter. */
  private record Flag(String name, BooleanSupplier get, Predicate<Boolean> set) {}

  private static final List<Flag> FLAGS = List.of(
      new Flag("tf32 matmul", Cuda::allowTf32Matmul, Cuda::setAllowTf32Matmul),
      new Flag("tf32 cudnn", Cuda::allowTf32Cudnn, Cuda::setAllowTf32Cudnn),
      new Flag("cudnn benchmark", Cuda::cudnnBenchmark, Cuda::setCudnnBenchmark),
      new Flag("cudnn deterministic", Cuda::cudnnDeterministic, Cuda::setCudnnDeterministic));

  @Test
  void backendSwitchesRoundTripIndependently() {
    for (Flag f : FLAGS) {
      boolean[] others = new boolean[FLAGS.size()];
      for (int i = 0; i < others.length; i++) others[i] = FLAGS.get(i).get().getAsBoolean();
      boolean original = f.get().getAsBoolean();
      try {
        assertEquals(original, f.set().test(!original), f.name() + ": setter returns the previous value");
        assertEquals(!original, f.get().getAsBoolean(), f.name());
        for (int i = 0; i < others.length; i++) {
          if (FLAGS.get(i) != f) assertEquals(others[i], FLAGS.get(i).get().getAsBoolean(), FLAGS.get(i).name());
        }
        assertEquals(!original, f.set().test(!original), f.name() + ": setting the same value again");
      } finally {
        f.set().test(original);
      }
      assertEquals(original, f.get().getAsBoolean(), f.name());
    }
  }

  @Test
  void backendSwitchDefaultsAreLibtorchs() {
    String ref = dev.cm4j.testing.PythonRef.run(String.join("\n",
        "import torch",
        "b = torch.backends",
        "print(*[int(v) for v in (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, b.cudnn.benchmark, "
            + "b.cudnn.deterministic)])",
        "")).strip();
    String ours = FLAGS.stream().map(f -> f.get().getAsBoolean() ? "1" : "0")
        .collect(java.util.stream.Collectors.joining(" "));
    assertEquals(ref, ours, "tf32 matmul, tf32 cudnn, cudnn benchmark, cudnn deterministic");
  }

  @Test
  void backendSwitchCodesAndValuesAreChecked() {
    Native.Scratch s = Native.scratch();
    assertEquals(CM_ERROR(), cm_backend_get(99, s.out));
    assertTrue(Native.lastError().contains("unknown backend switch code 99"), Native.lastError());
    boolean before = Cuda.cudnnBenchmark();
    assertEquals(CM_ERROR(), cm_backend_set(CM_BACKEND_CUDNN_BENCHMARK(), 2, s.out));
    assertTrue(Native.lastError().contains("must be 0 or 1"), Native.lastError());
    assertEquals(before, Cuda.cudnnBenchmark());
  }

  @Test
  void pinnedMemoryWorksOrFailsClearly() {
    try (TensorScope ts = TensorScope.open()) {
      Tensor x = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2);
      assertFalse(x.isPinned());
      if (Torch.pinnedMemoryAvailable()) {
        Tensor p = x.pinMemory();
        assertTrue(p.isPinned());
        assertArrayEquals(x.toFloatArray(), p.toFloatArray());
        // pinned memory also exists with only the tests' PrivateUse1 device registered; the copy needs a GPU
        if (Cuda.isAvailable()) {
          Tensor onGpu = p.to(Device.cuda(0), true);
          Stream.current(Device.cuda(0)).synchronize();
          assertArrayEquals(x.toFloatArray(), onGpu.toFloatArray());
        }
      } else {
        TorchException e = assertThrows(TorchException.class, x::pinMemory);
        assertTrue(e.getMessage().contains("pinned") && e.getMessage().contains(NO_CUDA), e.getMessage());
      }
    }
  }

  @Test
  void nonBlockingCopiesToTheCpuGiveTheValues() {
    try (TensorScope ts = TensorScope.open()) {
      Tensor x = Tensor.of(new double[] {1.5, -2, 3}, 3);
      Tensor y = x.to(Device.CPU, true);
      assertEquals(Device.CPU, y.device());
      assertArrayEquals(x.toDoubleArray(), y.toDoubleArray());
      if (!Cuda.isAvailable()) {
        assertThrows(TorchException.class, () -> x.to(Device.cuda(0), true));
      }
    }
  }
}
