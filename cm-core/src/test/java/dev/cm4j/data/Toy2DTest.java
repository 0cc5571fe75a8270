package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Samplers against densities and closed-form moments. For each distribution: (1) the density, integrated per
 * histogram bin by 4×4 Gauss–Legendre, sums to 1 over a box holding all but a negligible tail and reproduces the
 * closed-form mean and covariance; (2) the sample mean and covariance of 200 000 seeded draws agree with the closed
 * form within 5 standard errors; (3) the draws' 32×32 histogram fits the integrated density (Pearson χ² below
 * dof + 6·√(2·dof), a false-alarm rate far below 1e-6 — and the seed is fixed).
 */
class Toy2DTest {
  static final int N = 200_000;
  static final int BINS = 32;
  // 4-point Gauss–Legendre on [-1, 1]
  static final double[] GL_X = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526};
  static final double[] GL_W = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538};

  record Case(Toy2D dist, double half) {}

  static final List<Case> CASES = List.of(
      new Case(Toy2D.EightGaussians.DEFAULT, 3.4),
      new Case(Toy2D.Checkerboard.DEFAULT, 2.0),
      new Case(Toy2D.TwoMoons.DEFAULT, 2.25),
      new Case(Toy2D.SwissRoll.DEFAULT, 3.6));

  @Test
  void samplersMatchTheirDensitiesAndClosedFormMoments() {
    for (Case c : CASES) {
      Toy2D d = c.dist();
      String name = d.toString();
      double h = c.half();
      double bw = 2 * h / BINS;
      // (1) bin probabilities and moments from the density.
      double[] p = new double[BINS * BINS];
      double mass = 0;
      double[] m1 = new double[2];
      double[] m2 = new double[3];
      for (int i = 0; i < BINS; i++) {
        for (int j = 0; j < BINS; j++) {
          double acc = 0;
          for (int a = 0; a < 4; a++) {
            for (int b = 0; b < 4; b++) {
              double x = -h + (i + 0.5 + GL_X[a] / 2) * bw;
              double y = -h + (j + 0.5 + GL_X[b] / 2) * bw;
              double w = GL_W[a] * GL_W[b] / 4 * bw * bw * d.density(x, y);
              acc += w;
              m1[0] += w * x;
              m1[1] += w * y;
              m2[0] += w * x * x;
              m2[1] += w * x * y;
              m2[2] += w * y * y;
            }
          }
          p[i * BINS + j] = acc;
          mass += acc;
        }
      }
      assertEquals(1.0, mass, 2e-5, name + ": density mass in the box");
      double[] mean = d.mean();
      double[] cov = d.covariance();
      assertEquals(mean[0], m1[0], 1e-4, name + ": E x by quadrature");
      assertEquals(mean[1], m1[1], 1e-4, name + ": E y by quadrature");
      assertEquals(cov[0], m2[0] - m1[0] * m1[0], 1e-3, name + ": Var x by quadrature");
      assertEquals(cov[1], m2[1] - m1[0] * m1[1], 1e-3, name + ": Cov xy by quadrature");
      assertEquals(cov[3], m2[2] - m1[1] * m1[1], 1e-3, name + ": Var y by quadrature");
      assertEquals(cov[1], cov[2], name);

      // (2) sample moments.
      double[] s = d.sample(N, new SplitMix64(2024));
      double sx = 0, sy = 0;
      for (int k = 0; k < N; k++) {
        sx += s[2 * k];
        sy += s[2 * k + 1];
      }
      double mx = sx / N, my = sy / N;
      double[] sc = new double[3];
      double[] sc2 = new double[3];
      for (int k = 0; k < N; k++) {
        double dx = s[2 * k] - mean[0], dy = s[2 * k + 1] - mean[1];
        double[] t = {dx * dx, dx * dy, dy * dy};
        for (int q = 0; q < 3; q++) {
          sc[q] += t[q];
          sc2[q] += t[q] * t[q];
        }
      }
      assertEquals(mean[0], mx, 5 * Math.sqrt(cov[0] / N), name + ": sample mean x");
      assertEquals(mean[1], my, 5 * Math.sqrt(cov[3] / N), name + ": sample mean y");
      double[] want = {cov[0], cov[1], cov[3]};
      for (int q = 0; q < 3; q++) {
        double e = sc[q] / N;
        double se = Math.sqrt((sc2[q] / N - e * e) / N);
        assertEquals(want[q], e, 5 * se, name + ": sample second moment " + q);
      }

      // (3) histogram vs integrated density.
      long[] counts = new long[BINS * BINS];
      long outside = 0;
      for (int k = 0; k < N; k++) {
        int i = (int) Math.floor((s[2 * k] + h) / bw);
        int j = (int) Math.floor((s[2 * k + 1] + h) / bw);
        if (i < 0 || j < 0 || i >= BINS || j >= BINS) outside++;
        else counts[i * BINS + j]++;
      }
      double chi2 = 0;
      int dof = -1;
      double restE = N * Math.max(0, 1 - mass);
      long restO = outside;
      for (int b = 0; b < p.length; b++) {
        double e = N * p[b];
        if (e >= 5) {
          chi2 += (counts[b] - e) * (counts[b] - e) / e;
          dof++;
        } else {
          restE += e;
          restO += counts[b];
        }
      }
      if (restE >= 5) {
        chi2 += (restO - restE) * (restO - restE) / restE;
        dof++;
      } else {
        assertTrue(restO <= 5 + 5 * restE, name + ": " + restO + " samples where the density expects " + restE);
      }
      double limit = dof + 6 * Math.sqrt(2.0 * dof);
      assertTrue(chi2 < limit, name + ": chi2 " + chi2 + " over " + dof + " dof (limit " + limit + ")");
    }
  }

  @Test
  void densitiesHaveTheStatedFormAtKnownPoints() {
    Toy2D.EightGaussians g = Toy2D.EightGaussians.DEFAULT;
    // At a centre, the other components are ≥ 2·sin(π/8)·2 = 1.53 away (≈ 7.7 σ): practically one Gaussian.
    assertEquals(-Math.log(8 * 2 * Math.PI * 0.04), g.logDensity(2, 0), 1e-9);
    Toy2D.Checkerboard cb = Toy2D.Checkerboard.DEFAULT;
    assertEquals(-Math.log(8), cb.logDensity(-1.5, -1.5), 1e-15); // bottom-left square is black
    assertEquals(Double.NEGATIVE_INFINITY, cb.logDensity(-0.5, -1.5));
    assertEquals(Double.NEGATIVE_INFINITY, cb.logDensity(2.5, 0));
    // Far from the curves the quadrature stays finite and decreasing.
    double far = Toy2D.SwissRoll.DEFAULT.logDensity(20, 20);
    assertTrue(Double.isFinite(far) && far < Toy2D.SwissRoll.DEFAULT.logDensity(5, 5));
    assertTrue(Double.isFinite(Toy2D.TwoMoons.DEFAULT.logDensity(-30, 0)));
  }

  @Test
  void samplingIsSeededAndDatasetsAreFloat32Copies() {
    for (Case c : CASES) {
      double[] a = c.dist().sample(100, new SplitMix64(5));
      assertArrayEquals(a, c.dist().sample(100, new SplitMix64(5)));
      InMemoryPointDataset ds = c.dist().dataset(100, 5);
      assertEquals(100, ds.size());
      assertEquals(2, ds.dim());
      assertArrayEquals(new float[] {(float) a[198], (float) a[199]}, ds.item(99).point());
    }
    assertSame(Toy2D.TwoMoons.DEFAULT, Toy2D.named("two-moons"));
    assertSame(Toy2D.EightGaussians.DEFAULT, Toy2D.named("8gaussians"));
    assertThrows(IllegalArgumentException.class, () -> Toy2D.named("spiral"));
  }
}
