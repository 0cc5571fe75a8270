package dev.cm4j.bench;

import dev.cm4j.nn.Module;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.objectives.ECT;
import dev.cm4j.objectives.SCM;
import dev.cm4j.optim.Adam;
import dev.cm4j.optim.EMA;
import dev.cm4j.optim.NanToNum;
import dev.cm4j.optim.Optimizer;
import dev.cm4j.optim.RAdam;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.Autocast;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.Arrays;
import java.util.Locale;

/**
 * The training step that scripts/gpu-check.sh times against PyTorch on the same GPU ({@code
 * tools/bench/gpu_reference.py} is the PyTorch side), written as a user writes it with cm-core's API:
 *
 * <ul>
 *   <li>{@code ect}: locuslab/ect's CIFAR-10 step (run_ecm.sh: DDPM++, dropout 0.2, batch 128, RAdam lr 1e-4) —
 *       ECT stage 1 (P_mean −1.1, P_std 2, q 2, k 8, b 1, c 0) with {@code EDMPrecond.ect}, a student pass with
 *       gradients and a no-grad target pass sharing its dropout masks, the mean loss, backward, ECT's nan_to_num of
 *       the gradients, RAdam, and an EMA update (β 0.9999);
 *   <li>{@code sct}: sCT with {@code TrigFlowPrecond} (c_noise = t) and {@code AdaptiveWeight(128)} on the same
 *       network: a forward pass with gradients and a forward-mode JVP pass, the loss, backward, Adam (lr 1e-4).
 * </ul>
 *
 * <p>Usage: {@code GpuStep <ect|sct> <device> <fp32|bf16> <batch> <ddpmpp|small> <warmup> <reps>}. The batch is
 * fixed (data loading is not timed, as on the PyTorch side). Each timed step ends with a device synchronisation. Prints
 * {@code gpu_step <objective> <precision> java <median ms> <best ms> <network parameters>}, tab-separated.
 */
public final class GpuStep {
  private GpuStep() {}

  /** The network: CIFAR-10 DDPM++ (55.7 M parameters) or, for dry runs on a CPU, the small 16×16 one. */
  static SongUNet.Config network(String size, double dropout) {
    return switch (size) {
      case "ddpmpp" -> SongUNet.Config.ddpmpp(32, 3, dropout);
      case "small" -> SongUNet.Config.fromKwargs("{\"img_resolution\":16,\"img_channels\":3,\"model_channels\":32,"
          + "\"channel_mult\":[1,2],\"num_blocks\":1,\"attn_resolutions\":[8],\"dropout\":" + dropout + "}");
      default -> throw new IllegalArgumentException("unknown size '" + size + "' (ddpmpp, small)");
    };
  }

  public static void main(String[] args) {
    if (args.length != 7) {
      System.err.println("usage: GpuStep <ect|sct> <device> <fp32|bf16> <batch> <ddpmpp|small> <warmup> <reps>");
      System.exit(2);
    }
    Torch.load();
    String objective = args[0];
    Device dev = Device.parse(args[1]);
    boolean bf16 = switch (args[2]) {
      case "fp32" -> false;
      case "bf16" -> true;
      default -> throw new IllegalArgumentException("precision must be fp32 or bf16: " + args[2]);
    };
    int batch = Integer.parseInt(args[3]);
    SongUNet.Config cfg = network(args[4], objective.equals("ect") ? 0.2 : 0.0);
    int warmup = Integer.parseInt(args[5]);
    int reps = Integer.parseInt(args[6]);
    long[] params = new long[1];
    double[] ms = time(objective, dev, bf16, batch, cfg, warmup, reps, params);
    Arrays.sort(ms);
    System.out.printf(Locale.ROOT, "gpu_step\t%s\t%s\tjava\t%.3f\t%.3f\t%d%n", objective, args[2], ms[ms.length / 2],
        ms[0], params[0]);
  }

  static void sync(Device dev) {
    if (dev.type() == Device.Type.CUDA) Torch.cudaSynchronize(dev.index());
  }

  /** Milliseconds of each timed step; params[0] receives the network's parameter count. */
  static double[] time(String objective, Device dev, boolean bf16, int batch, SongUNet.Config cfg, int warmup,
      int reps, long[] params) {
    Torch.manualSeed(0);
    long r = cfg.imgResolution();
    Tensor x = Tensor.randn(batch, 3, r, r).clamp(-1, 1).to(dev);
    Module trained;
    Runnable loss;
    Optimizer opt;
    EMA ema = null;
    Generator gen = Generator.create(dev, 1);
    switch (objective) {
      case "ect" -> {
        EDMPrecond net = EDMPrecond.ect(new SongUNet(cfg));
        net.to(dev, null);
        ECT ect = new ECT(ECT.Config.cifar10());
        trained = net;
        params[0] = net.parameterCount();
        opt = new RAdam(net, RAdam.Config.defaults().withLr(1e-4));
        ema = EMA.of(net, new EMA.Fixed(0.9999));
        loss = () -> ect.loss(net, x, null, 1, gen, null).mean().backward();
      }
      case "sct" -> {
        ObjectiveStep.SctPair pair = new ObjectiveStep.SctPair(cfg);
        pair.to(dev, null);
        TrigFlowPrecond net = pair.net;
        AdaptiveWeight w = pair.weight;
        SCM scm = new SCM(SCM.Config.cifar10());
        trained = pair;
        params[0] = net.parameterCount();
        opt = new Adam(pair, Adam.Config.defaults().withLr(1e-4));
        long[] it = {0};
        loss = () -> scm.loss(net, w, x, null, it[0]++, null, gen, null).loss().mean().backward();
      }
      default -> throw new IllegalArgumentException("unknown objective '" + objective + "' (ect, sct)");
    }
    EMA e = ema;
    Runnable step = () -> {
      try (TensorScope s = TensorScope.open()) {
        opt.zeroGrad();
        if (bf16) {
          try (Autocast a = Autocast.enable(dev.type(), DType.BFLOAT16)) {
            loss.run();
          }
        } else {
          loss.run();
        }
        NanToNum.ECT.apply(trained);
        opt.step();
        if (e != null) e.update(batch);
      }
    };
    for (int i = 0; i < warmup; i++) step.run();
    sync(dev);
    double[] ms = new double[reps];
    for (int i = 0; i < reps; i++) {
      long t0 = System.nanoTime();
      step.run();
      sync(dev);
      ms[i] = (System.nanoTime() - t0) / 1e6;
    }
    return ms;
  }
}
