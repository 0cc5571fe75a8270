package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import dev.cm4j.bindings.NativeLibrary;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Process-wide libtorch settings and facts: seeds, threads, CUDA devices, versions. */
public final class Torch {
  static {
    Native.ensureLoaded();
  }

  private Torch() {}

  /** Loads the native library (idempotent) and reports what was loaded. */
  public static NativeInfo load() {
    Native.scratch();
    NativeLibrary.Info i = NativeLibrary.load();
    return new NativeInfo(i.library(), i.libtorchVersion(), i.libtorchLibrary(), i.source());
  }

  /** Seeds the default CPU generator and every CUDA device's default generator. */
  public static void manualSeed(long seed) {
    Native.check(cm_manual_seed(seed));
  }

  /** Sets the number of intra-op threads. */
  public static void setNumThreads(int n) {
    if (n <= 0) throw new IllegalArgumentException("number of threads must be positive: " + n);
    Native.check(cm_set_num_threads(n));
  }

  /** Number of intra-op threads. */
  public static int numThreads() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_get_num_threads(s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0);
  }

  /** Sets the number of inter-op threads (only before any inter-op work started). */
  public static void setNumInteropThreads(int n) {
    if (n <= 0) throw new IllegalArgumentException("number of threads must be positive: " + n);
    Native.check(cm_set_num_interop_threads(n));
  }

  /** Number of inter-op threads. */
  public static int numInteropThreads() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_get_num_interop_threads(s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0);
  }

  /** Whether CUDA is usable (false in CPU-only builds). */
  public static boolean cudaIsAvailable() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_cuda_is_available(s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  /** Number of CUDA devices (0 in CPU-only builds). */
  public static int cudaDeviceCount() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_cuda_device_count(s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0);
  }

  /** Waits for all work on CUDA device {@code device} (an index >= 0) to finish. */
  public static void cudaSynchronize(int device) {
    Native.check(cm_cuda_synchronize(device));
  }

  /**
   * Returns CUDA's cached, unused device memory to the driver ({@code torch.cuda.empty_cache()}; the same as
   * {@link Cuda#emptyCache()}). Live tensors are not affected.
   *
   * @throws TorchException where CUDA is not available, saying so
   */
  public static void cudaEmptyCache() {
    Cuda.emptyCache();
  }

  /**
   * Whether pinned (page-locked) host memory can be allocated, i.e. whether {@link Tensor#pinMemory()} works: it
   * needs CUDA. Callers fall back to pageable memory where it is false.
   */
  public static boolean pinnedMemoryAvailable() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_pinned_memory_available(s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  /** The libtorch version the native library was compiled against. */
  public static String libtorchVersion() {
    Native.scratch();
    return Native.cString(cm_torch_version());
  }

  /** The C API version. */
  public static int apiVersion() {
    Native.scratch();
    return cm_api_version();
  }

  /** libtorch's build configuration (at::show_config): compiler, BLAS, OpenMP, CUDA. */
  public static String buildConfig() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_torch_config(MemorySegment.NULL, 0, s.out));
    long n = s.out.get(ValueLayout.JAVA_LONG, 0);
    MemorySegment buf = s.bytes(n + 1);
    Native.check(cm_torch_config(buf, n + 1, s.out));
    return buf.getString(0);
  }
}
