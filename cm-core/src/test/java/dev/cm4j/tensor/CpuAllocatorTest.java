package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.bindings.ffi.CmTorch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class CpuAllocatorTest {
  private static final long MIB = 1L << 20;

  @AfterEach
  void restoreDefaults() {
    CpuAllocator.enable(CpuAllocator.Settings.defaults());
  }

  /** The size class the allocator documents, computed independently: 4 KiB steps to 64 KiB, then 8 per octave. */
  private static long sizeClass(long n) {
    if (n <= 65536) return (n + 4095) / 4096 * 4096;
    long top = Long.highestOneBit(n - 1);
    long step = Math.max(top / 8, 4096);
    return (n + step - 1) / step * step;
  }

  private static Tensor floats(long count) {
    return Tensor.empty(new long[] {count}, DType.FLOAT32, Device.CPU);
  }

  @Test
  void installedByDefaultWhenTheLibraryLoads() {
    String choice = CpuAllocator.configuredChoice();
    assertEquals(choice.equals("caching"), CpuAllocator.enabled(), "configured: " + choice);
  }

  @Test
  void aFreedBlockIsReusedForTheNextRequestOfItsSizeClass() {
    CpuAllocator.enable(new CpuAllocator.Settings(256 << 10, 1L << 30, false));
    CpuAllocator.releaseCached();
    long bytes = 1_000_000 * 4L; // 4,000,000 bytes -> class 4,194,304 (2^21 step 262,144 * 16)
    long cls = sizeClass(bytes);
    assertEquals(4_194_304L, cls);
    CpuAllocator.Stats s0 = CpuAllocator.stats();
    Tensor a = floats(1_000_000);
    CpuAllocator.Stats s1 = CpuAllocator.stats();
    assertEquals(s0.misses() + 1, s1.misses());
    assertEquals(s0.allocatedBytes() + cls, s1.allocatedBytes());
    assertEquals(s0.liveBlocks() + 1, s1.liveBlocks());
    long addr = a.dataAddress();
    a.close();
    CpuAllocator.Stats s2 = CpuAllocator.stats();
    assertEquals(s0.allocatedBytes(), s2.allocatedBytes());
    assertEquals(s0.cachedBytes() + cls, s2.cachedBytes());
    // A request of a different size in the same class gets the same block back, without a fresh mapping.
    Tensor b = floats(bytes / 4 - 1000);
    CpuAllocator.Stats s3 = CpuAllocator.stats();
    assertEquals(s2.hits() + 1, s3.hits());
    assertEquals(s2.misses(), s3.misses());
    assertEquals(addr, b.dataAddress());
    assertEquals(s0.cachedBytes(), s3.cachedBytes());
    assertTrue(s3.peakAllocatedBytes() >= s3.allocatedBytes());
    b.close();
  }

  @Test
  void sizeClassesFollowTheDocumentedRule() {
    CpuAllocator.enable(new CpuAllocator.Settings(1, 1L << 30, false));
    for (long n : new long[] {1, 4096, 4097, 65536, 65537, 300_000, 1 << 20, (1 << 20) + 1, 123_456_789}) {
      CpuAllocator.Stats before = CpuAllocator.stats();
      try (Tensor t = Tensor.empty(new long[] {n}, DType.UINT8, Device.CPU)) {
        long cls = CpuAllocator.stats().allocatedBytes() - before.allocatedBytes();
        assertEquals(sizeClass(n), cls, "size class of " + n);
        assertTrue(cls >= n && cls <= (n <= 65536 ? n + 4095 : n + n / 8), n + " -> " + cls);
      }
    }
  }

  @Test
  void smallRequestsBypassTheCache() {
    CpuAllocator.Stats before = CpuAllocator.stats();
    try (Tensor t = floats(1000)) { // 4,000 bytes < 256 KiB
      CpuAllocator.Stats during = CpuAllocator.stats();
      assertEquals(before.allocatedBytes(), during.allocatedBytes());
      assertEquals(before.hits() + before.misses(), during.hits() + during.misses());
    }
  }

  @Test
  void reusedMemoryHoldsCorrectResults() {
    CpuAllocator.enable(new CpuAllocator.Settings(4096, 1L << 30, true));
    // Dirty a block, free it, then ask for zeros and a computed result in the same size class.
    try (Tensor dirty = Tensor.full(new long[] {512, 512}, 7.0, DType.FLOAT32, Device.CPU)) {
      assertEquals(7.0, dirty.sum().item() / (512 * 512), 0);
    }
    try (TensorScope scope = TensorScope.open()) {
      Tensor z = Tensor.zeros(new long[] {512, 512}, DType.FLOAT32, Device.CPU);
      assertEquals(0.0, z.abs().sum().item(), 0);
      Tensor x = Tensor.arange(0, 512 * 512, 1, DType.FLOAT64, Device.CPU).reshape(512, 512);
      Tensor y = x.mul(2.0).add(1.0);
      // sum over k of (2k + 1) for k < n is n^2.
      double n = 512.0 * 512.0;
      assertEquals(n * n, y.sum().item(), 0);
    }
  }

  @Test
  void theCacheBoundIsKeptAndReleaseCachedEmptiesIt() {
    CpuAllocator.enable(new CpuAllocator.Settings(256 << 10, 3 * MIB, false));
    CpuAllocator.releaseCached();
    CpuAllocator.Stats s0 = CpuAllocator.stats();
    List<Tensor> ts = new ArrayList<>();
    for (int i = 0; i < 4; i++) ts.add(floats(MIB / 4)); // four 1 MiB blocks
    ts.forEach(Tensor::close);
    CpuAllocator.Stats s1 = CpuAllocator.stats();
    assertEquals(3 * MIB, s1.cachedBytes(), "three blocks fit under the 3 MiB bound");
    assertEquals(s0.released() + 1, s1.released(), "the fourth went back to the OS");
    // Lowering the bound releases the excess at once.
    CpuAllocator.enable(new CpuAllocator.Settings(256 << 10, MIB, false));
    assertEquals(MIB, CpuAllocator.stats().cachedBytes());
    CpuAllocator.releaseCached();
    CpuAllocator.Stats s2 = CpuAllocator.stats();
    assertEquals(0, s2.cachedBytes());
    assertEquals(s0.released() + 4, s2.released());
  }

  @Test
  void disablingStopsCachingAndBlocksStillInUseAreFreedCorrectly() {
    Tensor alive = floats(MIB); // 4 MiB from the caching allocator
    long live = CpuAllocator.stats().liveBlocks();
    CpuAllocator.disable();
    assertFalse(CpuAllocator.enabled());
    assertNull(CpuAllocator.current());
    assertTrue(CpuAllocator.describe().startsWith("caching off"), CpuAllocator.describe());
    CpuAllocator.Stats s0 = CpuAllocator.stats();
    assertEquals(0, s0.cachedBytes());
    try (Tensor other = floats(MIB)) { // passed to libtorch's allocation function now
      assertEquals(s0.misses() + s0.hits(), CpuAllocator.stats().misses() + CpuAllocator.stats().hits());
      other.fill_(3.0);
      alive.fill_(1.0);
      assertEquals(4.0 * MIB * 1, alive.add(other).sum().item() / 1.0, 0);
    }
    alive.close();
    CpuAllocator.Stats s1 = CpuAllocator.stats();
    assertEquals(live - 1, s1.liveBlocks());
    assertEquals(0, s1.cachedBytes(), "a block freed while disabled goes back to the OS");
    assertEquals(s0.released() + 1, s1.released());
    CpuAllocator.enable(CpuAllocator.Settings.defaults());
    assertTrue(CpuAllocator.enabled());
    assertEquals(CpuAllocator.Settings.defaults(), CpuAllocator.current());
    assertTrue(CpuAllocator.describe().startsWith("cm4j caching (blocks >= 256 KiB"), CpuAllocator.describe());
  }

  @Test
  void convolutionsGiveTheSameResultsWithCachingOnOffAndOnAgain() {
    // oneDNN's convolutions take their buffers through libtorch's registered CPU allocator (raw_allocate) and free
    // them through whichever allocator is registered then: switching must keep both directions working.
    Generator g = Generator.cpu(7);
    try (TensorScope scope = TensorScope.open()) {
      Tensor x = Tensor.randn(new long[] {4, 64, 32, 32}, DType.FLOAT32, Device.CPU, g).requiresGrad_(true);
      Tensor w = Tensor.randn(new long[] {64, 64, 3, 3}, DType.FLOAT32, Device.CPU, g).mul(0.05);
      float[][] results = new float[3][];
      float[][] grads = new float[3][];
      for (int k = 0; k < 3; k++) {
        if (k == 1) CpuAllocator.disable();
        if (k == 2) CpuAllocator.enable(CpuAllocator.Settings.defaults());
        CpuAllocator.Stats before = CpuAllocator.stats();
        Tensor y = F.conv2d(x, w, null, 1, 1, 1, 1);
        Tensor loss = y.square().sum();
        x.setGrad(null);
        loss.backward();
        results[k] = y.detach().toFloatArray();
        grads[k] = x.grad().toFloatArray();
        CpuAllocator.Stats after = CpuAllocator.stats();
        long served = (after.hits() + after.misses()) - (before.hits() + before.misses());
        if (k == 1) assertEquals(0, served, "caching off: nothing served from the cache");
        else assertTrue(served > 0, "caching on: the convolution's buffers came from the cache");
      }
      assertArrayEquals(results[0], results[1], 0f);
      assertArrayEquals(results[0], results[2], 0f);
      assertArrayEquals(grads[0], grads[1], 0f);
      assertArrayEquals(grads[0], grads[2], 0f);
    }
  }

  @Test
  void blocksOfTwoMebibytesAndMoreAreHugePageAlignedAndAdvised() throws IOException {
    CpuAllocator.enable(new CpuAllocator.Settings(256 << 10, 1L << 30, true));
    CpuAllocator.releaseCached();
    try (Tensor t = floats(4 * MIB)) { // 16 MiB
      long addr = t.dataAddress();
      assertEquals(0, addr % (2 * MIB), "2 MiB-aligned: 0x" + Long.toHexString(addr));
      t.fill_(1.0); // touch every page
      String thp = readOrEmpty(Path.of("/sys/kernel/mm/transparent_hugepage/enabled"));
      String smaps = readOrEmpty(Path.of("/proc/self/smaps"));
      if (smaps.isEmpty()) return; // not Linux with /proc: alignment is all that can be checked
      String vma = mappingContaining(smaps, addr);
      assertNotNull(vma, "a mapping holds the block");
      assertTrue(vma.contains("hg"), "VmFlags show MADV_HUGEPAGE (hg):\n" + vma);
      if (thp.contains("[always]") || thp.contains("[madvise]")) {
        long huge = kb(vma, "AnonHugePages:");
        assertTrue(huge > 0, "THP is " + thp.trim() + " but the block has no huge pages:\n" + vma);
      }
    }
  }

  @Test
  void concurrentAllocationsKeepTheBookkeepingConsistent() throws Exception {
    CpuAllocator.enable(new CpuAllocator.Settings(256 << 10, 64 * MIB, false));
    CpuAllocator.Stats s0 = CpuAllocator.stats();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Thread[] threads = new Thread[4];
    for (int k = 0; k < threads.length; k++) {
      int seed = k;
      threads[k] = new Thread(() -> {
        try {
          for (int i = 0; i < 200; i++) {
            long n = (65536L << ((i + seed) % 4)) + i;
            try (Tensor t = floats(n)) {
              t.fill_(seed);
              if (t.sum().item() != (double) seed * n) throw new AssertionError("wrong sum at " + i);
            }
          }
        } catch (Throwable e) {
          failure.compareAndSet(null, e);
        }
      });
      threads[k].start();
    }
    for (Thread t : threads) t.join();
    if (failure.get() != null) throw new AssertionError(failure.get());
    CpuAllocator.Stats s1 = CpuAllocator.stats();
    assertEquals(s0.allocatedBytes(), s1.allocatedBytes());
    assertEquals(s0.liveBlocks(), s1.liveBlocks());
    assertEquals(800, (s1.hits() - s0.hits()) + (s1.misses() - s0.misses()));
    assertTrue(s1.hits() - s0.hits() > 700, "most requests are served from the cache: " + s1);
  }

  @Test
  void badSettingsAreRejectedWithClearMessages() {
    assertThrows(IllegalArgumentException.class, () -> new CpuAllocator.Settings(0, 1, true));
    assertThrows(IllegalArgumentException.class, () -> new CpuAllocator.Settings(1, -1, true));
    // The C API checks on its own too.
    assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_cpu_allocator_configure(1, 0, 0, 1));
    assertTrue(Native.cString(CmTorch.cm_last_error()).contains("min_bytes"));
    assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_cpu_allocator_configure(1, 1, -5, 1));
    assertTrue(Native.cString(CmTorch.cm_last_error()).contains("max_cached_bytes"));
    assertTrue(CpuAllocator.enabled(), "a rejected call changes nothing");
  }

  private static String readOrEmpty(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }

  /** The smaps entry (header line through VmFlags) of the mapping that contains addr, or null. */
  private static String mappingContaining(String smaps, long addr) {
    String[] lines = smaps.split("\n");
    for (int i = 0; i < lines.length; i++) {
      String l = lines[i];
      int dash = l.indexOf('-');
      int sp = l.indexOf(' ');
      if (dash <= 0 || sp <= dash || !l.substring(0, dash).matches("[0-9a-f]+")) continue;
      long lo = Long.parseUnsignedLong(l.substring(0, dash), 16);
      long hi = Long.parseUnsignedLong(l.substring(dash + 1, sp), 16);
      if (addr >= lo && addr < hi) {
        StringBuilder b = new StringBuilder(l).append('\n');
        for (int j = i + 1; j < lines.length; j++) {
          b.append(lines[j]).append('\n');
          if (lines[j].startsWith("VmFlags:")) break;
        }
        return b.toString();
      }
    }
    return null;
  }

  private static long kb(String vma, String key) {
    for (String l : vma.split("\n")) {
      if (l.startsWith(key)) return Long.parseLong(l.substring(key.length()).trim().split("\\s+")[0]);
    }
    return -1;
  }
}
