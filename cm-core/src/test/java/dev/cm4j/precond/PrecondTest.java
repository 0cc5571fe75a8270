package dev.cm4j.precond;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import org.junit.jupiter.api.Test;

/** Preconditioners against the paper's closed forms (independent double arithmetic and the spec's tables). */
class PrecondTest {
  static final double SD = 0.5;

  /** D(x, σ) with F = a·x + b at a single point x (shape [1,1,1,1]). */
  static double denoise(EDMPrecond p, double x, double sigma) {
    try (TensorScope s = TensorScope.open()) {
      return p.denoise(Tensor.of(new float[] {(float) x}, 1, 1, 1, 1), Tensor.of(new float[] {(float) sigma}), null)
          .item();
    }
  }

  @Test
  void edmCoefficientsMatchTheClosedFormAndTheSpecTable() {
    // F ≡ 0 exposes c_skip·x; F ≡ 1 at x = 0 exposes c_out.
    try (EDMPrecond zero = EDMPrecond.ect(new ProbeNet(0, 0)); EDMPrecond one = EDMPrecond.ect(new ProbeNet(0, 1))) {
      double sigma = 0.821;
      // Training mode: EDM boundary. The spec's table: 0.27055 / 0.42704.
      assertEquals(0.27055, denoise(zero, 1, sigma), 5e-6);
      assertEquals(0.42704, denoise(one, 0, sigma), 5e-6);
      assertEquals(SD * SD / (sigma * sigma + SD * SD), denoise(zero, 1, sigma), 1e-7);
      assertEquals(sigma * SD / Math.sqrt(sigma * sigma + SD * SD), denoise(one, 0, sigma), 1e-7);
      // Eval mode: ECT's consistency boundary at σ_min = 0.003. The spec's table: 0.27200 / 0.42548.
      zero.eval();
      one.eval();
      assertEquals(0.27200, denoise(zero, 1, sigma), 5e-6);
      assertEquals(0.42548, denoise(one, 0, sigma), 5e-6);
      // Identity at σ_min in eval mode.
      assertEquals(0.7, denoise(one, 0.7, 0.003), 1e-6);
      assertEquals(0.7, denoise(zero, 0.7, 0.003), 1e-6);
    }
  }

  @Test
  void edmPreconditionerFeedsCInTimesXAndLogSigmaOverFour() {
    try (TensorScope s = TensorScope.open(); EDMPrecond p = EDMPrecond.edm(new ProbeNet(1, 0))) {
      ProbeNet net = (ProbeNet) p.network();
      p.denoise(Tensor.of(new float[] {2, 3}, 2, 1, 1, 1), Tensor.of(new float[] {0.5f, 4f}), null);
      assertEquals(2 / Math.sqrt(0.25 + 0.25), net.lastX.toDoubleArray()[0], 1e-6);
      assertEquals(3 / Math.sqrt(16 + 0.25), net.lastX.toDoubleArray()[1], 1e-6);
      assertArrayEquals(new double[] {Math.log(0.5) / 4, Math.log(4) / 4}, net.lastNoise.toDoubleArray(), 1e-6);
    }
  }

  @Test
  void trigFlowConversionOfAnEdmModelIsExact() {
    // f(x_t, t) of the converted model must equal D_EDM(x_t / cos t, σ_d tan t) in float64
    // (docs/algorithms/scm.md §1.4).
    try (TensorScope s = TensorScope.open(); EDMPrecond edm = EDMPrecond.edm(new MLPDenoiser(
        new MLPDenoiser.Config(3, 32, 2, 16, 0, false)))) {
      edm.to(dev.cm4j.tensor.Device.CPU, DType.FLOAT64);
      TrigFlowPrecond trig = TrigFlowPrecond.fromEDM(edm);
      Tensor t = Tensor.of(new double[] {0.1, 0.7, 1.3, 1.55});
      Tensor xt = Tensor.randn(new long[] {4, 3}, DType.FLOAT64, dev.cm4j.tensor.Device.CPU, null);
      try (GradMode g = GradMode.noGrad()) {
        Tensor f = trig.f(xt.to(DType.FLOAT64), t, null);
        Tensor sigma = t.tan().mul(SD);
        Tensor xs = xt.div(TrigFlowPrecond.broadcast(t.cos(), xt));
        // EDMPrecond computes in float32; compare its float64 equivalent through the raw network directly.
        Tensor sb = TrigFlowPrecond.broadcast(sigma, xt);
        Tensor cIn = sb.square().add(SD * SD).rsqrt();
        Tensor fEdm = edm.network().forward(cIn.mul(xs), sigma.log().div(4.0), null, null);
        Tensor d = sb.square().add(SD * SD).rdiv(SD * SD).mul(xs).add(sb.mul(SD).mul(cIn).mul(fEdm));
        double[] a = f.toDoubleArray();
        double[] b = d.toDoubleArray();
        for (int i = 0; i < a.length; i++) assertEquals(b[i], a[i], 1e-12 * Math.max(1, Math.abs(b[i])));
      }
    }
  }

  @Test
  void trigFlowIdentityTimeLabelAndBoundary() {
    try (TensorScope s = TensorScope.open();
        TrigFlowPrecond p = new TrigFlowPrecond(new ProbeNet(0, 1), SD, TrigFlowPrecond.TimeLabel.IDENTITY)) {
      Tensor x = Tensor.of(new float[] {0.3f, -1f}, 2, 1);
      Tensor t = Tensor.of(new float[] {0f, 0.9f});
      double[] f = p.f(x, t, null).toDoubleArray();
      assertEquals(0.3, f[0], 1e-7); // f(x, 0) = x
      assertEquals(Math.cos(0.9) * -1 - Math.sin(0.9) * SD * 1, f[1], 1e-6);
      assertArrayEquals(new double[] {0, 0.9}, ((ProbeNet) p.network()).lastNoise.toDoubleArray(), 1e-7);
      assertArrayEquals(new double[] {0.6, -2}, ((ProbeNet) p.network()).lastX.toDoubleArray(), 1e-6);
    }
  }

  @Test
  void ctmJumpIsTheIdentityAtSEqualsTAndInterpolatesOtherwise() {
    try (TensorScope s = TensorScope.open(); CTMPrecond p = CTMPrecond.cifar(new ProbeNet(0.7, 0.2))) {
      Tensor x = Tensor.randn(3, 1, 2, 2);
      Tensor t = Tensor.of(new float[] {0.01f, 1.5f, 80f});
      assertArrayEquals(x.toFloatArray(), p.jump(x, t, t, null).toFloatArray(), 0f); // G(x, t, t) = x exactly
      Tensor u = Tensor.of(new float[] {0.005f, 0.5f, 10f});
      double[] gj = p.jump(x, t, u, null).toDoubleArray();
      double[] gx = p.g(x, t, u, null).toDoubleArray();
      double[] xx = x.toDoubleArray();
      double[] tt = {0.01, 1.5, 80};
      double[] uu = {0.005, 0.5, 10};
      for (int i = 0; i < 12; i++) {
        double r = uu[i / 4] / tt[i / 4];
        assertEquals(r * xx[i] + (1 - r) * gx[i], gj[i], 1e-5);
      }
      // s enters the network as ln(s)/4.
      ProbeNet net = (ProbeNet) p.network();
      assertEquals(Math.log(0.5) / 4, net.lastSNoise.toDoubleArray()[1], 1e-6);
    }
  }

  @Test
  void ctmSongUNetWithZeroInitialisedSPathEqualsTheEdmNetwork() {
    try (TensorScope s = TensorScope.open()) {
      SongUNet.Config c = new SongUNet.Config(8, 3, 3, 0, 0, 16, new int[] {1, 2}, 2, 1, new int[] {4}, 0, 0,
          "positional", 1, "standard", "standard", new double[] {1, 1}, false);
      dev.cm4j.tensor.Torch.manualSeed(7);
      SongUNet plain = new SongUNet(c);
      dev.cm4j.tensor.Torch.manualSeed(7);
      SongUNet ctm = new SongUNet(c.withSEmbedding());
      // Same seed, same draw order: every shared parameter is identical, and the s path adds exactly zero.
      for (var e : plain.stateDict().entrySet()) {
        assertArrayEquals(e.getValue().toFloatArray(), ctm.stateDict().get(e.getKey()).toFloatArray(), 0f, e.getKey());
      }
      assertTrue(ctm.stateDict().containsKey("map_layer0_s.weight"));
      assertTrue(ctm.stateDict().containsKey("enc.8x8_block0.affine_s.weight"));
      Tensor x = Tensor.randn(2, 3, 8, 8);
      Tensor noise = Tensor.of(new float[] {-0.3f, 0.4f});
      Tensor sNoise = Tensor.of(new float[] {-1f, 0.1f});
      try (GradMode g = GradMode.noGrad()) {
        assertArrayEquals(plain.forward(x, noise, null, null).toFloatArray(),
            ctm.forward(x, noise, sNoise, null, null).toFloatArray(), 0f);
      }
      plain.close();
      ctm.close();
    }
  }
}
