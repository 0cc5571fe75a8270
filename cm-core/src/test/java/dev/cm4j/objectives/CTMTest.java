package dev.cm4j.objectives;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.Autograd;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CTMTest {
  /** Exact denoiser of N(μ, s²): its PF-ODE x(σ) = μ + √(s²+σ²)/√(s²+t²)·(x_t − μ) has a closed form. */
  record Gaussian(double mu, double s) implements Denoiser {
    @Override
    public Tensor denoise(Tensor x, Tensor sigma, Tensor labels) {
      Tensor sb = TrigFlowPrecond.broadcast(sigma.to(x.dtype()), x);
      return x.sub(mu).mul(sb.square().add(s * s).rdiv(s * s)).add(mu);
    }
  }

  static CTMPrecond net(long seed) {
    Torch.manualSeed(seed);
    MLPDenoiser mlp = new MLPDenoiser(new MLPDenoiser.Config(2, 16, 1, 8, 0, true));
    try (GradMode g = GradMode.noGrad()) {
      for (var p : mlp.parameters()) p.normal_(0, 0.2, null);
    }
    return CTMPrecond.cifar(mlp);
  }

  @Test
  void kDrawFollowsPOfKProportionalToKAndIndicesStayOnTheGrid() {
    CTM ctm = new CTM(CTM.Config.cifar10());
    Random rnd = new Random(1);
    int[] counts = new int[18];
    try (TensorScope s = TensorScope.open()) {
      Tensor x = Tensor.zeros(64, 2);
      for (int i = 0; i < 4000; i++) {
        CTM.Draw d = ctm.draw(x, rnd, null);
        counts[d.k()]++;
        for (int j = 0; j < 64; j++) {
          assertTrue(d.n()[j] >= 0 && d.n()[j] + d.k() <= 17 && d.m()[j] >= d.n()[j] + d.k() && d.m()[j] <= 17);
        }
        d.z().close();
      }
    }
    double mean = 0;
    for (int k = 1; k <= 17; k++) mean += k * counts[k] / 4000.0;
    assertEquals(11.67, mean, 0.25); // E[k] for P(k) ∝ k on 1..17 (docs/algorithms/ctm.md §2.1)
    assertEquals(0, counts[0]);
    assertEquals(17.0 / 153, counts[17] / 4000.0, 0.02);
  }

  @Test
  void teacherHeunIsExactForAPointMassTeacherAndSecondOrderForAGaussianOne() {
    try (TensorScope s = TensorScope.open()) {
      CTM ctm = new CTM(CTM.Config.cifar10());
      double[] grid = ctm.grid();
      Tensor xt = Tensor.randn(new long[] {3, 2}, DType.FLOAT64, Device.CPU, null).mul(5);
      double[] x0 = xt.toDoubleArray();
      long[] n = {2, 6, 9};
      int k = 5;
      // Data at a point μ: D ≡ μ, the flow x(σ) = μ + (σ/t)(x_t − μ) is linear in σ, so Heun is exact.
      Denoiser point = (x, sigma, l) -> x.mul(0).add(0.3);
      double[] got = ctm.teacherHeun(point, xt, n, k, null).toDoubleArray();
      for (int i = 0; i < 6; i++) {
        double t = grid[(int) n[i / 2]];
        double u = grid[(int) n[i / 2] + k];
        assertEquals(0.3 + u / t * (x0[i] - 0.3), got[i], 1e-10, "sample " + i);
      }
      // Gaussian data N(0.2, 0.5²): closed form x(u) = μ + √(s²+u²)/√(s²+t²)·(x_t − μ). Heun's global error is
      // second order: halving every step (N = 35 contains the N = 18 grid) cuts it about fourfold.
      Gaussian teacher = new Gaussian(0.2, 0.5);
      CTM fine = new CTM(new CTM.Config(35, 34, 0.002, 80, 7, CTM.Distance.L2, 0, true, -1.2, 1.2, 0.7, false));
      double[] coarse = ctm.teacherHeun(teacher, xt, n, k, null).toDoubleArray();
      double[] refined = fine.teacherHeun(teacher, xt, new long[] {4, 12, 18}, 2 * k, null).toDoubleArray();
      double eC = 0;
      double eF = 0;
      for (int i = 0; i < 6; i++) {
        double t = grid[(int) n[i / 2]];
        double u = grid[(int) n[i / 2] + k];
        double exact = 0.2 + Math.sqrt(0.25 + u * u) / Math.sqrt(0.25 + t * t) * (x0[i] - 0.2);
        eC = Math.max(eC, Math.abs(coarse[i] - exact) / Math.abs(x0[i] - 0.2));
        eF = Math.max(eF, Math.abs(refined[i] - exact) / Math.abs(x0[i] - 0.2));
      }
      assertTrue(eC < 0.05, "coarse relative error " + eC);
      assertTrue(eC / eF > 3 && eC / eF < 5.5, "error ratio " + eC / eF + " (" + eC + " / " + eF + ")");
    }
  }

  @Test
  void withSEqualToUTheTargetIsTheTargetNetworkOnTheTeacherTrajectory() {
    try (TensorScope sc = TensorScope.open(); CTMPrecond student = net(1); CTMPrecond target = net(2)) {
      target.requiresGrad_(false);
      CTM ctm = new CTM(new CTM.Config(18, 17, 0.002, 80, 7, CTM.Distance.L2, 0, false, -1.2, 1.2, 0.7, false));
      Gaussian teacher = new Gaussian(0, 0.5);
      Tensor x = Tensor.randn(4, 2).mul(0.5);
      long[] n = {0, 3, 7, 10};
      int k = 4;
      long[] m = {4, 7, 11, 14}; // m = n + k: s = u
      CTM.Draw d = new CTM.Draw(k, n, m, Tensor.randn(4, 2));
      CTM.Result r = ctm.loss(student, target, teacher, x, null, d, null, null);
      double[] grid = ctm.grid();
      Tensor t = Tensor.of(new float[] {(float) grid[0], (float) grid[3], (float) grid[7], (float) grid[10]});
      Tensor u = Tensor.of(new float[] {(float) grid[4], (float) grid[7], (float) grid[11], (float) grid[14]});
      Tensor xt = x.add(d.z().mul(TrigFlowPrecond.broadcast(t, x)));
      Tensor xu = ctm.teacherHeun(teacher, xt, n, k, null);
      Tensor expected;
      try (GradMode g = GradMode.noGrad()) {
        expected = target.jump(xu, u, Tensor.full(new long[] {4}, 0.002, DType.FLOAT32, Device.CPU), null);
      }
      assertArrayEquals(expected.toFloatArray(), r.target().toFloatArray(), 1e-5f);
      // Gradients reach the student (through θ⁻'s input) but not the frozen target.
      List<Tensor> gs = Autograd.grad(r.total(), student.parameters());
      assertTrue(gs.stream().anyMatch(g -> g.abs().sum().item() > 0));
      assertTrue(target.parameters().stream().noneMatch(Tensor::requiresGrad));
      // L2 distance: per-sample mean squared error between estimate and target.
      double[] est = r.estimate().toDoubleArray();
      double[] tgt = r.target().toDoubleArray();
      double[] loss = r.ctm().toDoubleArray();
      for (int i = 0; i < 4; i++) {
        double e = (Math.pow(est[2 * i] - tgt[2 * i], 2) + Math.pow(est[2 * i + 1] - tgt[2 * i + 1], 2)) / 2;
        assertEquals(e, loss[i], 1e-5 * Math.max(1, e));
      }
    }
  }

  @Test
  void dsmBalancingIsTheGradientNormRatioAtTheLastLayer() {
    try (TensorScope sc = TensorScope.open(); CTMPrecond student = net(3); CTMPrecond target = net(4)) {
      target.requiresGrad_(false);
      CTM ctm = new CTM(CTM.Config.cifar10());
      Tensor x = Tensor.randn(8, 2).mul(0.5);
      Tensor w = ((MLPDenoiser) student.network()).namedParameters().get("out_proj.weight").get();
      Generator gen = Generator.cpu(5);
      CTM.Draw d = ctm.draw(x, new Random(3), gen);
      CTM.Result r = ctm.loss(student, target, null, x, null, d, w, Generator.cpu(6));
      double nc = Autograd.grad(List.of(r.ctm().mean()), List.of(w), null, true, false, false).get(0).norm().item();
      double nd = Autograd.grad(List.of(r.dsm().mean()), List.of(w), null, true, false, false).get(0).norm().item();
      double lambda = r.lambdaDsm().item();
      assertEquals(Math.min(1e4, nc / (nd + 1e-4)), lambda, 1e-9 * Math.max(1, lambda));
      // The DSM σ draw: half log-normal, half in [σ(v=0.7), 80].
      double[] sig = ctm.dsmSigmas(1000, Device.CPU, Generator.cpu(1)).toDoubleArray();
      double lo = Math.pow(Math.pow(80, 1 / 7.0) + 0.7 * (Math.pow(0.002, 1 / 7.0) - Math.pow(80, 1 / 7.0)), 7);
      for (int i = 500; i < 1000; i++) assertTrue(sig[i] >= lo - 1e-4 && sig[i] <= 80 + 1e-4, "uniform half " + sig[i]);
      assertEquals(0.318, lo, 0.001); // docs/algorithms/ctm.md §2.5
    }
  }
}
