package dev.cm4j.bench;

import dev.cm4j.nn.DhariwalUNet;
import dev.cm4j.nn.EDMNetwork;
import dev.cm4j.nn.EDM2UNet;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.objectives.MeanFlow;
import dev.cm4j.objectives.SCM;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.CpuAllocator;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.ForwardAD;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntConsumer;

/**
 * Peak memory of one training step with a forward-mode JVP against a plain forward + backward of the same network,
 * Java side of {@code bench/jvp_memory.sh} ({@code bench/jvp_memory.py} is the PyTorch side). One variant per process:
 *
 * <ul>
 *   <li>{@code sct-plain}: F = TrigFlowPrecond(SongUNet small).rawF(x_t, t), mean(F²), backward;
 *   <li>{@code sct}: cm-core's {@link SCM} loss (CIFAR-10 settings, warm-up done, AdaptiveWeight(128)): a gradient
 *       pass and a no-grad JVP pass with shared dropout masks, mean, backward;
 *   <li>diagnostics {@code sct-fwd} (sCT's network, one forward under no-grad) and {@code sct-jvp} (its JVP pass
 *       alone, under no-grad, tangents (cos t sin t·x_t, cos t sin t));
 *   <li>{@code mf-plain}: u = TwoTimeNetwork(SongUNet small with the s path).forward(z, r, t), mean(u²), backward;
 *   <li>{@code mf}: cm-core's {@link MeanFlow} loss (CIFAR-10 settings, u-loss, adaptive weight), mean, backward;
 *   <li>Java only: {@code edm2-fwd} / {@code edm2-jvp} and {@code adm-fwd} / {@code adm-jvp}, a no-grad forward and a
 *       no-grad JVP pass (tangents (randn, 1)) of an EDM2 U-Net and a DhariwalUNet of the same size (EDM2: 64 channels
 *       per head, dropout 0.10; ADM: dropout 0.10).
 * </ul>
 *
 * <p>The small SongUNet of the step benchmarks (16×16×3, 32 channels, [1, 2], attention at 8×8, dropout 0.10,
 * training mode), one intra-op thread, no optimizer step (its state is the same for every variant). Every CPU
 * allocation goes through cm4j's caching allocator configured to count all of them (blocks of 1 byte and more) and to
 * cache nothing (a freed block goes back to the OS at once, so the resident set follows the live bytes). A warm-up
 * step at batch 1 first allocates the gradients and one-time buffers; then one step at the measured batch. Printed
 * (one JSON line): live bytes before the step, the allocator's peak of live bytes during it (the peak counter cannot be
 * reset: it is checked to have been set by this step), and the growth of the resident set's high-water mark VmHWM
 * (reset through /proc/self/clear_refs just before the step). Usage: {@code JvpMemory <variant> [batch]};
 * {@code JvpMemory library} prints the path of the native library this JVM loads (the Python side installs the same
 * allocator from it).
 */
public final class JvpMemory {
  private JvpMemory() {}

  static SongUNet.Config small(boolean sPath) {
    String json = SongUNetStep.SMALL_JSON;
    return SongUNet.Config.fromKwargs(json.substring(0, json.length() - 1) + ",\"s_embedding\":" + sPath + "}");
  }

  /** A field of /proc/self/status in bytes (VmRSS, VmHWM). */
  static long status(String field) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith(field + ":")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
    }
    throw new IOException(field + " not in /proc/self/status");
  }

  /** Counting every allocation, caching nothing: the instrument of this benchmark. */
  static final CpuAllocator.Settings COUNT_ALL = new CpuAllocator.Settings(1, 0, false);

  /** One measurement (bytes; the allocator's counts are size-class bytes). */
  record Result(String variant, int batch, long liveBefore, long peakBefore, long peak, long liveAfter, long rssBefore,
      long hwmReset, long hwm) {
    String json() {
      return String.format(Locale.ROOT, "{\"side\": \"java\", \"variant\": \"%s\", \"batch\": %d, "
          + "\"live_before\": %d, \"peak\": %d, \"live_after\": %d, \"rss_before\": %d, \"hwm_reset\": %d, "
          + "\"hwm\": %d}", variant, batch, liveBefore, peak, liveAfter, rssBefore, hwmReset, hwm);
    }
  }

  public static void main(String[] args) throws IOException {
    if (args.length < 1) {
      System.err.println("usage: JvpMemory <sct-plain|sct|sct-fwd|sct-jvp|mf-plain|mf|edm2-fwd|edm2-jvp|adm-fwd"
          + "|adm-jvp> [batch] | library");
      System.exit(2);
    }
    if (args[0].equals("library")) {
      System.out.println(dev.cm4j.bindings.NativeLibrary.load().library());
      return;
    }
    Torch.load();
    Torch.setNumThreads(1);
    CpuAllocator.enable(COUNT_ALL);
    Result r = measure(args[0], args.length > 1 ? Integer.parseInt(args[1]) : 8);
    if (r.peak() <= r.peakBefore()) {
      throw new IllegalStateException("the step did not raise the allocator's peak: " + r);
    }
    System.out.println(r.json());
  }

  /**
   * Builds the variant's network, runs the warm-up step at batch 1 and the measured step at batch (with the
   * allocator configured by the caller: {@link #COUNT_ALL}).
   */
  static Result measure(String variant, int batch) throws IOException {
    Torch.manualSeed(0);
    Generator gen = Generator.cpu(1);
    IntConsumer step;
    List<AutoCloseable> owned = new ArrayList<>();
    switch (variant) {
      case "sct-plain", "sct", "sct-fwd", "sct-jvp" -> {
        TrigFlowPrecond net = new TrigFlowPrecond(new SongUNet(small(false)), 0.5, TrigFlowPrecond.TimeLabel.IDENTITY);
        AdaptiveWeight w = new AdaptiveWeight(128);
        owned.add(net);
        owned.add(w);
        net.train(true);
        SCM scm = new SCM(SCM.Config.cifar10());
        step = n -> {
          Tensor x = Tensor.randn(new long[] {n, 3, 16, 16}, DType.FLOAT32, Device.CPU, gen);
          if (variant.equals("sct")) {
            scm.loss(net, w, x, null, 10_000, null, gen, null).loss().mean().backward();
            return;
          }
          Tensor t = scm.timeFromDraw(Tensor.randn(new long[] {n}, DType.FLOAT32, Device.CPU, gen), 0.5);
          Tensor tb = t.reshape(-1, 1, 1, 1);
          Tensor xt = tb.cos().mul(x).add(tb.sin().mul(x.randnLike(gen).mul(0.5)));
          if (variant.equals("sct-plain")) {
            net.rawF(xt, t, null).square().mean().backward();
            return;
          }
          try (GradMode g = GradMode.noGrad()) {
            if (variant.equals("sct-fwd")) {
              net.rawF(xt, t, null);
            } else {
              Tensor cs = tb.cos().mul(tb.sin());
              ForwardAD.jvp(in -> List.of(net.rawF(in.get(0), in.get(1), null)), List.of(xt, t),
                  List.of(cs.mul(xt), cs.flatten()));
            }
          }
        };
      }
      case "mf-plain", "mf" -> {
        TwoTimeNetwork net = new TwoTimeNetwork(new SongUNet(small(true)));
        owned.add(net);
        net.train(true);
        MeanFlow mf = new MeanFlow(MeanFlow.Config.cifar10());
        step = n -> {
          Tensor x = Tensor.randn(new long[] {n, 3, 16, 16}, DType.FLOAT32, Device.CPU, gen);
          if (variant.equals("mf")) {
            mf.loss(net, x, null, gen, null).loss().mean().backward();
          } else {
            MeanFlow.Draws d = mf.draw(x, false, gen);
            Tensor[] tr = mf.times(d.nT(), d.nR(), d.uRatio());
            Tensor tb = tr[0].reshape(-1, 1, 1, 1);
            Tensor z = tb.neg().add(1.0).mul(x).add(tb.mul(d.eps()));
            net.forward(z, tr[1], tr[0], null).square().mean().backward();
          }
        };
      }
      case "edm2-fwd", "edm2-jvp", "adm-fwd", "adm-jvp" -> {
        Module module = variant.startsWith("edm2")
            ? new EDM2UNet(new EDM2UNet.Config(16, 3, 0, 32, new int[] {1, 2}, 0, 0, 1, new int[] {8}, 0.5, 0.5,
                new double[] {1, 1}, 64, 0.10, 0.3, 0.3, 256, 0, "fourier", false, false))
            : new DhariwalUNet(new DhariwalUNet.Config(16, 3, 3, 0, 0, 32, new int[] {1, 2}, 4, 1, new int[] {8},
                0.10, 0, 1, false));
        EDMNetwork net = (EDMNetwork) module;
        owned.add(module);
        module.train(true);
        step = n -> {
          Tensor x = Tensor.randn(new long[] {n, 3, 16, 16}, DType.FLOAT32, Device.CPU, gen);
          Tensor t = Tensor.rand(new long[] {n}, DType.FLOAT32, Device.CPU, gen);
          try (GradMode g = GradMode.noGrad()) {
            if (variant.endsWith("fwd")) {
              net.forward(x, t, null, null);
            } else {
              ForwardAD.jvp(in -> List.of(net.forward(in.get(0), in.get(1), null, null)), List.of(x, t),
                  List.of(x.randnLike(gen), t.onesLike()));
            }
          }
        };
      }
      default -> throw new IllegalArgumentException("unknown variant '" + variant
          + "' (sct-plain, sct, sct-fwd, sct-jvp, mf-plain, mf, edm2-fwd, edm2-jvp, adm-fwd, adm-jvp)");
    }
    try {
      return measure(variant, batch, step);
    } finally {
      for (AutoCloseable c : owned) {
        try {
          c.close();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }
    }
  }

  private static Result measure(String variant, int batch, IntConsumer step) throws IOException {
    try (TensorScope s = TensorScope.open()) {
      step.accept(1); // warm-up: gradients and one-time buffers
    }
    System.gc();
    CpuAllocator.Stats before = CpuAllocator.stats();
    long rss = status("VmRSS");
    Files.writeString(Path.of("/proc/self/clear_refs"), "5"); // VmHWM := VmRSS
    long hwm0 = status("VmHWM");
    try (TensorScope s = TensorScope.open()) {
      step.accept(batch);
    }
    long hwm = status("VmHWM");
    CpuAllocator.Stats after = CpuAllocator.stats();
    return new Result(variant, batch, before.allocatedBytes(), before.peakAllocatedBytes(), after.peakAllocatedBytes(),
        after.allocatedBytes(), rss, hwm0, hwm);
  }
}
