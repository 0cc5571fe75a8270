package dev.cm4j.gpu;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A 200-step fmnist-ect-tiny run on cuda:0 tracks the same run on the CPU: the loss of each tick (50 steps) is within
 * a factor 1.5 of the CPU's. The devices draw from different random streams (as PyTorch's CPU and CUDA generators
 * do), so the runs are not equal step by step; averaged over a tick the losses must agree.
 */
@Tag(GpuGroup.TAG)
class FmnistTrackTest {
  @TempDir Path dir;

  static List<String> args(Path outdir, String device) {
    int steps = GpuGroup.steps();
    int batch = 32;
    List<String> a = new ArrayList<>(List.of("train", "--preset", "fmnist-ect-tiny", "--outdir", outdir.toString(),
        "--batch", Integer.toString(batch),
        "--duration", String.format(Locale.ROOT, "%.6f", steps * batch / 1e6),
        "--tick", String.format(Locale.ROOT, "%.4f", Math.max(1, steps / 4) * batch / 1e3),
        "--set", "snap_ticks=1000", "--set", "state_ticks=1000", "--seed", "0"));
    if (device != null) a.addAll(List.of("--device", device));
    Path data = GpuGroup.fmnist();
    if (data != null) a.addAll(List.of("--data", data.toString()));
    if (GpuGroup.small()) {
      a.addAll(List.of("--set", "network.model_channels=8", "--set", "network.channel_mult=[1,1]",
          "--set", "network.attn_resolutions=[]"));
    }
    return a;
  }

  @Test
  void cudaLossesTrackTheCpuRun() throws Exception {
    // Without the device training option the CPU run can still be made where there is no GPU (auto is the CPU).
    boolean devices = Runs.hasDeviceOption("fmnist-ect-tiny");
    if (!devices) dev.cm4j.tensor.Torch.load();
    if (!devices && dev.cm4j.tensor.Torch.cudaIsAvailable()) Runs.assumeDeviceOption("fmnist-ect-tiny");
    Runs.Out c = Runs.cm(args(dir.resolve("cpu"), devices ? "cpu" : null));
    assertEquals(0, c.code(), c.out() + c.err());
    double[] cpu = Runs.tickLosses(Runs.runDir(dir.resolve("cpu")));
    assertTrue(cpu.length >= 2, "ticks: " + Arrays.toString(cpu));
    for (double v : cpu) assertTrue(Double.isFinite(v) && v > 0, "CPU loss " + v);
    GpuGroup.cudaOrSkip();
    Runs.assumeDeviceOption("fmnist-ect-tiny");
    Runs.Out g = Runs.cm(args(dir.resolve("cuda"), "cuda:0"));
    assertEquals(0, g.code(), g.out() + g.err());
    double[] gpu = Runs.tickLosses(Runs.runDir(dir.resolve("cuda")));
    assertEquals(cpu.length, gpu.length, "ticks: cpu " + Arrays.toString(cpu) + ", cuda " + Arrays.toString(gpu));
    for (int i = 0; i < cpu.length; i++) {
      double ratio = gpu[i] / cpu[i];
      assertTrue(ratio > 1 / 1.5 && ratio < 1.5, "tick " + i + ": cuda/cpu loss " + ratio + "\ncpu  "
          + Arrays.toString(cpu) + "\ncuda " + Arrays.toString(gpu));
    }
  }
}
