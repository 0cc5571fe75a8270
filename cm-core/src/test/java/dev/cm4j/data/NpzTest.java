package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.tensor.DType;
import dev.cm4j.testing.PythonRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** .npz archives both ways with numpy (np.savez, np.savez_compressed, np.load), and malformed archives. */
class NpzTest {
  @TempDir Path dir;

  @Test
  void readsWhatNumpyWritesStoredAndCompressed() {
    PythonRef.run("""
        import sys, numpy as np
        d = sys.argv[1]
        kw = dict(f=np.arange(6, dtype=np.float32).reshape(2, 3) / 4, d=np.array([1.5, -2.25]),
                  u=np.arange(250, 256, dtype=np.uint8).reshape(1, 2, 3), i=np.array([-3, 1 << 40], dtype=np.int64),
                  s=np.float64(7.0))
        np.savez(d + "/plain.npz", **kw)
        np.savez_compressed(d + "/packed.npz", **kw)
        """, dir.toString());
    for (String f : new String[] {"plain.npz", "packed.npz"}) {
      Map<String, Npy.Array> m = Npz.read(dir.resolve(f));
      assertEquals(java.util.List.of("f", "d", "u", "i", "s"), java.util.List.copyOf(m.keySet()));
      assertArrayEquals(new float[] {0, 0.25f, 0.5f, 0.75f, 1, 1.25f}, m.get("f").toFloatArray());
      assertArrayEquals(new long[] {2, 3}, m.get("f").shape());
      assertArrayEquals(new double[] {1.5, -2.25}, m.get("d").toDoubleArray());
      assertEquals(DType.UINT8, m.get("u").dtype());
      assertArrayEquals(new double[] {250, 251, 252, 253, 254, 255}, m.get("u").toDoubleArray());
      assertArrayEquals(new double[] {-3, 1L << 40}, m.get("i").toDoubleArray());
      assertArrayEquals(new long[0], m.get("s").shape());
      assertEquals(7.0, m.get("s").toDoubleArray()[0]);
    }
  }

  @Test
  void numpyReadsWhatWeWrite() {
    Map<String, Npy.Array> m = new LinkedHashMap<>();
    m.put("mu", new Npy.Array(DType.FLOAT64, new long[] {2}, Npy.encodeDoubles(new double[] {0.5, -1})));
    m.put("img", new Npy.Array(DType.UINT8, new long[] {1, 2, 2, 1}, new byte[] {0, 1, (byte) 200, (byte) 255}));
    Npz.write(dir.resolve("a.npz"), m, false);
    Npz.write(dir.resolve("b.npz"), m, true);
    String out = PythonRef.run("""
        import sys, numpy as np
        for f in sys.argv[1:]:
            z = np.load(f)
            assert list(z.keys()) == ["mu", "img"], list(z.keys())
            assert z["mu"].dtype == np.float64 and z["mu"].tolist() == [0.5, -1.0]
            assert z["img"].dtype == np.uint8 and z["img"].shape == (1, 2, 2, 1)
            assert z["img"].ravel().tolist() == [0, 1, 200, 255]
        print("ok")
        """, dir.resolve("a.npz").toString(), dir.resolve("b.npz").toString());
    assertEquals("ok", out.trim());
  }

  @Test
  void malformedArchivesThrowNamingTheFile() throws Exception {
    Files.write(dir.resolve("junk.npz"), new byte[] {1, 2, 3, 4, 5});
    DataException e = assertThrows(DataException.class, () -> Npz.read(dir.resolve("junk.npz")));
    assertTrue(e.getMessage().contains("junk.npz") && e.getMessage().contains("zip"), e.getMessage());
    assertThrows(DataException.class, () -> Npz.read(dir.resolve("missing.npz")));
    PythonRef.run("""
        import sys, zipfile
        with zipfile.ZipFile(sys.argv[1] + "/txt.npz", "w") as z:
            z.writestr("a.txt", "hello")
        with zipfile.ZipFile(sys.argv[1] + "/badnpy.npz", "w") as z:
            z.writestr("a.npy", b"\\x93NUMPY garbage")
        """, dir.toString());
    e = assertThrows(DataException.class, () -> Npz.read(dir.resolve("txt.npz")));
    assertTrue(e.getMessage().contains("a.txt"), e.getMessage());
    e = assertThrows(DataException.class, () -> Npz.read(dir.resolve("badnpy.npz")));
    assertTrue(e.getMessage().contains("a.npy"), e.getMessage());
    byte[] ok = Files.readAllBytes(writeSmall());
    Files.write(dir.resolve("trunc.npz"), java.util.Arrays.copyOf(ok, ok.length / 2));
    assertThrows(DataException.class, () -> Npz.read(dir.resolve("trunc.npz")));
    e = assertThrows(DataException.class, () -> Npz.read(writeSmall(), "nope"));
    assertTrue(e.getMessage().contains("nope"), e.getMessage());
  }

  private Path writeSmall() {
    Path p = dir.resolve("small.npz");
    Npz.write(p, Map.of("x", new Npy.Array(DType.FLOAT64, new long[] {64}, new byte[512])), false);
    return p;
  }
}
