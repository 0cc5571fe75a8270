package dev.cm4j.dist;

import dev.cm4j.tensor.internal.NativeInterop;
import static dev.cm4j.bindings.ffi.CmTorch.cm_dist_backend_available;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A c10d process-group backend. */
public enum Backend {
  /** Gloo: CPU tensors over TCP (any build with gloo; the CPU build here has it). */
  GLOO("gloo"),
  /** NCCL: CUDA tensors (only in builds against a CUDA libtorch). */
  NCCL("nccl");

  static {
    NativeInterop.ensureLoaded();
  }

  private final String id;

  Backend(String id) {
    this.id = id;
  }

  /** The backend's name in the C API ("gloo", "nccl"). */
  public String id() {
    return id;
  }

  /** Whether the loaded native library was built with this backend. */
  public boolean isAvailable() {
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.JAVA_INT);
      NativeInterop.check(cm_dist_backend_available(a.allocateFrom(id), out));
      return out.get(ValueLayout.JAVA_INT, 0) != 0;
    }
  }

  /**
   * The backend that reduces tensors on device: NCCL for CUDA tensors, Gloo for everything else (the CPU, and devices
   * whose memory the host can address, such as a test device). The choice follows where the tensors are, never
   * whether CUDA happens to be present: a CPU run on a CUDA machine still uses Gloo.
   */
  public static Backend forDevice(dev.cm4j.tensor.Device device) {
    if (device == null) throw new NullPointerException("device");
    return device.type() == dev.cm4j.tensor.Device.Type.CUDA ? NCCL : GLOO;
  }

  /** Parses "gloo" or "nccl" (case-insensitive). */
  public static Backend parse(String s) {
    for (Backend b : values()) if (b.id.equalsIgnoreCase(s.trim())) return b;
    throw new IllegalArgumentException("unknown backend '" + s + "' (expected gloo or nccl)");
  }
}
