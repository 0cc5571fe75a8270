package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.ValueLayout;

/**
 * Automatic mixed precision for a block (thread-local), as torch.autocast: eligible ops (matmul, conv, linear)
 * run in bf16 or fp16 on the given device type; the previous state returns on close.
 */
public final class Autocast implements AutoCloseable {
  static {
    Native.ensureLoaded();
  }

  private final int device; // a device code of the autocast device type (the C API takes any code of a type)
  private final boolean prevEnabled;
  private final int prevDtype;
  private boolean closed;

  private Autocast(Device.Type type, boolean enabled, DType dtype) {
    if (dtype != DType.BFLOAT16 && dtype != DType.FLOAT16) {
      throw new IllegalArgumentException("autocast dtype must be BFLOAT16 or FLOAT16, got " + dtype);
    }
    device = switch (type) {
      case CPU -> Device.CPU.code();
      case CUDA -> Device.cuda(0).code();
      case PRIVATEUSE1 -> Device.privateUse1(0).code();
    };
    Native.Scratch s = Native.scratch();
    Native.check(cm_autocast_set(device, enabled ? 1 : 0, dtype.code(), s.out, s.out2));
    prevEnabled = s.out.get(ValueLayout.JAVA_INT, 0) != 0;
    prevDtype = s.out2.get(ValueLayout.JAVA_INT, 0);
  }

  /** Enables autocast to dtype on the device type until close. */
  public static Autocast enable(Device.Type type, DType dtype) {
    return new Autocast(type, true, dtype);
  }

  /** Disables autocast on the device type until close. */
  public static Autocast disable(Device.Type type) {
    return new Autocast(type, false, type == Device.Type.CPU ? DType.BFLOAT16 : DType.FLOAT16);
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    Native.Scratch s = Native.scratch();
    DType d = DType.ofCode(prevDtype);
    if (d != DType.BFLOAT16 && d != DType.FLOAT16) d = DType.BFLOAT16;
    Native.check(cm_autocast_set(device, prevEnabled ? 1 : 0, d.code(), s.out, s.out2));
  }
}
