package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.testing.PythonRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Cifar10DatasetTest {
  @TempDir Path dir;

  @Test
  void readsBinaryBatchesInOrder() throws Exception {
    // Python writes five small training batches and a test batch, plus the expected HWC→CHW images and labels.
    PythonRef.run("""
        import sys, os, numpy as np
        d = sys.argv[1]; rng = np.random.default_rng(2)
        def batch(name, n):
            hwc = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8); lab = rng.integers(0, 10, n, dtype=np.uint8)
            chw = hwc.transpose(0, 3, 1, 2)                      # CIFAR-10 binary stores R, G, B planes
            rec = np.concatenate([lab[:, None], chw.reshape(n, -1)], axis=1)
            open(os.path.join(d, name), 'wb').write(rec.tobytes())
            return chw, lab
        parts = [batch('data_batch_%d.bin' % k, k) for k in range(1, 6)]
        chw = np.concatenate([p[0] for p in parts]); lab = np.concatenate([p[1] for p in parts])
        open(os.path.join(d, 'train.chw'), 'wb').write(chw.tobytes()); open(os.path.join(d, 'train.lab'), 'wb').write(lab.tobytes())
        chw, lab = batch('test_batch.bin', 2)
        open(os.path.join(d, 'test.chw'), 'wb').write(chw.tobytes()); open(os.path.join(d, 'test.lab'), 'wb').write(lab.tobytes())
        """, dir.toString());
    for (String split : new String[] {"train", "test"}) {
      Cifar10Dataset ds = Cifar10Dataset.open(dir, split.equals("train"));
      byte[] chw = Files.readAllBytes(dir.resolve(split + ".chw"));
      byte[] lab = Files.readAllBytes(dir.resolve(split + ".lab"));
      assertEquals(lab.length, ds.size());
      assertEquals(split.equals("train") ? 15 : 2, ds.size());
      assertEquals(3, ds.channels());
      assertEquals(32, ds.resolution());
      assertEquals(10, ds.labelDim());
      for (int i = 0; i < ds.size(); i++) {
        assertArrayEquals(Arrays.copyOfRange(chw, i * 3072, (i + 1) * 3072), ds.image(i).data(), split + " " + i);
        assertEquals(lab[i], ds.labels().orElseThrow().classOf(i));
      }
    }
  }

  @Test
  void badFilesAreNamed() throws Exception {
    Path ok = dir.resolve("ok.bin");
    Files.write(ok, new byte[Cifar10Dataset.RECORD * 2]);
    Path cut = dir.resolve("cut.bin");
    Files.write(cut, new byte[Cifar10Dataset.RECORD * 2 - 5]);
    DataException e = assertThrows(DataException.class, () -> Cifar10Dataset.open(List.of(ok, cut)));
    assertEquals(cut.toString(), e.file());
    assertTrue(e.getMessage().contains("not a whole number"), e.getMessage());
    Path label = dir.resolve("label.bin");
    byte[] b = new byte[Cifar10Dataset.RECORD * 2];
    b[Cifar10Dataset.RECORD] = 57;
    Files.write(label, b);
    e = assertThrows(DataException.class, () -> Cifar10Dataset.open(List.of(ok, label)));
    assertEquals(label.toString(), e.file());
    assertTrue(e.getMessage().contains("record 1 has label 57"), e.getMessage());
    e = assertThrows(DataException.class, () -> Cifar10Dataset.open(dir.resolve("nowhere"), false));
    assertTrue(e.getMessage().contains("test_batch.bin") && e.getMessage().contains("not found"), e.getMessage());
    assertEquals(4, Cifar10Dataset.open(List.of(ok, ok)).size());
  }
}
