package dev.cm4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.data.IdxDataset;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The FD-fmnist feature network: a short training run classifies far above chance, its features separate real
 * Fashion-MNIST from noise and blurred images by Fréchet distance, and it round-trips through its file.
 */
class FmnistClassifierTest {
  @TempDir Path dir;

  @Test
  void shortTrainingLearnsAndFeaturesSeparateRealFromFake() {
    IdxDataset train = IdxDataset.debianFashionMnist(true).orElseThrow();
    IdxDataset test = IdxDataset.debianFashionMnist(false).orElseThrow();
    FmnistClassifier net = FmnistClassifier.train(train, 150, 64, 0, null);
    double acc = net.accuracy(test, 1000, 250);
    // 10 balanced classes: chance is 0.10; 150 steps of 64 images already reach ~0.7
    assertTrue(acc > 0.55, "test accuracy after 150 steps: " + acc);

    try (TensorScope s = TensorScope.open()) {
      int[] first = range(0, 500);
      int[] second = range(500, 1000);
      GaussianStats a = stats(net, FmnistClassifier.images(test, first));
      GaussianStats b = stats(net, FmnistClassifier.images(test, second));
      Tensor real = FmnistClassifier.images(test, second);
      Tensor noise = Tensor.randint(0, 256, new long[] {500, 1, 28, 28}, DType.UINT8, dev.cm4j.tensor.Device.CPU,
          Generator.cpu(1));
      // a 4×4 box blur of the same real images
      Tensor blurred = dev.cm4j.tensor.F.avgPool2d(real.to(DType.FLOAT32), 4, 4, 0, false, true);
      blurred = dev.cm4j.tensor.F.interpolate(blurred, 28, 28, dev.cm4j.tensor.F.Interpolation.NEAREST, false)
          .round().to(DType.UINT8);
      double split = Frechet.distance(a, b);
      double vsNoise = Frechet.distance(a, stats(net, noise));
      double vsBlur = Frechet.distance(a, stats(net, blurred));
      assertTrue(split * 10 < vsNoise, "FD real/real " + split + " vs real/noise " + vsNoise);
      assertTrue(split * 3 < vsBlur, "FD real/real " + split + " vs real/blurred " + vsBlur);
    }

    Path f = dir.resolve("fmnist-classifier.safetensors");
    net.save(f, Map.of("test_accuracy", Double.toString(acc)));
    FmnistClassifier back = FmnistClassifier.load(f);
    try (TensorScope s = TensorScope.open()) {
      Tensor x = FmnistClassifier.images(test, range(0, 8));
      assertArrayEquals(net.features(x).toFloatArray(), back.features(x).toFloatArray(), 0f);
      assertEquals(FmnistClassifier.FEATURES, back.features(x).shape()[1]);
      assertThrows(IllegalArgumentException.class, () -> back.features(x.to(DType.FLOAT32)));
    }
  }

  static GaussianStats stats(FeatureNetwork net, Tensor images) {
    FeatureStats fs = new FeatureStats();
    fs.add(net.features(images));
    return fs.stats();
  }

  static int[] range(int from, int to) {
    int[] r = new int[to - from];
    for (int i = 0; i < r.length; i++) r[i] = from + i;
    return r;
  }
}
