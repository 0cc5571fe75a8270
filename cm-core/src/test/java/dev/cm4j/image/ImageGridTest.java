package dev.cm4j.image;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.PythonRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageGridTest {
  @TempDir Path dir;

  @Test
  void savedGridMatchesEdmSaveImageGrid() throws Exception {
    // 6 RGB images 5×4 in [-1.2, 1.2] (values outside [-1, 1] clip), saved 3 columns × 2 rows; Python decodes the PNG
    // independently and compares with EDM's save_image_grid arithmetic.
    int n = 6;
    int c = 3;
    int h = 5;
    int w = 4;
    float[] v = new float[n * c * h * w];
    java.util.Random r = new java.util.Random(3);
    for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextDouble() * 2.4 - 1.2);
    v[0] = -1f; // exact ends and half-way points exercise the rounding
    v[1] = 1f;
    v[2] = 1f / 127.5f - 1f;
    v[3] = 0.5f / 127.5f - 1f;
    for (int g : new int[] {1, 3}) {
      try (TensorScope s = TensorScope.open()) {
        Tensor x = Tensor.of(v, n, c, h, w);
        Tensor xg = g == 1 ? x.narrow(1, 0, 1).contiguous() : x;
        ImageGrid.save(xg, 3, dir.resolve("grid" + g + ".png"));
      }
    }
    Files.write(dir.resolve("x.f32"), toBytes(v));
    String out = PythonRef.run(PyPng.CODE + """
        import sys, os
        d = sys.argv[1]
        x = np.fromfile(os.path.join(d, 'x.f32'), dtype='<f4').reshape(6, 3, 5, 4)
        for g in (1, 3):
            img = x[:, :g]
            lo, hi = -1, 1                                   # EDM training_loop.save_image_grid
            img = (img - lo) * (255 / (hi - lo))
            img = np.rint(img).clip(0, 255).astype(np.uint8)
            gw, gh = 3, 2
            _N, C, H, W = img.shape
            img = img.reshape(gh, gw, C, H, W).transpose(0, 3, 1, 4, 2).reshape(gh * H, gw * W, C)
            got = dec(os.path.join(d, 'grid%d.png' % g))
            assert got.shape == img.shape, (got.shape, img.shape)
            assert (got == img).all(), np.argwhere(got != img)[:5]
        print('ok')
        """, dir.toString());
    assertEquals("ok", out.strip());
  }

  @Test
  void partialLastRowIsBlackAndValuesRoundTripTheLoaderMapping() {
    float[] v = new float[3 * 2 * 2];
    for (int i = 0; i < v.length; i++) v[i] = (i * 20) / 127.5f - 1f; // exactly the loader's u/127.5 - 1
    try (TensorScope s = TensorScope.open()) {
      UInt8Image g = ImageGrid.grid(Tensor.of(v, 3, 1, 2, 2), 2);
      assertEquals(1, g.channels());
      assertEquals(4, g.height());
      assertEquals(4, g.width());
      for (int k = 0; k < 3; k++) {
        for (int y = 0; y < 2; y++) {
          for (int x = 0; x < 2; x++) {
            assertEquals((k * 4 + y * 2 + x) * 20, g.get(0, (k / 2) * 2 + y, (k % 2) * 2 + x));
          }
        }
      }
      for (int y = 2; y < 4; y++) for (int x = 2; x < 4; x++) assertEquals(0, g.get(0, y, x));
    }
    assertEquals(0, ImageGrid.toUInt8(Float.NaN));
    assertEquals(255, ImageGrid.toUInt8(7f));
    assertEquals(0, ImageGrid.toUInt8(-7f));
  }

  @Test
  void mismatchedShapesAreRejected() {
    assertThrows(IllegalArgumentException.class,
        () -> ImageGrid.grid(List.of(UInt8Image.zeros(1, 2, 2), UInt8Image.zeros(1, 2, 3)), 2));
    try (TensorScope s = TensorScope.open()) {
      assertThrows(IllegalArgumentException.class, () -> ImageGrid.grid(Tensor.zeros(2, 2, 2), 2));
    }
  }

  private static byte[] toBytes(float[] v) {
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * v.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return b.array();
  }
}
