package dev.cm4j.gpu;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data parallel over NCCL: 2 GPU workers with batch B each (global batch 2B) end with the weights of 1 GPU worker
 * with batch 2B, to 1e-4. Needs at least 2 visible GPUs; the workers are started by cm train's launcher and bind
 * cuda:LOCAL_RANK through --device auto.
 */
@Tag(GpuGroup.TAG)
class NcclEquivalenceTest {
  @TempDir Path dir;

  static List<String> args(Path outdir, int workers) {
    return List.of("train", "--preset", "toy2d-ect", "--outdir", outdir.toString(), "--nproc-per-node",
        Integer.toString(workers), "--device", "auto", "--batch", "64", "--duration", "0.000192",
        "--set", "tick_kimg=0.064", "--set", "network.hidden=16", "--set", "data.size=1000", "--threads", "1");
  }

  @Test
  void twoGpusOfBatchBEqualOneGpuOfBatch2B() throws Exception {
    Runs.assumeDeviceOption("toy2d-ect");
    GpuGroup.cudaOrSkip();
    assumeTrue(Torch.cudaDeviceCount() >= 2, "fewer than 2 GPUs: " + Torch.cudaDeviceCount());
    GpuGroup.requireTf32Off();
    Runs.Out one = Runs.cm(args(dir.resolve("one"), 1));
    assertEquals(0, one.code(), one.out() + one.err());
    Runs.Out two = Runs.cm(args(dir.resolve("two"), 2));
    assertEquals(0, two.code(), two.out() + two.err());
    assertTrue(two.out().contains("started 2 worker(s)"), two.out());
    Path a = Runs.newestSnapshot(Runs.runDir(dir.resolve("one")));
    Path b = Runs.newestSnapshot(Runs.runDir(dir.resolve("two")));
    assertEquals(a.getFileName(), b.getFileName());
    double worst = 0;
    try (SafeTensorFile fa = SafeTensors.read(a); SafeTensorFile fb = SafeTensors.read(b);
        TensorScope s = TensorScope.open()) {
      assertEquals(fa.names(), fb.names());
      for (String k : fa.names()) {
        Tensor x = fa.tensor(k);
        Tensor y = fb.tensor(k);
        double scale = Math.max(1e-6, x.abs().amax(false).item());
        worst = Math.max(worst, x.sub(y).abs().amax(false).item() / scale);
      }
    }
    assertTrue(worst <= 1e-4, "max relative |1 x 2B - 2 x B| = " + worst);
  }
}
