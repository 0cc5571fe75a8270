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
  private Generator[] rows; // a stacked generator's per-row generators, else null

  private Generator(MemorySegment handle, Device device) {
    this.handle = handle;
    this.device = device;
  }

  /**
   * n generators on device seeded {@code firstSeed … firstSeed + n − 1}, one per row of a batch (EDM's
   * {@code StackedRandomGenerator} in generate.py): {@link Tensor#randn}, {@link Tensor#rand}, {@link Tensor#randint}
   * and {@link Tensor#normal} with this generator draw row i of a shape {@code [n, …]} from generator i, as a draw of
   * shape {@code [1, …]}, so a row's numbers depend on its seed only, never on the other rows or the batch size. Any
   * other use (dropout, state, re-seeding) throws. Closing closes the n generators.
   */
  public static Generator stacked(Device device, long firstSeed, int n) {
    if (n < 1) throw new IllegalArgumentException("a stacked generator needs at least one row, got " + n);
    Generator g = new Generator(null, device);
    g.rows = new Generator[n];
    try {
      for (int i = 0; i < n; i++) g.rows[i] = create(device, firstSeed + i);
    } catch (RuntimeException e) {
      g.close();
      throw e;
    }
    return g;
  }

  /** The per-row generators of a {@link #stacked} generator, or null for a plain one. */
  Generator[] rows() {
    return rows;
  }

  /** Whether this is a {@link #stacked} generator. */
  public boolean isStacked() {
    return rows != null;
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
    if (rows != null) {
      throw new IllegalStateException("a stacked generator (one generator per row, " + rows.length + " rows) only "
          + "draws randn/rand/randint/normal with the rows as the first dimension");
    }
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
    if (rows != null) {
      Generator[] r = rows;
      for (Generator g : r) if (g != null) g.close();
      return;
    }
    MemorySegment h = handle;
    if (h == null) return;
    handle = null;
    Native.check(cm_generator_free(h));
  }
}
