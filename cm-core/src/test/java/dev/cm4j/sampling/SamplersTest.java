package dev.cm4j.sampling;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import org.junit.jupiter.api.Test;

class SamplersTest {
  /** The exact denoiser of Gaussian data N(μ, s²I): D(x, σ) = μ + s²/(s² + σ²)·(x − μ). */
  record GaussianDenoiser(double mu, double s) implements Denoiser {
    @Override
    public Tensor denoise(Tensor x, Tensor sigma, Tensor labels) {
      Tensor sb = TrigFlowPrecond.broadcast(sigma.to(DType.FLOAT64), x);
      return x.to(DType.FLOAT64).sub(mu).mul(sb.square().add(s * s).rdiv(s * s)).add(mu);
    }
  }

  @Test
  void karrasGridMatchesCtmsPublishedValues() {
    double[] g = Samplers.karras(3, 0.002, 80, 7);
    assertEquals(80, g[0], 1e-12);
    assertEquals(2.5152, g[1], 1e-4); // docs/algorithms/ctm.md §3.1: NFE 2 grid 80 → 2.5152 → 0.002
    assertEquals(0.002, g[2], 1e-15);
    double[] g4 = Samplers.karras(4, 0.002, 80, 7);
    assertEquals(9.723, g4[1], 1e-3);
    assertEquals(0.470, g4[2], 1e-3);
  }

  @Test
  void edmHeunOnGaussianDataFollowsTheExactProbabilityFlow() {
    try (TensorScope sc = TensorScope.open()) {
      double mu = 0.3;
      double s = 0.5;
      GaussianDenoiser d = new GaussianDenoiser(mu, s);
      Generator gen = Generator.cpu(11);
      Tensor z = Tensor.randn(new long[] {8000, 2}, DType.FLOAT64, Device.CPU, gen);
      Tensor x = Samplers.edm(d, z, Samplers.EDMSettings.defaults().withSteps(128), null, gen);
      // The PF-ODE maps x_T = σ_max z to μ + s/√(s² + σ_max²)·(x_T − μ) exactly; error relative to |x_T − μ|·k.
      double k = s / Math.sqrt(s * s + 6400);
      Tensor exact = z.mul(80).sub(mu).mul(k).add(mu);
      double maxErr = x.to(DType.FLOAT64).sub(exact).div(z.mul(80).sub(mu).abs().mul(k)).abs().amax(false).item();
      assertTrue(maxErr < 2e-3, "max relative per-sample error " + maxErr);
      // Marginal: mean μ(1 − s/√(s²+σ²)) + ..., std s·σ_max/√(s² + σ_max²) ≈ s.
      double stdExact = s * 80 / Math.sqrt(s * s + 6400);
      assertEquals(stdExact, x.to(DType.FLOAT64).std().item(), 0.01);
      double meanExact = mu - mu * s / Math.sqrt(s * s + 6400);
      assertEquals(meanExact, x.to(DType.FLOAT64).mean().item(), 0.01);
      // Euler (no correction) is visibly worse than Heun at equal steps: the correction is doing its job.
      Samplers.EDMSettings euler = new Samplers.EDMSettings(18, 0.002, 80, 7, 0, 0, Double.POSITIVE_INFINITY, 1, false);
      double eulerErr = Samplers.edm(d, z, euler, null, gen).to(DType.FLOAT64).sub(exact).abs().amax(false).item();
      double heunErr = Samplers.edm(d, z, Samplers.EDMSettings.defaults(), null, gen).to(DType.FLOAT64).sub(exact)
          .abs().amax(false).item();
      assertTrue(heunErr < eulerErr / 2, "heun " + heunErr + " euler " + eulerErr);
    }
  }

  @Test
  void churnAddsNoiseButStaysOnTheMarginal() {
    try (TensorScope sc = TensorScope.open()) {
      GaussianDenoiser d = new GaussianDenoiser(0, 0.5);
      Generator gen = Generator.cpu(5);
      Tensor z = Tensor.randn(new long[] {20000, 1}, DType.FLOAT64, Device.CPU, gen);
      Samplers.EDMSettings churn = new Samplers.EDMSettings(128, 0.002, 80, 7, 30, 0.05, 50, 1.0, true);
      Tensor x = Samplers.edm(d, z, churn, null, gen);
      assertEquals(0.5, x.to(DType.FLOAT64).std().item(), 0.015);
      assertEquals(0, x.to(DType.FLOAT64).mean().item(), 0.015);
    }
  }

  static CTMPrecond ctmNet() {
    Torch.manualSeed(4);
    MLPDenoiser mlp = new MLPDenoiser(new MLPDenoiser.Config(2, 16, 1, 8, 0, true));
    try (GradMode g = GradMode.noGrad()) {
      for (var p : mlp.parameters()) p.normal_(0, 0.2, null);
    }
    return CTMPrecond.cifar(mlp);
  }

  @Test
  void ctmGammaOneEqualsConsistencyMultistepAndGammaZeroIsDeterministic() {
    try (TensorScope sc = TensorScope.open(); CTMPrecond net = ctmNet()) {
      double[] grid = Samplers.karras(4, 0.002, 80, 7);
      Tensor z = Tensor.randn(5, 2);
      Tensor a = Samplers.ctmGamma(net, z, grid, 1.0, null, false, Generator.cpu(9));
      Denoiser jumpToMin = (x, t, l) -> net.jump(x.to(DType.FLOAT32), t, t.mul(0).add(0.002), l);
      Tensor b = Samplers.consistency(jumpToMin, z, java.util.Arrays.copyOf(grid, 3), null, 0.002, Generator.cpu(9));
      assertArrayEquals(b.toFloatArray(), a.toFloatArray(), 1e-6f);
      Tensor d1 = Samplers.ctmGamma(net, z, grid, 0.0, null, false, Generator.cpu(1));
      Tensor d2 = Samplers.ctmGamma(net, z, grid, 0.0, null, false, Generator.cpu(2));
      assertArrayEquals(d1.toFloatArray(), d2.toFloatArray(), 0f);
      // γ = 0 is the chain of long jumps G(x, t_i, t_{i+1}).
      Tensor x = z.mul(80);
      for (int i = 0; i < 3; i++) {
        Tensor ti = Tensor.full(new long[] {5}, grid[i], DType.FLOAT32, Device.CPU);
        Tensor tn = Tensor.full(new long[] {5}, grid[i + 1], DType.FLOAT32, Device.CPU);
        x = net.jump(x, ti, tn, null);
      }
      assertArrayEquals(x.toFloatArray(), d1.toFloatArray(), 1e-4f);
      Tensor clipped = Samplers.ctmGamma(net, z, grid, 0.5, null, true, Generator.cpu(3));
      assertTrue(clipped.abs().amax(false).item() <= 1.0);
    }
  }

  @Test
  void trigflowOneStepIsFAtTMaxAndTwoStepRenoisesAtTMid() {
    try (TensorScope sc = TensorScope.open()) {
      Torch.manualSeed(2);
      MLPDenoiser mlp = new MLPDenoiser(new MLPDenoiser.Config(2, 16, 1, 8, 0, false));
      TrigFlowPrecond net = new TrigFlowPrecond(mlp, 0.5, TrigFlowPrecond.TimeLabel.IDENTITY);
      double tMax = Samplers.trigflowTMax(80, 0.5);
      assertEquals(1.56455, tMax, 1e-5);
      Tensor z = Tensor.randn(4, 2);
      Tensor one = Samplers.trigflow(net, z, new double[] {tMax}, null, null);
      Tensor direct = net.f(z.mul(0.5), Tensor.full(new long[] {4}, tMax, DType.FLOAT32, Device.CPU), null);
      assertArrayEquals(direct.toFloatArray(), one.toFloatArray(), 1e-6f);
      Tensor two = Samplers.trigflow(net, z, new double[] {tMax, 1.1}, null, Generator.cpu(8));
      Generator g = Generator.cpu(8);
      Tensor eps = Tensor.randn(new long[] {4, 2}, DType.FLOAT64, Device.CPU, g);
      Tensor x = one.to(DType.FLOAT64).mul(Math.cos(1.1)).add(eps.mul(Math.sin(1.1) * 0.5));
      Tensor expected = net.f(x.to(DType.FLOAT32), Tensor.full(new long[] {4}, 1.1, DType.FLOAT32, Device.CPU), null);
      assertArrayEquals(expected.toFloatArray(), two.toFloatArray(), 1e-6f);
      mlp.close();
    }
  }
}
