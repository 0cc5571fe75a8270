package dev.cm4j.image;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ResampleTest {
  /** Compares with libtorch's upsample_bilinear2d (F.interpolate, align_corners=False), up and down. */
  @Test
  void bilinearMatchesTorchInterpolate() {
    int[][] cases = {{2, 28, 28, 32, 32}, {3, 32, 32, 20, 20}, {1, 7, 5, 16, 3}, {1, 4, 4, 4, 4}, {2, 1, 6, 3, 9}};
    Random r = new Random(5);
    for (int[] cs : cases) {
      int c = cs[0], h = cs[1], w = cs[2], oh = cs[3], ow = cs[4];
      float[] src = new float[c * h * w];
      for (int i = 0; i < src.length; i++) src[i] = (float) (r.nextDouble() * 2 - 1);
      float[] got = new float[3 + c * oh * ow];
      Resample.bilinear(src, 0, c, h, w, got, 3, oh, ow);
      float[] want;
      try (TensorScope s = TensorScope.open()) {
        want = F.interpolate(Tensor.of(src, 1, c, h, w), oh, ow, F.Interpolation.BILINEAR, false).toFloatArray();
      }
      for (int i = 0; i < want.length; i++) {
        assertEquals(want[i], got[3 + i], 2e-6, "case " + java.util.Arrays.toString(cs) + " element " + i);
      }
    }
  }
}
