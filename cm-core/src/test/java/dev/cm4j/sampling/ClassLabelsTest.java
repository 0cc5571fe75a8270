package dev.cm4j.sampling;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Class choice per image, one-hot labels, the guidance combination and the MLP's label input and dropout. */
class ClassLabelsTest {
  @Test
  void classesDependOnTheImageIndexNotOnTheBatching() {
    for (ClassLabels c : new ClassLabels[] {ClassLabels.BALANCED, ClassLabels.RANDOM, ClassLabels.of(3, 1)}) {
      int[] whole = random(c, 0, 100, 10, 42);
      int[] parts = IntStream.concat(Arrays.stream(random(c, 0, 37, 10, 42)), Arrays.stream(random(c, 37, 63, 10, 42)))
          .toArray();
      assertArrayEquals(whole, parts, c.toString());
    }
    assertArrayEquals(new int[] {8, 9, 0, 1}, ClassLabels.BALANCED.classes(8, 4, 10, null));
    int[] counts = new int[10];
    for (int k : ClassLabels.BALANCED.classes(0, 1000, 10, null)) counts[k]++;
    for (int n : counts) assertEquals(100, n, "balanced: every class equally often");
    int[] r = random(ClassLabels.RANDOM, 0, 2000, 4, 7);
    int[] rc = new int[4];
    for (int k : r) rc[k]++;
    for (int n : rc) assertTrue(n > 400 && n < 600, "random classes roughly uniform: " + Arrays.toString(rc));
    assertFalse(Arrays.equals(r, random(ClassLabels.RANDOM, 0, 2000, 4, 8)), "the seeds draw the classes");
    try (Generator g = Generator.cpu(7 + 5)) { // image 5's class is the first randint(4) of its generator
      assertEquals(Tensor.randint(0, 4, new long[] {1}, DType.INT64, Device.CPU, g).toLongArray()[0], r[5]);
    }
    assertThrows(IllegalArgumentException.class, () -> ClassLabels.RANDOM.classes(0, 3, 4, null));
    assertArrayEquals(new int[] {0, 0, 0, 1, 1, 1, 2, 2}, ClassLabels.gridRows(8, 3, 4));
    assertArrayEquals(new int[] {0, 0, 1, 1, 0, 0}, ClassLabels.gridRows(6, 2, 2), "rows wrap around the classes");
  }

  /** Classes of images first.. with image i's generator seeded seed + i (as Snapshot.sample seeds them). */
  static int[] random(ClassLabels c, long first, int n, int dim, long seed) {
    try (Generator g = Generator.stacked(Device.CPU, seed + first, n)) {
      return c.classes(first, n, dim, g);
    }
  }

  @Test
  void parsingAndRangeErrorsNameTheValue() {
    assertEquals(ClassLabels.of(3), ClassLabels.parse("3"));
    assertEquals(ClassLabels.of(0, 3, 5), ClassLabels.parse(" 0, 3,5 "));
    assertSame(ClassLabels.BALANCED, ClassLabels.parse("balanced"));
    assertSame(ClassLabels.RANDOM, ClassLabels.parse("random"));
    for (String bad : new String[] {"", "x", "1,", "-2", "1.5", "99999999999"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClassLabels.parse(bad));
      assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ClassLabels.of(2, 10).classes(0, 4, 10, null));
    assertTrue(e.getMessage().contains("class 10") && e.getMessage().contains("10 classes"), e.getMessage());
  }

  @Test
  void oneHotAndGuidanceArithmetic() {
    try (TensorScope s = TensorScope.open()) {
      assertArrayEquals(new float[] {0, 1, 0, 1, 0, 0}, ClassLabels.oneHot(new int[] {1, 0}, 3, Device.CPU).toFloatArray());
      // a fake denoiser whose output is x + 10·(label index + 1), or x for the zero label
      Denoiser d = (x, sigma, c) -> x.add(c.matmul(Tensor.of(new float[] {10, 20, 30}, 3, 1)));
      Tensor x = Tensor.of(new float[] {1, 2}, 2, 1);
      Tensor c = ClassLabels.oneHot(new int[] {0, 2}, 3, Device.CPU);
      Tensor sigma = Tensor.of(new float[] {1, 1}, 2);
      // classifier-free: D(∅) + w·(D(c) − D(∅)) = x + w·label term
      assertArrayEquals(new float[] {1 + 25, 2 + 75}, Guidance.denoiser(d, null, 2.5).denoise(x, sigma, c).toFloatArray(), 1e-5f);
      // autoguidance: the guide gets the same labels
      Denoiser guide = (xx, sigma2, cc) -> d.denoise(xx, sigma2, cc).mul(0.5);
      float[] auto = Guidance.denoiser(d, guide, 3).denoise(x, sigma, c).toFloatArray();
      assertArrayEquals(new float[] {0.5f * 11 + 3 * 5.5f, 0.5f * 32 + 3 * 16}, auto, 1e-5f);
      assertSame(d, Guidance.denoiser(d, null, 1), "w = 1 skips the guide");
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Guidance.denoiser(d, null, 2).denoise(x, sigma, null));
      assertTrue(e.getMessage().contains("classifier-free"), e.getMessage());
    }
  }

  @Test
  void mlpReadsLabelsAndDropsThemInTraining() {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Torch.manualSeed(1);
      MLPDenoiser always = new MLPDenoiser(new MLPDenoiser.Config(2, 16, 1, 8, 0, false, 3, 1.0));
      for (var e : always.namedParameters().entrySet()) { // EDM's zero-initialised output layer hides the input
        Tensor p = e.getValue().get();
        p.add_(Tensor.randn(p.shape(), DType.FLOAT32, Device.CPU, null).mul(0.1));
      }
      Tensor x = Tensor.randn(new long[] {4, 2}, DType.FLOAT32, Device.CPU, null);
      Tensor t = Tensor.of(new float[] {0.1f, 0.2f, 0.3f, 0.4f}, 4);
      Tensor a = ClassLabels.oneHot(new int[] {0, 1, 2, 0}, 3, Device.CPU);
      Tensor b = ClassLabels.oneHot(new int[] {2, 2, 0, 1}, 3, Device.CPU);
      always.eval();
      assertFalse(Arrays.equals(always.forward(x, t, a, null).toFloatArray(), always.forward(x, t, b, null).toFloatArray()),
          "eval: the labels change the output");
      always.train(true);
      assertArrayEquals(always.forward(x, t, a.zerosLike(), null).toFloatArray(), always.forward(x, t, a, null).toFloatArray(),
          1e-6f, "label_dropout 1 in training: every label is the zero vector");
      assertEquals(3, always.labelDim());
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> always.forward(x, t, null, null));
      assertTrue(e.getMessage().contains("class-conditional"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> always.forward(x, t, ClassLabels.oneHot(new int[] {0, 1, 0, 1}, 2,
          Device.CPU), null));
      assertEquals(0, new MLPDenoiser(new MLPDenoiser.Config(2, 16, 1, 8, 0, false)).namedParameters().keySet().stream()
          .filter(k -> k.startsWith("map_label")).count(), "unconditional: no label layer");
      always.close();
    }
  }
}
