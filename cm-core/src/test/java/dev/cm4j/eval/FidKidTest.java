package dev.cm4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.data.DataException;
import dev.cm4j.data.Npy;
import dev.cm4j.data.Npz;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.PythonRef;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FID and KID against numpy/scipy on the same features: a small TorchScript network written by the reference PyTorch
 * stands in for Inception-v3 (same call convention: uint8 NCHW images, {@code return_features=True}); the reference
 * statistics and distances are computed as EDM's fid.py (np.cov, scipy.linalg.sqrtm) and StyleGAN2-ADA's KID do.
 */
class FidKidTest {
  @TempDir static Path dir;

  static final String MAKE = """
      import sys, numpy as np, torch, torch.nn as nn, scipy.linalg
      out = sys.argv[1]
      torch.manual_seed(0)
      class Det(nn.Module):
          def __init__(self):
              super().__init__()
              self.conv = nn.Conv2d(3, 8, 3, padding=1)
              self.fc = nn.Linear(8 * 4, 12)
          def forward(self, img, return_features: bool = False):
              x = img.to(torch.float32) / 127.5 - 1
              h = torch.tanh(self.conv(x))
              h = torch.nn.functional.adaptive_avg_pool2d(h, 2).flatten(1)
              f = self.fc(h) * 10
              if return_features:
                  return f
              return f.softmax(dim=1)
      det = torch.jit.script(Det().eval())
      det.save(out + "/det.pt")
      rng = np.random.default_rng(1)
      a = rng.integers(0, 256, (300, 1, 8, 8), dtype=np.uint8)                       # grayscale: repeated to RGB
      b = np.clip(rng.normal(150, 40, (260, 3, 8, 8)), 0, 255).astype(np.uint8)
      np.savez(out + "/images.npz", a=a, b=b)
      with torch.no_grad():
          fa = det(torch.from_numpy(a).repeat(1, 3, 1, 1), return_features=True).double().numpy()
          fb = det(torch.from_numpy(b), return_features=True).double().numpy()
      np.savez(out + "/features.npz", fa=fa, fb=fb)
      def stats(f):
          return f.mean(axis=0), np.cov(f, rowvar=False)
      mu1, s1 = stats(fa); mu2, s2 = stats(fb)
      np.savez(out + "/ref_b.npz", mu=mu2, sigma=s2)
      s, _ = scipy.linalg.sqrtm(np.dot(s1, s2), disp=False)
      fid = float(np.real(np.square(mu1 - mu2).sum() + np.trace(s1 + s2 - s * 2)))
      print(float(fid))
      """;

  static final String KID = """
      import sys, numpy as np
      d = np.load(sys.argv[1]); gi = np.load(sys.argv[2]); ri = np.load(sys.argv[3])
      gen, real = d["fa"], d["fb"]
      n = real.shape[1]; m = gi.shape[1]; t = 0
      for k in range(gi.shape[0]):
          x = gen[gi[k]]; y = real[ri[k]]
          a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
          b = (x @ y.T / n + 1) ** 3
          t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
      print(float(t / gi.shape[0] / m))
      """;

  static double pythonFid;

  @BeforeAll
  static void makeFixture() {
    pythonFid = Double.parseDouble(PythonRef.run(MAKE, dir.toString()).trim());
  }

  static Tensor uint8(Npy.Array a) {
    return Tensor.fromBytes(a.data(), DType.UINT8, a.shape());
  }

  static double rel(double a, double b) {
    return Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
  }

  @Test
  void featuresStatisticsAndFrechetDistanceMatchNumpyScipy() {
    Map<String, Npy.Array> images = Npz.read(dir.resolve("images.npz"));
    Map<String, Npy.Array> feats = Npz.read(dir.resolve("features.npz"));
    GaussianStats ref = GaussianStats.load(dir.resolve("ref_b.npz"));
    try (TensorScope s = TensorScope.open(); TorchScriptDetector det = TorchScriptDetector.load(dir.resolve("det.pt"))) {
      FeatureStats fs = new FeatureStats();
      Tensor all = uint8(images.get("a"));
      for (int i = 0; i < 300; i += 64) {  // batches of 64 and a tail of 44
        Tensor f = det.features(all.narrow(0, i, Math.min(64, 300 - i)));
        fs.add(f);
      }
      // features equal PyTorch's (grayscale repeated to RGB as fid.py does)
      double[] fa = feats.get("fa").toDoubleArray();
      double[] mine = det.features(all).to(DType.FLOAT64).toDoubleArray();
      double worst = 0;
      for (int i = 0; i < fa.length; i++) worst = Math.max(worst, Math.abs(fa[i] - mine[i]));
      assertTrue(worst < 1e-5, "feature difference " + worst);
      GaussianStats a = fs.stats();
      assertEquals(300, a.count());
      // our statistics vs np.mean/np.cov on numpy's features of the same images
      GaussianStats fromPy = statsOf(fa, 300, 12);
      assertTrue(maxRel(a.mu(), fromPy.mu()) < 1e-5, "mu");
      assertTrue(maxRel(a.sigma(), fromPy.sigma()) < 1e-5, "sigma");
      // the distance itself, on identical statistics, vs scipy's sqrtm to 1e-6 relative
      double fd = Frechet.distance(statsFromNumpyFeatures(feats, "fa"), ref);
      assertTrue(rel(fd, pythonFid) < 1e-6, "FID " + fd + " vs scipy " + pythonFid);
      // and end to end from the images
      double fdImages = Frechet.distance(a, ref);
      assertTrue(rel(fdImages, pythonFid) < 1e-5, "FID from images " + fdImages + " vs " + pythonFid);
      assertTrue(pythonFid > 1, "the two image sets differ: " + pythonFid);
      assertEquals(0, Frechet.distance(ref, ref), 1e-9 * ref.dim());
    }
  }

  @Test
  void kidMatchesStyleGanFormulaOnTheSameSubsets() throws Exception {
    Map<String, Npy.Array> feats = Npz.read(dir.resolve("features.npz"));
    try (TensorScope s = TensorScope.open()) {
      Tensor gen = feats.get("fa").toTensor();
      Tensor real = feats.get("fb").toTensor();
      int m = KernelDistance.subsetSize(gen, real, 100);
      assertEquals(100, m);
      java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
      int subsets = 20;
      long[][] gi = new long[subsets][];
      long[][] ri = new long[subsets][];
      for (int k = 0; k < subsets; k++) {
        gi[k] = KernelDistance.choose(rnd, 300, m);
        ri[k] = KernelDistance.choose(rnd, 260, m);
      }
      double kid = KernelDistance.kid(gen, real, gi, ri);
      Npy.write(dir.resolve("gi.npy"), new Npy.Array(DType.INT64, new long[] {subsets, m}, longs(gi)));
      Npy.write(dir.resolve("ri.npy"), new Npy.Array(DType.INT64, new long[] {subsets, m}, longs(ri)));
      double py = Double.parseDouble(PythonRef.run(KID, dir.resolve("features.npz").toString(),
          dir.resolve("gi.npy").toString(), dir.resolve("ri.npy").toString()).trim());
      assertTrue(rel(kid, py) < 1e-6, "KID " + kid + " vs numpy " + py);
      assertTrue(py > 0.01, "distributions differ: " + py);
      // the seeded form draws distinct indices and is reproducible
      double k1 = KernelDistance.kid(gen, real, 10, 50, 3);
      assertEquals(k1, KernelDistance.kid(gen, real, 10, 50, 3), 0.0);
      // same distribution: KID near 0 (unbiased), far below the differing pair
      double same = KernelDistance.kid(gen.narrow(0, 0, 150), gen.narrow(0, 150, 150), 20, 150, 1);
      assertTrue(Math.abs(same) < py / 10, "KID of a split of one set " + same + " vs " + py);
    }
  }

  @Test
  void badStatisticsFilesAreNamed() throws Exception {
    Map<String, Npy.Array> m = new LinkedHashMap<>();
    m.put("mu", new Npy.Array(DType.FLOAT64, new long[] {3}, new byte[24]));
    Npz.write(dir.resolve("nosigma.npz"), m, false);
    DataException e = assertThrows(DataException.class, () -> GaussianStats.load(dir.resolve("nosigma.npz")));
    assertTrue(e.getMessage().contains("nosigma.npz") && e.getMessage().contains("'sigma'"), e.getMessage());
    m.put("sigma", new Npy.Array(DType.FLOAT64, new long[] {2, 2}, new byte[32]));
    Npz.write(dir.resolve("shape.npz"), m, true);
    assertThrows(DataException.class, () -> GaussianStats.load(dir.resolve("shape.npz")));
    assertThrows(IllegalArgumentException.class, () -> Frechet.distance(
        new GaussianStats(new double[2], new double[4], 0), new GaussianStats(new double[3], new double[9], 0)));
  }

  static GaussianStats statsFromNumpyFeatures(Map<String, Npy.Array> feats, String key) {
    Npy.Array a = feats.get(key);
    return statsOf(a.toDoubleArray(), (int) a.shape()[0], (int) a.shape()[1]);
  }

  /** Mean and unbiased covariance by the textbook two-pass formula. */
  static GaussianStats statsOf(double[] f, int n, int d) {
    double[] mu = new double[d];
    for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) mu[j] += f[i * d + j] / n;
    double[] s = new double[d * d];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < d; j++) {
        for (int k = 0; k < d; k++) s[j * d + k] += (f[i * d + j] - mu[j]) * (f[i * d + k] - mu[k]) / (n - 1);
      }
    }
    return new GaussianStats(mu, s, n);
  }

  static double maxRel(double[] a, double[] b) {
    double scale = 0;
    double worst = 0;
    for (double v : b) scale = Math.max(scale, Math.abs(v));
    for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    return worst / scale;
  }

  static byte[] longs(long[][] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * v[0].length * 8).order(ByteOrder.LITTLE_ENDIAN);
    for (long[] r : v) for (long x : r) b.putLong(x);
    return b.array();
  }
}
