package dev.cm4j.objectives;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import dev.cm4j.testing.Fixtures;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * MeanFlow against the PyTorch transcription of the official JAX loss (tools/meanflow_reference.py, fixture
 * reference/meanflow-mlp-small.safetensors: per-sample losses, (t, r), u and du/dt for fixed weights and draws), and
 * its JVP against float64 central differences of u along (v, 0, 1).
 */
class MeanFlowTest {
  static SafeTensorFile file;
  static TwoTimeNetwork net;
  static final ObjectMapper JSON = new ObjectMapper();

  @BeforeAll
  static void load() throws Exception {
    file = SafeTensors.read(Fixtures.reference("meanflow-mlp-small.safetensors"));
    JsonNode n = JSON.readTree(file.metadata().get("network"));
    assertEquals(0.0, n.get("dropout").asDouble());
    assertEquals(1.0, n.get("time_scale").asDouble());
    MLPDenoiser mlp = new MLPDenoiser(new MLPDenoiser.Config(n.get("dim").asInt(), n.get("hidden").asInt(),
        n.get("blocks").asInt(), n.get("emb_channels").asInt(), 0.0, true));
    net = new TwoTimeNetwork(mlp);
    Map<String, Tensor> sd = new LinkedHashMap<>();
    for (String k : file.names()) if (k.startsWith("net.")) sd.put(k, file.tensor(k));
    assertTrue(net.loadStateDict(sd, true).clean(), "every network tensor of the fixture loads");
  }

  @AfterAll
  static void close() {
    if (net != null) net.close();
    if (file != null) file.close();
  }

  static double relErr(Tensor ours, Tensor ref) {
    return ours.sub(ref).abs().amax(false).item() / ref.abs().amax(false).item();
  }

  static MeanFlow.Config config(String key, MeanFlow.LossKind loss) throws Exception {
    JsonNode c = JSON.readTree(file.metadata().get(key));
    return new MeanFlow.Config(c.get("P_mean_t").asDouble(), c.get("P_std_t").asDouble(), c.get("P_mean_r").asDouble(),
        c.get("P_std_r").asDouble(), c.get("ratio").asDouble(),
        MeanFlow.TimeSampler.valueOf(c.get("tr_sampler").asText().toUpperCase()), c.get("norm_p").asDouble(),
        c.get("norm_eps").asDouble(), 1.0, 0.0, 0.0, 1.0, 0.0, loss);
  }

  static MeanFlow.Draws draws() {
    return new MeanFlow.Draws(file.tensor("draw.n_t"), file.tensor("draw.n_r"), file.tensor("draw.u_ratio"),
        file.tensor("draw.eps"), null);
  }

  @Test
  void perSampleLossesMatchTheJaxTranscription() throws Exception {
    for (String key : new String[] {"cifar10", "v1_plain", "jax_default"}) {
      try (TensorScope s = TensorScope.open()) {
        net.train(true);
        MeanFlow mf = new MeanFlow(config(key, MeanFlow.LossKind.U));
        MeanFlow.Result r = mf.loss(net, file.tensor("draw.x"), null, draws(), null);
        assertEquals(0, relErr(r.t(), file.tensor(key + ".t")), 1e-6, key + " t");
        assertEquals(0, relErr(r.r(), file.tensor(key + ".r")), 1e-6, key + " r");
        double eu = relErr(r.u().detach(), file.tensor(key + ".u"));
        double ej = relErr(r.dudt(), file.tensor(key + ".dudt"));
        double el = relErr(r.loss().detach(), file.tensor(key + ".loss"));
        assertTrue(eu <= 1e-4 && ej <= 1e-4 && el <= 1e-4, key + ": u " + eu + ", du/dt " + ej + ", loss " + el);
        // Some samples have r = t and some not, so both branches of the sampler are exercised.
        double[] t = r.t().toDoubleArray();
        double[] rr = r.r().toDoubleArray();
        int same = 0;
        for (int i = 0; i < t.length; i++) if (t[i] == rr[i]) same++;
        assertTrue(same > 0 && same < t.length, key + ": " + same + " of " + t.length + " with r = t");
      }
    }
  }

  @Test
  void imfVLossMatchesItsTranscription() throws Exception {
    try (TensorScope s = TensorScope.open()) {
      MeanFlow mf = new MeanFlow(config("imf", MeanFlow.LossKind.V));
      MeanFlow.Result r = mf.loss(net, file.tensor("draw.x"), null, draws(), null);
      double el = relErr(r.loss().detach(), file.tensor("imf.loss"));
      double ej = relErr(r.dudt(), file.tensor("imf.dudt"));
      assertTrue(el <= 1e-4 && ej <= 1e-4, "loss " + el + ", du/dt " + ej);
      // and it differs from the u-loss on the samples with r ≠ t (the tangent differs)
      assertTrue(relErr(r.loss().detach(), file.tensor("cifar10.loss")) > 1e-2);
    }
  }

  @Test
  void lossGradientReachesTheNetwork() throws Exception {
    try (TensorScope s = TensorScope.open()) {
      MeanFlow mf = new MeanFlow(config("cifar10", MeanFlow.LossKind.U));
      mf.loss(net, file.tensor("draw.x"), null, draws(), null).loss().mean().backward();
      double g = 0;
      for (var p : net.namedParameters().values()) {
        if (p.get().grad() != null) g += p.get().grad().square().sum().item();
      }
      assertTrue(g > 0 && Double.isFinite(g), "gradient norm² " + g);
    }
  }

  /**
   * du/dt from the objective's JVP (float32) equals the float64 central difference (u(z + δv, r, t + δ) − u(z − δv, r,
   * t − δ))/2δ of the same network in float64, for samples with r ≠ t and r = t.
   */
  @Test
  void jvpEqualsFloat64CentralDifferenceAlongV01() throws Exception {
    MeanFlow mf = new MeanFlow(config("cifar10", MeanFlow.LossKind.U));
    try (TensorScope s = TensorScope.open();
        TwoTimeNetwork net64 = new TwoTimeNetwork(new MLPDenoiser(((MLPDenoiser) net.raw()).config()))) {
      net64.copyFrom(net);
      net64.to(Device.CPU, DType.FLOAT64);
      MeanFlow.Result r = mf.loss(net, file.tensor("draw.x"), null, draws(), null);
      Tensor x = file.tensor("draw.x").to(DType.FLOAT64);
      Tensor eps = file.tensor("draw.eps").to(DType.FLOAT64);
      Tensor t = r.t().to(DType.FLOAT64);
      Tensor rr = r.r().to(DType.FLOAT64);
      Tensor tb = t.unsqueeze(1);
      Tensor z = tb.neg().add(1.0).mul(x).add(tb.mul(eps));
      Tensor v = eps.sub(x);
      double d = 1e-5;
      Tensor fd;
      try (GradMode g = GradMode.noGrad()) {
        Tensor up = net64.forward(z.add(v.mul(d)), rr, t.add(d), null);
        Tensor dn = net64.forward(z.sub(v.mul(d)), rr, t.sub(d), null);
        fd = up.sub(dn).div(2 * d);
      }
      double err = relErr(r.dudt().to(DType.FLOAT64), fd);
      assertTrue(err <= 1e-4, "JVP vs central difference: relative error " + err);
      // the difference is not trivially small: du/dt is of order one here
      assertTrue(fd.abs().amax(false).item() > 0.1);
    }
  }

  @Test
  void samplersStepAlongTheAverageVelocity() throws Exception {
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      net.eval();
      Tensor z1 = file.tensor("draw.eps");
      long n = z1.size(0);
      Tensor ones = Tensor.ones(new long[] {n}, DType.FLOAT32, Device.CPU);
      Tensor zeros = Tensor.zeros(new long[] {n}, DType.FLOAT32, Device.CPU);
      Tensor one = MeanFlow.sampleOneStep(net, z1, null);
      assertEquals(0, relErr(one, z1.sub(net.forward(z1, zeros, ones, null))), 1e-7);
      double mid = 0.4;
      Tensor two = MeanFlow.sample(net, z1, new double[] {1, mid, 0}, null);
      Tensor zm = z1.sub(net.forward(z1, ones.mul(mid), ones, null).mul(1 - mid));
      Tensor expect = zm.sub(net.forward(zm, zeros, ones.mul(mid), null).mul(mid));
      assertEquals(0, relErr(two, expect), 1e-7);
      assertTrue(relErr(two, one) > 1e-3, "the 2-step sample differs from the 1-step one");
      assertThrows(IllegalArgumentException.class, () -> MeanFlow.sample(net, z1, new double[] {1}, null));
      assertThrows(IllegalArgumentException.class, () -> MeanFlow.sample(net, z1, new double[] {0, 1}, null));
      assertThrows(IllegalArgumentException.class, () -> MeanFlow.sample(net, z1, new double[] {1.5, 0}, null));
    }
  }

  @Test
  void timeSamplersFollowTheirDefinitions() {
    try (TensorScope s = TensorScope.open()) {
      Torch.manualSeed(5);
      long n = 20000;
      Tensor nT = Tensor.randn(n);
      Tensor nR = Tensor.randn(n);
      Tensor u = Tensor.rand(n);
      MeanFlow mf = new MeanFlow(MeanFlow.Config.cifar10());
      Tensor[] tr = mf.times(nT, nR, u);
      double[] t = tr[0].toDoubleArray();
      double[] r = tr[1].toDoubleArray();
      int diff = 0;
      for (int i = 0; i < n; i++) {
        assertTrue(t[i] >= r[i] && r[i] >= 0 && t[i] <= 1);
        if (t[i] != r[i]) diff++;
      }
      assertEquals(0.75, diff / (double) n, 0.01, "fraction of r ≠ t");
      // t is the larger of two logit-normal(−2, 2) draws: P(t ≤ sigmoid(−2)) = 1/4
      int below = 0;
      double med = 1 / (1 + Math.exp(2));
      for (double ti : t) if (ti <= med) below++;
      assertEquals(0.25, below / (double) n, 0.01);
    }
  }

  /** A tiny class-conditional SongUNet with the second-time path (3 classes, 8×8×2). */
  static TwoTimeNetwork conditionalUNet() {
    Torch.manualSeed(11);
    SongUNet u = new SongUNet(new SongUNet.Config(8, 2, 2, 3, 0, 16, new int[] {1, 2}, 2, 1, new int[0], 0.0, 0.0,
        "positional", 1, "standard", "standard", new double[] {1, 1}, true));
    try (GradMode g = GradMode.noGrad()) {
      // give the zero-initialised layers weight, so that labels, t and t − r all matter
      for (var e : u.namedParameters().values()) if (e.get().abs().amax(false).item() == 0) e.get().normal_(0, 0.2, null);
    }
    return new TwoTimeNetwork(u);
  }

  /**
   * Guidance folded into training (the official guidance_fn): v_g = ω·v + (1 − ω − κ)·u(z, t, t | ∅) + κ·u(z, t, t | y)
   * inside [t_start, t_end] and v outside; κ = 0 gives u_∅ + ω·(v − u_∅). A sample whose label is dropped trains as
   * the null class with v_g = v, exactly the unguided loss with a zero label.
   */
  @Test
  void guidanceFoldsTheConditionalAndUnconditionalVelocitiesIn() {
    MeanFlow.Config c = MeanFlow.Config.cifar10();
    double omega = 2.0;
    double kappa = 0.5;
    try (TensorScope s = TensorScope.open(); TwoTimeNetwork cnet = conditionalUNet()) {
      long n = 6;
      Torch.manualSeed(12);
      Tensor x = Tensor.randn(n, 2, 8, 8);
      Tensor eps = Tensor.randn(n, 2, 8, 8);
      Tensor labels = Tensor.zeros(n, 3);
      for (int i = 0; i < n; i++) labels.select(0, i).select(0, i % 3).fill_(1.0);
      Tensor t = Tensor.of(new float[] {0.1f, 0.3f, 0.5f, 0.7f, 0.9f, 0.95f}, n);
      Tensor z = MeanFlow.bcast(t, x).neg().add(1.0).mul(x).add(MeanFlow.bcast(t, x).mul(eps));
      Tensor v = eps.sub(x);
      for (double k : new double[] {kappa, 0.0}) {
        MeanFlow mf = new MeanFlow(new MeanFlow.Config(c.pMeanT(), c.pStdT(), c.pMeanR(), c.pStdR(), c.ratio(),
            c.sampler(), c.normP(), c.normEps(), omega, k, 0.2, 0.8, 0.1, c.loss()));
        Tensor vg = mf.guidedVelocity(cnet, z, t, v, labels);
        Tensor h0 = t.zerosLike();
        Tensor vu;
        Tensor vc;
        try (GradMode g = GradMode.noGrad()) {
          vu = cnet.forwardH(z, t, h0, labels.zerosLike());
          vc = cnet.forwardH(z, t, h0, labels);
        }
        for (int i = 0; i < n; i++) {
          double ti = t.toDoubleArray()[i];
          boolean inside = ti >= 0.2 && ti <= 0.8;
          Tensor expect = inside
              ? v.select(0, i).mul(omega).add(vu.select(0, i).mul(1 - omega - k)).add(vc.select(0, i).mul(k))
              : v.select(0, i);
          assertEquals(0, relErr(vg.select(0, i), expect), 1e-5, "sample " + i + " (t " + ti + ", κ " + k + ")");
        }
        assertTrue(relErr(vg, v) > 1e-2, "guidance changes the velocity inside the interval");
      }
      // All labels dropped (u_drop 0 < 0.1): the guided loss is the plain loss of the null class.
      MeanFlow guided = new MeanFlow(new MeanFlow.Config(c.pMeanT(), c.pStdT(), c.pMeanR(), c.pStdR(), c.ratio(),
          c.sampler(), c.normP(), c.normEps(), omega, kappa, 0.0, 1.0, 0.1, c.loss()));
      MeanFlow plain = new MeanFlow(c);
      Tensor nT = Tensor.randn(n);
      Tensor nR = Tensor.randn(n);
      Tensor uR = Tensor.rand(n);
      Tensor dropAll = Tensor.zeros(n);
      Tensor a = guided.loss(cnet, x, labels, new MeanFlow.Draws(nT, nR, uR, eps, dropAll), null).loss().detach();
      Tensor b = plain.loss(cnet, x, labels.zerosLike(), new MeanFlow.Draws(nT, nR, uR, eps, null), null).loss().detach();
      assertEquals(0, relErr(a, b), 1e-6);
      // No label dropped: the guided loss differs from the unguided one.
      Tensor keepAll = Tensor.ones(n);
      Tensor gk = guided.loss(cnet, x, labels, new MeanFlow.Draws(nT, nR, uR, eps, keepAll), null).loss().detach();
      Tensor pk = plain.loss(cnet, x, labels, new MeanFlow.Draws(nT, nR, uR, eps, keepAll), null).loss().detach();
      assertTrue(relErr(gk, pk) > 1e-3);
      // Guidance on an unconditional network is rejected, naming the problem.
      var e = assertThrows(IllegalArgumentException.class,
          () -> guided.loss(net, file.tensor("draw.x"), null, draws(), null));
      assertTrue(e.getMessage().contains("class-conditional"), e.getMessage());
    }
  }

  @Test
  void badConfigsAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> new MeanFlow.Config(-2, 0, -2, 2, 0.75,
        MeanFlow.TimeSampler.V0, 0.75, 1e-3, 1, 0, 0, 1, 0, MeanFlow.LossKind.U));
    assertThrows(IllegalArgumentException.class, () -> new MeanFlow.Config(-2, 2, -2, 2, 1.5,
        MeanFlow.TimeSampler.V0, 0.75, 1e-3, 1, 0, 0, 1, 0, MeanFlow.LossKind.U));
    assertThrows(IllegalArgumentException.class, () -> new MeanFlow.Config(-2, 2, -2, 2, 0.75,
        MeanFlow.TimeSampler.V0, 0.75, 0, 1, 0, 0, 1, 0, MeanFlow.LossKind.U));
    assertThrows(IllegalArgumentException.class, () -> new MeanFlow.Config(-2, 2, -2, 2, 0.75,
        MeanFlow.TimeSampler.V0, 0.75, 1e-3, 1, 0, 0.8, 0.2, 0, MeanFlow.LossKind.U));
    var e = assertThrows(IllegalArgumentException.class,
        () -> new TwoTimeNetwork(new MLPDenoiser(new MLPDenoiser.Config(2, 8, 1, 8, 0, false))));
    assertTrue(e.getMessage().contains("s_embedding"), e.getMessage());
  }
}
