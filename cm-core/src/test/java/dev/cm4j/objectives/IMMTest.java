package dev.cm4j.objectives;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.precond.IMMPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.Fixtures;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * IMM against tools/imm_reference.py (fixture reference/imm-mlp-small.safetensors): the paper's Algorithm 1 / Eq. 13 /
 * Eq. 67 / Appendix C transcribed on top of the official IMMPrecond (lumalabs/imm @ c9473e9, imported at run time) —
 * per-group losses, times, model outputs and gradients for fixed weights and draws — and the official pushforward
 * sampler's step schedules and samples; the Laplace-kernel MMD against a double-precision loop and closed forms.
 */
class IMMTest {
  static SafeTensorFile file;
  static MLPDenoiser mlp;
  static final ObjectMapper JSON = new ObjectMapper();
  static final String[] CASES = {"cifar10", "eulerfm_stride", "cosine_identity_t", "lambda", "inv_eta", "rbf"};

  @BeforeAll
  static void load() throws Exception {
    file = SafeTensors.read(Fixtures.reference("imm-mlp-small.safetensors"));
    JsonNode n = JSON.readTree(file.metadata().get("network"));
    mlp = new MLPDenoiser(new MLPDenoiser.Config(n.get("dim").asInt(), n.get("hidden").asInt(),
        n.get("blocks").asInt(), n.get("emb_channels").asInt(), 0.0, true));
    Map<String, Tensor> sd = new LinkedHashMap<>();
    for (String k : file.names()) if (k.startsWith("net.")) sd.put(k.substring(4), file.tensor(k));
    assertTrue(mlp.loadStateDict(sd, true).clean(), "every network tensor of the fixture loads");
  }

  @AfterAll
  static void close() {
    if (mlp != null) mlp.close();
    if (file != null) file.close();
  }

  static double relErr(Tensor ours, Tensor ref) {
    return ours.to(DType.FLOAT64).sub(ref.to(DType.FLOAT64)).abs().amax(false).item()
        / ref.to(DType.FLOAT64).abs().amax(false).item();
  }

  static double ibid(Tensor ours, String key) {
    return relErr(ours, file.tensor(key));
  }

  static JsonNode meta(String key) throws Exception {
    return JSON.readTree(file.metadata().get(key));
  }

  static IMMPrecond precond(JsonNode c) {
    IMMPrecond.Config pc = new IMMPrecond.Config(IMMPrecond.Config.schedule(c.get("noise_schedule").asText()),
        IMMPrecond.Param.valueOf(c.get("f_type").asText().toUpperCase(Locale.ROOT)),
        IMMPrecond.TimeEmbedding.valueOf(c.get("temb_type").asText().toUpperCase(Locale.ROOT)),
        c.get("sigma_data").asDouble(), c.get("T").asDouble(), c.get("eps").asDouble(), c.get("time_scale").asDouble());
    return new IMMPrecond(mlp, pc);
  }

  static IMM imm(JsonNode c) {
    return new IMM(new IMM.Config(c.get("M").asInt(), IMM.Mapping.valueOf(c.get("mapping").asText().toUpperCase(Locale.ROOT)),
        c.get("k").asInt(), c.get("min_tr_gap").asDouble(), c.get("a").asDouble(), c.get("b").asDouble(),
        c.get("kernel_eps").asDouble(), IMM.Kernel.valueOf(c.get("kernel").asText().toUpperCase(Locale.ROOT))));
  }

  static IMM.Draws draws(int groups) {
    return new IMM.Draws(file.tensor("draw.u_t").slice(0, 0, groups, 1), file.tensor("draw.u_s").slice(0, 0, groups, 1),
        file.tensor("draw.eps"));
  }

  @Test
  void perGroupLossesMatchTheReference() throws Exception {
    for (String key : CASES) {
      try (TensorScope s = TensorScope.open()) {
        JsonNode c = meta(key);
        IMMPrecond p = precond(c);
        IMM imm = imm(c);
        int groups = 16 / c.get("M").asInt();
        IMM.Result r = imm.loss(p, null, file.tensor("draw.x"), null, draws(groups), null);
        assertEquals(0, relErr(r.t(), file.tensor(key + ".t")), 1e-12, key + " t");
        assertEquals(0, relErr(r.s(), file.tensor(key + ".s")), 1e-12, key + " s");
        assertEquals(0, relErr(r.r(), file.tensor(key + ".r")), 1e-12, key + " r");
        assertEquals(0, relErr(r.weight(), file.tensor(key + ".weight")), 1e-12, key + " w(s,t)");
        double ey = relErr(r.yT().detach().reshape(16, -1), file.tensor(key + ".yt"));
        double er = relErr(r.yR().reshape(16, -1), file.tensor(key + ".yr"));
        double em = relErr(r.mmd(), file.tensor(key + ".mmd"));
        double el = relErr(r.loss().detach(), file.tensor(key + ".loss"));
        System.out.printf("IMM parity %s: y_t %.2e, y_r %.2e, mmd %.2e, loss %.2e (relative to the largest)%n", key, ey, er,
            ibid(r.mmd(), key + ".mmd"), ibid(r.loss().detach(), key + ".loss"));
        assertTrue(ey <= 1e-5 && er <= 1e-5, key + ": y_t " + ey + ", y_r " + er);
        assertTrue(em <= 1e-4 && el <= 1e-4, key + ": mmd " + em + ", loss " + el);
        // every group's loss to 1e-4 relative, not only the largest
        double[] ours = r.loss().detach().toDoubleArray();
        double[] ref = file.tensor(key + ".loss").toDoubleArray();
        for (int i = 0; i < ref.length; i++) {
          assertEquals(ref[i], ours[i], 1e-4 * Math.abs(ref[i]), key + " group " + i);
        }
      }
    }
  }

  static void zeroGrad() {
    for (var p : mlp.namedParameters().values()) p.get().setGrad(null);
  }

  /** The comparison is sensitive: one more halving of the decrement (k + 1), or b − 1, moves the losses well past 1e-4. */
  @Test
  void aDifferentMappingOrWeightingIsDetected() throws Exception {
    try (TensorScope s = TensorScope.open()) {
      JsonNode c = meta("cifar10");
      IMM.Config base = imm(c).config();
      IMM.Config[] changed = {new IMM.Config(base.groupSize(), base.mapping(), base.k() + 1, base.minGap(), base.a(),
          base.b(), base.kernelEps()), new IMM.Config(base.groupSize(), base.mapping(), base.k(), base.minGap(), base.a(),
          base.b() - 1, base.kernelEps())};
      for (IMM.Config cc : changed) {
        IMM.Result r = new IMM(cc).loss(precond(c), null, file.tensor("draw.x"), null, draws(4), null);
        assertTrue(relErr(r.loss().detach(), file.tensor("cifar10.loss")) > 1e-3, cc.toString());
      }
    }
  }

  @Test
  void gradientsMatchTheReference() throws Exception {
    for (String key : CASES) {
      try (TensorScope s = TensorScope.open()) {
        JsonNode c = meta(key);
        zeroGrad();
        imm(c).loss(precond(c), null, file.tensor("draw.x"), null, draws(16 / c.get("M").asInt()), null).loss().mean()
            .backward();
        Map<String, dev.cm4j.nn.Param> ps = mlp.namedParameters();
        double eo = relErr(ps.get("out_proj.weight").get().grad(), file.tensor(key + ".grad.out_proj"));
        double es = relErr(ps.get("map_layer0_s.weight").get().grad(), file.tensor(key + ".grad.map_layer0_s"));
        assertTrue(eo <= 1e-4 && es <= 1e-4, key + ": grad out_proj " + eo + ", map_layer0_s " + es);
        zeroGrad();
      }
    }
  }

  @Test
  void samplerSchedulesAreTheOfficialOnes() throws Exception {
    for (String key : new String[] {"cifar10", "eulerfm_stride"}) {
      IMMPrecond.Config pc = precond(meta(key)).config();
      Map<String, double[]> ours = new LinkedHashMap<>();
      ours.put("one", IMM.pushforwardTimes(pc, new double[0]));
      ours.put("mid", IMM.pushforwardTimes(pc, new double[] {1.4}));
      ours.put("mid3", IMM.pushforwardTimes(pc, new double[] {9.0, 1.4, 0.3}));
      ours.put("uniform4", IMM.uniformTimes(pc, 4));
      ours.put("uniform8", IMM.uniformTimes(pc, 8));
      ours.put("edm4", IMM.edmTimes(pc, 4, 7));
      ours.put("edm8", IMM.edmTimes(pc, 8, 7));
      for (var e : ours.entrySet()) {
        double[] ref = file.tensor("schedule." + key + "." + e.getKey()).toDoubleArray();
        assertEquals(ref.length, e.getValue().length, key + " " + e.getKey());
        // upstream reads mid_nt through a float32 tensor (torch.as_tensor(1.4)): 1e-7 covers that rounding
        for (int i = 0; i < ref.length; i++) assertEquals(ref[i], e.getValue()[i], 1e-7, key + " " + e.getKey() + " " + i);
      }
    }
  }

  @Test
  void samplesMatchTheOfficialSampler() throws Exception {
    for (String key : new String[] {"cifar10", "eulerfm_stride"}) {
      try (TensorScope s = TensorScope.open()) {
        IMMPrecond p = precond(meta(key));
        Tensor z = file.tensor("sample.z");
        double[][] times = {IMM.pushforwardTimes(p.config(), new double[0]),
            file.tensor("schedule." + key + ".mid").toDoubleArray(), IMM.uniformTimes(p.config(), 4)};
        String[] names = {"one", "mid", "uniform4"};
        for (int i = 0; i < names.length; i++) {
          double e = relErr(IMM.sample(p, z, times[i], null), file.tensor("sample." + key + "." + names[i]));
          assertTrue(e <= 1e-5, key + " " + names[i] + ": " + e);
        }
      }
    }
  }

  /** Restart sampling (Algorithm 5) against the official restart_generator_fn, its noise from the same seeded generator. */
  @Test
  void restartSamplesMatchTheOfficialSampler() throws Exception {
    for (String key : new String[] {"cifar10", "eulerfm_stride"}) {
      try (TensorScope s = TensorScope.open()) {
        IMMPrecond p = precond(meta(key));
        Tensor z = file.tensor("sample.z");
        double[][] times = {file.tensor("schedule." + key + ".mid").toDoubleArray(), IMM.uniformTimes(p.config(), 4)};
        String[] names = {"mid", "uniform4"};
        for (int i = 0; i < names.length; i++) {
          Tensor ours = IMM.restartSample(p, z, times[i], null, Generator.cpu(77));
          double e = relErr(ours, file.tensor("restart." + key + "." + names[i]));
          assertTrue(e <= 1e-5, key + " " + names[i] + ": " + e);
          // and it is not the pushforward sampler's result
          assertTrue(relErr(ours, file.tensor("sample." + key + "." + names[i])) > 1e-3, key + " " + names[i]);
        }
      }
    }
  }

  /** MMD² by plain double loops over the particles (an independent computation of Eq. 67 without w). */
  static double[] loopMmd(double[][][] x, double[][][] y, double[] w, double eps) {
    double[] out = new double[x.length];
    for (int g = 0; g < x.length; g++) {
      int m = x[g].length;
      int d = x[g][0].length;
      double xx = 0, yy = 0, xy = 0;
      for (int j = 0; j < m; j++) {
        for (int k = 0; k < m; k++) {
          xx += kern(x[g][j], x[g][k], w[g], eps, d);
          yy += kern(y[g][j], y[g][k], w[g], eps, d);
          xy += kern(x[g][j], y[g][k], w[g], eps, d);
        }
      }
      out[g] = (xx + yy - 2 * xy) / (m * m);
    }
    return out;
  }

  static double kern(double[] a, double[] b, double w, double eps, int d) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return Math.exp(-w * Math.max(Math.sqrt(s), eps) / d);
  }

  @Test
  void laplaceMmdMatchesADoubleLoopAndClosedForms() {
    try (TensorScope s = TensorScope.open()) {
      Generator g = Generator.cpu(11);
      int groups = 3, m = 5, d = 7;
      Tensor x = Tensor.randn(new long[] {groups, m, d}, DType.FLOAT64, Device.CPU, g);
      Tensor y = Tensor.randn(new long[] {groups, m, d}, DType.FLOAT64, Device.CPU, g).mul(0.5).add(0.3);
      double[] w = {0.5, 2.0, 7.0};
      double[] xs = x.toDoubleArray();
      double[] ys = y.toDoubleArray();
      double[][][] xa = new double[groups][m][d];
      double[][][] ya = new double[groups][m][d];
      for (int a = 0; a < groups; a++) {
        for (int b = 0; b < m; b++) {
          for (int c = 0; c < d; c++) {
            xa[a][b][c] = xs[(a * m + b) * d + c];
            ya[a][b][c] = ys[(a * m + b) * d + c];
          }
        }
      }
      double[] ref = loopMmd(xa, ya, w, 1e-8);
      double[] ours = IMM.mmd(x, y, Tensor.of(w, groups), 1e-8).toDoubleArray();
      for (int i = 0; i < groups; i++) {
        assertEquals(ref[i], ours[i], 1e-12 * Math.max(1, Math.abs(ref[i])), "group " + i);
        assertTrue(ours[i] > 0, "MMD² of different particle sets is positive");
      }
      // identical particle sets: MMD² = 0; one particle each: 2·exp(−wε/D) − 2·exp(−w‖x − y‖/D)
      double[] same = IMM.mmd(x, x, Tensor.of(w, groups), 1e-8).toDoubleArray();
      for (double v : same) assertEquals(0, v, 1e-15);
      Tensor x1 = x.slice(1, 0, 1, 1).contiguous();
      Tensor y1 = y.slice(1, 0, 1, 1).contiguous();
      double[] one = IMM.mmd(x1, y1, Tensor.of(w, groups), 1e-8).toDoubleArray();
      for (int i = 0; i < groups; i++) {
        double dist = 0;
        for (int c = 0; c < d; c++) dist += Math.pow(xa[i][0][c] - ya[i][0][c], 2);
        // a particle against itself sits at the kernel's floor ε: k = exp(−w·ε/D), not 1
        assertEquals(2 * Math.exp(-w[i] * 1e-8 / d) - 2 * Math.exp(-w[i] * Math.sqrt(dist) / d), one[i], 1e-14);
      }
      // the RBF alternative (Eq. 68): one particle each, 2 − 2·exp(−½·w‖x − y‖²/D)
      double[] oneRbf = IMM.mmd(x1, y1, Tensor.of(w, groups), 1e-8, IMM.Kernel.RBF).toDoubleArray();
      for (int i = 0; i < groups; i++) {
        double dist = 0;
        for (int c = 0; c < d; c++) dist += Math.pow(xa[i][0][c] - ya[i][0][c], 2);
        assertEquals(2 - 2 * Math.exp(-0.5 * w[i] * dist / d), oneRbf[i], 1e-14);
      }
    }
  }

  @Test
  void theKernelGradientIsFiniteWhereParticlesMeet() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = Tensor.randn(new long[] {2, 4, 3}, DType.FLOAT64, Device.CPU, Generator.cpu(2)).requiresGrad_(true);
      IMM.mmd(x, x.detach().add(0.1), Tensor.of(new double[] {1, 3}, 2), 1e-8).sum().backward();
      double gsum = x.grad().abs().sum().item();
      assertTrue(Double.isFinite(gsum) && gsum > 0, "gradient " + gsum);
    }
  }

  @Test
  void badInputIsRefusedWithAClearMessage() throws Exception {
    try (TensorScope s = TensorScope.open()) {
      JsonNode c = meta("cifar10");
      IMM imm = imm(c);
      IMMPrecond p = precond(c);
      Tensor x = Tensor.randn(new long[] {6, 8}, DType.FLOAT32, Device.CPU, Generator.cpu(1));
      var e = assertThrows(IllegalArgumentException.class, () -> imm.loss(p, null, x, null, Generator.cpu(1), null));
      assertTrue(e.getMessage().contains("multiple of the group size"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> new IMMPrecond.Config(IMMPrecond.Schedule.COSINE,
          IMMPrecond.Param.EULER_FM, IMMPrecond.TimeEmbedding.IDENTITY, 0.5, 0.994, 0.006, 1000));
      assertThrows(IllegalArgumentException.class, () -> new IMMPrecond(new MLPDenoiser(new MLPDenoiser.Config(8, 16, 1,
          16, 0, false)), p.config()));
      assertThrows(IllegalArgumentException.class, () -> IMM.pushforwardTimes(p.config(), new double[] {-1}));
      IMM lambda = new IMM(new IMM.Config(4, IMM.Mapping.LAMBDA, 4, 0, 1, 5, 1e-8));
      IMMPrecond eps0 = precond(meta("eulerfm_stride")); // eps = 0: λ's range is infinite
      var le = assertThrows(IllegalArgumentException.class, () -> lambda.r(eps0, Tensor.of(new double[] {0.1}, 1),
          Tensor.of(new double[] {0.2}, 1)));
      assertTrue(le.getMessage().contains("eps > 0"), le.getMessage());
    }
  }
}
