package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A random-number generator (libtorch's at::Generator) for one device. Pass it to sampling functions so a
 * computation's randomness can be pinned; its full state saves to and restores from bytes (checkpoints).
 */
public final class Generator implements AutoCloseable {
  static {
    Native.ensureLoaded();
  }

  private MemorySegment handle;
  private final Device device;

  private Generator(MemorySegment handle, Device device) {
    this.handle = handle;
    this.device = device;
  }

  /** A new CPU generator seeded with seed. */
  public static Generator cpu(long seed) {
    return create(Device.CPU, seed);
  }

  /** A new generator on device seeded with seed. */
  public static Generator create(Device device, long seed) {
    Native.Scratch s = Native.scratch();
    Native.check(cm_generator_new(device.code(), seed, s.out));
    return new Generator(s.out.get(ValueLayout.ADDRESS, 0), device);
  }

  /** A handle to the device's default generator (closing the handle leaves the generator alive). */
  public static Generator defaultFor(Device device) {
    Native.Scratch s = Native.scratch();
    Native.check(cm_generator_default(device.code(), s.out));
    return new Generator(s.out.get(ValueLayout.ADDRESS, 0), device);
  }

  MemorySegment handle() {
    if (handle == null) throw new IllegalStateException("generator was closed");
    return handle;
  }

  /** The device whose numbers this generator produces. */
  public Device device() {
    return device;
  }

  /** Re-seeds the generator. */
  public void setSeed(long seed) {
    Native.check(cm_generator_set_seed(handle(), seed));
  }

  /** The seed the generator was last seeded with. */
  public long seed() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_generator_seed(handle(), s.out));
    return s.out.get(ValueLayout.JAVA_LONG, 0);
  }

  /** The generator's full state as bytes. */
  public byte[] getState() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_generator_get_state(handle(), MemorySegment.NULL, 0, s.out));
    long n = s.out.get(ValueLayout.JAVA_LONG, 0);
    byte[] b = new byte[Math.toIntExact(n)];
    MemorySegment buf = s.bytes(n);
    Native.check(cm_generator_get_state(handle(), buf, n, s.out));
    MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, 0, b, 0, b.length);
    return b;
  }

  /** Restores a state from {@link #getState()}; a malformed state throws TorchException. */
  public void setState(byte[] state) {
    Native.Scratch s = Native.scratch();
    MemorySegment buf = s.bytes(state.length);
    MemorySegment.copy(state, 0, buf, ValueLayout.JAVA_BYTE, 0, state.length);
    Native.check(cm_generator_set_state(handle(), buf, state.length));
  }

  @Override
  public void close() {
    MemorySegment h = handle;
    if (h == null) return;
    handle = null;
    Native.check(cm_generator_free(h));
  }
}
