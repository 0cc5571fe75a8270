package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.testing.Fixtures;
import org.junit.jupiter.api.Test;

/** EDM2's post-hoc EMA solve against EDM2's phema.py (fixture of tools/make_phema_fixtures.py) and in closed form. */
class PosthocEmaTest {
  static double[] doubles(JsonNode a) {
    double[] v = new double[a.size()];
    for (int i = 0; i < v.length; i++) v[i] = a.get(i).asDouble();
    return v;
  }

  @Test
  void coefficientsEqualEdm2() throws Exception {
    JsonNode root = new ObjectMapper().readTree(Fixtures.reference("phema-edm2.json").toFile());
    int cases = 0;
    for (JsonNode c : root.get("cases")) {
      double[] inNimg = doubles(c.get("in_nimg"));
      double[][] x = EMA.solvePosthoc(inNimg, doubles(c.get("in_std")), c.get("out_nimg").asDouble(),
          doubles(c.get("out_std")));
      JsonNode ref = c.get("coef");
      assertEquals(ref.size(), x.length);
      double scale = 0;
      for (JsonNode row : ref) for (JsonNode v : row) scale = Math.max(scale, Math.abs(v.asDouble()));
      for (int i = 0; i < x.length; i++) {
        assertEquals(ref.get(i).size(), x[i].length);
        for (int j = 0; j < x[i].length; j++) {
          assertEquals(ref.get(i).get(j).asDouble(), x[i][j], 1e-9 * scale, "case " + cases + " coef[" + i + "][" + j + "]");
        }
      }
      cases++;
    }
    assertEquals(3, cases);
    JsonNode e = root.get("std_to_exp");
    double[] std = doubles(e.get("std"));
    double[] exp = doubles(e.get("exp"));
    for (int i = 0; i < std.length; i++) assertEquals(exp[i], EMA.sigmaRelToGamma(std[i]), 1e-9 * exp[i]);
  }

  /** A stored profile's own std at its own time is reconstructed by that snapshot alone: the column is a unit vector. */
  @Test
  void ownProfileIsThatSnapshot() {
    double[] nimg = {4096, 4096, 8192, 8192, 12288, 12288};
    double[] std = {0.05, 0.10, 0.05, 0.10, 0.05, 0.10};
    for (int k : new int[] {1, 4, 5}) {
      // reconstruct only from the snapshots up to time nimg[k], as reconstruct_phema does
      int n = 0;
      while (n < nimg.length && nimg[n] <= nimg[k]) n++;
      double[][] x = EMA.solvePosthoc(java.util.Arrays.copyOf(nimg, n), java.util.Arrays.copyOf(std, n), nimg[k],
          new double[] {std[k]});
      for (int i = 0; i < n; i++) assertEquals(i == k ? 1 : 0, x[i][0], 1e-8, "k " + k + " i " + i);
    }
  }

  @Test
  void correlationIsTheProfilesInnerProduct() {
    // <p, p> for one profile at one time: (γ+1)² / ((2γ+1)·t), the integral of ((γ+1)/t·(τ/t)^γ)² over [0, t]
    double g = EMA.sigmaRelToGamma(0.1);
    assertEquals((g + 1) * (g + 1) / ((2 * g + 1) * 1000), EMA.powerCorrelation(1000, 0.1, 1000, 0.1), 1e-15);
    assertEquals(EMA.powerCorrelation(700, 0.05, 1000, 0.1), EMA.powerCorrelation(1000, 0.1, 700, 0.05), 1e-15);
    assertThrows(IllegalArgumentException.class, () -> EMA.solvePosthoc(new double[] {0}, new double[] {0.1}, 1,
        new double[] {0.1}));
  }
}
