package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import dev.cm4j.bindings.ffi.cm_cuda_device_properties;
import dev.cm4j.bindings.ffi.cm_cuda_memory_stats;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

/**
 * CUDA devices and the caching allocator's bookkeeping, plus libtorch's global CUDA backend switches (TF32, cuDNN).
 *
 * <p>On a build or machine without CUDA {@link #deviceCount()} is 0 and the per-device calls fail with a
 * {@link TorchException} saying that CUDA is not available. The backend switches are plain global flags: they can be
 * set and read in every build and take effect wherever cuBLAS / cuDNN run.
 */
public final class Cuda {
  static {
    Native.ensureLoaded();
  }

  private Cuda() {}

  /** Whether CUDA can be used (false in CPU-only builds and on machines without a GPU). */
  public static boolean isAvailable() {
    return Torch.cudaIsAvailable();
  }

  /** Number of CUDA devices (0 in CPU-only builds). */
  public static int deviceCount() {
    return Torch.cudaDeviceCount();
  }

  /** Waits for all work on CUDA device {@code device} to finish. */
  public static void synchronize(int device) {
    Torch.cudaSynchronize(checkIndex(device));
  }

  /**
   * Properties of one CUDA device.
   *
   * @param index the device index
   * @param name the device name, e.g. "NVIDIA H100 80GB HBM3"
   * @param totalMemory global memory in bytes
   * @param major compute capability, major
   * @param minor compute capability, minor
   * @param multiprocessorCount number of streaming multiprocessors
   */
  public record DeviceProperties(int index, String name, long totalMemory, int major, int minor,
      int multiprocessorCount) {
    @Override
    public String toString() {
      return String.format(Locale.ROOT, "cuda:%d %s, %.1f GiB, compute capability %d.%d, %d SMs", index, name,
          totalMemory / 1073741824.0, major, minor, multiprocessorCount);
    }
  }

  /** The properties of CUDA device {@code device}. */
  public static DeviceProperties properties(int device) {
    checkIndex(device);
    Native.Scratch s = Native.scratch();
    MemorySegment p = s.bytes(cm_cuda_device_properties.layout().byteSize());
    Native.check(cm_cuda_get_device_properties(device, p));
    return new DeviceProperties(device, cm_cuda_device_properties.name(p).getString(0),
        cm_cuda_device_properties.total_memory(p), cm_cuda_device_properties.major(p),
        cm_cuda_device_properties.minor(p), cm_cuda_device_properties.multiprocessor_count(p));
  }

  /**
   * The CUDA caching allocator's statistics for one device, summed over its pools.
   *
   * @param allocatedBytes bytes held by tensors now ({@code torch.cuda.memory_allocated})
   * @param reservedBytes bytes the allocator holds from the driver ({@code torch.cuda.memory_reserved})
   * @param peakAllocatedBytes the highest {@code allocatedBytes} since start or the last {@link #resetPeakMemoryStats}
   * @param peakReservedBytes the highest {@code reservedBytes} since start or the last reset
   * @param allocRetries allocations that had to release cached blocks and retry
   * @param outOfMemoryErrors out-of-memory errors raised
   */
  public record MemoryStats(long allocatedBytes, long reservedBytes, long peakAllocatedBytes, long peakReservedBytes,
      long allocRetries, long outOfMemoryErrors) {
    @Override
    public String toString() {
      return String.format(Locale.ROOT, "allocated %.1f MiB (peak %.1f MiB), reserved %.1f MiB (peak %.1f MiB), "
          + "%d retries, %d OOMs", allocatedBytes / 1048576.0, peakAllocatedBytes / 1048576.0,
          reservedBytes / 1048576.0, peakReservedBytes / 1048576.0, allocRetries, outOfMemoryErrors);
    }
  }

  /** The caching allocator's statistics for CUDA device {@code device}. */
  public static MemoryStats memoryStats(int device) {
    checkIndex(device);
    Native.Scratch s = Native.scratch();
    MemorySegment st = s.bytes(cm_cuda_memory_stats.layout().byteSize());
    Native.check(cm_cuda_memory_stats_get(device, st));
    return new MemoryStats(cm_cuda_memory_stats.allocated_bytes(st), cm_cuda_memory_stats.reserved_bytes(st),
        cm_cuda_memory_stats.peak_allocated_bytes(st), cm_cuda_memory_stats.peak_reserved_bytes(st),
        cm_cuda_memory_stats.num_alloc_retries(st), cm_cuda_memory_stats.num_ooms(st));
  }

  /** Resets the peak figures of {@link #memoryStats} for CUDA device {@code device} to the current values. */
  public static void resetPeakMemoryStats(int device) {
    Native.check(cm_cuda_reset_peak_memory_stats(checkIndex(device)));
  }

  /** Returns the caching allocator's unused cached blocks to the driver ({@code torch.cuda.empty_cache}). */
  public static void emptyCache() {
    Native.check(cm_cuda_empty_cache());
  }

  /**
   * Free and total memory of one device as the driver reports them.
   *
   * @param freeBytes memory not in use by any process
   * @param totalBytes the device's memory
   */
  public record MemoryInfo(long freeBytes, long totalBytes) {}

  /** Free and total memory of CUDA device {@code device} ({@code torch.cuda.mem_get_info}). */
  public static MemoryInfo memoryInfo(int device) {
    checkIndex(device);
    Native.Scratch s = Native.scratch();
    Native.check(cm_cuda_mem_get_info(device, s.out, s.out2));
    return new MemoryInfo(s.out.get(ValueLayout.JAVA_LONG, 0), s.out2.get(ValueLayout.JAVA_LONG, 0));
  }

  // ------------------------------------------------------------------------------------------ backend switches

  /** Whether cuBLAS may use TF32 for float32 matmuls ({@code torch.backends.cuda.matmul.allow_tf32}). */
  public static boolean allowTf32Matmul() {
    return getFlag(CM_BACKEND_TF32_MATMUL());
  }

  /** Sets {@link #allowTf32Matmul()}; returns the previous value. */
  public static boolean setAllowTf32Matmul(boolean allow) {
    return setFlag(CM_BACKEND_TF32_MATMUL(), allow);
  }

  /** Whether cuDNN may use TF32 for float32 convolutions ({@code torch.backends.cudnn.allow_tf32}). */
  public static boolean allowTf32Cudnn() {
    return getFlag(CM_BACKEND_TF32_CUDNN());
  }

  /** Sets {@link #allowTf32Cudnn()}; returns the previous value. */
  public static boolean setAllowTf32Cudnn(boolean allow) {
    return setFlag(CM_BACKEND_TF32_CUDNN(), allow);
  }

  /** Whether cuDNN times candidate convolution algorithms and keeps the fastest ({@code cudnn.benchmark}). */
  public static boolean cudnnBenchmark() {
    return getFlag(CM_BACKEND_CUDNN_BENCHMARK());
  }

  /** Sets {@link #cudnnBenchmark()}; returns the previous value. */
  public static boolean setCudnnBenchmark(boolean benchmark) {
    return setFlag(CM_BACKEND_CUDNN_BENCHMARK(), benchmark);
  }

  /** Whether cuDNN is restricted to deterministic algorithms ({@code torch.backends.cudnn.deterministic}). */
  public static boolean cudnnDeterministic() {
    return getFlag(CM_BACKEND_CUDNN_DETERMINISTIC());
  }

  /** Sets {@link #cudnnDeterministic()}; returns the previous value. */
  public static boolean setCudnnDeterministic(boolean deterministic) {
    return setFlag(CM_BACKEND_CUDNN_DETERMINISTIC(), deterministic);
  }

  private static boolean getFlag(int flag) {
    Native.Scratch s = Native.scratch();
    Native.check(cm_backend_get(flag, s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  private static boolean setFlag(int flag, boolean value) {
    Native.Scratch s = Native.scratch();
    Native.check(cm_backend_set(flag, value ? 1 : 0, s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  private static int checkIndex(int device) {
    if (device < 0) throw new IllegalArgumentException("CUDA device index must be >= 0: " + device);
    return device;
  }
}
