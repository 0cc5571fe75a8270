package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.cli.MainTest.Out;
import dev.cm4j.data.Npy;
import dev.cm4j.data.Npz;
import dev.cm4j.tensor.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A new user's point-cloud workflow: train on their own .npy, sample points, score them with SWD. */
class PointWorkflowTest {
  @TempDir Path dir;

  /** Five clusters on a circle of radius 3, n points, shifted by (dx, 0). */
  static Path ring(Path file, int n, double dx) {
    float[] p = new float[2 * n];
    java.util.Random r = new java.util.Random(n);
    for (int i = 0; i < n; i++) {
      double a = 2 * Math.PI * (i % 5) / 5;
      p[2 * i] = (float) (3 * Math.cos(a) + 0.2 * r.nextGaussian() + dx);
      p[2 * i + 1] = (float) (3 * Math.sin(a) + 0.2 * r.nextGaussian());
    }
    Npy.write(file, p, n, 2);
    return file;
  }

  @Test
  void dataSetsTheKindFromTheFileOrFailsNamingTheConflict() throws Exception {
    Path ring = ring(dir.resolve("ring5.npy"), 100, 0);
    Out r = MainTest.run("train", "--preset", "toy2d-ect", "--data", ring.toString(), "-n");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("\"kind\" : \"npy\"") && r.out().contains(ring.toString()), r.out());
    assertFalse(r.out().contains("eight-gaussians"), "the preset's toy data is gone: " + r.out());
    assertTrue(r.err().contains("replaces toy2d") && r.err().contains("data.name"), r.err());
    // the ring's std (≈ 2.1) is over 4x the preset's sigma_data 0.5: a warning; matching it silences the warning
    assertTrue(r.err().contains("warning: precond.sigma_data 0.5"), r.err());
    Out matched = MainTest.run("train", "--preset", "toy2d-ect", "--data", ring.toString(), "--set",
        "precond.sigma_data=2", "-n");
    assertFalse(matched.err().contains("warning"), matched.err());
    assertFalse(MainTest.run("train", "--preset", "toy2d-ect", "-n").err().contains("warning"), "the preset's own data");

    Out conflict = MainTest.run("train", "--preset", "toy2d-ect", "--data", ring.toString(), "--set", "data.kind=toy2d", "-n");
    assertEquals(2, conflict.code());
    assertTrue(conflict.err().contains("conflicts with --set data.kind=toy2d") && conflict.err().contains("point cloud"),
        conflict.err());
    Out agree = MainTest.run("train", "--preset", "toy2d-ect", "--data", ring.toString(), "--set", "data.kind=npy", "-n");
    assertEquals(0, agree.code(), agree.err());

    Out imageNet = MainTest.run("train", "--preset", "fmnist-ect-tiny", "--data", ring.toString(), "-n");
    assertEquals(2, imageNet.code());
    assertTrue(imageNet.err().contains("network.arch") && imageNet.err().contains("toy2d-ect"), imageNet.err());
    Out withMlp = MainTest.run("train", "--preset", "fmnist-ect-tiny", "--data", ring.toString(), "--set",
        "network.arch=mlp", "-n");
    assertEquals(0, withMlp.code(), withMlp.err());

    Path pngs = Files.createDirectories(dir.resolve("pngs"));
    Files.write(pngs.resolve("0.png"), new byte[0]);
    Out folder = MainTest.run("train", "--preset", "fmnist-ect-tiny", "--data", pngs.toString(), "-n");
    assertEquals(0, folder.code(), folder.err());
    assertTrue(folder.out().contains("\"kind\" : \"folder\""), folder.out());
    Out pointsNet = MainTest.run("train", "--preset", "toy2d-ect", "--data", pngs.toString(), "-n");
    assertEquals(2, pointsNet.code());
    assertTrue(pointsNet.err().contains("image folder") && pointsNet.err().contains("network.arch is mlp"),
        pointsNet.err());

    Path cifar = Files.createDirectories(dir.resolve("cifar-10-batches-bin"));
    Files.write(cifar.resolve("data_batch_1.bin"), new byte[0]);
    Out same = MainTest.run("train", "--preset", "cifar10-ect", "--data", cifar.toString(), "-n");
    assertEquals(0, same.code(), same.err());
    assertTrue(same.out().contains("\"kind\" : \"cifar10\"") && same.out().contains("\"xflip\""), same.out());
    assertTrue(same.err().isEmpty(), "same kind: only the path changes: " + same.err());

    Out resumed = MainTest.run("train", "--resume", dir.toString(), "--data", ring.toString());
    assertEquals(2, resumed.code());
    assertTrue(resumed.err().contains("--data cannot change a resumed run"), resumed.err());

    Out missing = MainTest.run("train", "--preset", "toy2d-ect", "--data", dir.resolve("nope.npy").toString(), "-n");
    assertEquals(2, missing.code());
    assertTrue(missing.err().contains("nope.npy") && missing.err().contains("no such file"), missing.err());
  }

  @Test
  void pointSnapshotsSampleToNpyAndNpzAndScoreWithSwdAfterTheDataIsGone() throws Exception {
    Path data = ring(dir.resolve("ring5.npy"), 1000, 0);
    Path runs = dir.resolve("runs");
    Out t = MainTest.run("train", "--preset", "toy2d-ect", "--data", data.toString(), "--outdir", runs.toString(),
        "--duration", "0.000256", "--batch", "64", "--set", "tick_kimg=0.128", "--set", "network.hidden=16",
        "--set", "network.blocks=1", "--set", "objective.denoise_kimg=0.128");
    assertEquals(0, t.code(), t.err());
    // the σ_data warning goes to the run's log (printed once, with the status lines)
    assertTrue(t.out().contains("warning: precond.sigma_data 0.5"), t.out());
    assertFalse(t.err().contains("warning"), t.err());
    Path snap;
    try (var s = Files.walk(runs)) {
      snap = s.filter(p -> p.getFileName().toString().matches("network-snapshot-\\d+\\.safetensors")).sorted()
          .reduce((a, b) -> b).orElseThrow();
    }
    Files.delete(data); // a snapshot is self-describing: the training file is not needed to sample

    Path one = dir.resolve("one.npy");
    Out s1 = MainTest.run("sample", "--snapshot", snap.toString(), "--n", "300", "--out", one.toString());
    assertEquals(0, s1.code(), s1.err());
    Npy.Array a1 = Npy.read(one);
    assertEquals(DType.FLOAT32, a1.dtype());
    assertArrayEquals(new long[] {300, 2}, a1.shape());

    Path oneZ = dir.resolve("one.npz");
    assertEquals(0, MainTest.run("sample", "--snapshot", snap.toString(), "--n", "300", "--out", oneZ.toString()).code());
    assertArrayEquals(a1.toFloatArray(), Npz.read(oneZ, "samples").toFloatArray(), 0f);

    Path two = dir.resolve("two.npz");
    Out s2 = MainTest.run("sample", "--snapshot", snap.toString(), "--n", "300", "--steps", "2", "--t-mid", "0.1",
        "--out", two.toString());
    assertEquals(0, s2.code(), s2.err());
    Npy.Array a2 = Npz.read(two, "samples");
    assertArrayEquals(new long[] {300, 2}, a2.shape());
    assertFalse(java.util.Arrays.equals(a1.toFloatArray(), a2.toFloatArray()), "2-step differs from 1-step");
    for (float v : a2.toFloatArray()) assertTrue(Float.isFinite(v));

    Path plot = dir.resolve("points.png");
    assertEquals(0, MainTest.run("sample", "--snapshot", snap.toString(), "--out", plot.toString()).code());
    assertNotNull(javax.imageio.ImageIO.read(plot.toFile()));
    Out folder = MainTest.run("sample", "--snapshot", snap.toString(), "--out", dir.resolve("pngs").toString());
    assertEquals(1, folder.code());
    assertTrue(folder.err().contains("2-D points") && folder.err().contains(".npy"), folder.err());

    // SWD: a snapshot against held-out points; a file against itself (0) and against a shifted copy (≈ |m|/√2)
    Path ref = ring(dir.resolve("held-out.npy"), 500, 0);
    Out e = MainTest.run("eval", "--metric", "swd", "--snapshot", snap.toString(), "--steps", "2", "--t-mid", "0.1",
        "--n", "400", "--ref-data", ref.toString());
    assertEquals(0, e.code(), e.err());
    assertTrue(e.out().startsWith("swd") && e.out().contains("400 samples (2-step)")
        && e.out().contains("400 reference points"), e.out());
    double v = Double.parseDouble(e.out().trim().split("\\s+")[1]);
    assertTrue(v > 0 && Double.isFinite(v), e.out());
    Out self = MainTest.run("eval", "--metric", "swd", "--images", ref.toString(), "--ref-data", ref.toString());
    assertEquals(0, self.code(), self.err());
    assertEquals(0, Double.parseDouble(self.out().trim().split("\\s+")[1]), 1e-12, self.out());
    Path shifted = ring(dir.resolve("shifted.npy"), 500, 1.0);
    Out moved = MainTest.run("eval", "--metric", "swd", "--images", shifted.toString(), "--ref-data", ref.toString());
    assertEquals(1 / Math.sqrt(2), Double.parseDouble(moved.out().trim().split("\\s+")[1]), 0.05, moved.out());

    Out fid = MainTest.run("eval", "--metric", "fid", "--snapshot", snap.toString(), "--ref", "x.npz");
    assertEquals(1, fid.code());
    assertTrue(fid.err().contains("samples points") && fid.err().contains("swd"), fid.err());
    Out noRef = MainTest.run("eval", "--metric", "swd", "--snapshot", snap.toString());
    assertEquals(2, noRef.code());
    assertTrue(noRef.err().contains("--ref-data"), noRef.err());
    Path three = dir.resolve("three.npy");
    Npy.write(three, new float[] {1, 2, 3}, 1, 3);
    Out dims = MainTest.run("eval", "--metric", "swd", "--images", three.toString(), "--ref-data", ref.toString());
    assertEquals(1, dims.code());
    assertTrue(dims.err().contains("3-D") && dims.err().contains("2-D"), dims.err());
  }
}
