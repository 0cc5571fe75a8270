package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.optim.EMA;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Power-function EMA tracks stored during training and reconstructed afterwards (EDM2's post-hoc EMA). */
class PosthocEmaTrainingTest {
  static final String TRACKS = "[{\"kind\": \"power\", \"sigma_rel\": 0.05, \"snapshot_kimg\": 0.128},"
      + " {\"kind\": \"power\", \"sigma_rel\": 0.10, \"snapshot_kimg\": 0.128}]";

  @Test
  void oldPowerTracksLoadWithoutStoredSnapshots() {
    TrainingOptions o = TrainerTest.toy(0.128, "ect").with(Map.of("ema", "[{\"kind\": \"power\", \"sigma_rel\": 0.1}]"));
    assertEquals(0, ((EmaOptions.Power) o.ema().get(0)).snapshotKimg());
    OptionException e = assertThrows(OptionException.class, () -> TrainerTest.toy(0.128, "ect")
        .with(Map.of("ema", "[{\"kind\": \"power\", \"sigma_rel\": 0.1, \"snapshot_kimg\": -1}]")));
    assertEquals("ema.0.snapshot_kimg", e.key());
  }

  @Test
  void storedTracksReconstructTheirOwnStdAndNewOnes(@TempDir Path dir) throws Exception {
    Path run;
    try (Trainer t = Trainer.start(TrainerTest.toy(0.512, "ect").with(Map.of("ema", TRACKS)), dir,
        TrainerTest.QUIET)) {
      run = t.run().runDir();
    }
    List<PosthocEma.Input> in = PosthocEma.list(run);
    assertEquals(8, in.size(), in.toString()); // 128, 256, 384, 512 images x two profiles
    assertEquals(128, in.get(0).nimg());
    assertEquals(0.05, in.get(0).std());
    assertEquals(512, in.get(7).nimg());
    assertEquals(0.10, in.get(7).std());

    List<Path> out = PosthocEma.reconstruct(in, new double[] {0.10, 0.07}, 0, dir.resolve("phema"));
    assertEquals(2, out.size());
    try (TensorScope s = TensorScope.open(); SafeTensorFile own = SafeTensors.read(out.get(0));
        SafeTensorFile stored = SafeTensors.read(in.get(7).file()); SafeTensorFile mid = SafeTensors.read(out.get(1));
        SafeTensorFile a = SafeTensors.read(in.get(6).file())) {
      assertEquals(stored.names(), own.names());
      double[] nimg = in.stream().mapToDouble(PosthocEma.Input::nimg).toArray();
      double[] std = in.stream().mapToDouble(PosthocEma.Input::std).toArray();
      double[][] x = EMA.solvePosthoc(nimg, std, 512, new double[] {0.07});
      for (String k : stored.names()) {
        Tensor ref = stored.tensor(k);
        double err = own.tensor(k).sub(ref).abs().amax(false).item();
        assertTrue(err <= 1e-5 * Math.max(1, ref.abs().amax(false).item()), k + ": " + err);
        // the new profile is the coefficients' combination of the stored ones
        Tensor expect = Tensor.zeros(ref.shape()).to(dev.cm4j.tensor.DType.FLOAT64);
        for (int i = 0; i < in.size(); i++) {
          try (SafeTensorFile f = SafeTensors.read(in.get(i).file())) {
            expect = expect.add(f.tensor(k).to(dev.cm4j.tensor.DType.FLOAT64).mul(x[i][0]));
          }
        }
        assertTrue(mid.tensor(k).to(dev.cm4j.tensor.DType.FLOAT64).sub(expect).abs().amax(false).item() < 1e-5, k);
      }
      assertEquals("0.07", mid.metadata().get(PosthocEma.STD_KEY));
      // the two stored profiles differ, so the reconstruction is not trivially one of them
      String k0 = stored.names().get(0);
      assertTrue(stored.tensor(k0).sub(a.tensor(k0)).abs().amax(false).item() > 0);
    }
    // a reconstructed file is a loadable network snapshot that samples
    try (Snapshot snap = Snapshot.load(out.get(1)); TensorScope s = TensorScope.open()) {
      Tensor smp = snap.sample(16, new double[0], 1);
      assertTrue(smp.isfinite().all().itemBoolean());
    }
    assertThrows(IllegalArgumentException.class, () -> PosthocEma.reconstruct(in, new double[] {0.1}, 300,
        dir.resolve("x")));
    assertTrue(Files.list(run).anyMatch(p -> p.getFileName().toString().equals("network-snapshot-000000512-0.050.safetensors")));
  }
}
