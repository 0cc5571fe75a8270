package dev.cm4j.dist;

import dev.cm4j.tensor.internal.NativeInterop;
import static dev.cm4j.bindings.ffi.CmTorch.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A c10d TCP key-value store shared by the ranks of a job: the master (normally rank 0) listens, the others
 * connect. Process groups rendezvous through it; it also serves small byte values for a job's own rendezvous
 * and health checks. Blocking reads wait at most the store's timeout.
 */
public final class Store implements AutoCloseable {
  static {
    NativeInterop.ensureLoaded();
  }

  private MemorySegment handle;
  private final String host;
  private final Duration timeout;

  private Store(MemorySegment handle, String host, Duration timeout) {
    this.handle = handle;
    this.host = host;
    this.timeout = timeout;
  }

  /**
   * A TCP store. The master listens on host:port (port 0 picks a free one, see {@link #port()}) and waits up to
   * timeout for worldSize - 1 clients; a client connects to host:port, retrying until timeout.
   */
  public static Store tcp(String host, int port, int worldSize, boolean isMaster, Duration timeout) {
    if (host == null) throw new NullPointerException("host");
    NativeInterop.requirePlatformThread();
    long ms = millis(timeout);
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      NativeInterop.check(cm_dist_store_tcp(a.allocateFrom(host), port, worldSize, isMaster ? 1 : 0, ms, out));
      return new Store(out.get(ValueLayout.ADDRESS, 0), host, timeout);
    }
  }

  static long millis(Duration timeout) {
    if (timeout == null) throw new NullPointerException("timeout");
    if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("timeout must be > 0: " + timeout);
    return Math.max(1, timeout.toMillis());
  }

  MemorySegment handle() {
    MemorySegment h = handle;
    if (h == null) throw new IllegalStateException("store was closed");
    return h;
  }

  /** The host the store listens on or connects to. */
  public String host() {
    return host;
  }

  /** The timeout of blocking store operations. */
  public Duration timeout() {
    return timeout;
  }

  /** The port the store listens on or connects to. */
  public int port() {
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.JAVA_INT);
      NativeInterop.check(cm_dist_store_port(handle(), out));
      return out.get(ValueLayout.JAVA_INT, 0);
    }
  }

  /** Sets key to value (overwriting). */
  public void set(String key, byte[] value) {
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment v = a.allocate(Math.max(1, value.length));
      MemorySegment.copy(value, 0, v, ValueLayout.JAVA_BYTE, 0, value.length);
      NativeInterop.check(cm_dist_store_set(handle(), a.allocateFrom(key), v, value.length));
    }
  }

  /** Sets key to a UTF-8 string. */
  public void setString(String key, String value) {
    set(key, value.getBytes(StandardCharsets.UTF_8));
  }

  /** The value of key, waiting up to the store's timeout for it to be set (TorchException on timeout). */
  public byte[] get(String key) {
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment k = a.allocateFrom(key);
      MemorySegment len = a.allocate(ValueLayout.JAVA_LONG);
      long cap = 256;
      while (true) {
        MemorySegment buf = a.allocate(cap);
        NativeInterop.check(cm_dist_store_get(handle(), k, buf, cap, len));
        long n = len.get(ValueLayout.JAVA_LONG, 0);
        if (n <= cap) return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        cap = n; // the key exists now: the second get returns at once
      }
    }
  }

  /** The value of key as a UTF-8 string (see {@link #get}). */
  public String getString(String key) {
    return new String(get(key), StandardCharsets.UTF_8);
  }

  /** Atomically adds delta to the counter at key (created at 0); returns the new value. */
  public long add(String key, long delta) {
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.JAVA_LONG);
      NativeInterop.check(cm_dist_store_add(handle(), a.allocateFrom(key), delta, out));
      return out.get(ValueLayout.JAVA_LONG, 0);
    }
  }

  /** Waits until all keys exist, at most timeout (TorchException otherwise). */
  public void waitFor(Duration timeout, String... keys) {
    long ms = millis(timeout);
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      NativeInterop.check(cm_dist_store_wait(handle(), keyArray(a, keys), keys.length, ms));
    }
  }

  /** Whether all keys exist now (does not wait). */
  public boolean check(String... keys) {
    NativeInterop.requirePlatformThread();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.JAVA_INT);
      NativeInterop.check(cm_dist_store_check(handle(), keyArray(a, keys), keys.length, out));
      return out.get(ValueLayout.JAVA_INT, 0) != 0;
    }
  }

  private static MemorySegment keyArray(Arena a, String[] keys) {
    MemorySegment arr = a.allocate(ValueLayout.ADDRESS, Math.max(1, keys.length));
    for (int i = 0; i < keys.length; i++) {
      if (keys[i] == null) throw new NullPointerException("key " + i);
      arr.setAtIndex(ValueLayout.ADDRESS, i, a.allocateFrom(keys[i]));
    }
    return arr;
  }

  /** Releases the store (process groups created from it keep their own reference). Idempotent. */
  @Override
  public void close() {
    MemorySegment h = handle;
    if (h == null) return;
    handle = null;
    NativeInterop.check(cm_dist_store_free(h));
  }
}
