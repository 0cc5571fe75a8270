package dev.cm4j.gpu;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Torch;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the GPU test group (JUnit tag {@code cuda}) shares. The group is excluded from the normal suite (cm-cli's
 * surefire configuration) and run by {@code scripts/gpu-check.sh}; each test does its CPU part first and then skips
 * through an assumption when CUDA is absent, so that {@code scripts/gpu-check.sh --cpu-only} runs everything a CPU
 * can.
 *
 * <p>System properties (the script sets them): {@code cm4j.gpu.steps} (steps of the fmnist run, 200),
 * {@code cm4j.gpu.fmnist} (a directory with Fashion-MNIST's IDX files; Debian's copy when unset),
 * {@code cm4j.gpu.small} (true: smaller networks, for a dry run on a CPU).
 */
final class GpuGroup {
  private GpuGroup() {}

  /** The tag of the group. */
  static final String TAG = "cuda";

  /** cuda:0, after assuming that CUDA is there (the test is skipped otherwise). */
  static Device cudaOrSkip() {
    Torch.load();
    assumeTrue(Torch.cudaIsAvailable(), "CUDA is not available: the CUDA half of this test is skipped");
    return Device.cuda(0);
  }

  /**
   * Fails unless TF32 is off for this process. The comparisons against the CPU at 1e-4 need full float32 GEMMs and
   * convolutions; cuDNN uses TF32 by default on Ampere and later. NVIDIA's libraries honour
   * NVIDIA_TF32_OVERRIDE=0, which gpu-check.sh sets for the group.
   *
   * <p>COORDINATOR: once Torch has the TF32 switches (branch cudaapi), call them here instead (allow_tf32 false for
   * matmul and cuDNN) and drop the environment requirement.
   */
  static void requireTf32Off() {
    if (!"0".equals(System.getenv("NVIDIA_TF32_OVERRIDE"))) {
      throw new IllegalStateException("run the GPU group with NVIDIA_TF32_OVERRIDE=0 (TF32 off), as "
          + "scripts/gpu-check.sh does: cuDNN's default TF32 convolutions differ from the CPU by ~1e-3");
    }
  }

  /** Steps of the fmnist tracking run. */
  static int steps() {
    return Integer.getInteger("cm4j.gpu.steps", 200);
  }

  /** Smaller networks for a CPU dry run. */
  static boolean small() {
    return Boolean.getBoolean("cm4j.gpu.small");
  }

  /** The Fashion-MNIST directory (IDX files), or null for Debian's dataset-fashion-mnist. */
  static Path fmnist() {
    String p = System.getProperty("cm4j.gpu.fmnist");
    if (p != null && !p.isBlank()) return Path.of(p);
    Path debian = Path.of("/usr/share/datasets/fashion-mnist");
    assumeTrue(Files.isDirectory(debian), "no Fashion-MNIST: set -Dcm4j.gpu.fmnist or install dataset-fashion-mnist");
    return null;
  }
}
