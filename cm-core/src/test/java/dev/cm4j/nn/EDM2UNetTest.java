package dev.cm4j.nn;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.optim.SGD;
import dev.cm4j.precond.EDM2Precond;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import dev.cm4j.testing.Fixtures;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Parity of {@link EDM2UNet} / {@link EDM2Precond} with EDM2's networks_edm2.py (NVlabs/edm2 at 4bf8162) on the
 * fixtures of tools/make_edm2_fixtures.py: the small network's forward passes in eval and train mode (with labels),
 * the forced weight-normalisation write-back, one SGD step; and the state-dict keys, shapes and parameter counts of
 * EDM2's published ImageNet networks. Relative error = max |ours − ref| / max |ref|, bound 1e-4.
 */
class EDM2UNetTest {
  static final ObjectMapper JSON = new ObjectMapper();

  static double relErr(Tensor ours, Tensor ref) {
    assertArrayEquals(ref.shape(), ours.shape());
    return ours.sub(ref).abs().amax(false).item() / ref.abs().amax(false).item();
  }

  /** The small Precond of the fixture, weights loaded strictly. */
  static EDM2Precond smallNet(SafeTensorFile f) throws Exception {
    JsonNode c = JSON.readTree(f.metadata().get("config"));
    int[] mult = JSON.treeToValue(c.get("channel_mult"), int[].class);
    int[] attn = JSON.treeToValue(c.get("attn_resolutions"), int[].class);
    EDM2UNet.Config d = EDM2UNet.Config.defaults(c.get("img_resolution").asInt(), c.get("img_channels").asInt(),
        c.get("label_dim").asInt(), c.get("model_channels").asInt());
    EDM2UNet.Config cfg = new EDM2UNet.Config(d.imgResolution(), d.imgChannels(), d.labelDim(), d.modelChannels(), mult,
        0, 0, c.get("num_blocks").asInt(), attn, 0.5, 0.5, new double[] {1, 1}, c.get("channels_per_head").asInt(),
        c.get("dropout").asDouble(), 0.3, 0.3, 256, 0, "fourier", false, false);
    assertFalse(c.get("use_fp16").asBoolean());
    EDM2Precond net = new EDM2Precond(new EDM2UNet(cfg), 0.5, c.get("logvar_channels").asInt());
    Map<String, Tensor> sd = new LinkedHashMap<>();
    for (String k : f.names()) if (k.startsWith("net.")) sd.put(k.substring(4), f.tensor(k));
    assertTrue(net.loadStateDict(sd, true).clean());
    for (Tensor t : sd.values()) t.close();
    return net;
  }

  @Test
  void forwardWriteBackAndStepMatchEdm2() throws Exception {
    try (SafeTensorFile f = SafeTensors.read(Fixtures.reference("edm2-small.safetensors"));
        EDM2Precond net = smallNet(f);
        TensorScope s = TensorScope.open()) {
      assertTrue(f.metadata().get("source").contains("4bf8162f601bcc09472ce8a32dd0cbe8889dc8fc"));
      Tensor x = f.tensor("input.x");
      Tensor sigma = f.tensor("input.sigma");
      Tensor labels = f.tensor("input.labels");
      List<String> wbKeys = Arrays.asList(JSON.readValue(f.metadata().get("wb_keys"), String[].class));
      Map<String, Tensor> state = net.stateDict();
      Tensor before = state.get(wbKeys.get(0)).clone();

      // Eval: no write-back.
      net.eval();
      try (GradMode g = GradMode.noGrad()) {
        double e = relErr(net.denoise(x, sigma, labels), f.tensor("eval.D"));
        assertTrue(e <= 1e-4, "eval D relative error " + e);
        double el = relErr(net.logvar(sigma), f.tensor("eval.logvar"));
        assertTrue(el <= 1e-4, "logvar relative error " + el);
      }
      assertEquals(0.0, state.get(wbKeys.get(0)).sub(before).abs().amax(false).item(), "eval must not touch weights");

      // Train: the forced write-back happens first, then the forward with the normalised weights.
      net.train(true);
      SGD opt = new SGD(net, SGD.Config.defaults().withLr(Double.parseDouble(f.metadata().get("sgd_lr"))));
      Tensor d = net.denoise(x, sigma, labels);
      double et = relErr(d, f.tensor("train.D"));
      assertTrue(et <= 1e-4, "train D relative error " + et);
      for (String k : wbKeys) {
        double ew = relErr(state.get(k), f.tensor("wb." + k));
        assertTrue(ew <= 1e-5, "write-back of " + k + ": " + ew);
      }
      assertTrue(relErr(before, f.tensor("wb." + wbKeys.get(0))) > 1e-3, "the write-back must change the weight");

      // One SGD step on sum(D·r), then a second train forward (another write-back).
      opt.zeroGrad();
      d.mul(f.tensor("input.r")).sum().backward();
      opt.step();
      double es = relErr(net.denoise(x, sigma, labels).detach(), f.tensor("step.D"));
      assertTrue(es <= 1e-4, "after-step D relative error " + es);
      for (String k : wbKeys) {
        double ew = relErr(state.get(k), f.tensor("step." + k));
        assertTrue(ew <= 1e-4, "after-step weight " + k + ": " + ew);
      }
    }
  }

  /** Reads a key table: "# parameters\tN" then "key\t[shape]" lines. */
  static Map<String, String> table(String name, long[] count) throws Exception {
    Map<String, String> m = new LinkedHashMap<>();
    for (String line : Files.readAllLines(Fixtures.reference(name))) {
      String[] p = line.split("\t");
      if (p[0].equals("# parameters")) count[0] = Long.parseLong(p[1]);
      else m.put(p[0], p[1].replace(" ", ""));
    }
    return m;
  }

  @Test
  void publishedConfigsHaveEdm2KeysShapesAndParameterCounts() throws Exception {
    // EDM2's img64 presets (3 channels) and img512-xxl (latent 64x64x4), 1000 classes. Shapes come from EDM2Shapes
    // (nothing allocated: XXL alone is 6 GB of float32); that calculator is checked against built networks in
    // shapeCalculatorAgreesWithABuiltNetwork and, for XS, in xsIsBuiltInFullWithEdm2sKeys.
    String[][] presets = {{"img64-xs", "xs", "3"}, {"img64-s", "s", "3"}, {"img64-m", "m", "3"}, {"img64-l", "l", "3"},
        {"img64-xl", "xl", "3"}, {"img512-xxl", "xxl", "4"}};
    for (String[] p : presets) {
      long[] count = new long[1];
      Map<String, String> want = table("edm2-" + p[0] + "-keys.tsv", count);
      int mc = EDM2UNet.Config.modelChannelsOf(p[1]);
      Map<String, long[]> shapes = EDM2Shapes.shapes(EDM2UNet.Config.defaults(64, Integer.parseInt(p[2]), 1000, mc), 128);
      assertEquals(List.copyOf(want.keySet()), List.copyOf(shapes.keySet()), p[0] + " keys (in order)");
      long n = 0;
      for (var e : shapes.entrySet()) {
        assertEquals(want.get(e.getKey()), Arrays.toString(e.getValue()).replace(" ", ""), p[0] + " " + e.getKey());
        if (!e.getKey().endsWith("freqs") && !e.getKey().endsWith("phases")) n += Arrays.stream(e.getValue()).reduce(1, (a, b) -> a * b);
      }
      assertEquals(count[0], n, p[0] + " parameter count");
    }
  }

  @Test
  void shapeCalculatorAgreesWithABuiltNetwork() {
    // EDM2Shapes (no allocation) against an actually built small network with every option that changes shapes.
    for (boolean dn : new boolean[] {false, true}) {
      for (String te : new String[] {"fourier", "positional"}) {
        EDM2UNet.Config c = new EDM2UNet.Config(16, 3, 5, 16, new int[] {1, 2, 3}, 2, 3, 2, new int[] {8}, 0.5, 0.5,
            new double[] {1, 1}, 16, 0, 0.3, 0.3, 256, 0, te, dn, false);
        try (EDM2Precond net = new EDM2Precond(new EDM2UNet(c), 0.5, 8)) {
          Map<String, long[]> built = new LinkedHashMap<>();
          for (var e : net.stateDict().entrySet()) built.put(e.getKey(), e.getValue().shape());
          Map<String, long[]> calc = EDM2Shapes.shapes(c, 8);
          assertEquals(List.copyOf(built.keySet()), List.copyOf(calc.keySet()));
          for (var e : built.entrySet()) assertArrayEquals(e.getValue(), calc.get(e.getKey()), e.getKey());
        }
      }
    }
  }

  @Test
  void xsIsBuiltInFullWithEdm2sKeys() throws Exception {
    // img64-xs (125 M parameters, 0.5 GB float32) built for real: keys, shapes and count against EDM2's table.
    long[] count = new long[1];
    Map<String, String> want = table("edm2-img64-xs-keys.tsv", count);
    try (TensorScope s = TensorScope.open();
        EDM2Precond net = new EDM2Precond(new EDM2UNet(EDM2UNet.Config.defaults(64, 3, 1000, 128)), 0.5, 128)) {
      Map<String, String> got = new LinkedHashMap<>();
      for (var e : net.stateDict().entrySet()) got.put(e.getKey(), Arrays.toString(e.getValue().shape()).replace(" ", ""));
      assertEquals(want, got);
      assertEquals(List.copyOf(want.keySet()), List.copyOf(got.keySet()));
      assertEquals(count[0], net.parameterCount());
    }
  }

  static EDM2UNet.Config tiny(String timeEmbedding, boolean doubleNorm, boolean embPixelNorm, double dropout, int dropoutRes) {
    return new EDM2UNet.Config(8, 2, 3, 16, new int[] {1, 2}, 0, 0, 1, new int[] {4}, 0.5, 0.5, new double[] {1, 1},
        16, dropout, 0.3, 0.3, 256, dropoutRes, timeEmbedding, doubleNorm, embPixelNorm);
  }

  /** F of net on fixed inputs, after copying base's weights where keys and shapes agree and setting every gain to 0.8. */
  static Tensor output(EDM2UNet net, EDM2UNet base) {
    Map<String, Tensor> sd = new LinkedHashMap<>();
    Map<String, Tensor> mine = net.stateDict();
    for (var e : base.stateDict().entrySet()) {
      Tensor t = mine.get(e.getKey());
      if (t != null && Arrays.equals(t.shape(), e.getValue().shape())) sd.put(e.getKey(), e.getValue());
    }
    net.loadStateDict(sd, false);
    try (GradMode g = GradMode.noGrad()) {
      for (var e : net.stateDict().entrySet()) if (e.getValue().dim() == 0) e.getValue().fill_(0.8);
      net.eval();
      dev.cm4j.tensor.Generator gen = dev.cm4j.tensor.Generator.cpu(5);
      Tensor x = Tensor.randn(new long[] {2, 2, 8, 8}, dev.cm4j.tensor.DType.FLOAT32, dev.cm4j.tensor.Device.CPU, gen);
      Tensor labels = Tensor.of(new float[] {1, 0, 0, 0, 0, 1}, 2, 3);
      return net.forward(x, Tensor.of(new float[] {0.3f, 1.2f}, 2), labels, null);
    }
  }

  @Test
  void eachScmSwitchChangesTheOutputAndIsOffByDefault() {
    try (TensorScope s = TensorScope.open(); EDM2UNet base = new EDM2UNet(tiny("fourier", false, false, 0, 0))) {
      Tensor ref = output(base, base);
      assertTrue(ref.abs().amax(false).item() > 1e-3, "the reference output must not be zero");
      EDM2UNet.Config d = EDM2UNet.Config.defaults(8, 2, 3, 16);
      assertEquals("fourier", d.timeEmbedding());
      assertFalse(d.doubleNorm());
      assertFalse(d.embPixelNorm());
      for (EDM2UNet.Config c : List.of(tiny("positional", false, false, 0, 0), tiny("fourier", true, false, 0, 0),
          tiny("fourier", false, true, 0, 0))) {
        try (EDM2UNet other = new EDM2UNet(c)) {
          double diff = relErr(output(other, base), ref);
          assertTrue(diff > 1e-3, c + " changes the output by only " + diff);
        }
      }
    }
  }

  /**
   * The second time input (MeanFlow/AYF/IMM on EDM2): its path is created last, so the rest draws the same initial
   * weights as a one-time network; without s the output is the one-time network's; the two time embeddings combine by
   * EDM2's magnitude-preserving sum (s path weights copied from t's: embedTime(t, t) = √2·embedTime(t)); s changes F;
   * a one-time network refuses s.
   */
  @Test
  void theSecondTimePathSumsItsEmbeddingAndLeavesTheRestAlone() {
    try (TensorScope sc = TensorScope.open()) {
      Torch.manualSeed(3);
      EDM2UNet off = new EDM2UNet(tiny("fourier", false, false, 0, 0));
      Torch.manualSeed(3);
      EDM2UNet on = new EDM2UNet(tiny("fourier", false, false, 0, 0), true);
      assertFalse(off.hasSEmbedding());
      assertTrue(on.hasSEmbedding());
      Map<String, Tensor> a = off.stateDict();
      Map<String, Tensor> b = on.stateDict();
      java.util.Set<String> extra = new java.util.TreeSet<>(b.keySet());
      extra.removeAll(a.keySet());
      assertEquals(java.util.Set.of("emb_fourier_s.freqs", "emb_fourier_s.phases", "emb_noise_s.weight"), extra);
      for (var e : a.entrySet()) {
        assertArrayEquals(e.getValue().toFloatArray(), b.get(e.getKey()).toFloatArray(), 0f, e.getKey());
      }
      Map<String, Tensor> copy = new LinkedHashMap<>(b);
      copy.put("emb_fourier_s.freqs", a.get("emb_fourier.freqs"));
      copy.put("emb_fourier_s.phases", a.get("emb_fourier.phases"));
      copy.put("emb_noise_s.weight", a.get("emb_noise.weight"));
      on.loadStateDict(copy, true);
      on.eval();
      off.eval();
      try (GradMode g = GradMode.noGrad()) {
        Tensor t = Tensor.of(new float[] {-1.5f, 0.2f, 2f}, 3);
        assertEquals(0.0, relErr(on.embedTime(t, t), off.embedTime(t).mul(Math.sqrt(2))), 1e-6);
        for (var e : on.stateDict().entrySet()) if (e.getValue().dim() == 0) e.getValue().fill_(0.8);
        for (var e : off.stateDict().entrySet()) if (e.getValue().dim() == 0) e.getValue().fill_(0.8);
        Tensor x = Tensor.randn(new long[] {2, 2, 8, 8}, dev.cm4j.tensor.DType.FLOAT32, dev.cm4j.tensor.Device.CPU,
            dev.cm4j.tensor.Generator.cpu(5));
        Tensor labels = Tensor.of(new float[] {1, 0, 0, 0, 0, 1}, 2, 3);
        Tensor tn = Tensor.of(new float[] {0.3f, 1.2f}, 2);
        Tensor ref = off.forward(x, tn, labels, null);
        assertArrayEquals(ref.toFloatArray(), on.forward(x, tn, null, labels, null).toFloatArray(), 0f);
        double d = relErr(on.forward(x, tn, Tensor.of(new float[] {-0.7f, 0.9f}, 2), labels, null), ref);
        assertTrue(d > 1e-3, "s changes the output by only " + d);
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
            () -> off.forward(x, tn, tn, labels, null));
        assertTrue(ex.getMessage().contains("second time"), ex.getMessage());
      }
      off.close();
      on.close();
    }
  }

  @Test
  void embPixelNormNormalisesTheNoiseEmbedding() {
    try (TensorScope s = TensorScope.open(); EDM2UNet off = new EDM2UNet(tiny("fourier", false, false, 0, 0));
        EDM2UNet on = new EDM2UNet(tiny("fourier", false, true, 0, 0))) {
      on.loadStateDict(off.stateDict(), true);
      on.eval();
      off.eval();
      try (GradMode g = GradMode.noGrad()) {
        Tensor t = Tensor.of(new float[] {-1.5f, 0.2f, 2f}, 3);
        Tensor e = off.embedTime(t);
        double d = relErr(on.embedTime(t), dev.cm4j.nn.mp.MP.normalize(e, 1));
        assertEquals(0.0, d, 1e-7);
        Tensor rms = on.embedTime(t).square().mean(false, 1).sqrt();
        for (double v : rms.to(dev.cm4j.tensor.DType.FLOAT64).toDoubleArray()) assertEquals(1.0, v, 1e-3);
      }
    }
  }

  @Test
  void doubleNormReplacesTheGainAndDoublesTheModulationWidth() {
    try (EDM2UNet net = new EDM2UNet(tiny("positional", true, false, 0, 0))) {
      Map<String, Tensor> sd = net.stateDict();
      assertFalse(sd.keySet().stream().anyMatch(k -> k.endsWith("emb_gain") || k.startsWith("emb_fourier")));
      assertArrayEquals(new long[] {64, 32}, sd.get("enc.4x4_block0.emb_linear.weight").shape());
    }
  }

  @Test
  void ectDropoutResKeepsDropoutOnlyAtLowResolutions() {
    try (EDM2UNet net = new EDM2UNet(tiny("fourier", false, false, 0.4, 4))) {
      int seen = 0;
      for (var e : net.blocks().entrySet()) {
        int res = Integer.parseInt(e.getKey().substring(4, e.getKey().indexOf('x')));
        assertEquals(res > 4 ? 0.0 : 0.4, e.getValue().options().dropout(), e.getKey());
        seen++;
      }
      assertEquals(2 + 2 + 3 + 1 + 2, seen); // enc 8x8 block0, 4x4 down+block0; dec 4x4 in0,in1,block0,1; 8x8 up,block0,1
    }
  }

  @Test
  void suspendedForcedWeightNormLeavesWeightsUntouchedInTraining() throws Exception {
    try (TensorScope s = TensorScope.open(); EDM2UNet net = new EDM2UNet(tiny("fourier", false, false, 0, 0))) {
      net.train(true);
      Tensor w = net.stateDict().get("out_conv.weight");
      Tensor before = w.clone();
      Tensor x = Tensor.randn(2, 2, 8, 8);
      Tensor labels = Tensor.of(new float[] {1, 0, 0, 0, 0, 1}, 2, 3);
      try (AutoCloseable off = net.suspendForcedWeightNorm()) {
        net.forward(x, Tensor.of(new float[] {0.3f, 1.2f}, 2), labels, null);
      }
      assertEquals(0.0, w.sub(before).abs().amax(false).item(), "suspended");
      try (GradMode g = GradMode.noGrad()) {
        net.forward(x, Tensor.of(new float[] {0.3f, 1.2f}, 2), labels, null);
      }
      assertEquals(0.0, w.sub(before).abs().amax(false).item(), "no write-back while autograd does not record");
      net.forward(x, Tensor.of(new float[] {0.3f, 1.2f}, 2), labels, null);
      assertEquals(0.0, relErr(w, dev.cm4j.nn.mp.MP.normalize(before)), 1e-6);
      assertTrue(w.sub(before).abs().amax(false).item() > 1e-3);
    }
  }

  @Test
  void badInputsAreRejectedWithNamedErrors() {
    assertThrows(IllegalArgumentException.class, () -> tiny("sinusoid", false, false, 0, 0));
    assertThrows(IllegalArgumentException.class,
        () -> new EDM2UNet.Config(10, 3, 0, 8, new int[] {1, 2, 2}, 0, 0, 1, new int[0], 0.5, 0.5, new double[] {1, 1},
            64, 0, 0.3, 0.3, 256, 0, "fourier", false, false)); // 10 not divisible by 4
    try (TensorScope s = TensorScope.open(); EDM2UNet net = new EDM2UNet(tiny("fourier", false, false, 0, 0))) {
      Tensor x = Tensor.randn(2, 2, 8, 8);
      Tensor n = Tensor.of(new float[] {0.3f, 1.2f}, 2);
      var e = assertThrows(IllegalArgumentException.class, () -> net.forward(x, n, Tensor.zeros(2, 5), null));
      assertTrue(e.getMessage().contains("class labels"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> net.forward(Tensor.randn(2, 3, 8, 8), n, null, null));
      assertThrows(IllegalArgumentException.class, () -> net.forward(x, n, null, Tensor.zeros(2, 9)));
    }
  }
}
