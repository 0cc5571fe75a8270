package dev.cm4j.nn;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.InferenceMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.Fixtures;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class SongUNetTest {
  /** "key\t[shape]" lines of a state dict, in order. */
  static List<String> describe(Module m) {
    List<String> out = new ArrayList<>();
    for (var e : m.stateDict().entrySet()) {
      out.add(e.getKey() + "\t" + Arrays.toString(e.getValue().shape()));
    }
    return out;
  }

  static List<String> reference(String file) throws Exception {
    return Files.readAllLines(Fixtures.reference(file)).stream().filter(l -> !l.isBlank() && !l.startsWith("#")).toList();
  }

  /** The table's closing "# total elements N" line (parameters and buffers of EDM's state dict) against ours. */
  static void assertTotalElements(String file, Module m) throws Exception {
    List<String> lines = Files.readAllLines(Fixtures.reference(file));
    long total = m.stateDict().values().stream().mapToLong(t -> t.numel()).sum();
    assertEquals("# total elements " + total, lines.get(lines.size() - 1));
  }

  static void assertSameEntries(List<String> ref, List<String> mine) {
    var onlyRef = new java.util.TreeSet<>(ref);
    mine.forEach(onlyRef::remove);
    var onlyMine = new java.util.TreeSet<>(mine);
    ref.forEach(onlyMine::remove);
    assertTrue(onlyRef.isEmpty() && onlyMine.isEmpty() && ref.size() == mine.size(),
        "only in reference: " + onlyRef + "\nonly in cm4j: " + onlyMine);
  }

  @Test
  void ddpmppCifar10KeysShapesAndParameterCountMatchEdm() throws Exception {
    try (EDMPrecond net = EDMPrecond.edm(new SongUNet(SongUNet.Config.ddpmpp(32, 3, 0.13)))) {
      List<String> ref = reference("songunet-ddpmpp-cifar10-keys.tsv");
      List<String> mine = describe(net);
      assertSameEntries(ref, mine);
      assertTotalElements("songunet-ddpmpp-cifar10-keys.tsv", net);
      assertEquals(55_732_739L, net.parameterCount());
    }
  }

  @Test
  void ncsnppCifar10KeysAndShapesMatchEdm() throws Exception {
    try (EDMPrecond net = EDMPrecond.edm(new SongUNet(SongUNet.Config.ncsnpp(32, 3, 0.13)))) {
      List<String> ref = reference("songunet-ncsnpp-cifar10-keys.tsv");
      assertSameEntries(ref, describe(net));
      assertTotalElements("songunet-ncsnpp-cifar10-keys.tsv", net);
      assertEquals(56_395_523L, net.parameterCount());
    }
  }

  /**
   * A forward pass leaves only its output in the caller's scope (every block and the pass release their
   * intermediates), and the in-place adds inside the blocks keep autograd exact: the directional derivative of
   * sum(w·F(x)) along a random direction of all parameters and the input equals float64 central differences.
   */
  @Test
  void mappingNetworkStaysFp32UnderBf16Autocast() {
    SongUNet.Config c = SongUNet.Config.fromKwargs("{\"img_resolution\":8,\"img_channels\":2,\"model_channels\":8,"
        + "\"channel_mult\":[1,2],\"num_blocks\":1,\"attn_resolutions\":[],\"dropout\":0,\"label_dim\":3,"
        + "\"augment_dim\":2}");
    try (SongUNet net = new SongUNet(c); TensorScope s = TensorScope.open()) {
      Generator g = Generator.cpu(3);
      Tensor x = Tensor.randn(new long[] {2, 2, 8, 8}, DType.FLOAT32, Device.CPU, g);
      Tensor noise = Tensor.of(new double[] {-0.3, 0.8}).to(DType.FLOAT32);
      Tensor labels = Tensor.randn(new long[] {2, 3}, DType.FLOAT32, Device.CPU, g);
      Tensor aug = Tensor.randn(new long[] {2, 2}, DType.FLOAT32, Device.CPU, g);
      Tensor plain = net.mapping(x, noise, null, labels, aug)[0];
      Tensor mixed;
      Tensor linearOut;
      Tensor out;
      try (dev.cm4j.tensor.Autocast ac = dev.cm4j.tensor.Autocast.enable(Device.Type.CPU, DType.BFLOAT16)) {
        mixed = net.mapping(x, noise, null, labels, aug)[0];
        // autocast is on: a Linear outside the mapping network computes in bf16, and so do the convolutions
        linearOut = new Linear(3, 4, true, Init.XAVIER).forward(labels);
        out = net.forward(x, noise, labels, aug);
      }
      assertEquals(DType.BFLOAT16, linearOut.dtype(), "autocast must be active for this test to mean anything");
      assertEquals(DType.BFLOAT16, out.dtype());
      assertEquals(DType.FLOAT32, mixed.dtype());
      assertEquals(0.0, mixed.sub(plain).abs().amax(false).item(), "the embedding under autocast equals the fp32 one");
    }
  }

  /**
   * An 8×8, 2-channel SongUNet with attention at 4×4: EDM's DDPM++ wiring ("ddpmpp") or NCSN++'s (Fourier noise
   * embedding, residual encoder, skip decoder, [1,3,3,1] resampling: "ncsnpp").
   */
  static SongUNet.Config tiny(String variant) {
    String cfg = "{\"img_resolution\":8,\"img_channels\":2,\"model_channels\":8,\"channel_mult\":[1,2],"
        + "\"num_blocks\":1,\"attn_resolutions\":[4],\"dropout\":0,\"label_dim\":0}";
    return SongUNet.Config.fromKwargs(variant.equals("ddpmpp") ? cfg
        : cfg.replace("}", ",\"embedding_type\":\"fourier\",\"channel_mult_noise\":2,\"encoder_type\":\"residual\","
            + "\"decoder_type\":\"skip\",\"resample_filter\":[1,3,3,1]}"));
  }

  @Test
  void passReleasesItsIntermediatesAndGradientsMatchFiniteDifferences() {
    for (String variant : List.of("ddpmpp", "ncsnpp")) {
      SongUNet.Config c = tiny(variant);
      try (SongUNet net = new SongUNet(c); TensorScope outer = TensorScope.open()) {
        net.to(Device.CPU, DType.FLOAT64);
        Generator g = Generator.cpu(7);
        Tensor x = Tensor.randn(new long[] {2, 2, 8, 8}, DType.FLOAT64, Device.CPU, g).requiresGrad_(true);
        Tensor noise = Tensor.of(new double[] {-0.3, 0.8});
        Tensor w = Tensor.randn(new long[] {2, 2, 8, 8}, DType.FLOAT64, Device.CPU, g);
        List<Tensor> params = net.parameters();
        List<Tensor> dirs = new ArrayList<>();
        for (Tensor p : params) dirs.add(Tensor.randn(p.shape(), DType.FLOAT64, Device.CPU, g));
        Tensor dx = Tensor.randn(x.shape(), DType.FLOAT64, Device.CPU, g);
        int before = outer.liveCount();
        Tensor out = net.forward(x, noise, null, null);
        assertEquals(before + 1, outer.liveCount(), variant + ": a pass must leave only its output in the caller's scope");
        out.mul(w).sum().backward();
        double analytic = x.grad().mul(dx).sum().item();
        for (int i = 0; i < params.size(); i++) {
          Tensor gr = params.get(i).grad();
          if (gr != null) analytic += gr.mul(dirs.get(i)).sum().item();
        }
        double eps = 1e-6;
        double[] side = new double[2];
        try (GradMode ng = GradMode.noGrad()) {
          for (int k = 0; k < 2; k++) {
            double sgn = k == 0 ? 1 : -1;
            for (int i = 0; i < params.size(); i++) params.get(i).add_(dirs.get(i), sgn * eps);
            side[k] = net.forward(x.add(dx, sgn * eps), noise, null, null).mul(w).sum().item();
            for (int i = 0; i < params.size(); i++) params.get(i).add_(dirs.get(i), -sgn * eps);
          }
        }
        double numeric = (side[0] - side[1]) / (2 * eps);
        assertEquals(numeric, analytic, 1e-6 * Math.max(1, Math.abs(numeric)), variant + ": directional derivative");
      }
    }
  }
  /**
   * Under inference mode UNetBlock applies its activations in place (nothing is kept for backward) and every block
   * scales its sum by skip_scale in place: the outputs equal a no-grad pass's and a gradient pass's bit for bit, for
   * both EDM variants (skip_scale √½ with attention, and the residual encoder / skip decoder).
   */
  @Test
  void inferenceModePassEqualsNoGradAndGradPassesBitForBit() {
    for (String variant : List.of("ddpmpp", "ncsnpp")) {
      SongUNet.Config c = tiny(variant);
      try (SongUNet net = new SongUNet(c); TensorScope outer = TensorScope.open()) {
        Generator g = Generator.cpu(11);
        Tensor x = Tensor.randn(new long[] {2, 2, 8, 8}, DType.FLOAT32, Device.CPU, g);
        Tensor noise = Tensor.of(new float[] {-0.3f, 0.8f});
        float[] withGrad = net.forward(x, noise, null, null).toFloatArray();
        float[] noGrad;
        try (GradMode ng = GradMode.noGrad()) {
          noGrad = net.forward(x, noise, null, null).toFloatArray();
        }
        float[] inference;
        try (InferenceMode im = InferenceMode.enter()) {
          inference = net.forward(x, noise, null, null).toFloatArray();
        }
        assertArrayEquals(withGrad, noGrad, 0f, variant + ": no-grad pass");
        assertArrayEquals(withGrad, inference, 0f, variant + ": inference-mode pass");
      }
    }
  }
}
