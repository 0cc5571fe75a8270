package dev.cm4j.nn;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.Fixtures;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * DhariwalUNet against EDM's networks.py at 008a4e5 (fixtures of tools/make_adm_fixtures.py): the forward pass of a
 * small network (raw, and inside EDMPrecond) to ≤ 1e-4 relative, and the keys, shapes and parameter count of EDM's
 * published ImageNet-64 network.
 */
class DhariwalUNetTest {
  static final String SMALL = "adm-small.safetensors";
  static final String KEYS = "adm-imagenet64-keys.tsv";

  static int[] ints(JsonNode a) {
    int[] r = new int[a.size()];
    for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
    return r;
  }

  /** The small network's config, read from the fixture's metadata (EDM's keyword arguments). */
  static DhariwalUNet.Config smallConfig(SafeTensorFile f, boolean sEmbedding) throws Exception {
    JsonNode n = new ObjectMapper().readTree(f.metadata().get("config"));
    return new DhariwalUNet.Config(n.get("img_resolution").asInt(), n.get("in_channels").asInt(),
        n.get("out_channels").asInt(), n.get("label_dim").asInt(), n.get("augment_dim").asInt(),
        n.get("model_channels").asInt(), ints(n.get("channel_mult")), 4, n.get("num_blocks").asInt(),
        ints(n.get("attn_resolutions")), n.get("dropout").asDouble(), n.get("label_dropout").asDouble(), 1, sEmbedding);
  }

  /** EDM's state dict of the fixture: net.<key> (int8) × net_scale.<key>, buffers as stored. */
  static Map<String, Tensor> stateDict(SafeTensorFile f) {
    Map<String, Tensor> sd = new LinkedHashMap<>();
    for (String k : f.names()) {
      if (!k.startsWith("net.")) continue;
      String key = k.substring(4);
      Tensor t = f.tensor(k);
      if (f.contains("net_scale." + key)) {
        assertEquals(DType.INT8, t.dtype(), key);
        t = t.to(DType.FLOAT32).mul(f.tensor("net_scale." + key));
      }
      sd.put(key, t);
    }
    return sd;
  }

  static double relErr(Tensor ours, Tensor ref) {
    return ours.sub(ref).abs().amax(false).item() / ref.abs().amax(false).item();
  }

  @Test
  void smallNetworkForwardMatchesEdm() throws Exception {
    try (SafeTensorFile f = SafeTensors.read(Fixtures.reference(SMALL)); TensorScope s = TensorScope.open();
        GradMode g = GradMode.noGrad()) {
      assertTrue(f.metadata().get("raw").contains("eval mode"), f.metadata().get("raw"));
      DhariwalUNet.Config c = smallConfig(f, false);
      assertTrue(c.dropout() > 0 && c.labelDropout() > 0, "the fixture checks that eval mode disables both dropouts");
      try (DhariwalUNet net = new DhariwalUNet(c); EDMPrecond pre = EDMPrecond.edm(net)) {
        LoadReport r = net.loadStateDict(stateDict(f), true);
        assertTrue(r.clean(), r.toString());
        net.eval();
        Tensor x = f.tensor("input.x");
        Tensor noise = f.tensor("input.noise_labels");
        Tensor labels = f.tensor("input.class_labels");
        Tensor aug = f.tensor("input.augment_labels");
        Map<String, Tensor> ours = new LinkedHashMap<>();
        ours.put("expected.raw_aug", net.forward(x, noise, labels, aug));
        ours.put("expected.raw_noaug", net.forward(x, noise, labels, null));
        pre.eval();
        ours.put("expected.D_labels", pre.denoise(f.tensor("input.x_noisy"), f.tensor("input.sigma"), labels));
        ours.put("expected.D_nolabels", pre.denoise(f.tensor("input.x_noisy"), f.tensor("input.sigma"), null));
        for (var e : ours.entrySet()) {
          Tensor ref = f.tensor(e.getKey());
          assertArrayEquals(ref.shape(), e.getValue().shape(), e.getKey());
          double err = relErr(e.getValue(), ref);
          assertTrue(err <= 1e-4, e.getKey() + ": relative error " + err);
        }
        // The cases differ from each other, so each checks its own input path (augment labels, zero labels).
        assertTrue(relErr(ours.get("expected.raw_aug"), f.tensor("expected.raw_noaug")) > 1e-3);
        assertTrue(relErr(ours.get("expected.D_labels"), f.tensor("expected.D_nolabels")) > 1e-3);
        // In training mode dropout is active: the output moves away from the eval-mode reference.
        net.train(true);
        assertTrue(relErr(net.forward(x, noise, labels, aug), f.tensor("expected.raw_aug")) > 1e-3);
      }
    }
  }

  @Test
  void imagenet64KeysShapesAndParameterCountMatchEdm() throws Exception {
    List<String> lines = Files.readAllLines(Fixtures.reference(KEYS));
    List<String> ref = lines.stream().filter(l -> !l.isBlank() && !l.startsWith("#")).toList();
    // EDM train.py --cond=1 --arch=adm --dropout=0.10 --augment=0 on ImageNet-64: DhariwalUNet's defaults otherwise.
    DhariwalUNet.Config c = new DhariwalUNet.Config(64, 3, 3, 1000, 0, 192, new int[] {1, 2, 3, 4}, 4, 3,
        new int[] {32, 16, 8}, 0.10, 0, 1, false);
    assertEquals(DhariwalUNet.Config.defaults(64, 3).modelChannels(), c.modelChannels());
    // One build of the full network (about 1.2 GB of float32 parameters).
    try (EDMPrecond net = EDMPrecond.edm(new DhariwalUNet(c))) {
      List<String> mine = new ArrayList<>();
      long total = 0;
      for (var e : net.stateDict().entrySet()) {
        mine.add(e.getKey() + "\t" + java.util.Arrays.toString(e.getValue().shape()));
        total += e.getValue().numel();
      }
      SongUNetTest.assertSameEntries(ref, mine);
      assertEquals(ref, mine, "same order as EDM's state dict");
      assertEquals("# total elements " + total, lines.get(lines.size() - 2));
      assertEquals("# parameters " + net.parameterCount(), lines.get(lines.size() - 1));
      assertEquals(295_899_267L, net.parameterCount());
    }
  }

  /**
   * CTM's s path adds exactly map_layer{0,1}_s and one affine_s per block; zero-initialised, it leaves a loaded EDM
   * model's output unchanged whatever s is, and the EDM state dict loads into it with only those keys missing.
   */
  @Test
  void sEmbeddingAddsOnlyItsOwnLayersAndStartsSilent() throws Exception {
    try (SafeTensorFile f = SafeTensors.read(Fixtures.reference(SMALL)); TensorScope s = TensorScope.open();
        GradMode g = GradMode.noGrad(); DhariwalUNet net = new DhariwalUNet(smallConfig(f, true))) {
      LoadReport r = net.loadStateDict(stateDict(f), false);
      assertTrue(r.unexpected().isEmpty() && r.shapeMismatched().isEmpty(), r.toString());
      assertFalse(r.missing().isEmpty());
      for (String k : r.missing()) assertTrue(k.matches("map_layer[01]_s\\.(weight|bias)|.*\\.affine_s\\.(weight|bias)"), k);
      assertTrue(net.hasSEmbedding());
      // The output convolution stays the last weight (CTM's λ_DSM reads its gradients there).
      String last = null;
      for (var e : net.namedParameters().entrySet()) if (e.getKey().endsWith("weight") && e.getValue().get().dim() >= 2) last = e.getKey();
      assertEquals("out_conv.weight", last);
      net.eval();
      Tensor out = net.forward(f.tensor("input.x"), f.tensor("input.noise_labels"), Tensor.of(new double[] {-1, 0, 0.5, 1})
          .to(DType.FLOAT32), f.tensor("input.class_labels"), f.tensor("input.augment_labels"));
      double err = relErr(out, f.tensor("expected.raw_aug"));
      assertTrue(err <= 1e-4, "relative error " + err);
    }
  }

  /** noise_label_scale k: the network fed c equals the scale-1 network (same weights) fed k·c, for t and for s. */
  @Test
  void noiseLabelScaleMultipliesBothTimeInputs() throws Exception {
    try (SafeTensorFile f = SafeTensors.read(Fixtures.reference(SMALL)); TensorScope s = TensorScope.open();
        GradMode g = GradMode.noGrad()) {
      DhariwalUNet.Config c = smallConfig(f, true);
      DhariwalUNet.Config scaled = new DhariwalUNet.Config(c.imgResolution(), c.inChannels(), c.outChannels(),
          c.labelDim(), c.augmentDim(), c.modelChannels(), c.channelMult(), c.channelMultEmb(), c.numBlocks(),
          c.attnResolutions(), c.dropout(), c.labelDropout(), 1000, true);
      try (DhariwalUNet a = new DhariwalUNet(c); DhariwalUNet b = new DhariwalUNet(scaled)) {
        try (GradMode ng = GradMode.noGrad()) { // make the zero-initialised affine_s layers count
          for (Tensor p : a.parameters()) p.add_(Tensor.randn(p.shape(), DType.FLOAT32, Device.CPU, Generator.cpu(3)), 0.02);
        }
        b.copyFrom(a);
        a.eval();
        b.eval();
        Tensor x = f.tensor("input.x");
        Tensor t = f.tensor("input.noise_labels");
        Tensor sn = t.mul(0.5);
        Tensor labels = f.tensor("input.class_labels");
        Tensor ya = a.forward(x, t.mul(1000), sn.mul(1000), labels, null);
        Tensor yb = b.forward(x, t, sn, labels, null);
        assertTrue(relErr(yb, ya) <= 1e-5, "relative error " + relErr(yb, ya));
        assertTrue(relErr(a.forward(x, t, sn, labels, null), ya) > 1e-3, "the scale changes the output");
      }
    }
  }

  @Test
  void badInputsAreRejectedWithClearErrors() throws Exception {
    DhariwalUNet.Config tiny = new DhariwalUNet.Config(8, 2, 2, 3, 0, 16, new int[] {1, 2}, 2, 1, new int[] {4}, 0, 0, 1,
        false);
    try (DhariwalUNet net = new DhariwalUNet(tiny); TensorScope s = TensorScope.open()) {
      Tensor noise = Tensor.zeros(2);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> net.forward(Tensor.zeros(2, 2, 8, 8), noise, null, null));
      assertTrue(e.getMessage().contains("class-conditional"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> net.forward(Tensor.zeros(2, 3, 8, 8), noise,
          Tensor.zeros(2, 3), null));
      assertTrue(e.getMessage().contains("[N, 2, 8, 8]"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> net.forward(Tensor.zeros(2, 2, 8, 8), noise, noise,
          Tensor.zeros(2, 3), null));
      assertTrue(e.getMessage().contains("s-embedding"), e.getMessage());
    }
    assertThrows(IllegalArgumentException.class, () -> new DhariwalUNet.Config(4, 3, 3, 0, 0, 16,
        new int[] {1, 2, 2, 2}, 4, 1, new int[] {}, 0, 0, 1, false));
    assertThrows(IllegalArgumentException.class, () -> new DhariwalUNet.Config(8, 3, 3, -1, 0, 16,
        new int[] {1}, 4, 1, new int[] {}, 0, 0, 1, false));
    assertThrows(IllegalArgumentException.class, () -> new DhariwalUNet.Config(8, 3, 3, 0, 0, 16,
        new int[] {1}, 4, 1, new int[] {}, 0, 0, 0, false));
  }

  /**
   * Autograd through the whole network (labels, augment labels, s path) equals float64 central differences along a
   * random direction of every parameter and the input, and an unconditional network has no label layer.
   */
  @Test
  void gradientsMatchFiniteDifferences() {
    DhariwalUNet.Config c = new DhariwalUNet.Config(8, 2, 2, 3, 4, 16, new int[] {1, 4}, 2, 1, new int[] {4}, 0, 0,
        1, true);
    try (DhariwalUNet net = new DhariwalUNet(c); TensorScope outer = TensorScope.open()) {
      net.to(Device.CPU, DType.FLOAT64);
      Generator g = Generator.cpu(11);
      List<Tensor> params = net.parameters();
      try (GradMode ng = GradMode.noGrad()) { // move the zero-initialised layers off zero
        for (Tensor p : params) p.add_(Tensor.randn(p.shape(), DType.FLOAT64, Device.CPU, g), 0.05);
      }
      Tensor x = Tensor.randn(new long[] {2, 2, 8, 8}, DType.FLOAT64, Device.CPU, g).requiresGrad_(true);
      Tensor noise = Tensor.of(new double[] {-0.3, 0.8});
      Tensor sNoise = Tensor.of(new double[] {-0.9, 0.1});
      Tensor labels = Tensor.of(new double[] {0, 1, 0, 1, 0, 0}, 2, 3);
      Tensor aug = Tensor.randn(new long[] {2, 4}, DType.FLOAT64, Device.CPU, g);
      Tensor w = Tensor.randn(new long[] {2, 2, 8, 8}, DType.FLOAT64, Device.CPU, g);
      List<Tensor> dirs = new ArrayList<>();
      for (Tensor p : params) dirs.add(Tensor.randn(p.shape(), DType.FLOAT64, Device.CPU, g));
      Tensor dx = Tensor.randn(x.shape(), DType.FLOAT64, Device.CPU, g);
      net.forward(x, noise, sNoise, labels, aug).mul(w).sum().backward();
      double analytic = x.grad().mul(dx).sum().item();
      int withGrad = 0;
      for (int i = 0; i < params.size(); i++) {
        Tensor gr = params.get(i).grad();
        if (gr != null) {
          analytic += gr.mul(dirs.get(i)).sum().item();
          withGrad++;
        }
      }
      assertEquals(params.size(), withGrad, "every parameter takes part");
      double eps = 1e-6;
      double[] side = new double[2];
      try (GradMode ng = GradMode.noGrad()) {
        for (int k = 0; k < 2; k++) {
          double sgn = k == 0 ? 1 : -1;
          for (int i = 0; i < params.size(); i++) params.get(i).add_(dirs.get(i), sgn * eps);
          side[k] = net.forward(x.add(dx, sgn * eps), noise, sNoise, labels, aug).mul(w).sum().item();
          for (int i = 0; i < params.size(); i++) params.get(i).add_(dirs.get(i), -sgn * eps);
        }
      }
      double numeric = (side[0] - side[1]) / (2 * eps);
      assertEquals(numeric, analytic, 1e-6 * Math.max(1, Math.abs(numeric)));
    }
    DhariwalUNet.Config uncond = new DhariwalUNet.Config(8, 2, 2, 0, 0, 16, new int[] {1, 2}, 2, 1, new int[] {}, 0,
        0, 1, false);
    try (DhariwalUNet net = new DhariwalUNet(uncond); TensorScope s = TensorScope.open()) {
      assertFalse(net.stateDict().keySet().stream().anyMatch(k -> k.startsWith("map_label") || k.startsWith("map_augment")));
      assertArrayEquals(new long[] {2, 2, 8, 8}, net.forward(Tensor.zeros(2, 2, 8, 8), Tensor.zeros(2), null, null).shape());
    }
  }
}
