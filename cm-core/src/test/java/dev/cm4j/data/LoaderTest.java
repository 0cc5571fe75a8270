package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.image.Png;
import dev.cm4j.image.UInt8Image;
import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoaderTest {
  @TempDir Path dir;

  /** n images c×r×r of random bytes, class labels i % classes. */
  static InMemoryImageDataset images(int n, int c, int r, int classes, long seed) {
    byte[] b = new byte[n * c * r * r];
    new Random(seed).nextBytes(b);
    int[] l = new int[n];
    for (int i = 0; i < n; i++) l[i] = i % classes;
    return new InMemoryImageDataset(b, n, c, r, Labels.classes(l, classes));
  }

  /** Everything a batch carries, copied to the heap. */
  record Snap(float[] x, float[] labels, int[] indices, boolean[] flipped) {
    static Snap of(Batch b) {
      return new Snap(b.x().toFloatArray(), b.labels() == null ? null : b.labels().toFloatArray(), b.indices(),
          b.flipped());
    }

    void assertSame(Snap o, String what) {
      assertArrayEquals(indices, o.indices, what + ": indices");
      assertArrayEquals(flipped, o.flipped, what + ": flips");
      assertArrayEquals(x, o.x, what + ": x"); // bit-exact (assertArrayEquals(float[]) compares exactly)
      assertArrayEquals(labels, o.labels, what + ": labels");
    }
  }

  private static List<Snap> take(Loader l, int k) {
    List<Snap> out = new ArrayList<>();
    try (TensorScope s = TensorScope.open()) {
      for (int i = 0; i < k; i++) out.add(Snap.of(l.next()));
    }
    return out;
  }

  @Test
  void collatesToMinusOneOneWithOneHotLabels() {
    InMemoryImageDataset ds = images(5, 3, 4, 3, 1);
    LoaderConfig cfg = LoaderConfig.of(5, 0).withShuffle(false).withPrefetch(0);
    try (Loader l = Loader.open(ds, cfg); TensorScope s = TensorScope.open()) {
      Batch b = l.next();
      assertArrayEquals(new long[] {5, 3, 4, 4}, b.x().shape());
      assertArrayEquals(new long[] {5, 3}, b.labels().shape());
      float[] x = b.x().toFloatArray();
      float[] y = b.labels().toFloatArray();
      byte[] px = new byte[48];
      for (int i = 0; i < 5; i++) {
        ds.readImage(i, px, 0);
        for (int j = 0; j < 48; j++) assertEquals((px[j] & 0xff) / 127.5f - 1f, x[i * 48 + j]);
        for (int k = 0; k < 3; k++) assertEquals(k == i % 3 ? 1f : 0f, y[i * 3 + k]);
      }
      assertArrayEquals(new int[] {0, 1, 2, 3, 4}, b.indices());
    }
    try (Loader l = Loader.open(ds, cfg.withLabels(false)); TensorScope s = TensorScope.open()) {
      assertNull(l.next().labels());
    }
  }

  @Test
  void padsWithMinusOneAndResizesLikeInterpolate() {
    InMemoryImageDataset ds = images(3, 1, 28, 10, 2);
    try (Loader l = Loader.open(ds, LoaderConfig.of(3, 0).withShuffle(false).withResize(32,
        LoaderConfig.Resize.PAD)); TensorScope s = TensorScope.open()) {
      Batch b = l.next();
      assertArrayEquals(new long[] {3, 1, 32, 32}, b.x().shape());
      Tensor inner = b.x().narrow(2, 2, 28).narrow(3, 2, 28);
      Tensor want = Tensor.of(toFloats(ds, 3, 784), 3, 1, 28, 28).div(127.5).sub(1.0);
      assertArrayEquals(want.toFloatArray(), inner.contiguous().toFloatArray());
      float[] x = b.x().toFloatArray();
      for (int i = 0; i < 3; i++) {
        for (int y = 0; y < 32; y++) {
          for (int xx = 0; xx < 32; xx++) {
            boolean border = y < 2 || y >= 30 || xx < 2 || xx >= 30;
            if (border) assertEquals(-1f, x[i * 1024 + y * 32 + xx]);
          }
        }
      }
    }
    for (int res : new int[] {32, 20}) {
      try (Loader l = Loader.open(ds, LoaderConfig.of(3, 0).withShuffle(false).withResize(res,
          LoaderConfig.Resize.BILINEAR)); TensorScope s = TensorScope.open()) {
        Batch b = l.next();
        Tensor src = Tensor.of(toFloats(ds, 3, 784), 3, 1, 28, 28).div(127.5).sub(1.0);
        float[] want = F.interpolate(src, res, res, F.Interpolation.BILINEAR, false).toFloatArray();
        float[] got = b.x().toFloatArray();
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 2e-6);
      }
    }
    assertThrows(IllegalArgumentException.class,
        () -> Loader.open(ds, LoaderConfig.of(3, 0).withResize(20, LoaderConfig.Resize.PAD)));
  }

  private static float[] toFloats(ImageDataset ds, int n, int per) {
    byte[] b = new byte[n * per];
    for (int i = 0; i < n; i++) ds.readImage(i, b, i * per);
    float[] f = new float[b.length];
    for (int i = 0; i < b.length; i++) f[i] = b[i] & 0xff;
    return f;
  }

  @Test
  void xflipMirrorsAboutHalfTheImagesReproducibly() {
    InMemoryImageDataset ds = images(400, 2, 6, 1, 3);
    LoaderConfig cfg = LoaderConfig.of(400, 11).withShuffle(false).withXflip(true).withLabels(false);
    boolean[] flips;
    try (Loader l = Loader.open(ds, cfg); TensorScope s = TensorScope.open()) {
      Batch b = l.next();
      flips = b.flipped();
      Tensor plain;
      try (Loader l2 = Loader.open(ds, cfg.withXflip(false))) {
        plain = l2.next().x();
      }
      float[] got = b.x().toFloatArray();
      float[] mirrored = plain.flip(3).toFloatArray();
      float[] same = plain.toFloatArray();
      int count = 0;
      for (int i = 0; i < 400; i++) {
        float[] want = flips[i] ? mirrored : same;
        for (int j = i * 72; j < (i + 1) * 72; j++) assertEquals(want[j], got[j]);
        if (flips[i]) count++;
      }
      assertTrue(Math.abs(count - 200) < 4 * 10, "flipped " + count + " of 400"); // sd = 10
    }
    try (Loader l = Loader.open(ds, cfg); TensorScope s = TensorScope.open()) {
      assertArrayEquals(flips, l.next().flipped());
    }
  }

  @Test
  void everyEpochIsASeededPermutationAndShardsAreDisjointAndCovering() {
    int n = 23;
    InMemoryPointDataset ds = new InMemoryPointDataset(new float[n], 1, null);
    for (int w : new int[] {1, 3, 4}) {
      // Three epochs of the infinite stream of each rank: per epoch, the union of the shards is 0..n-1 exactly once.
      List<List<Integer>> perRank = new ArrayList<>();
      for (int r = 0; r < w; r++) {
        LoaderConfig cfg = LoaderConfig.of(5, 42).withShard(r, w);
        List<Integer> seq = new ArrayList<>();
        try (Loader l = Loader.open(ds, cfg)) {
          int want = 3 * n / w + 10;
          while (seq.size() < want) {
            try (Batch b = l.next()) {
              for (int i : b.indices()) seq.add(i);
            }
          }
        }
        perRank.add(seq);
      }
      for (int e = 0; e < 3; e++) {
        int[] perm = Loader.permutation(n, 42, e, true);
        List<Integer> seen = new ArrayList<>();
        for (int p = 0; p < n; p++) {
          int g = e * n + p; // global stream position
          int r = g % w;
          int k = g / w; // index in rank r's stream
          int item = perRank.get(r).get(k);
          assertEquals(perm[p], item, "w=" + w + " epoch " + e + " position " + p);
          seen.add(item);
        }
        assertEquals(n, new HashSet<>(seen).size(), "epoch " + e + " covers the dataset");
      }
      assertFalse(Arrays.equals(Loader.permutation(n, 42, 0, true), Loader.permutation(n, 42, 1, true)));
      assertFalse(Arrays.equals(Loader.permutation(n, 42, 0, true), Loader.permutation(n, 43, 0, true)));
    }
  }

  @Test
  void finiteLoaderYieldsOneEpochWithAPartialLastBatchPerShard() {
    int n = 10;
    InMemoryPointDataset ds = new InMemoryPointDataset(new float[2 * n], 2, null);
    Set<Integer> all = new HashSet<>();
    int total = 0;
    for (int r = 0; r < 3; r++) {
      LoaderConfig cfg = LoaderConfig.of(3, 7).withInfinite(false).withShard(r, 3).withPrefetch(r);
      List<Integer> sizes = new ArrayList<>();
      try (Loader l = Loader.open(ds, cfg)) {
        while (l.hasNext()) {
          try (Batch b = l.next()) {
            sizes.add(b.size());
            assertArrayEquals(new long[] {b.size(), 2}, b.x().shape());
            for (int i : b.indices()) {
              all.add(i);
              total++;
            }
          }
        }
        assertEquals(1, l.state().epoch());
        assertThrows(java.util.NoSuchElementException.class, l::next);
      }
      int shard = (n - r + 2) / 3; // ceil((n - r) / 3)
      assertEquals(shard, sizes.stream().mapToInt(Integer::intValue).sum(), "rank " + r);
      assertEquals(shard % 3 == 0 ? 3 : shard % 3, sizes.getLast());
    }
    assertEquals(n, total);
    assertEquals(n, all.size());
  }

  @Test
  void resumesExactlyFromASavedState() {
    InMemoryImageDataset ds = images(37, 3, 8, 5, 4);
    LoaderConfig cfg = LoaderConfig.of(8, 1234).withXflip(true).withResize(10, LoaderConfig.Resize.PAD)
        .withShard(1, 2).withPrefetch(3);
    int first = 7; // 56 items of a 19-item shard: several epoch boundaries, inside batches too
    int more = 6;
    List<Snap> reference;
    LoaderState saved;
    String json;
    try (Loader l = Loader.open(ds, cfg)) {
      take(l, first);
      saved = l.state();
      json = saved.toJson();
      reference = take(l, more);
    }
    assertEquals(saved, LoaderState.fromJson(json));
    // A new loader (other prefetch depth too) resumed from the JSON state yields the same batches bit for bit.
    for (int prefetch : new int[] {0, 1, 3}) {
      try (Loader l = Loader.open(ds, cfg.withPrefetch(prefetch), LoaderState.fromJson(json))) {
        List<Snap> again = take(l, more);
        for (int k = 0; k < more; k++) reference.get(k).assertSame(again.get(k), "prefetch " + prefetch + " batch " + k);
      }
    }
    // The uninterrupted stream agrees too, whatever the prefetch depth.
    try (Loader l = Loader.open(ds, cfg.withPrefetch(0))) {
      List<Snap> all = take(l, first + more);
      for (int k = 0; k < more; k++) reference.get(k).assertSame(all.get(first + k), "uninterrupted batch " + k);
    }
    // A state from another configuration is refused.
    LoaderState s = saved;
    assertThrows(IllegalArgumentException.class, () -> Loader.open(ds, cfg.withShard(0, 2), s));
    assertThrows(IllegalArgumentException.class, () -> Loader.open(ds, LoaderConfig.of(8, 99).withShard(1, 2), s));
  }

  @Test
  void batchTensorsBelongToTheConsumersScope() {
    InMemoryImageDataset ds = images(16, 1, 4, 2, 5);
    Batch b;
    try (Loader l = Loader.open(ds, LoaderConfig.of(4, 0).withPrefetch(2))) {
      try (TensorScope s = TensorScope.open()) {
        b = l.next();
        assertEquals(2, s.liveCount());
      }
      assertTrue(b.x().released());
      assertTrue(b.labels().released());
      Batch owned = l.next(); // no scope: the caller owns it
      assertFalse(owned.x().released());
      owned.close();
      assertTrue(owned.x().released());
    }
  }

  @Test
  void aCorruptFileSurfacesAsADataExceptionNamingIt() throws Exception {
    Path d = dir.resolve("ds");
    Files.createDirectories(d.resolve("00000"));
    for (int i = 0; i < 6; i++) {
      Png.write(UInt8Image.zeros(1, 4, 4), d.resolve("00000/img%08d.png".formatted(i)));
    }
    Path bad = d.resolve("00000/img00000004.png");
    Files.write(bad, new byte[] {(byte) 0x89, 'P', 'N', 'G', 0, 0, 0});
    for (int prefetch : new int[] {0, 2}) {
      try (ImageFolderDataset ds = ImageFolderDataset.open(d);
          Loader l = Loader.open(ds, LoaderConfig.of(3, 0).withShuffle(false).withPrefetch(prefetch))) {
        l.next().close();
        DataException e = assertThrows(DataException.class, l::next);
        assertTrue(e.getMessage().contains("img00000004.png"), e.getMessage());
        assertTrue(e.file().endsWith("img00000004.png"), e.file());
        assertThrows(IllegalStateException.class, l::next);
      }
    }
  }

  @Test
  void pointDatasetsBatchUnchangedAndRejectImageOptions() {
    float[] v = new float[20];
    for (int i = 0; i < v.length; i++) v[i] = i * 0.5f - 3;
    InMemoryPointDataset ds = new InMemoryPointDataset(v, 2, Labels.vectors(new float[10], 1));
    try (Loader l = Loader.open(ds, LoaderConfig.of(4, 0).withShuffle(false)); TensorScope s = TensorScope.open()) {
      Batch b = l.next();
      assertArrayEquals(Arrays.copyOf(v, 8), b.x().toFloatArray());
      assertArrayEquals(new long[] {4, 1}, b.labels().shape());
    }
    assertThrows(IllegalArgumentException.class, () -> Loader.open(ds, LoaderConfig.of(4, 0).withXflip(true)));
  }

  @Test
  void closeStopsThePrefetchThread() throws Exception {
    InMemoryImageDataset ds = images(64, 1, 4, 2, 6);
    Loader l = Loader.open(ds, LoaderConfig.of(4, 0).withPrefetch(2));
    l.next().close();
    l.close();
    l.close();
    assertThrows(IllegalStateException.class, l::next);
    Thread.sleep(50);
    assertTrue(Thread.getAllStackTraces().keySet().stream()
        .noneMatch(t -> t.getName().equals("cm4j-loader") && t.isAlive()), "prefetch thread still running");
  }
}
