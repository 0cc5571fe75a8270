package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.testing.PythonRef;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyTest {
  @TempDir Path dir;

  @Test
  void readsWhatNumpyWritesInEveryVersion() throws Exception {
    PythonRef.run("""
        import sys, os, numpy as np
        d = sys.argv[1]; rng = np.random.default_rng(4)
        for dt in ('f4', 'f8'):
            for v in ((1, 0), (2, 0), (3, 0)):
                for shape in ((5, 3), (7,), (2, 0), ()):
                    a = rng.standard_normal(shape).astype('<' + dt)
                    name = '%s_v%d_%s' % (dt, v[0], 'x'.join(map(str, shape)) or 'scalar')
                    with open(os.path.join(d, name + '.npy'), 'wb') as f:
                        np.lib.format.write_array(f, a, version=v)
                    open(os.path.join(d, name + '.f8'), 'wb').write(a.astype('<f8').tobytes())
        np.save(os.path.join(d, 'default.npy'), np.arange(6, dtype=np.float32).reshape(2, 3))
        """, dir.toString());
    int files = 0;
    for (String dt : new String[] {"f4", "f8"}) {
      for (int v = 1; v <= 3; v++) {
        for (long[] shape : new long[][] {{5, 3}, {7}, {2, 0}, {}}) {
          StringBuilder s = new StringBuilder();
          for (long d : shape) s.append(s.isEmpty() ? "" : "x").append(d);
          String name = dt + "_v" + v + "_" + (shape.length == 0 ? "scalar" : s);
          Npy.Array a = Npy.read(dir.resolve(name + ".npy"));
          assertEquals(dt.equals("f4") ? DType.FLOAT32 : DType.FLOAT64, a.dtype(), name);
          assertArrayEquals(shape, a.shape(), name);
          ByteBuffer want = ByteBuffer.wrap(Files.readAllBytes(dir.resolve(name + ".f8")))
              .order(ByteOrder.LITTLE_ENDIAN);
          double[] got = a.toDoubleArray();
          assertEquals(want.capacity() / 8, got.length, name);
          for (int i = 0; i < got.length; i++) assertEquals(want.getDouble(8 * i), got[i], name);
          files++;
        }
      }
    }
    assertEquals(24, files);
    Npy.Array a = Npy.read(dir.resolve("default.npy"));
    assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, a.toFloatArray());
    try (Tensor t = a.toTensor()) {
      assertArrayEquals(new long[] {2, 3}, t.shape());
      assertEquals(DType.FLOAT32, t.dtype());
      assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, t.toFloatArray());
    }
  }

  @Test
  void writesWhatNumpyReads() throws Exception {
    Npy.write(dir.resolve("a.npy"), new float[] {1.5f, -2, 3, 4, 5, 6}, 3, 2);
    Npy.write(dir.resolve("b.npy"), new double[] {Math.PI, Math.E}, 2);
    String out = PythonRef.run("""
        import sys, numpy as np
        a = np.load(sys.argv[1] + '/a.npy'); b = np.load(sys.argv[1] + '/b.npy')
        assert a.dtype == np.float32 and a.shape == (3, 2) and a[0, 0] == 1.5 and a[2, 1] == 6, a
        assert b.dtype == np.float64 and b.shape == (2,) and b[0] == np.pi and b[1] == np.e, b
        print('ok')
        """, dir.toString());
    assertEquals("ok", out.strip());
    assertArrayEquals(new double[] {Math.PI, Math.E}, Npy.read(dir.resolve("b.npy")).toDoubleArray());
  }

  /** A version 1.0 file with the given header dict and data bytes. */
  private static byte[] npy(String dict, int dataBytes) {
    String h = dict + "\n";
    ByteBuffer b = ByteBuffer.allocate(10 + h.length() + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
    b.putShort((short) h.length());
    b.put(h.getBytes(StandardCharsets.ISO_8859_1));
    return b.array();
  }

  private void assertRejected(byte[] file, String fragment) throws Exception {
    Path p = dir.resolve("bad.npy");
    Files.write(p, file);
    DataException e = assertThrows(DataException.class, () -> Npy.read(p));
    assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
    assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
  }

  @Test
  void headerParsingIsStrictWithClearErrors() throws Exception {
    String ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    assertEquals(6, Npy.parse(npy(ok, 24), "x").numel());
    assertRejected("not numpy at all".getBytes(StandardCharsets.US_ASCII), "magic");
    byte[] v4 = npy(ok, 24);
    v4[6] = 4;
    assertRejected(v4, "version 4.0");
    assertRejected(npy(ok.replace("<f4", ">f4"), 24), "dtype '>f4' is not supported");
    assertRejected(npy(ok.replace("<f4", "<i4"), 24), "dtype '<i4'");
    assertEquals(DType.INT64, Npy.parse(npy(ok.replace("<f4", "<i8"), 48), "x").dtype());
    assertRejected(npy(ok.replace("False", "True"), 24), "Fortran-order");
    assertRejected(npy("{'descr': '<f4', 'fortran_order': False, }", 24), "lacks 'shape'");
    assertRejected(npy(ok.replace("}", "'extra': 1, }"), 24), "malformed");
    assertRejected(npy(ok.replace("}", "'extra': True, }"), 24), "unexpected key 'extra'");
    assertRejected(npy(ok.replace("(2, 3)", "(6)"), 24), "1-tuple");
    assertRejected(npy(ok.replace("(2, 3)", "(2, -3)"), 24), "non-negative integer");
    assertRejected(npy(ok.replace(", }", ""), 24), "malformed");
    assertRejected(npy(ok.replace("'<f4'", "[('a', '<f4')]"), 24), "malformed");
    assertRejected(npy(ok, 23), "truncated");
    assertRejected(npy(ok, 25), "trailing bytes");
    byte[] noNewline = npy(ok, 24);
    noNewline[10 + ok.length()] = ' ';
    assertRejected(noNewline, "newline");
    Path missing = dir.resolve("missing.npy");
    DataException e = assertThrows(DataException.class, () -> Npy.read(missing));
    assertEquals(missing.toString(), e.file());
  }
}
