package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.Fixtures;
import dev.cm4j.testing.TestDevice;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * EDM's augmentation pipeline: the label vector of transforms with known parameters, geometric transforms undone by
 * their inverse, p = 0, parity with EDM's AugmentPipe (fixture of tools/make_augment_fixtures.py, draws replayed and,
 * separately, reproduced by a seeded CPU generator), and the test device.
 */
class AugmentPipeTest {
  /** Draws that return fixed values: every rand is u, every randn is g, every randint is k. */
  record Fixed(double u, double g, long k) implements AugmentPipe.Draws {
    @Override
    public Tensor rand(int batchAxis, long... shape) {
      return Tensor.full(shape, u, DType.FLOAT32, Device.CPU);
    }

    @Override
    public Tensor randn(int batchAxis, long... shape) {
      return Tensor.full(shape, g, DType.FLOAT32, Device.CPU);
    }

    @Override
    public Tensor randint(long high, int batchAxis, long... shape) {
      return Tensor.full(shape, k, DType.INT64, Device.CPU);
    }
  }

  static Tensor images(long seed, long... shape) {
    try (Generator g = Generator.cpu(seed)) {
      return Tensor.randn(shape, DType.FLOAT32, Device.CPU, g).clamp(-1, 1);
    }
  }

  static double maxAbs(Tensor a, Tensor b) {
    return a.sub(b).abs().amax(false).item();
  }

  @Test
  void labelDimsFollowEdm() {
    assertEquals(9, AugmentPipe.Config.edm(0.12).labelDim());
    assertEquals(19, AugmentPipe.Config.everything(1).labelDim());
    assertEquals(1, AugmentPipe.Config.xflipOnly(1).labelDim());
    assertThrows(IllegalArgumentException.class, () -> new AugmentPipe.Config(-0.1, 1, 1, 0, 0, 0.125, 0, 0, 0, 0,
        0.2, 1, 0.2, 0.5, 0.125, 0, 0, 0, 0, 0, 0.2, 0.5, 1, 1));
  }

  @Test
  void forcedXflipGivesLabelOneAndFlippedImages() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = images(1, 2, 3, 8, 8);
      AugmentPipe pipe = new AugmentPipe(AugmentPipe.Config.xflipOnly(1));
      // u = 0 < 1: applied; k = 1: flip
      AugmentPipe.Result r = pipe.apply(x, new Fixed(0, 0, 1));
      assertArrayEquals(new float[] {1, 1}, r.labels().toFloatArray());
      assertEquals(0, maxAbs(r.images(), x.flip(3)));
      // u = 0.99 >= p·xflip = 0.5: not applied, label 0, image unchanged
      AugmentPipe half = new AugmentPipe(AugmentPipe.Config.xflipOnly(0.5));
      AugmentPipe.Result r0 = half.apply(x, new Fixed(0.99, 0, 1));
      assertArrayEquals(new float[] {0, 0}, r0.labels().toFloatArray());
      assertEquals(0, maxAbs(r0.images(), x));
    }
  }

  @Test
  void edmLabelVectorForKnownParameters() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = images(2, 1, 3, 16, 16);
      AugmentPipe pipe = new AugmentPipe(AugmentPipe.Config.edm(1));
      // every gate open (u = 0.25), flips on (k = 1), Gaussian draws g = 0.5; rotation angle (2u − 1)π = −π/2, the
      // anisotropy frame angle the same
      AugmentPipe.Result r = pipe.apply(x, new Fixed(0.25, 0.5, 1));
      double a = -Math.PI / 2;
      float[] expected = {1, 1, 0.5f, (float) (Math.cos(a) - 1), (float) Math.sin(a), (float) (0.5 * Math.cos(a)),
          (float) (0.5 * Math.sin(a)), 0.5f, 0.5f};
      float[] got = r.labels().toFloatArray();
      assertEquals(9, got.length);
      for (int i = 0; i < 9; i++) assertEquals(expected[i], got[i], 1e-6, "label " + i);
    }
  }

  @Test
  void pZeroIsTheIdentityWithZeroLabels() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = images(3, 4, 3, 8, 8);
      AugmentPipe.Result r = new AugmentPipe(AugmentPipe.Config.edm(0)).apply(x, (Generator) null);
      assertEquals(0, maxAbs(r.images(), x));
      assertArrayEquals(new long[] {4, 9}, r.labels().shape());
      assertEquals(0, r.labels().abs().amax(false).item());
    }
  }

  /** Only the rotation: rotating by θ and then by −θ gives the image back away from the borders. */
  @Test
  void rotationThenInverseRotationIsCloseToIdentity() {
    try (TensorScope s = TensorScope.open()) {
      // a smooth image: the warp's filters are low-pass, so detail near the Nyquist rate does not survive exactly
      Tensor yy = Tensor.arange(0, 32, 1, DType.FLOAT32, Device.CPU).reshape(1, 1, 32, 1).div(32.0);
      Tensor xx = Tensor.arange(0, 32, 1, DType.FLOAT32, Device.CPU).reshape(1, 1, 1, 32).div(32.0);
      Tensor img = xx.mul(6.0).sin().mul(yy.mul(5.0).cos()).expand(2, 3, 32, 32).contiguous();
      AugmentPipe.Config rot = new AugmentPipe.Config(1, 0, 0, 0, 0, 0.125, 0, 1, 0, 0, 0.2, 1, 0.2, 0.5, 0.125, 0, 0, 0,
          0, 0, 0.2, 0.5, 1, 1);
      AugmentPipe pipe = new AugmentPipe(rot);
      double u = 0.6; // θ = (2u − 1)π = 0.2π
      AugmentPipe.Result fwd = pipe.apply(img, new Fixed(u, 0, 0));
      AugmentPipe.Result back = pipe.apply(fwd.images(), new Fixed(1 - u, 0, 0));
      assertEquals(Math.sin(0.2 * Math.PI), fwd.labels().select(1, 1).toFloatArray()[0], 1e-6);
      assertEquals(-Math.sin(0.2 * Math.PI), back.labels().select(1, 1).toFloatArray()[0], 1e-6);
      Tensor centre = back.images().slice(2, 10, 22, 1).slice(3, 10, 22, 1);
      Tensor ref = img.slice(2, 10, 22, 1).slice(3, 10, 22, 1);
      assertTrue(maxAbs(centre, ref) < 0.03, "rotation round trip error " + maxAbs(centre, ref));
      // and the forward rotation alone really moved the image
      assertTrue(maxAbs(fwd.images().slice(2, 10, 22, 1).slice(3, 10, 22, 1), ref) > 0.3);
    }
  }

  /** Integer translation by +t then −t is exact inside the region that never touched the mirrored border. */
  @Test
  void integerTranslationThenInverseIsExactAwayFromBorders() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = images(4, 1, 3, 16, 16);
      AugmentPipe.Config ti = new AugmentPipe.Config(1, 0, 0, 0, 1, 0.125, 0, 0, 0, 0, 0.2, 1, 0.2, 0.5, 0.125, 0, 0, 0,
          0, 0, 0.2, 0.5, 1, 1);
      AugmentPipe pipe = new AugmentPipe(ti);
      // rand = 1 − 0 → w = 2u − 1 = 1 → shift 16·0.125 = 2 pixels in x and y (the gate u = 1 is not < 1: use 0.9999)
      double u = 0.99999;
      AugmentPipe.Result fwd = pipe.apply(x, new Fixed(u, 0, 0));
      assertArrayEquals(new float[] {1, 1}, fwd.labels().toFloatArray(), 1e-6f);
      AugmentPipe.Result back = pipe.apply(fwd.images(), new Fixed(1 - u, 0, 0));
      assertArrayEquals(new float[] {-1, -1}, back.labels().toFloatArray(), 1e-6f);
      assertEquals(0, maxAbs(back.images().slice(2, 2, 14, 1).slice(3, 2, 14, 1),
          x.slice(2, 2, 14, 1).slice(3, 2, 14, 1)));
      assertTrue(maxAbs(fwd.images(), x) > 0.1);
    }
  }

  /** A 90° rotation four times over is the identity exactly. */
  @Test
  void fourQuarterTurnsAreTheIdentity() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = images(5, 2, 3, 8, 8);
      AugmentPipe.Config ri = new AugmentPipe.Config(1, 0, 0, 1, 0, 0.125, 0, 0, 0, 0, 0.2, 1, 0.2, 0.5, 0.125, 0, 0, 0,
          0, 0, 0.2, 0.5, 1, 1);
      AugmentPipe pipe = new AugmentPipe(ri);
      Tensor y = x;
      for (int i = 0; i < 4; i++) y = pipe.apply(y, new Fixed(0, 0, 1)).images();
      assertEquals(0, maxAbs(y, x));
      assertTrue(maxAbs(pipe.apply(x, new Fixed(0, 0, 1)).images(), x) > 0.1);
    }
  }

  /** Replays the draws recorded from a run of EDM's AugmentPipe. */
  static final class Replay implements AugmentPipe.Draws {
    final SafeTensorFile f;
    final String name;
    int i;

    Replay(SafeTensorFile f, String name) {
      this.f = f;
      this.name = name;
    }

    Tensor next(String kind, long[] shape) {
      String key = name + ".draw." + i++;
      assertEquals(kind, f.metadata().get(key), key);
      Tensor t = f.tensor(key);
      assertArrayEquals(shape, t.shape(), key);
      return t;
    }

    @Override
    public Tensor rand(int batchAxis, long... shape) {
      return next("rand", shape);
    }

    @Override
    public Tensor randn(int batchAxis, long... shape) {
      return next("randn", shape);
    }

    @Override
    public Tensor randint(long high, int batchAxis, long... shape) {
      return next("randint:" + high, shape);
    }
  }

  static AugmentPipe.Config config(String json) throws Exception {
    JsonNode k = new ObjectMapper().readTree(json);
    return new AugmentPipe.Config(k.path("p").asDouble(1), k.path("xflip").asDouble(0), k.path("yflip").asDouble(0),
        k.path("rotate_int").asDouble(0), k.path("translate_int").asDouble(0), 0.125, k.path("scale").asDouble(0),
        k.path("rotate_frac").asDouble(0), k.path("aniso").asDouble(0), k.path("translate_frac").asDouble(0), 0.2, 1,
        0.2, 0.5, 0.125, k.path("brightness").asDouble(0), k.path("contrast").asDouble(0),
        k.path("lumaflip").asDouble(0), k.path("hue").asDouble(0), k.path("saturation").asDouble(0), 0.2, 0.5, 1, 1);
  }

  @Test
  void matchesEdmAugmentPipe() throws Exception {
    try (SafeTensorFile f = SafeTensors.read(Fixtures.reference("augment-edm.safetensors"));
        TensorScope s = TensorScope.open()) {
      for (String name : new String[] {"edm", "all", "gray"}) {
        AugmentPipe pipe = new AugmentPipe(config(f.metadata().get(name + ".kwargs")));
        Replay draws = new Replay(f, name);
        AugmentPipe.Result r = pipe.apply(f.tensor(name + ".images"), draws);
        assertEquals(Integer.parseInt(f.metadata().get(name + ".draws")), draws.i, name + ": number of draws");
        Tensor refImages = f.tensor(name + ".out.images");
        Tensor refLabels = f.tensor(name + ".out.labels");
        assertArrayEquals(refLabels.shape(), r.labels().shape(), name);
        assertArrayEquals(refImages.shape(), r.images().shape(), name);
        assertTrue(maxAbs(r.labels(), refLabels) < 1e-5, name + " labels: " + maxAbs(r.labels(), refLabels));
        assertTrue(maxAbs(r.images(), refImages) < 1e-4, name + " images: " + maxAbs(r.images(), refImages));

        // the same draws from a CPU generator seeded as torch.manual_seed was, in the same order
        try (Generator g = Generator.cpu(Long.parseLong(f.metadata().get(name + ".seed")))) {
          AugmentPipe.Result rg = pipe.apply(f.tensor(name + ".images"), g);
          assertTrue(maxAbs(rg.labels(), refLabels) < 1e-5, name + " seeded labels");
          assertTrue(maxAbs(rg.images(), refImages) < 1e-4, name + " seeded images");
        }
      }
    }
  }

  /** Two ranks with sharded draws augment their rows of a batch as one process augments the whole batch. */
  @Test
  void shardedDrawsReproduceTheSingleProcessAugmentation() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = images(8, 4, 3, 12, 12);
      AugmentPipe pipe = new AugmentPipe(AugmentPipe.Config.everything(0.9));
      AugmentPipe.Result whole;
      try (Generator g = Generator.cpu(21)) {
        whole = pipe.apply(x, g);
      }
      for (int rank = 0; rank < 2; rank++) {
        Tensor mine = x.slice(0, rank, 4, 2);
        AugmentPipe.Result r;
        try (Generator g = Generator.cpu(21)) {
          r = pipe.apply(mine, AugmentPipe.Draws.sharded(g, Device.CPU, rank, 2));
        }
        assertEquals(0, maxAbs(r.labels(), whole.labels().slice(0, rank, 4, 2)), "rank " + rank);
        assertTrue(maxAbs(r.images(), whole.images().slice(0, rank, 4, 2)) < 1e-5, "rank " + rank);
      }
    }
  }

  @Test
  void runsOnTheTestDeviceLikeOnTheCpu() {
    Device dev = TestDevice.device();
    try (TensorScope s = TensorScope.open()) {
      Tensor x = images(6, 3, 3, 12, 12);
      AugmentPipe pipe = new AugmentPipe(AugmentPipe.Config.everything(0.8));
      AugmentPipe.Result cpu;
      AugmentPipe.Result onDev;
      try (Generator g = Generator.cpu(7)) {
        cpu = pipe.apply(x, g);
      }
      try (Generator g = Generator.create(dev, 7)) {
        onDev = pipe.apply(x.to(dev), g);
      }
      assertEquals(dev, onDev.images().device());
      assertEquals(dev, onDev.labels().device());
      assertTrue(maxAbs(onDev.images().to(Device.CPU), cpu.images()) < 1e-6);
      assertTrue(maxAbs(onDev.labels().to(Device.CPU), cpu.labels()) < 1e-6);
      assertFalse(Arrays.equals(cpu.labels().toFloatArray(), new float[cpu.labels().toFloatArray().length]));
    }
  }

  /**
   * The warp pads by the largest margin instead of reading EDM's tight one on the host: every geometric transform
   * (with large rotations and scalings, so margins reach their bound) gives the tight margin's images and labels.
   */
  @Test
  void theFixedMarginGivesTheTightMarginsImages() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = images(16, 3, 3, 12, 12);
      AugmentPipe pipe = new AugmentPipe(AugmentPipe.Config.everything(1.0));
      AugmentPipe.Result tight;
      AugmentPipe.Result fixed;
      try (Generator g = Generator.cpu(11)) {
        fixed = pipe.apply(x, g);
      }
      AugmentPipe.tightMarginForTests = true;
      try (Generator g = Generator.cpu(11)) {
        tight = pipe.apply(x, g);
      } finally {
        AugmentPipe.tightMarginForTests = false;
      }
      assertEquals(0, maxAbs(fixed.labels(), tight.labels()));
      double d = maxAbs(fixed.images(), tight.images());
      assertTrue(d < 2e-5, "fixed vs tight margin: " + d);
      assertTrue(maxAbs(tight.images(), x) > 0.1, "the warp did move pixels");
    }
  }
}
