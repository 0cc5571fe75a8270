package dev.cm4j.objectives;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.Autograd;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.List;
import org.junit.jupiter.api.Test;

/** sCT against an independent float64 evaluation of the paper's equations (finite differences along the PF-ODE). */
class SCMTest {
  static final double SD = 0.5;
  static final int N = 3;
  static final int D = 4;

  record Setup(TrigFlowPrecond net, AdaptiveWeight w, Tensor x0, Tensor z, Tensor t) {}

  static Setup setup() {
    Torch.manualSeed(3);
    MLPDenoiser mlp = new MLPDenoiser(new MLPDenoiser.Config(D, 32, 2, 16, 0, false));
    // Give the zero-initialised output layers weight so F is far from trivial.
    try (GradMode g = GradMode.noGrad()) {
      for (var e : mlp.namedParameters().entrySet()) {
        if (e.getKey().contains("out_proj") || e.getKey().contains("lin1")) e.getValue().get().normal_(0, 0.3, null);
      }
    }
    mlp.to(Device.CPU, DType.FLOAT64);
    TrigFlowPrecond net = new TrigFlowPrecond(mlp, SD, TrigFlowPrecond.TimeLabel.IDENTITY);
    AdaptiveWeight w = new AdaptiveWeight(16);
    w.to(Device.CPU, DType.FLOAT64);
    Tensor x0 = Tensor.randn(new long[] {N, D}, DType.FLOAT64, Device.CPU, null);
    Tensor z = Tensor.randn(new long[] {N, D}, DType.FLOAT64, Device.CPU, null);
    Tensor t = Tensor.of(new double[] {0.2, 0.8, 1.4});
    return new Setup(net, w, x0, z, t);
  }

  /** f(x_τ, τ) along the PF-ODE path x_τ = cos τ·x0 + sin τ·σ_d z, per sample at times tau. */
  static Tensor fAlongPath(Setup s, double[] tau) {
    Tensor tt = Tensor.of(tau);
    Tensor tb = TrigFlowPrecond.broadcast(tt, s.x0());
    Tensor x = tb.cos().mul(s.x0()).add(tb.sin().mul(s.z().mul(SD)));
    return s.net().f(x, tt, null);
  }

  /** cos t·df⁻/dt by central differences in float64. */
  static double[] fdTangent(Setup s, double h) {
    double[] t = s.t().toDoubleArray();
    double[] tp = new double[N];
    double[] tm = new double[N];
    for (int i = 0; i < N; i++) {
      tp[i] = t[i] + h;
      tm[i] = t[i] - h;
    }
    try (GradMode g = GradMode.noGrad()) {
      double[] fp = fAlongPath(s, tp).toDoubleArray();
      double[] fm = fAlongPath(s, tm).toDoubleArray();
      double[] out = new double[fp.length];
      for (int i = 0; i < out.length; i++) out[i] = Math.cos(t[i / D]) * (fp[i] - fm[i]) / (2 * h);
      return out;
    }
  }

  @Test
  void tangentAtFullWarmupEqualsCosTTimesTheTotalDerivativeOfF() {
    try (TensorScope sc = TensorScope.open()) {
      Setup s = setup();
      SCM scm = new SCM(SCM.Config.cifar10());
      SCM.Result r = scm.loss(s.net(), s.w(), s.x0(), null, 10_000, null, s.t(), s.z(), null);
      double[] expected = fdTangent(s, 1e-5);
      double[] got = r.rawTangent().toDoubleArray();
      double scale = 0;
      for (double e : expected) scale = Math.max(scale, Math.abs(e));
      for (int i = 0; i < got.length; i++) {
        assertEquals(expected[i], got[i], 1e-4 * scale, "g[" + i + "]");
      }
      s.net().close();
      s.w().close();
    }
  }

  @Test
  void lossValueAndGradientMatchTheClosedForm() {
    try (TensorScope sc = TensorScope.open()) {
      Setup s = setup();
      SCM scm = new SCM(SCM.Config.cifar10());
      SCM.Result r = scm.loss(s.net(), s.w(), s.x0(), null, 10_000, null, s.t(), s.z(), null);
      // Independent: ĝ = g_fd/(‖g_fd‖ + 0.1); w = 0 at init; loss_i = ‖ĝ_i‖²/D (F − F⁻ = 0 in value).
      double[] g = fdTangent(s, 1e-5);
      double[] gHat = new double[g.length];
      double[] expectedLoss = new double[N];
      for (int i = 0; i < N; i++) {
        double nrm = 0;
        for (int j = 0; j < D; j++) nrm += g[i * D + j] * g[i * D + j];
        nrm = Math.sqrt(nrm);
        for (int j = 0; j < D; j++) {
          gHat[i * D + j] = g[i * D + j] / (nrm + 0.1);
          expectedLoss[i] += gHat[i * D + j] * gHat[i * D + j] / D;
        }
      }
      assertArrayEquals(expectedLoss, r.loss().toDoubleArray(), 1e-6);
      assertArrayEquals(new double[N], r.logWeight().toDoubleArray(), 0);

      // Gradient: ∇θ Σ loss = −(2/D)·Σ J_θᵀ ĝ = ∇θ [−(2/D)·Σ F_θ·ĝ].
      List<Tensor> params = s.net().parameters();
      List<Tensor> got = Autograd.grad(r.loss().sum(), params);
      Tensor tb = TrigFlowPrecond.broadcast(s.t(), s.x0());
      Tensor xt = tb.cos().mul(s.x0()).add(tb.sin().mul(s.z().mul(SD)));
      Tensor surrogate = s.net().rawF(xt, s.t(), null).mul(Tensor.of(gHat, N, D)).sum().mul(-2.0 / D);
      List<Tensor> want = Autograd.grad(surrogate, params);
      double dot = 0;
      double na = 0;
      double nb = 0;
      for (int k = 0; k < params.size(); k++) {
        double[] a = got.get(k).toDoubleArray();
        double[] b = want.get(k).toDoubleArray();
        for (int i = 0; i < a.length; i++) {
          dot += a[i] * b[i];
          na += a[i] * a[i];
          nb += b[i] * b[i];
        }
      }
      assertTrue(nb > 0);
      assertEquals(1.0, dot / Math.sqrt(na * nb), 1e-6, "gradient direction (cosine)");
      assertEquals(1.0, Math.sqrt(na / nb), 1e-4, "gradient magnitude ratio");
      s.net().close();
      s.w().close();
    }
  }

  @Test
  void warmupScalesTheSecondTermAndDistillationUsesTheTeacherVelocity() {
    try (TensorScope sc = TensorScope.open()) {
      Setup s = setup();
      SCM scm = new SCM(SCM.Config.cifar10());
      assertEquals(0.5, scm.warmup(5_000));
      assertEquals(1.0, scm.warmup(20_000));
      // At r = 0: g = −cos²t·(σ_d F⁻ − v).
      SCM.Result r0 = scm.loss(s.net(), s.w(), s.x0(), null, 0, null, s.t(), s.z(), null);
      Tensor tb = TrigFlowPrecond.broadcast(s.t(), s.x0());
      Tensor xt = tb.cos().mul(s.x0()).add(tb.sin().mul(s.z().mul(SD)));
      Tensor v = tb.cos().mul(s.z().mul(SD)).sub(tb.sin().mul(s.x0()));
      Tensor expected;
      try (GradMode g = GradMode.noGrad()) {
        expected = tb.cos().square().mul(s.net().rawF(xt, s.t(), null).mul(SD).sub(v)).neg();
      }
      assertArrayEquals(expected.toDoubleArray(), r0.rawTangent().toDoubleArray(), 1e-12);
      // sCD with the student as its own teacher: v = σ_d F(x_t) → the first term vanishes at r = 0.
      SCM.Result rd = scm.loss(s.net(), s.w(), s.x0(), null, 0, s.net(), s.t(), s.z(), null);
      assertArrayEquals(new double[N * D], rd.rawTangent().toDoubleArray(), 1e-12);
      s.net().close();
      s.w().close();
    }
  }
}
