package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;

import dev.cm4j.bindings.ffi.cm_allocator_stats;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * cm4j's caching CPU allocator for libtorch tensors, on by default.
 *
 * <p>libtorch's default CPU allocator takes every buffer from malloc. A training step frees and re-allocates the same
 * activation and gradient buffers each iteration, and glibc returns the big ones to the OS in between, so every step
 * page-faults them in again (the kernel zeroes each page). The caching allocator keeps freed blocks of at least
 * {@link Settings#minBytes()} in per-size-class free lists (4 KiB steps up to 64 KiB, then eight classes per power of
 * two: at most 12.5 % above a request over 64 KiB) and hands them back on the next request: a steady loop runs
 * without system calls or page faults, and blocks of 2 MiB and more sit on transparent huge pages when
 * {@link Settings#hugePages()} is set and the kernel allows it (fewer TLB misses in convolution GEMMs). Smaller
 * requests go to libtorch's own allocation function.
 *
 * <p>The free bytes it holds never exceed {@link Settings#maxCachedBytes()}; {@link #releaseCached()} returns them to
 * the OS at once (like {@code torch.cuda.empty_cache()}), and a failing fresh mapping releases them and retries before
 * reporting out-of-memory. The allocator is installed when the native library loads unless the system property
 * {@code cm4j.cpuAllocator} or the environment variable {@code CM4J_CPU_ALLOCATOR} is {@code default} (libtorch's
 * allocator, never replaced; {@code caching} is the default value). {@link #enable} and {@link #disable} may be
 * called at any time: every buffer is freed by the function that allocated it.
 */
public final class CpuAllocator {
  static {
    Native.ensureLoaded();
  }

  /** Smallest request served from the cache by default: 256 KiB. */
  public static final long DEFAULT_MIN_BYTES = 256L << 10;

  /** The settings last installed through this class, or null while caching is off. */
  private static volatile Settings current;

  private CpuAllocator() {}

  /**
   * Settings of the caching allocator.
   *
   * @param minBytes smallest request (bytes) served from the cache; smaller ones go to libtorch's allocation function
   * @param maxCachedBytes bound on the free bytes kept for reuse; a block freed beyond it returns to the OS
   * @param hugePages advise transparent huge pages for blocks of 2 MiB and more
   */
  public record Settings(long minBytes, long maxCachedBytes, boolean hugePages) {
    public Settings {
      if (minBytes < 1) throw new IllegalArgumentException("minBytes must be at least 1: " + minBytes);
      if (maxCachedBytes < 0) {
        throw new IllegalArgumentException("maxCachedBytes must not be negative: " + maxCachedBytes);
      }
    }

    /** The defaults: 256 KiB, a quarter of the machine's physical memory, huge pages on. */
    public static Settings defaults() {
      return new Settings(DEFAULT_MIN_BYTES, defaultMaxCachedBytes(), true);
    }
  }

  /**
   * Statistics of the caching allocator (sizes are size-class bytes, counts since the process started).
   *
   * @param allocatedBytes bytes in live blocks it handed out
   * @param cachedBytes free bytes it holds for reuse
   * @param peakAllocatedBytes the highest {@code allocatedBytes} so far
   * @param hits requests served from the cache
   * @param misses requests that mapped a fresh block
   * @param released blocks returned to the OS
   * @param liveBlocks blocks in use
   */
  public record Stats(long allocatedBytes, long cachedBytes, long peakAllocatedBytes, long hits, long misses,
      long released, long liveBlocks) {
    @Override
    public String toString() {
      return String.format(Locale.ROOT, "allocated %.1f MiB (peak %.1f MiB), cached %.1f MiB, %d hits, %d misses, "
          + "%d released, %d live blocks", allocatedBytes / 1048576.0, peakAllocatedBytes / 1048576.0,
          cachedBytes / 1048576.0, hits, misses, released, liveBlocks);
    }
  }

  /** Installs the caching allocator as libtorch's CPU allocator with these settings (or reconfigures it). */
  public static void enable(Settings s) {
    Native.check(cm_cpu_allocator_configure(1, s.minBytes(), s.maxCachedBytes(), s.hugePages() ? 1 : 0));
    current = s;
  }

  /**
   * Stops caching: the cached blocks go back to the OS, blocks in use go back when freed, and later requests pass to
   * libtorch's own allocation function. (The allocator object stays registered with libtorch: oneDNN frees its
   * buffers through whichever CPU allocator is registered at that time, and this one frees both kinds correctly.)
   */
  public static void disable() {
    Native.check(cm_cpu_allocator_configure(0, 1, 0, 0));
    current = null;
  }

  /** The settings in force, or null while caching is off (libtorch's own allocation function serves every request). */
  public static Settings current() {
    return enabled() ? current : null;
  }

  /** One line for diagnostics ({@code cm info}): the allocator in use and its settings. */
  public static String describe() {
    Settings s = current();
    if (s == null) return "caching off: libtorch's own allocation (CM4J_CPU_ALLOCATOR / -Dcm4j.cpuAllocator)";
    return String.format(Locale.ROOT, "cm4j caching (blocks >= %d KiB, cache bound %.1f GiB, huge pages %s)",
        s.minBytes() >> 10, s.maxCachedBytes() / (double) (1L << 30), s.hugePages() ? "advised" : "off");
  }

  /** Whether the caching allocator is libtorch's current CPU allocator and caching. */
  public static boolean enabled() {
    Native.Scratch s = Native.scratch();
    Native.check(cm_cpu_allocator_enabled(s.out));
    return s.out.get(ValueLayout.JAVA_INT, 0) != 0;
  }

  /** The current statistics. */
  public static Stats stats() {
    Native.Scratch s = Native.scratch();
    MemorySegment st = s.outs.asSlice(0, cm_allocator_stats.layout());
    Native.check(cm_cpu_allocator_stats(st));
    return new Stats(cm_allocator_stats.allocated_bytes(st), cm_allocator_stats.cached_bytes(st),
        cm_allocator_stats.peak_allocated_bytes(st), cm_allocator_stats.hits(st), cm_allocator_stats.misses(st),
        cm_allocator_stats.released_blocks(st), cm_allocator_stats.live_blocks(st));
  }

  /** Returns every free cached block to the OS; blocks in use are untouched. */
  public static void releaseCached() {
    Native.check(cm_cpu_allocator_release_cached());
  }

  /** A quarter of the physical memory (1 GiB when the JVM cannot tell). */
  static long defaultMaxCachedBytes() {
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      long total = os.getTotalMemorySize();
      if (total > 0) return total / 4;
    }
    return 1L << 30;
  }

  /**
   * The choice made at load time: {@code caching} (the default) or {@code default}, from the system property
   * {@code cm4j.cpuAllocator} or else the environment variable {@code CM4J_CPU_ALLOCATOR}.
   */
  static String configuredChoice() {
    String v = System.getProperty("cm4j.cpuAllocator");
    if (v == null || v.isBlank()) v = System.getenv("CM4J_CPU_ALLOCATOR");
    if (v == null || v.isBlank()) return "caching";
    v = v.trim().toLowerCase(Locale.ROOT);
    if (!v.equals("caching") && !v.equals("default")) {
      throw new IllegalArgumentException("cm4j.cpuAllocator / CM4J_CPU_ALLOCATOR must be 'caching' or 'default', got '"
          + v + "'");
    }
    return v;
  }
}
