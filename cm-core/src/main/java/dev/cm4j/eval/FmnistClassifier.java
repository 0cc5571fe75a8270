package dev.cm4j.eval;

import dev.cm4j.data.ImageDataset;
import dev.cm4j.data.Labels;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Conv2d;
import dev.cm4j.nn.Init;
import dev.cm4j.nn.Linear;
import dev.cm4j.nn.Module;
import dev.cm4j.optim.Adam;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.F;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The feature network of the "FD-fmnist" score: a small Fashion-MNIST classifier trained by cm4j itself, whose
 * 128-d penultimate activations stand in for Inception features, so CPU runs on Fashion-MNIST get a Fréchet
 * distance without any download. FD-fmnist numbers are comparable only between runs that use the same
 * classifier file (like FID and its Inception weights).
 *
 * <p>Input: uint8 images [N, 1, 28, 28] (zero-padded to 32×32, as the {@code fmnist-ect-tiny} preset pads) or
 * [N, 1, 32, 32]; scaled to [−1, 1]. Network: three 3×3 conv + SiLU + 2×2 average-pool stages (32, 64, 128
 * channels; 32 → 4 pixels), a 2048 → 128 linear layer + SiLU (the features), and a 128 → 10 linear classifier.
 * Trained with Adam (lr 1e-3) and cross-entropy; {@link #train} is deterministic for a seed on one thread.
 */
public final class FmnistClassifier extends Module implements FeatureNetwork {
  /** The feature dimension. */
  public static final int FEATURES = 128;

  private final Conv2d conv0;
  private final Conv2d conv1;
  private final Conv2d conv2;
  private final Linear fc;
  private final Linear head;

  /** A freshly initialised classifier (weights from the global generator: seed it with Torch.manualSeed). */
  public FmnistClassifier() {
    conv0 = child("conv0", new Conv2d(1, 32, 3, Init.DEFAULT));
    conv1 = child("conv1", new Conv2d(32, 64, 3, Init.DEFAULT));
    conv2 = child("conv2", new Conv2d(64, 128, 3, Init.DEFAULT));
    fc = child("fc", new Linear(128 * 4 * 4, FEATURES, true, Init.DEFAULT));
    head = child("head", new Linear(FEATURES, 10, true, Init.XAVIER));
  }

  /** Loads a classifier saved by {@link #save} (strict: every key must match). */
  public static FmnistClassifier load(Path file) {
    FmnistClassifier c = new FmnistClassifier();
    try (SafeTensorFile f = SafeTensors.read(file); TensorScope s = TensorScope.open()) {
      String kind = f.metadata().get("cm4j.kind");
      if (!"fmnist-classifier".equals(kind)) {
        throw new IllegalArgumentException(file + " is not an FD-fmnist classifier (cm4j.kind = " + kind + ")");
      }
      Map<String, Tensor> sd = new LinkedHashMap<>();
      for (String k : f.infos().keySet()) sd.put(k, f.tensor(k));
      c.loadStateDict(sd, true);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read classifier " + file + ": " + e.getMessage(), e);
    }
    c.eval();
    return c;
  }

  /** Saves the weights as safetensors (atomically) with metadata identifying the file and its test accuracy. */
  public void save(Path file, Map<String, String> metadata) {
    Map<String, String> meta = new LinkedHashMap<>(metadata);
    meta.put("cm4j.kind", "fmnist-classifier");
    try {
      SafeTensors.write(file, stateDict(), meta);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
    }
  }

  /** Images as float [−1, 1], 32×32. */
  static Tensor prepare(Tensor images) {
    if (images.dim() != 4 || images.shape()[1] != 1 || images.dtype() != DType.UINT8) {
      throw new IllegalArgumentException("the FD-fmnist classifier takes uint8 images [N, 1, 28|32, 28|32], got "
          + images.dtype() + " " + java.util.Arrays.toString(images.shape()));
    }
    long h = images.shape()[2];
    long w = images.shape()[3];
    Tensor x = images.to(DType.FLOAT32);
    if (h == 28 && w == 28) x = F.pad(x, new long[] {2, 2, 2, 2}, F.PadMode.CONSTANT, 0);
    else if (h != 32 || w != 32) throw new IllegalArgumentException("images must be 28×28 or 32×32, got " + h + "×" + w);
    return x.div(127.5).sub(1.0);
  }

  private Tensor trunk(Tensor x) {
    Tensor h = F.avgPool2d(conv0.forward(x).silu(), 2, 2, 0, false, true);
    h = F.avgPool2d(conv1.forward(h).silu(), 2, 2, 0, false, true);
    h = F.avgPool2d(conv2.forward(h).silu(), 2, 2, 0, false, true);
    return fc.forward(h.flatten(1, 3)).silu();
  }

  /** Class logits [N, 10] of uint8 images. */
  public Tensor logits(Tensor images) {
    return head.forward(trunk(prepare(images)));
  }

  @Override
  public Tensor features(Tensor images) {
    try (GradMode g = GradMode.noGrad()) {
      return trunk(prepare(images));
    }
  }

  @Override
  public String name() {
    return "fmnist-classifier";
  }

  /** Fraction of images whose arg-max class equals the label. */
  public double accuracy(ImageDataset data, int limit, int batch) {
    Labels labels = data.labels().orElseThrow(() -> new IllegalArgumentException("the dataset has no labels"));
    int n = Math.min(limit, data.size());
    long correct = 0;
    for (int i = 0; i < n; i += batch) {
      int b = Math.min(batch, n - i);
      int[] idx = new int[b];
      for (int k = 0; k < b; k++) idx[k] = i + k;
      try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
        long[] pred = logits(images(data, idx)).argmax(1, false).toLongArray();
        for (int k = 0; k < b; k++) if (pred[k] == labels.classOf(idx[k])) correct++;
      }
    }
    return (double) correct / n;
  }

  /** Images {@code idx} of a dataset as a uint8 tensor [B, C, H, W]. */
  public static Tensor images(ImageDataset data, int[] idx) {
    int c = data.channels();
    int r = data.resolution();
    int per = c * r * r;
    byte[] buf = new byte[idx.length * per];
    for (int k = 0; k < idx.length; k++) data.readImage(idx[k], buf, k * per);
    return Tensor.fromBytes(buf, DType.UINT8, idx.length, c, r, r);
  }

  /**
   * Trains a classifier from scratch: {@code steps} Adam steps of {@code batch} images drawn by a seeded shuffle
   * (epochs reshuffle), weights initialised from {@code seed}. Prints progress to console (may be null).
   */
  public static FmnistClassifier train(ImageDataset data, int steps, int batch, long seed, PrintStream console) {
    Labels labels = data.labels().orElseThrow(() -> new IllegalArgumentException("the dataset has no labels"));
    if (!labels.isClassIndex()) throw new IllegalArgumentException("the dataset's labels are not class indices");
    Torch.manualSeed(seed);
    FmnistClassifier net = new FmnistClassifier();
    net.train(true);
    Adam opt = new Adam(net, Adam.Config.defaults().withLr(1e-3));
    SplittableRandom rnd = new SplittableRandom(seed);
    int n = data.size();
    int[] perm = new int[n];
    for (int i = 0; i < n; i++) perm[i] = i;
    int pos = n;
    double running = Double.NaN;
    for (int step = 0; step < steps; step++) {
      int[] idx = new int[batch];
      for (int k = 0; k < batch; k++) {
        if (pos == n) {
          for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
          }
          pos = 0;
        }
        idx[k] = perm[pos++];
      }
      long[] y = new long[batch];
      for (int k = 0; k < batch; k++) y[k] = labels.classOf(idx[k]);
      try (TensorScope s = TensorScope.open()) {
        opt.zeroGrad();
        Tensor logp = net.logits(images(data, idx)).logSoftmax(1);
        Tensor loss = logp.gather(1, Tensor.of(y, batch, 1)).mean().neg();
        loss.backward();
        opt.step();
        double v = loss.item();
        running = Double.isNaN(running) ? v : 0.98 * running + 0.02 * v;
      }
      if (console != null && ((step + 1) % 100 == 0 || step + 1 == steps)) {
        console.printf(Locale.ROOT, "step %d/%d  loss %.4f%n", step + 1, steps, running);
      }
    }
    net.eval();
    return net;
  }
}
