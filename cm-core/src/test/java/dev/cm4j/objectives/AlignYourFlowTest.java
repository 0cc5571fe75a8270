package dev.cm4j.objectives;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import dev.cm4j.testing.Fixtures;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Align Your Flow against the PyTorch transcription of the paper's Theorems 3.1/3.2 (tools/ayf_reference.py, fixture
 * reference/ayf-mlp-small.safetensors: per-sample losses, tangents and the parameter gradient of the theorems' form,
 * EMD and LMD, with and without autoguidance, for fixed weights, draws and an analytic Gaussian teacher); its JVPs
 * against float64 central differences; the EDM-denoiser → flow-velocity conversion against the Gaussian closed form;
 * the samplers and time samplers against their definitions.
 */
class AlignYourFlowTest {
  static SafeTensorFile file;
  static TwoTimeNetwork net;
  static double mu;
  static double std;
  static double stdWeak;
  static final ObjectMapper JSON = new ObjectMapper();

  @BeforeAll
  static void load() throws Exception {
    file = SafeTensors.read(Fixtures.reference("ayf-mlp-small.safetensors"));
    JsonNode n = JSON.readTree(file.metadata().get("network"));
    MLPDenoiser mlp = new MLPDenoiser(new MLPDenoiser.Config(n.get("dim").asInt(), n.get("hidden").asInt(),
        n.get("blocks").asInt(), n.get("emb_channels").asInt(), 0.0, true));
    net = new TwoTimeNetwork(mlp);
    Map<String, Tensor> sd = new LinkedHashMap<>();
    for (String k : file.names()) if (k.startsWith("net.")) sd.put(k, file.tensor(k));
    assertTrue(net.loadStateDict(sd, true).clean(), "every network tensor of the fixture loads");
    JsonNode t = JSON.readTree(file.metadata().get("teacher"));
    mu = t.get("mu").asDouble();
    std = t.get("std").asDouble();
    stdWeak = t.get("std_weak").asDouble();
  }

  @AfterAll
  static void close() {
    if (net != null) net.close();
    if (file != null) file.close();
  }

  static double relErr(Tensor ours, Tensor ref) {
    return ours.to(DType.FLOAT64).sub(ref.to(DType.FLOAT64)).abs().amax(false).item()
        / ref.to(DType.FLOAT64).abs().amax(false).item();
  }

  /** The exact EDM denoiser of N(μ, s²·I) data: D(x; σ) = μ + s²/(s² + σ²)·(x − μ). */
  static Denoiser gaussianDenoiser(double m, double s) {
    return (x, sigma, labels) -> {
      Tensor sb = AlignYourFlow.bcast(sigma, x);
      Tensor shrink = sb.square().add(s * s).reciprocal().mul(s * s);
      return x.sub(m).mul(shrink).add(m);
    };
  }

  /** The closed-form flow velocity of N(μ, s²·I) data: E[ε | x_t] − E[x_0 | x_t], written from the Gaussian posterior. */
  static Tensor gaussianVelocity(Tensor x, Tensor t, double m, double s) {
    Tensor tb = AlignYourFlow.bcast(t, x);
    Tensor one = tb.neg().add(1.0);
    Tensor var = one.square().mul(s * s).add(tb.square());
    Tensor resid = x.sub(one.mul(m));
    Tensor ex0 = one.mul(s * s).div(var).mul(resid).add(m);
    Tensor eeps = tb.div(var).mul(resid);
    return eeps.sub(ex0);
  }

  static AlignYourFlow.Velocity teacher(double guidance) {
    AlignYourFlow.Velocity strong = AlignYourFlow.fromDenoiser(gaussianDenoiser(mu, std), 1e6);
    AlignYourFlow.Velocity weak = AlignYourFlow.fromDenoiser(gaussianDenoiser(mu, stdWeak), 1e6);
    return AlignYourFlow.autoguided(strong, weak, guidance);
  }

  static AlignYourFlow.Config config(JsonNode c) {
    return new AlignYourFlow.Config(AlignYourFlow.Loss.valueOf(c.get("loss").asText().toUpperCase()),
        AlignYourFlow.TimeSampler.valueOf(c.get("tr_sampler").asText().toUpperCase()), c.get("P_mean").asDouble(),
        c.get("P_std").asDouble(), c.get("c").asDouble(), 0, c.get("r").asDouble());
  }

  /**
   * Case key's tangent, its norm and the per-sample loss of r equal the transcription's to ≤ 1e-4 relative, and so do
   * the gradients of the loss's sum for the parameters grads of student (fixture name: fixtureName of the parameter's).
   */
  static void assertMatchesFixture(String key, AlignYourFlow.Result r, Module student, String[] grads,
      UnaryOperator<String> fixtureName) {
    double eg = relErr(r.tangent(), file.tensor(key + ".g"));
    double en = relErr(r.tangentNorm(), file.tensor(key + ".norm"));
    double el = relErr(r.loss().detach(), file.tensor(key + ".loss"));
    assertTrue(eg <= 1e-4 && en <= 1e-4 && el <= 1e-4, key + ": g " + eg + ", ‖g‖ " + en + ", loss " + el);
    r.loss().sum().backward();
    for (String g : grads) {
      Tensor ref = file.tensor(key + ".grad." + fixtureName.apply(g));
      double e = relErr(student.namedParameters().get(g).get().grad(), ref);
      assertTrue(e <= 1e-4, key + ": gradient of " + g + " differs from the transcription's by " + e);
    }
  }

  static AlignYourFlow.Draws draws() {
    return new AlignYourFlow.Draws(file.tensor("draw.n_a"), file.tensor("draw.n_b"), file.tensor("draw.u"),
        file.tensor("draw.eps"));
  }

  @Test
  void perSampleLossesTangentsAndGradientsMatchThePaperTranscription() throws Exception {
    String[] grads = {"net.out_proj.weight", "net.block0.lin0.weight"};
    for (String key : new String[] {"emd", "emd_full", "emd_guided", "lmd", "lmd_full", "lmd_guided"}) {
      try (TensorScope s = TensorScope.open()) {
        JsonNode c = JSON.readTree(file.metadata().get(key));
        AlignYourFlow ayf = new AlignYourFlow(config(c));
        for (var p : net.namedParameters().values()) p.get().setGrad(null);
        AlignYourFlow.Result r = ayf.loss(net, teacher(c.get("guidance").asDouble()), file.tensor("draw.x"), null, 0,
            draws(), null);
        assertEquals(0, relErr(r.t(), file.tensor(key + ".t")), 1e-6, key + " t");
        assertEquals(0, relErr(r.s(), file.tensor(key + ".s")), 1e-6, key + " s");
        assertMatchesFixture(key, r, net, grads, g -> g);
      }
    }
    // the cases differ from each other: guidance, loss and warm-up change the tangent
    assertTrue(relErr(file.tensor("emd_guided.g"), file.tensor("emd.g")) > 1e-2);
    assertTrue(relErr(file.tensor("lmd.g"), file.tensor("emd.g")) > 1e-2);
  }

  /** dF/dt along (v_φ, 1) (EMD) and ∂F/∂s (LMD) from the objective's JVPs equal float64 central differences. */
  @Test
  void jvpsEqualFloat64CentralDifferences() throws Exception {
    try (TensorScope s = TensorScope.open();
        TwoTimeNetwork net64 = new TwoTimeNetwork(new MLPDenoiser(((MLPDenoiser) net.raw()).config()))) {
      net64.copyFrom(net);
      net64.to(Device.CPU, DType.FLOAT64);
      for (AlignYourFlow.Loss loss : AlignYourFlow.Loss.values()) {
        AlignYourFlow ayf = new AlignYourFlow(AlignYourFlow.Config.defaults().withLoss(loss).withWarmup(0, 1.0));
        AlignYourFlow.Result r = ayf.loss(net, teacher(1.0), file.tensor("draw.x"), null, 0, draws(), null);
        Tensor x = file.tensor("draw.x").to(DType.FLOAT64);
        Tensor eps = file.tensor("draw.eps").to(DType.FLOAT64);
        Tensor t = r.t().to(DType.FLOAT64);
        Tensor sT = r.s().to(DType.FLOAT64);
        Tensor tb = t.unsqueeze(1);
        Tensor xt = tb.neg().add(1.0).mul(x).add(tb.mul(eps));
        double d = 1e-5;
        Tensor fd;
        try (GradMode g = GradMode.noGrad()) {
          if (loss == AlignYourFlow.Loss.EMD) {
            Tensor v = gaussianVelocity(xt, t, mu, std);
            fd = net64.forward(xt.add(v.mul(d)), sT, t.add(d), null)
                .sub(net64.forward(xt.sub(v.mul(d)), sT, t.sub(d), null)).div(2 * d);
          } else {
            fd = net64.forward(xt, sT.add(d), t, null).sub(net64.forward(xt, sT.sub(d), t, null)).div(2 * d);
          }
        }
        double err = relErr(r.jvp(), fd);
        assertTrue(err <= 1e-4, loss + ": JVP vs central difference, relative error " + err);
        assertTrue(fd.abs().amax(false).item() > 0.1, loss + ": the derivative is not trivially small");
      }
    }
  }

  /** v(x_t, t) = (x_t − D(x_t/(1 − t); t/(1 − t)))/t against the Gaussian's closed-form flow velocity. */
  @Test
  void denoiserToVelocityMatchesTheGaussianClosedForm() {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Torch.manualSeed(3);
      long n = 64;
      Tensor x = Tensor.randn(n, 3).to(DType.FLOAT64);
      Tensor t = Tensor.rand(n).to(DType.FLOAT64).mul(0.98).add(0.005);
      Tensor v = AlignYourFlow.fromDenoiser(gaussianDenoiser(0.4, 0.6), 80).at(x, t, null);
      assertEquals(0, relErr(v, gaussianVelocity(x, t, 0.4, 0.6)), 1e-10);
      // beyond σ_max the denoiser is evaluated at σ_max: t = 0.999 sees the same D as t_max = 80/81
      Tensor tHi = Tensor.full(new long[] {n}, 0.999, DType.FLOAT64, Device.CPU);
      Tensor vHi = AlignYourFlow.fromDenoiser(gaussianDenoiser(0.4, 0.6), 80).at(x, tHi, null);
      Tensor tMax = Tensor.full(new long[] {n}, 80.0 / 81, DType.FLOAT64, Device.CPU);
      Tensor d = gaussianDenoiser(0.4, 0.6).denoise(x.mul(81.0), tMax.mul(81.0), null);
      assertEquals(0, relErr(vHi, x.sub(d).div(0.999)), 1e-10);
      assertTrue(Double.isFinite(AlignYourFlow.fromDenoiser(gaussianDenoiser(0.4, 0.6), 80)
          .at(x, Tensor.ones(n).to(DType.FLOAT64), null).abs().amax(false).item()), "t = 1 stays finite");
    }
  }

  @Test
  void flowNetworkTeacherAndAutoguidance() {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Tensor x = file.tensor("draw.eps");
      Tensor t = file.tensor("emd.t");
      Tensor u = AlignYourFlow.fromFlowNetwork(net).at(x, t, null);
      assertEquals(0, relErr(u, net.forward(x, t, t, null)), 1e-7, "u(x, t, t): the instantaneous velocity");
      AlignYourFlow.Velocity strong = (xx, tt, l) -> xx.mul(2.0);
      AlignYourFlow.Velocity weak = (xx, tt, l) -> xx.mul(-1.0);
      assertSame(strong, AlignYourFlow.autoguided(strong, weak, 1.0));
      // v_weak + λ (v_strong − v_weak) = −x + 2.5·3x = 6.5x
      assertEquals(0, relErr(AlignYourFlow.autoguided(strong, weak, 2.5).at(x, t, null), x.mul(6.5)), 1e-6);
    }
  }

  @Test
  void samplersChainTheFlowMap() {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      net.eval();
      Tensor x1 = file.tensor("draw.eps");
      long n = x1.size(0);
      Tensor ones = Tensor.ones(new long[] {n}, DType.FLOAT32, Device.CPU);
      Tensor zeros = Tensor.zeros(new long[] {n}, DType.FLOAT32, Device.CPU);
      Tensor one = AlignYourFlow.sample(net, x1, 1, null);
      // f(x, 1, 0) = x + (0 − 1)·F(x, 1, 0)
      assertEquals(0, relErr(one, x1.sub(net.forward(x1, zeros, ones, null))), 1e-7);
      Tensor three = AlignYourFlow.sample(net, x1, new double[] {1, 0.6, 0.25, 0}, null);
      Tensor a = x1.add(net.forward(x1, ones.mul(0.6), ones, null).mul(-0.4));
      Tensor b = a.add(net.forward(a, ones.mul(0.25), ones.mul(0.6), null).mul(-0.35));
      Tensor c = b.add(net.forward(b, zeros, ones.mul(0.25), null).mul(-0.25));
      assertEquals(0, relErr(three, c), 1e-6);
      Tensor two = AlignYourFlow.sample(net, x1, 2, null);
      assertEquals(0, relErr(two, AlignYourFlow.sample(net, x1, new double[] {1, 0.5, 0}, null)), 0);
      assertTrue(relErr(two, one) > 1e-3, "the 2-step sample differs from the 1-step one");
      // f(x, t, t) = x: the boundary condition holds by construction
      assertEquals(0, relErr(AlignYourFlow.flowMap(net, x1, ones.mul(0.3), ones.mul(0.3), null), x1), 0);
      assertThrows(IllegalArgumentException.class, () -> AlignYourFlow.sample(net, x1, new double[] {1}, null));
      assertThrows(IllegalArgumentException.class, () -> AlignYourFlow.sample(net, x1, new double[] {0, 1}, null));
      assertThrows(IllegalArgumentException.class, () -> AlignYourFlow.sample(net, x1, 0, null));
    }
  }

  @Test
  void timeSamplersFollowTheirDefinitions() {
    try (TensorScope s = TensorScope.open()) {
      Torch.manualSeed(5);
      long n = 20000;
      AlignYourFlow.Draws d = new AlignYourFlow.Draws(Tensor.randn(n), Tensor.randn(n), Tensor.rand(n), null);
      for (AlignYourFlow.TimeSampler ts : AlignYourFlow.TimeSampler.values()) {
        var c = AlignYourFlow.Config.defaults();
        AlignYourFlow ayf = new AlignYourFlow(new AlignYourFlow.Config(c.loss(), ts, c.pMean(), c.pStd(),
            c.tangentNormC(), c.warmupIterations(), c.warmupMax()));
        Tensor[] tsr = ayf.times(d);
        double[] t = tsr[0].toDoubleArray();
        double[] sv = tsr[1].toDoubleArray();
        double med = 1 / (1 + Math.exp(0.8)); // sigmoid(P_mean)
        int below = 0;
        for (int i = 0; i < n; i++) {
          assertTrue(t[i] > sv[i] && sv[i] >= 0 && t[i] <= 1, ts + ": " + t[i] + ", " + sv[i]);
          if (ts == AlignYourFlow.TimeSampler.INTERVAL ? t[i] - sv[i] <= med : sv[i] <= med) below++;
        }
        // INTERVAL: t − s is logit-normal, median sigmoid(P_mean); SORTED: s is the min of two, P(s ≤ median) = 3/4
        double expect = ts == AlignYourFlow.TimeSampler.INTERVAL ? 0.5 : 0.75;
        assertEquals(expect, below / (double) n, 0.01, ts.toString());
      }
    }
  }

  @Test
  void warmupAndBadInputs() {
    var c = AlignYourFlow.Config.defaults();
    assertEquals(0.0, c.warmup(0));
    assertEquals(0.5, c.warmup(5000), 1e-12);
    assertEquals(0.99, c.warmup(20000), 1e-12);
    assertEquals(0.7, c.withWarmup(0, 0.7).warmup(0), 1e-12);
    assertThrows(IllegalArgumentException.class, () -> c.withWarmup(10, 1.5));
    assertThrows(IllegalArgumentException.class, () -> new AlignYourFlow.Config(AlignYourFlow.Loss.EMD,
        AlignYourFlow.TimeSampler.INTERVAL, -0.8, 0, 0.1, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> new AlignYourFlow.Config(AlignYourFlow.Loss.EMD,
        AlignYourFlow.TimeSampler.INTERVAL, -0.8, 1, -0.1, 0, 1));
    try (TensorScope s = TensorScope.open()) {
      AlignYourFlow ayf = new AlignYourFlow(c);
      var e = assertThrows(IllegalArgumentException.class,
          () -> ayf.loss(net, null, file.tensor("draw.x"), null, 0, draws(), null));
      assertTrue(e.getMessage().contains("teacher"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> ayf.loss(net, teacher(1), file.tensor("draw.x"), Tensor.zeros(16, 3), 0, draws(), null));
      assertTrue(e.getMessage().contains("unconditional"), e.getMessage());
    }
  }

  // ------------------------------------------------------------------------------ guidance-scale conditioning

  /** The fixture's network with the guidance embedding, its weight W_g set from the fixture (random there). */
  static TwoTimeNetwork guidedNet() {
    MLPDenoiser mlp = new MLPDenoiser(((MLPDenoiser) net.raw()).config());
    mlp.addGuidanceEmbedding();
    TwoTimeNetwork g = new TwoTimeNetwork(mlp);
    Map<String, Tensor> sd = new LinkedHashMap<>();
    for (String k : file.names()) if (k.startsWith("net.")) sd.put(k, file.tensor(k));
    sd.put("net.map_guidance.weight", file.tensor("wcond.map_guidance.weight"));
    assertTrue(g.loadStateDict(sd, true).clean());
    return g;
  }

  static AlignYourFlow.GuidedVelocity guidedTeacher() {
    return AlignYourFlow.autoguided(AlignYourFlow.fromDenoiser(gaussianDenoiser(mu, std), 1e6),
        AlignYourFlow.fromDenoiser(gaussianDenoiser(mu, stdWeak), 1e6));
  }

  /**
   * Guidance-scale conditioning against the transcription (cases emd_wcond, lmd_wcond): the teacher autoguided at each
   * sample's w, the student fed w through its embedding; per-sample losses, tangents and the gradients (the new
   * embedding's weight among them) to ≤ 1e-4 relative; and w = w_min + (w_max − w_min)·u_w as drawn.
   */
  @Test
  void guidanceConditionedLossesMatchTheTranscription() throws Exception {
    JsonNode range = JSON.readTree(file.metadata().get("guidance_range"));
    String[] grads = {"net.out_proj.weight", "net.block0.lin0.weight", "net.map_guidance.weight"};
    try (TwoTimeNetwork gnet = guidedNet()) {
      for (String key : new String[] {"emd_wcond", "lmd_wcond"}) {
        try (TensorScope s = TensorScope.open()) {
          JsonNode c = JSON.readTree(file.metadata().get(key));
          AlignYourFlow ayf = new AlignYourFlow(config(c).withGuidanceRange(range.get("min").asDouble(),
              range.get("max").asDouble()));
          assertEquals(0, relErr(ayf.guidanceScales(file.tensor("draw.u_w")), file.tensor("draw.w")), 1e-6);
          for (var p : gnet.namedParameters().values()) p.get().setGrad(null);
          AlignYourFlow.Draws d = draws();
          AlignYourFlow.Result r = ayf.guidedLoss(gnet, guidedTeacher(), file.tensor("draw.x"), null, 0,
              new AlignYourFlow.Draws(d.nA(), d.nB(), d.u(), d.eps(), file.tensor("draw.w")), null);
          assertMatchesFixture(key, r, gnet, grads,
              g -> g.equals("net.map_guidance.weight") ? "wcond.map_guidance.weight" : g);
        }
      }
      // per-sample w changes the tangent (against the fixed-λ case with λ = 2, near the mean of w)
      assertTrue(relErr(file.tensor("emd_wcond.g"), file.tensor("emd.g")) > 1e-2);
      // a w-free teacher or draws without w are refused for a guidance-conditioned student, and the reverse
      try (TensorScope s = TensorScope.open()) {
        AlignYourFlow ayf = new AlignYourFlow(AlignYourFlow.Config.defaults().withGuidanceRange(1, 3));
        var e = assertThrows(IllegalArgumentException.class,
            () -> ayf.loss(gnet, teacher(1), file.tensor("draw.x"), null, 0, draws(), null));
        assertTrue(e.getMessage().contains("guidance"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> ayf.guidedLoss(gnet, guidedTeacher(), file.tensor("draw.x"), null, 0, draws(), null));
        assertTrue(e.getMessage().contains("guidance scales"), e.getMessage());
        AlignYourFlow.Draws d = draws();
        e = assertThrows(IllegalArgumentException.class, () -> ayf.guidedLoss(net, guidedTeacher(),
            file.tensor("draw.x"), null, 0, new AlignYourFlow.Draws(d.nA(), d.nB(), d.u(), d.eps(),
                file.tensor("draw.w")), null));
        assertTrue(e.getMessage().contains("guidance embedding"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AlignYourFlow.Config.defaults().withGuidanceRange(3, 1));
      }
    }
  }

  /** v(x, t; w) = v_weak + w·(v_strong − v_weak) per sample, against the closed form and the fixed-λ teacher. */
  @Test
  void perSampleAutoguidanceIsTheClosedForm() {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      Tensor x = file.tensor("draw.eps");
      Tensor t = file.tensor("emd.t");
      Tensor w = file.tensor("draw.w");
      AlignYourFlow.Velocity strong = (xx, tt, l) -> xx.mul(2.0);
      AlignYourFlow.Velocity weak = (xx, tt, l) -> xx.mul(-1.0);
      // −x + w·3x = (3w − 1)·x, row by row
      Tensor v = AlignYourFlow.autoguided(strong, weak).at(x, t, null, w);
      assertEquals(0, relErr(v, x.mul(w.mul(3.0).sub(1.0).unsqueeze(1))), 1e-6);
      // with the Gaussian teachers, each row equals the fixed-λ autoguided teacher at that row's w
      Tensor vg = guidedTeacher().at(x, t, null, w);
      double[] ws = w.toDoubleArray();
      for (int i = 0; i < ws.length; i++) {
        Tensor xi = x.narrow(0, i, 1);
        Tensor ti = t.narrow(0, i, 1);
        assertEquals(0, relErr(vg.narrow(0, i, 1), teacher(ws[i]).at(xi, ti, null)), 1e-6, "row " + i);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------- γ-sampling

  /** γ = 0: the γ-free sampler, bit for bit (the loop as it was before γ existed), and no random draw. */
  @Test
  void gammaZeroIsTheGammaFreeSamplerBitForBit() {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      net.eval();
      Tensor x1 = file.tensor("draw.eps");
      long n = x1.size(0);
      double[] times = {1, 0.6, 0.25, 0};
      Tensor before = x1; // the sampler as written before γ-sampling
      for (int i = 0; i + 1 < times.length; i++) {
        before = AlignYourFlow.flowMap(net, before, Tensor.full(new long[] {n}, times[i], x1.dtype(), x1.device()),
            Tensor.full(new long[] {n}, times[i + 1], x1.dtype(), x1.device()), null);
      }
      try (dev.cm4j.tensor.Generator gen = dev.cm4j.tensor.Generator.cpu(4);
          dev.cm4j.tensor.Generator fresh = dev.cm4j.tensor.Generator.cpu(4)) {
        Tensor now = AlignYourFlow.sample(net, x1, times, null, null, 0, gen);
        assertEquals(0, now.sub(before).abs().amax(false).item(), "γ = 0 is the γ-free sampler");
        assertEquals(0, AlignYourFlow.sample(net, x1, times, null).sub(before).abs().amax(false).item());
        assertEquals(Tensor.rand(new long[] {4}, DType.FLOAT32, Device.CPU, fresh).toDoubleArray()[0],
            Tensor.rand(new long[] {4}, DType.FLOAT32, Device.CPU, gen).toDoubleArray()[0], 0, "γ = 0 draws nothing");
        // γ > 0 re-noises: a different sample, reproduced by the same generator seed
        Tensor a = AlignYourFlow.sample(net, x1, times, null, null, 0.5, dev.cm4j.tensor.Generator.cpu(9));
        Tensor b = AlignYourFlow.sample(net, x1, times, null, null, 0.5, dev.cm4j.tensor.Generator.cpu(9));
        assertEquals(0, a.sub(b).abs().amax(false).item());
        assertTrue(relErr(a, before) > 1e-3, "γ = 0.5 differs from γ = 0");
        // the 1-step sampler has no intermediate time: every γ gives f(x, 1, 0)
        assertEquals(0, AlignYourFlow.sample(net, x1, new double[] {1, 0}, null, null, 1, gen)
            .sub(AlignYourFlow.sample(net, x1, 1, null)).abs().amax(false).item());
      }
      assertThrows(IllegalArgumentException.class, () -> AlignYourFlow.sample(net, x1, times, null, null, 1.5, null));
      assertThrows(IllegalArgumentException.class, () -> AlignYourFlow.sample(net, x1, times, null, null, -0.1, null));
      var e = assertThrows(IllegalArgumentException.class,
          () -> AlignYourFlow.sample(net, x1, times, null, Tensor.ones(n), 0, null));
      assertTrue(e.getMessage().contains("no guidance"), e.getMessage());
    }
  }

  /**
   * s̃(γ) is CTM's σ̃ = √(1 − γ²)·σ in the noise-to-signal ratio λ = t/(1 − t) (γ = 0: s, γ = 1: 0), and the
   * re-noising x_s = a·x_s̃ + b·z takes the path's marginal at s̃, N((1 − s̃)·μ, (1 − s̃)²σ_d² + s̃²) per dimension, to its
   * marginal at s for every data std σ_d (closed form of the mean and variance); b = γ·s.
   */
  @Test
  void gammaTimeAndRenoisingKeepThePathMarginal() {
    for (double sv : new double[] {0.05, 0.3, 0.5, 0.8, 0.97}) {
      assertEquals(sv, AlignYourFlow.gammaTime(sv, 0), 0);
      assertEquals(0, AlignYourFlow.gammaTime(sv, 1), 0);
      for (double gamma : new double[] {0, 0.1, 0.5, 0.9, 1}) {
        double st = AlignYourFlow.gammaTime(sv, gamma);
        assertTrue(st <= sv && st >= 0);
        double lam = sv / (1 - sv);
        assertEquals(Math.sqrt(1 - gamma * gamma) * lam, st / (1 - st), 1e-12, "λ̃ = √(1 − γ²)·λ_s");
        double[] ab = AlignYourFlow.renoise(st, sv);
        assertEquals(gamma * sv, ab[1], 1e-12, "b = γ·s");
        for (double sd : new double[] {0.2, 0.5, 1.0, 3.0}) {
          double mu0 = 0.7;
          double mean = ab[0] * (1 - st) * mu0;
          double var = ab[0] * ab[0] * ((1 - st) * (1 - st) * sd * sd + st * st) + ab[1] * ab[1];
          assertEquals((1 - sv) * mu0, mean, 1e-12);
          assertEquals((1 - sv) * (1 - sv) * sd * sd + sv * sv, var, 1e-12, "s " + sv + " γ " + gamma + " σ_d " + sd);
        }
      }
    }
    assertEquals(0, AlignYourFlow.gammaTime(0, 0.5), 0, "the last step ends at 0 whatever γ");
    assertThrows(IllegalArgumentException.class, () -> AlignYourFlow.gammaTime(0.5, 2));
    assertThrows(IllegalArgumentException.class, () -> AlignYourFlow.renoise(0.6, 0.5));
  }

  /**
   * The exact flow map of Gaussian data N(μ, σ_d²): the probability-flow ODE of a Gaussian is affine in x, so
   * f(x, t, s) = m_s + (sd_s/sd_t)·(x − m_t) with m_t = (1 − t)·μ, sd_t = √((1 − t)²σ_d² + t²), as the raw network
   * F = (f − x)/(s − t) of a TwoTimeNetwork (inputs t and h = t − s).
   */
  static final class ExactGaussianMap extends dev.cm4j.nn.Module implements dev.cm4j.nn.CTMNetwork {
    final double m;
    final double sd;

    ExactGaussianMap(double m, double sd) {
      this.m = m;
      this.sd = sd;
    }

    Tensor std(Tensor t) {
      return t.neg().add(1.0).square().mul(sd * sd).add(t.square()).sqrt();
    }

    @Override
    public Tensor forward(Tensor x, Tensor t, Tensor h, Tensor classLabels, Tensor augmentLabels) {
      Tensor s = t.sub(h);
      Tensor mt = t.neg().add(1.0).mul(m).unsqueeze(1);
      Tensor ms = s.neg().add(1.0).mul(m).unsqueeze(1);
      Tensor f = ms.add(std(s).div(std(t)).unsqueeze(1).mul(x.sub(mt)));
      return f.sub(x).div(h.neg().unsqueeze(1));
    }

    @Override
    public Tensor forward(Tensor x, Tensor t, Tensor classLabels, Tensor augmentLabels) {
      throw new UnsupportedOperationException();
    }

    @Override
    public boolean hasSEmbedding() {
      return true;
    }

    @Override
    public int resolution() {
      return 0;
    }

    @Override
    public int channels() {
      return 1;
    }

    @Override
    public int labelDim() {
      return 0;
    }
  }

  /**
   * γ-sampling with the exact flow map of Gaussian data keeps every marginal: ending at an intermediate time the
   * samples are N(m_s, sd_s²) and at 0 N(μ, σ_d²), for γ = 0, 0.5, 1 (200,000 samples; mean within 5e-3, std within
   * 1 %, ≈ 5 standard errors); the re-noising is drawn, so γ > 0 decorrelates the sample from its latent.
   */
  @Test
  void gammaSamplingOfAnExactGaussianFlowMapHasTheRightMarginals() {
    double m = 0.3;
    double sd = 0.5;
    int n = 200_000;
    try (TensorScope s = TensorScope.open(); TwoTimeNetwork exact = new TwoTimeNetwork(new ExactGaussianMap(m, sd))) {
      Tensor x1 = Tensor.randn(new long[] {n, 1}, DType.FLOAT64, Device.CPU, dev.cm4j.tensor.Generator.cpu(21));
      double[] corr = new double[3];
      int k = 0;
      for (double gamma : new double[] {0, 0.5, 1}) {
        for (double[] times : new double[][] {{1, 0.7, 0.35}, {1, 0.75, 0.5, 0.25, 0}}) {
          double end = times[times.length - 1];
          Tensor x = AlignYourFlow.sample(exact, x1, times, null, null, gamma, dev.cm4j.tensor.Generator.cpu(22));
          double mean = x.mean().item();
          double std = x.sub(mean).square().mean().sqrt().item();
          double mExp = (1 - end) * m;
          double sExp = Math.sqrt((1 - end) * (1 - end) * sd * sd + end * end);
          String what = "γ " + gamma + ", times " + java.util.Arrays.toString(times);
          assertEquals(mExp, mean, 5e-3, what + ": mean");
          assertEquals(sExp, std, 0.01 * sExp, what + ": std");
          if (end == 0) {
            double m1 = x1.mean().item();
            Tensor z1 = x1.sub(m1);
            corr[k++] = x.sub(mean).mul(z1).mean().item() / (std * z1.square().mean().sqrt().item());
          }
        }
      }
      assertEquals(1, corr[0], 1e-6, "γ = 0: deterministic, the monotone map of the latent");
      assertTrue(corr[1] < 0.99 && corr[1] > 0.1, "γ = 0.5: partly re-noised, correlation " + corr[1]);
      // γ = 1: each step maps to the data and re-noises, x_s = (1 − s)·x̂_0 + s·z, which keeps of the latent the
      // correlation (1 − s)·σ_d·c/sd_s of x̂_0's c (the map to 0 keeps it)
      double c = 1;
      for (double sv : new double[] {0.75, 0.5, 0.25}) c = (1 - sv) * sd * c / Math.sqrt((1 - sv) * (1 - sv) * sd * sd + sv * sv);
      assertEquals(c, corr[2], 0.01, "γ = 1: the latent's correlation after three re-noisings");
      assertTrue(corr[2] < corr[1], "γ = 1 re-noises more than γ = 0.5");
    }
  }
}
