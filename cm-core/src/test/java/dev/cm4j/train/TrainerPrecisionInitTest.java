package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.io.SafeTensors;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.PythonRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** init_from (ECT's --transfer), bf16/fp16 training, and the fp16 loss scaler against torch.amp.GradScaler. */
class TrainerPrecisionInitTest {
  @TempDir Path dir;

  static float[] flat(Map<String, Tensor> sd) {
    List<Float> all = new ArrayList<>();
    for (Tensor t : sd.values()) for (float v : t.toFloatArray()) all.add(v);
    float[] r = new float[all.size()];
    for (int i = 0; i < r.length; i++) r[i] = all.get(i);
    return r;
  }

  @Test
  void initFromCopiesMatchingWeightsAndReportsTheRest() throws Exception {
    Path snap;
    try (Trainer a = Trainer.start(TrainerTest.toy(0.128, "ect"), dir.resolve("a"), TrainerTest.QUIET)) {
      a.run();
      try (var s = Files.list(a.runDir())) {
        snap = s.filter(p -> p.getFileName().toString().matches("network-snapshot-\\d+\\.safetensors")).sorted()
            .reduce((x, y) -> y).orElseThrow();
      }
    }
    // zero training: the network is exactly the snapshot's weights
    TrainingOptions o = TrainerTest.toy(0.128, "ect").with(Map.of("init_from", snap.toString(), "seed", "7"));
    try (Trainer b = Trainer.start(o, dir.resolve("b"), TrainerTest.QUIET); TensorScope s = TensorScope.open()) {
      Map<String, Tensor> file = SafeTensors.loadAll(snap);
      Map<String, Tensor> mine = b.model().stateDict();
      assertEquals(file.keySet(), mine.keySet());
      for (String k : mine.keySet()) assertArrayEquals(file.get(k).toFloatArray(), mine.get(k).toFloatArray(), 0f, k);
      b.run();
      String log = Files.readString(b.runDir().resolve("log.txt"));
      int n = b.model().namedState().size();
      assertTrue(log.contains("loaded " + n + " of " + n + " tensors"), log);
    }
    // a wider network: mismatched shapes are skipped and named
    TrainingOptions wide = o.with(Map.of("network.hidden", "48"));
    try (Trainer c = Trainer.start(wide, dir.resolve("c"), TrainerTest.QUIET)) {
      c.run();
      String log = Files.readString(c.runDir().resolve("log.txt"));
      assertTrue(log.contains("shape mismatch (skipped): "), log);
    }
    // nothing in common is an error naming the file
    Path junk = dir.resolve("junk.safetensors");
    try (TensorScope s = TensorScope.open()) {
      SafeTensors.write(junk, Map.of("foo", Tensor.zeros(2)));
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Trainer.start(o.with(Map.of("init_from", junk.toString())), dir.resolve("d"), TrainerTest.QUIET));
    assertTrue(e.getMessage().contains("junk.safetensors"), e.getMessage());
  }

  @Test
  void bf16AndFp16RunsTrain() throws Exception {
    for (String p : List.of("bf16", "fp16")) {
      TrainingOptions o = TrainerTest.toy(0.256, "ect").with(Map.of("precision", p));
      try (Trainer t = Trainer.start(o, dir.resolve(p), TrainerTest.QUIET); TensorScope s = TensorScope.open()) {
        float[] before = flat(t.model().stateDict());
        Trainer.Result r = t.run();
        assertTrue(Double.isFinite(r.lastLoss()), p + " loss " + r.lastLoss());
        float[] after = flat(t.model().stateDict());
        double moved = 0;
        for (int i = 0; i < before.length; i++) moved = Math.max(moved, Math.abs(after[i] - before[i]));
        assertTrue(moved > 1e-4, p + ": parameters moved by " + moved);
      }
    }
  }

  @Test
  void lossScalerFollowsTorchGradScaler() {
    // gradients g_k (per step), some non-finite; loss_k = sum(p * g_k) so the scaled gradient is g_k · scale
    double[][] g = {{1, 2, 3}, {0.5, -1, 2}, {1e-3, 1, 1}, {Double.POSITIVE_INFINITY, 1, 1}, {1, 1, 1}, {2, 2, 2},
        {1, Double.NaN, 0}, {3, 1, 2}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {70000, 1, 1}};
    StringBuilder py = new StringBuilder("""
        import torch, math
        inf = math.inf; nan = math.nan
        g = %s
        p = torch.nn.Parameter(torch.zeros(3))
        opt = torch.optim.SGD([p], lr=0.1)
        sc = torch.amp.GradScaler("cpu", init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
        for gk in g:
            opt.zero_grad()
            sc.scale((p * torch.tensor(gk)).sum()).backward()
            sc.step(opt)
            sc.update()
            print(sc.get_scale(), *p.tolist())
        """);
    StringBuilder list = new StringBuilder("[");
    for (double[] r : g) {
      list.append('[');
      for (double v : r) list.append(Double.isNaN(v) ? "nan" : Double.isInfinite(v) ? "inf" : Double.toString(v)).append(',');
      list.append("],");
    }
    String out = PythonRef.run(String.format(py.toString(), list.append(']')));
    String[] lines = out.trim().split("\n");
    // the host API (a flag read per step) and the device API (scale, found-inf and its update as tensors on the test
    // device, as the training loop uses them) must both follow GradScaler
    for (boolean onDevice : new boolean[] {false, true}) {
      dev.cm4j.tensor.Device d = onDevice ? dev.cm4j.testing.TestDevice.device() : dev.cm4j.tensor.Device.CPU;
      LossScaler sc = new LossScaler(65536.0, 2.0, 0.5, 3);
      try (TensorScope s = TensorScope.open()) {
        Tensor p = Tensor.zeros(3).to(d).requiresGrad_(true);
        for (int k = 0; k < g.length; k++) {
          float[] gk = new float[3];
          for (int i = 0; i < 3; i++) gk[i] = (float) g[k][i];
          p.setGrad(null);
          boolean inf;
          if (onDevice) {
            dev.cm4j.testing.TestDevice.resetCounters();
            p.mul(Tensor.of(gk).to(d)).sum().mul(sc.scale(d)).backward();
            Tensor found = sc.unscaleFoundInf(List.of(p));
            sc.update(found);
            assertEquals(0, dev.cm4j.testing.TestDevice.hostSyncs(), "device scaler step " + k + ": "
                + dev.cm4j.testing.TestDevice.lastSync());
            inf = found.item() > 0;
          } else {
            p.mul(Tensor.of(gk)).sum().mul(sc.scale()).backward();
            inf = sc.unscale(List.of(p));
            sc.update(inf);
          }
          if (!inf) {
            try (var ng = dev.cm4j.tensor.GradMode.noGrad()) {
              p.sub_(p.grad().mul(0.1));
            }
          }
          String[] f = lines[k].trim().split(" ");
          String what = (onDevice ? "device" : "host") + ": ";
          assertEquals(Double.parseDouble(f[0]), sc.scale(), 0.0, what + "scale after step " + k);
          float[] pv = p.toFloatArray();
          for (int i = 0; i < 3; i++) {
            assertEquals(Float.parseFloat(f[1 + i]), pv[i], 1e-6f * Math.max(1, Math.abs(pv[i])),
                what + "p after step " + k);
          }
        }
      }
    }
  }
}
