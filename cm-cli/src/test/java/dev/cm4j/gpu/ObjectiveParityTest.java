package dev.cm4j.gpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.Module;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.objectives.CTM;
import dev.cm4j.objectives.ConsistencyTraining;
import dev.cm4j.objectives.ECT;
import dev.cm4j.objectives.SCM;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * CPU against CUDA: every objective's per-sample loss on the same weights and the same draws agrees to 1e-4
 * (relative to the largest loss), TF32 off. Networks are built and seeded on the CPU, then moved; the draws are made
 * on the CPU and copied, so both devices compute the same function of the same numbers. The small SongUNet of the
 * benchmarks (16×16, dropout 0) serves every objective: ECT (stage 1), sCT and sCD (with forward-mode JVP), CTM's
 * trajectory term (its DSM term draws from the device's generator and is left out), CD (teacher Heun), CT and iCT.
 */
@Tag(GpuGroup.TAG)
class ObjectiveParityTest {
  static final int BATCH = 4;

  static SongUNet.Config small() {
    return SongUNet.Config.fromKwargs("{\"img_resolution\":16,\"img_channels\":3,\"model_channels\":"
        + (GpuGroup.small() ? 16 : 32) + ",\"channel_mult\":[1,2],\"num_blocks\":1,\"attn_resolutions\":[8],"
        + "\"dropout\":0}");
  }

  /** Moves every module to device and returns the first; the others are closed by the caller's list. */
  static <M extends Module> M on(Device d, M m, List<Module> owned) {
    owned.add(m);
    if (!d.equals(Device.CPU)) m.to(d, null);
    return m;
  }

  /** The objective's per-sample loss on device, as a CPU tensor [BATCH]. */
  static Tensor perSample(String objective, Device d) {
    List<Module> owned = new ArrayList<>();
    try (TensorScope s = TensorScope.open()) {
      Torch.manualSeed(1);
      Tensor x = Tensor.randn(BATCH, 3, 16, 16).clamp(-1, 1).to(d);
      Torch.manualSeed(0);
      Tensor out;
      switch (objective) {
        case "ect" -> {
          EDMPrecond net = on(d, EDMPrecond.ect(new SongUNet(small())), owned);
          Torch.manualSeed(4);
          Tensor n = Tensor.of(new float[] {-2f, -0.5f, 0.7f, 2.2f}, BATCH).to(d);
          Tensor eps = Tensor.randn(BATCH, 3, 16, 16).to(d);
          out = new ECT(ECT.Config.cifar10()).loss(net, x, null, 1, n, eps, null);
        }
        case "sct", "scd" -> {
          TrigFlowPrecond net = on(d, new TrigFlowPrecond(new SongUNet(small()), 0.5,
              TrigFlowPrecond.TimeLabel.IDENTITY), owned);
          AdaptiveWeight w = new AdaptiveWeight(128);
          Torch.manualSeed(5);
          w.loadStateDict(Map.of("linear.weight", Tensor.randn(1, 128).mul(0.1),
              "linear.bias", Tensor.of(new float[] {0.05f}, 1)), true);
          on(d, w, owned);
          TrigFlowPrecond teacher = null;
          if (objective.equals("scd")) {
            Torch.manualSeed(3);
            teacher = on(d, new TrigFlowPrecond(new SongUNet(small()), 0.5, TrigFlowPrecond.TimeLabel.IDENTITY),
                owned);
            teacher.requiresGrad_(false);
            teacher.eval();
          }
          SCM scm = new SCM(SCM.Config.cifar10());
          Torch.manualSeed(4);
          Tensor t = scm.timeFromDraw(Tensor.of(new float[] {-1.5f, -0.2f, 0.4f, 1.8f}, BATCH), 0.5).to(d);
          Tensor z = Tensor.randn(BATCH, 3, 16, 16).to(d);
          out = scm.loss(net, w, x, null, 2500, teacher, t, z, null).loss();
        }
        case "ctm" -> {
          SongUNet.Config cfg = small();
          CTMPrecond student = on(d, CTMPrecond.cifar(new SongUNet(cfg.withSEmbedding())), owned);
          Torch.manualSeed(2);
          CTMPrecond target = on(d, CTMPrecond.cifar(new SongUNet(cfg.withSEmbedding())), owned);
          target.requiresGrad_(false);
          target.eval();
          Torch.manualSeed(3);
          EDMPrecond teacher = on(d, EDMPrecond.edm(new SongUNet(cfg)), owned);
          teacher.requiresGrad_(false);
          teacher.eval();
          CTM ctm = new CTM(CTM.Config.cifar10());
          int k = 3;
          int levels = ctm.config().numLevels();
          Random rnd = new Random(4);
          long[] n = new long[BATCH];
          long[] m = new long[BATCH];
          for (int i = 0; i < BATCH; i++) {
            n[i] = rnd.nextInt(levels - k);
            m[i] = n[i] + k + rnd.nextInt((int) (levels - n[i] - k));
          }
          Torch.manualSeed(4);
          Tensor z = Tensor.randn(BATCH, 3, 16, 16).to(d);
          Tensor last = student.namedParameters().get("model.dec.16x16_aux_conv.weight").get();
          try (Generator g = Generator.create(d, 7)) {
            out = ctm.loss(student, target, teacher, x, null, new CTM.Draw(k, n, m, z), last, g).ctm();
          }
        }
        case "cd", "ct", "ict" -> {
          ConsistencyTraining.Config c = switch (objective) {
            case "cd" -> ConsistencyTraining.Config.cd(1000);
            case "ct" -> ConsistencyTraining.Config.ct(1000);
            default -> ConsistencyTraining.Config.ict(1000, 3 * 16 * 16);
          };
          EDMPrecond student = on(d, EDMPrecond.cm(new SongUNet(small())), owned);
          Torch.manualSeed(2);
          EDMPrecond target = on(d, EDMPrecond.cm(new SongUNet(small())), owned);
          target.requiresGrad_(false);
          EDMPrecond teacher = null;
          if (objective.equals("cd")) {
            Torch.manualSeed(3);
            teacher = on(d, EDMPrecond.edm(new SongUNet(small())), owned);
            teacher.requiresGrad_(false);
            teacher.eval();
          }
          ConsistencyTraining cm = new ConsistencyTraining(c);
          long iteration = 500;
          double[] grid = cm.grid(iteration);
          long[] pairs = cm.drawPairs(grid, BATCH, new Random(4));
          Torch.manualSeed(4);
          Tensor z = Tensor.randn(BATCH, 3, 16, 16).to(d);
          out = cm.loss(student, objective.equals("ict") ? null : target, teacher, x, null, grid, pairs, z, null);
        }
        default -> throw new IllegalArgumentException(objective);
      }
      assertEquals(d, out.device(), objective + ": the loss is not on " + d);
      return s.escape(out.detach().to(Device.CPU));
    } finally {
      for (Module m : owned) m.close();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"ect", "sct", "scd", "ctm", "cd", "ct", "ict"})
  void perSampleLossMatchesTheCpu(String objective) {
    Torch.load();
    double[] cpu;
    try (Tensor l = perSample(objective, Device.CPU)) {
      cpu = l.toDoubleArray();
    }
    assertEquals(BATCH, cpu.length);
    double scale = 0;
    for (double v : cpu) {
      assertTrue(Double.isFinite(v), objective + ": CPU loss " + v);
      scale = Math.max(scale, Math.abs(v));
    }
    assertTrue(scale > 0, objective + ": all-zero CPU loss");
    Device cuda = GpuGroup.cudaOrSkip();
    GpuGroup.requireTf32Off();
    double[] gpu;
    try (Tensor l = perSample(objective, cuda)) {
      gpu = l.toDoubleArray();
    }
    double worst = 0;
    for (int i = 0; i < BATCH; i++) worst = Math.max(worst, Math.abs(cpu[i] - gpu[i]) / scale);
    assertTrue(worst <= 1e-4, objective + ": max |cpu - cuda| / max|cpu| = " + worst + "\ncpu  "
        + java.util.Arrays.toString(cpu) + "\ncuda " + java.util.Arrays.toString(gpu));
  }
}
