package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Stream;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import dev.cm4j.testing.TestDevice;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Batches for a device that is not the CPU ({@link TestDevice}): staged in pinned host memory, uploaded with
 * non-blocking copies on a side stream one batch ahead, and equal to the CPU loader's bit for bit; the saved state
 * counts only the batches handed out, so a loader resumed from it continues exactly.
 */
class DeviceLoaderTest {
  static Device device;

  @BeforeAll
  static void load() {
    device = TestDevice.device();
  }

  /** A batch copied to the heap, with the loader's state after it. */
  record Got(LoaderTest.Snap snap, LoaderState state) {}

  static List<Got> take(Loader l, Device d, int k) {
    List<Got> out = new ArrayList<>();
    try (TensorScope s = TensorScope.open()) {
      for (int i = 0; i < k; i++) {
        Batch b = l.next(d);
        assertEquals(d, b.x().device(), "batch on the asked device");
        if (b.labels() != null) assertEquals(d, b.labels().device());
        out.add(new Got(LoaderTest.Snap.of(b), l.state()));
      }
    }
    return out;
  }

  static void assertSameBatches(List<Got> want, List<Got> got, String what) {
    assertEquals(want.size(), got.size(), what + ": batch count");
    for (int i = 0; i < want.size(); i++) {
      want.get(i).snap().assertSame(got.get(i).snap(), what + ", batch " + i);
      assertEquals(want.get(i).state(), got.get(i).state(), what + ", state after batch " + i);
    }
  }

  @Test
  void deviceBatchesEqualTheCpuLoadersBitForBit() {
    InMemoryImageDataset ds = LoaderTest.images(23, 3, 6, 4, 5);
    for (int prefetch : new int[] {0, 2}) {
      for (boolean labels : new boolean[] {true, false}) {
        LoaderConfig cfg = LoaderConfig.of(5, 7).withXflip(true).withLabels(labels).withPrefetch(prefetch);
        List<Got> cpu;
        try (Loader l = Loader.open(ds, cfg)) {
          cpu = take(l, Device.CPU, 9); // straddles epochs (23 items, batches of 5)
        }
        try (Loader l = Loader.open(ds, cfg)) {
          assertSameBatches(cpu, take(l, device, 9), "prefetch " + prefetch + ", labels " + labels);
        }
      }
    }
  }

  @Test
  void uploadsArePinnedNonBlockingOnASideStreamAndIssuedOneBatchAhead() {
    assertTrue(Torch.pinnedMemoryAvailable(), "the test device provides pinned host memory (needs libcm_torch built"
        + " with pinned memory and streams for a registered PrivateUse1 backend: rebuild native/)");
    InMemoryImageDataset ds = LoaderTest.images(40, 1, 4, 2, 6);
    LoaderConfig cfg = LoaderConfig.of(4, 3).withPrefetch(0); // with labels: two uploads per batch
    try (Loader l = Loader.open(ds, cfg); TensorScope s = TensorScope.open()) {
      long current = Stream.current(device).id();
      TestDevice.resetCounters();
      l.next(device);
      // the first call uploads its own batch and the next one's
      assertEquals(4, TestDevice.hostToDeviceCopies(), "batches 0 and 1 (x and labels) uploaded by the first call");
      assertEquals(4, TestDevice.pinnedAsyncUploads(), "every upload reads pinned memory without blocking");
      assertNotEquals(current, TestDevice.lastUploadStream(), "uploads are queued on a side stream");
      assertTrue(TestDevice.streamWaits() >= 1, "the consumer's stream waits for the upload of its batch");
      for (int k = 1; k <= 3; k++) {
        TestDevice.resetCounters();
        l.next(device);
        assertEquals(2, TestDevice.hostToDeviceCopies(), "call " + k + " uploads batch " + (k + 1) + " ahead");
        assertEquals(2, TestDevice.pinnedAsyncUploads());
        assertTrue(TestDevice.streamWaits() >= 1, "call " + k + ": the current stream waits for the side stream");
        assertEquals(0, TestDevice.hostSyncs(), "no host round trip: " + TestDevice.lastSync());
      }
      assertEquals(current, Stream.current(device).id(), "the caller's current stream is unchanged");
    }
  }

  @Test
  void resumingFromTheStateAfterNBatchesContinuesExactly() {
    InMemoryImageDataset ds = LoaderTest.images(31, 2, 5, 3, 8);
    LoaderConfig cfg = LoaderConfig.of(6, 9).withXflip(true).withPrefetch(2);
    List<Got> whole;
    try (Loader l = Loader.open(ds, cfg)) {
      whole = take(l, device, 12);
    }
    for (int n : new int[] {1, 5, 7}) {
      LoaderState saved;
      try (Loader l = Loader.open(ds, cfg)) {
        assertSameBatches(whole.subList(0, n), take(l, device, n), "first " + n);
        saved = l.state(); // a batch beyond n is already uploaded: the state must not count it
      }
      assertEquals(whole.get(n - 1).state(), saved);
      try (Loader l = Loader.open(ds, cfg, saved)) {
        assertSameBatches(whole.subList(n, 12), take(l, device, 12 - n), "resumed after " + n);
      }
      try (Loader l = Loader.open(ds, cfg, saved)) { // and resumed on the CPU: the same stream
        assertSameBatches(whole.subList(n, 12), take(l, Device.CPU, 12 - n), "resumed on the CPU after " + n);
      }
    }
  }

  @Test
  void aFiniteEpochEndsWithTheBatchUploadedAheadDeliveredAndSwitchingDevicesKeepsTheStream() {
    InMemoryImageDataset ds = LoaderTest.images(11, 1, 3, 2, 4);
    LoaderConfig cfg = LoaderConfig.of(4, 1).withInfinite(false).withPrefetch(0);
    List<Got> cpu;
    try (Loader l = Loader.open(ds, cfg)) {
      cpu = take(l, Device.CPU, 3);
      assertFalse(l.hasNext());
    }
    try (Loader l = Loader.open(ds, cfg); TensorScope s = TensorScope.open()) {
      List<Got> got = new ArrayList<>(take(l, device, 1));
      got.addAll(take(l, Device.CPU, 1)); // the batch uploaded ahead for the device is handed out on the CPU
      assertTrue(l.hasNext());
      got.addAll(take(l, device, 1)); // the last, partial batch
      assertFalse(l.hasNext());
      assertThrows(java.util.NoSuchElementException.class, () -> l.next(device));
      assertSameBatches(cpu, got, "finite epoch");
    }
  }
}
