package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.testing.PythonRef;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PointCloudsTest {
  @TempDir Path dir;

  @Test
  void readsNpyPointCloudsAsFloat32() throws Exception {
    PythonRef.run("""
        import sys, numpy as np
        np.save(sys.argv[1] + '/pc.npy', np.array([[0.1, 0.2, 0.3], [1e-3, -2.5, 7.0]], dtype=np.float64))
        np.save(sys.argv[1] + '/flat.npy', np.zeros(4, dtype=np.float32))
        """, dir.toString());
    InMemoryPointDataset ds = PointClouds.read(dir.resolve("pc.npy"));
    assertEquals(2, ds.size());
    assertEquals(3, ds.dim());
    assertArrayEquals(new float[] {0.001f, -2.5f, 7f}, ds.item(1).point());
    assertArrayEquals(new float[] {0.1f, 0.2f, 0.3f}, ds.item(0).point());
    DataException e = assertThrows(DataException.class, () -> PointClouds.read(dir.resolve("flat.npy")));
    assertTrue(e.getMessage().contains("flat.npy") && e.getMessage().contains("2-D"), e.getMessage());
  }

  @Test
  void safetensorsPointCloudsByKeyAndErrorsNameTheFile() throws Exception {
    Path st = dir.resolve("points.safetensors");
    try (var scope = dev.cm4j.tensor.TensorScope.open()) {
      java.util.Map<String, dev.cm4j.tensor.Tensor> m = new java.util.LinkedHashMap<>();
      m.put("points", dev.cm4j.tensor.Tensor.of(new double[] {1, 2, 3, 4, 5, 6}, 3, 2));
      m.put("labels", dev.cm4j.tensor.Tensor.of(new long[] {0, 1, 0}));
      dev.cm4j.io.SafeTensors.write(st, m);
    }
    InMemoryPointDataset ds = PointClouds.read(st, "points");
    assertEquals(3, ds.size());
    assertEquals(2, ds.dim());
    assertArrayEquals(new float[] {5, 6}, ds.item(2).point());
    DataException e = assertThrows(DataException.class, () -> PointClouds.read(st));
    assertTrue(e.getMessage().contains(st.toString()) && e.getMessage().contains("key"), e.getMessage());
    e = assertThrows(DataException.class, () -> PointClouds.read(st, "labels"));
    assertTrue(e.getMessage().contains("2-D") || e.getMessage().contains("floating"), e.getMessage());
    Path bad = dir.resolve("bad.safetensors");
    Files.write(bad, new byte[16]);
    e = assertThrows(DataException.class, () -> PointClouds.read(bad, "points"));
    assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
  }

  @Test
  void npzPointCloudsByKeyOrTheOnlyArray() {
    float[] pts = {1, 2, 3, 4, 5, 6};
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(24).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(pts);
    Npy.Array a = new Npy.Array(dev.cm4j.tensor.DType.FLOAT32, new long[] {3, 2}, b.array());
    Path one = dir.resolve("one.npz");
    Npz.write(one, java.util.Map.of("samples", a), false);
    InMemoryPointDataset ds = PointClouds.read(one);
    assertEquals(3, ds.size());
    assertArrayEquals(new float[] {5, 6}, ds.item(2).point());
    Path two = dir.resolve("two.npz");
    java.util.Map<String, Npy.Array> m = new java.util.LinkedHashMap<>();
    m.put("train", a);
    m.put("test", a);
    Npz.write(two, m, true);
    assertEquals(3, PointClouds.read(two, "test").size());
    DataException e = assertThrows(DataException.class, () -> PointClouds.read(two));
    assertTrue(e.getMessage().contains("two.npz") && e.getMessage().contains("data.key"), e.getMessage());
    e = assertThrows(DataException.class, () -> PointClouds.read(two, "val"));
    assertTrue(e.getMessage().contains("'val'") && e.getMessage().contains("train"), e.getMessage());
  }

  @Test
  void unknownFormatsNameTheFile() throws Exception {
    Path csv = dir.resolve("points.csv");
    Files.writeString(csv, "1,2\n");
    DataException e = assertThrows(DataException.class, () -> PointClouds.read(csv));
    assertTrue(e.getMessage().contains("points.csv") && e.getMessage().contains("npy"), e.getMessage());
  }

  @Test
  void registeredFormatsAreConsultedFirst() throws Exception {
    Path csv = dir.resolve("two.csv2");
    Files.writeString(csv, "1,2\n3,4\n");
    PointClouds.register(new PointCloudFormat() {
      @Override
      public String name() {
        return "csv2";
      }

      @Override
      public boolean accepts(Path file) {
        return file.toString().endsWith(".csv2");
      }

      @Override
      public InMemoryPointDataset read(Path file, String key) {
        try {
          float[] v = Files.readAllLines(file).stream().flatMap(l -> java.util.Arrays.stream(l.split(",")))
              .collect(java.util.stream.Collectors.collectingAndThen(java.util.stream.Collectors.toList(), l -> {
                float[] f = new float[l.size()];
                for (int i = 0; i < f.length; i++) f[i] = Float.parseFloat(l.get(i));
                return f;
              }));
          return new InMemoryPointDataset(v, 2, null);
        } catch (java.io.IOException ex) {
          throw new DataException(file.toString(), ex.toString(), ex);
        }
      }
    });
    assertEquals("csv2", PointClouds.formats().getFirst().name());
    InMemoryPointDataset ds = PointClouds.read(csv);
    assertArrayEquals(new float[] {3, 4}, ds.item(1).point());
  }
}
