package dev.cm4j.cli;

import dev.cm4j.tensor.Device;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import org.apache.commons.cli.CommandLine;

/**
 * The CUDA switches of {@code cm train}, named as in ECT's and EDM's {@code train.py}: {@code --tf32} (TF32 in matmul
 * and cuDNN convolutions; off by default, as there), {@code --bench} (cuDNN autotuning, {@code
 * torch.backends.cudnn.benchmark}) and {@code --channels-last} (the network's activations in NHWC memory format).
 *
 * @param tf32 TF32 for float32 matmuls and convolutions
 * @param bench cuDNN autotuning
 * @param channelsLast channels-last memory format for the network
 */
record CudaSwitches(boolean tf32, boolean bench, boolean channelsLast) {
  static final CudaSwitches NONE = new CudaSwitches(false, false, false);

  static CudaSwitches of(CommandLine cl) {
    return new CudaSwitches(cl.hasOption("tf32"), cl.hasOption("bench"), cl.hasOption("channels-last"));
  }

  /** The switches given, as their flags ("--tf32 --bench"), or "none". */
  String describe() {
    List<String> on = new ArrayList<>();
    if (tf32) on.add("--tf32");
    if (bench) on.add("--bench");
    if (channelsLast) on.add("--channels-last");
    return on.isEmpty() ? "none" : String.join(" ", on);
  }

  /**
   * A note for switches that have no effect on device (TF32 and cuDNN autotuning exist only on CUDA), or null.
   * Channels-last applies on the CPU as well (oneDNN convolutions take NHWC).
   */
  String noteFor(Device device) {
    if (device.type() == Device.Type.CUDA || !(tf32 || bench)) return null;
    return (tf32 && bench ? "--tf32 and --bench have" : tf32 ? "--tf32 has" : "--bench has")
        + " no effect on " + device + " (CUDA only)";
  }

  /**
   * Applies the process-wide switches before the run starts: TF32 in matmuls and cuDNN convolutions and cuDNN
   * autotuning are libtorch's global flags (set whether or not CUDA is present; they only act on CUDA). Channels-last
   * belongs to the run: it becomes the training option {@code channels_last} ({@link #overrides}).
   */
  void apply(PrintStream out) {
    dev.cm4j.tensor.Cuda.setAllowTf32Matmul(tf32);
    dev.cm4j.tensor.Cuda.setAllowTf32Cudnn(tf32);
    dev.cm4j.tensor.Cuda.setCudnnBenchmark(bench);
  }

  /** The training options these switches set: {@code channels_last} true with --channels-last, else nothing. */
  java.util.Map<String, String> overrides() {
    return channelsLast ? java.util.Map.of("channels_last", "true") : java.util.Map.of();
  }
}
