package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.data.Npy;
import dev.cm4j.data.Npz;
import dev.cm4j.eval.FmnistClassifier;
import dev.cm4j.eval.Frechet;
import dev.cm4j.eval.GaussianStats;
import dev.cm4j.eval.ImageSource;
import dev.cm4j.eval.Metrics;
import dev.cm4j.data.IdxDataset;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.TensorScope;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cm sample's outputs (grid, PNG folder, .npz) and cm eval's FD-fmnist, from a snapshot of a tiny Fashion-MNIST run,
 * checked against the library computed directly.
 */
class EvalCommandTest {
  @TempDir static Path dir;
  static Path snapshot;
  static Path classifier;

  @BeforeAll
  static void tinyRunAndClassifier() throws Exception {
    MainTest.Out r = MainTest.run("train", "--preset", "fmnist-ect-tiny", "--outdir", dir.resolve("runs").toString(),
        "--duration", "0.000064", "--batch", "32", "--set", "tick_kimg=0.064", "--set", "network.model_channels=8",
        "--set", "network.channel_mult=[1,1]", "--set", "network.attn_resolutions=[]", "--set", "threads=1");
    assertEquals(0, r.code(), r.err());
    try (var s = Files.walk(dir.resolve("runs"))) {
      snapshot = s.filter(p -> p.getFileName().toString().matches("network-snapshot-\\d+\\.safetensors")
          && p.toString().endsWith(".safetensors")).sorted().reduce((a, b) -> b).orElseThrow();
    }
    classifier = dir.resolve("clf.safetensors");
    MainTest.Out t = MainTest.run("eval", "train-fmnist-net", "--out", classifier.toString(), "--train-steps", "30");
    assertEquals(0, t.code(), t.err());
    assertTrue(t.out().contains("test accuracy"), t.out());
  }

  @Test
  void sampleWritesNpzAndPngFolderWithTheSameImages() throws Exception {
    Path npz = dir.resolve("s.npz");
    Path pngs = dir.resolve("pngs");
    MainTest.Out a = MainTest.run("sample", "--snapshot", snapshot.toString(), "--n", "10", "--batch", "4", "--out", npz.toString());
    assertEquals(0, a.code(), a.err());
    // --device cpu is accepted and changes nothing on the CPU: the two outputs below hold the same pixels
    MainTest.Out b = MainTest.run("sample", "--snapshot", snapshot.toString(), "--n", "10", "--batch", "4", "--out", pngs.toString(),
        "--device", "cpu");
    assertEquals(0, b.code(), b.err());
    Npy.Array arr = Npz.read(npz, "samples");
    assertEquals(DType.UINT8, arr.dtype());
    assertArrayEquals(new long[] {10, 32, 32, 1}, arr.shape());
    try (var s = Files.list(pngs)) {
      assertEquals(10, s.count());
    }
    // the PNG folder and the npz hold the same pixels (both NHWC with one channel)
    var img9 = dev.cm4j.image.Png.read(pngs.resolve("000009.png"));
    byte[] fromNpz = java.util.Arrays.copyOfRange(arr.data(), 9 * 1024, 10 * 1024);
    assertArrayEquals(fromNpz, img9.data());
  }

  @Test
  void fdFmnistMatchesTheLibraryAndAStatsFileRoundTrips() throws Exception {
    Path npz = dir.resolve("e.npz");
    assertEquals(0, MainTest.run("sample", "--snapshot", snapshot.toString(), "--n", "40", "--out", npz.toString()).code());
    Path ref = dir.resolve("ref.npz");
    // reference statistics from a folder of real images (the first 300 test images as an .npz)
    Path real = dir.resolve("real.npz");
    IdxDataset test = IdxDataset.debianFashionMnist(false).orElseThrow();
    try (TensorScope s = TensorScope.open()) {
      int[] idx = new int[300];
      for (int i = 0; i < idx.length; i++) idx[i] = i;
      byte[] px = FmnistClassifier.images(test, idx).toByteArray();
      Npz.write(real, Map.of("arr_0", new Npy.Array(DType.UINT8, new long[] {300, 28, 28}, px)), true);
    }
    MainTest.Out w = MainTest.run("eval", "ref", "--ref-data", real.toString(), "--fmnist-net", classifier.toString(),
        "--out", ref.toString());
    assertEquals(0, w.code(), w.err());
    MainTest.Out e = MainTest.run("eval", "--metric", "fd-fmnist", "--images", npz.toString(), "--ref", ref.toString(),
        "--fmnist-net", classifier.toString(), "--batch", "16", "--device", "cpu");
    assertEquals(0, e.code(), e.err());
    Matcher m = Pattern.compile("fd-fmnist\\s+(\\S+)").matcher(e.out());
    assertTrue(m.find(), e.out());
    double cli = Double.parseDouble(m.group(1));
    // the same 40 samples drawn by cm eval itself from the snapshot, on --device cpu: the same distance
    MainTest.Out fromSnap = MainTest.run("eval", "--metric", "fd-fmnist", "--snapshot", snapshot.toString(), "--n", "40",
        "--ref", ref.toString(), "--fmnist-net", classifier.toString(), "--device", "cpu");
    assertEquals(0, fromSnap.code(), fromSnap.err());
    Matcher m2 = Pattern.compile("fd-fmnist\\s+(\\S+)").matcher(fromSnap.out());
    assertTrue(m2.find(), fromSnap.out());
    assertEquals(cli, Double.parseDouble(m2.group(1)), Math.abs(cli) * 1e-5, fromSnap.out());
    try (TensorScope s = TensorScope.open(); FmnistClassifier net = FmnistClassifier.load(classifier)) {
      GaussianStats refStats = Metrics.stats(net, ImageSource.npz(real), 64);
      double lib = Frechet.distance(Metrics.stats(net, ImageSource.npz(npz), 7), refStats);
      assertEquals(lib, cli, Math.abs(lib) * 1e-5, e.out());   // printed with 6 significant digits
      assertTrue(lib > 0);
    }
    // errors are one line and name the problem
    MainTest.Out bad = MainTest.run("eval", "--metric", "fid", "--images", npz.toString(), "--ref", ref.toString());
    assertNotEquals(0, bad.code());
    assertTrue(bad.err().contains("--detector"), bad.err());
    MainTest.Out bad2 = MainTest.run("eval", "--metric", "nope", "--images", npz.toString());
    assertEquals(2, bad2.code());
  }
}
