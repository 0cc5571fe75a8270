package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.testing.PythonRef;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClipGradNormTest {
  static Tensor paramWithGrad(double[] grad, DType dtype) {
    Tensor p = Tensor.zeros(new long[] {grad.length}, dtype, Device.CPU).requiresGrad_(true);
    p.setGrad(Tensor.of(grad).to(dtype));
    return p;
  }

  @Test
  void scalesByMaxNormOverTotalWhenLarger() {
    Tensor a = paramWithGrad(new double[] {3, 4}, DType.FLOAT32);
    Tensor b = paramWithGrad(new double[] {12}, DType.FLOAT32);
    Tensor c = Tensor.zeros(2).requiresGrad_(true); // no gradient: ignored
    double total = ClipGradNorm.of(6.5).apply(List.of(a, b, c)).item();
    assertEquals(13.0, total, 1e-6);
    double coef = 6.5 / (13 + 1e-6);
    float[] ga = a.grad().toFloatArray();
    assertEquals(3 * coef, ga[0], 1e-6);
    assertEquals(4 * coef, ga[1], 1e-6);
    assertEquals(12 * coef, b.grad().toFloatArray()[0], 1e-6);
    assertNull(c.grad());
    assertEquals(6.5, ClipGradNorm.totalNorm(List.of(a, b), 2), 1e-5);
  }

  @Test
  void leavesGradientsBelowTheLimitUnchanged() {
    Tensor a = paramWithGrad(new double[] {0.3, -0.4}, DType.FLOAT32);
    float[] before = a.grad().toFloatArray();
    assertEquals(0.5, ClipGradNorm.of(1).apply(List.of(a)).item(), 1e-7);
    assertArrayEquals(before, a.grad().toFloatArray());
    assertEquals(0.0, ClipGradNorm.of(1).apply(List.of(Tensor.zeros(1).requiresGrad_(true))).item());
  }

  @Test
  void infinityNormIsTheLargestMagnitude() {
    Tensor a = paramWithGrad(new double[] {1, -7, 2}, DType.FLOAT32);
    Tensor b = paramWithGrad(new double[] {5}, DType.FLOAT32);
    double total = new ClipGradNorm(3.5, Double.POSITIVE_INFINITY).apply(List.of(a, b)).item();
    assertEquals(7, total);
    assertEquals(-7 * 3.5 / (7 + 1e-6), a.grad().toFloatArray()[1], 1e-6);
  }

  @Test
  void matchesTorchClipGradNorm() {
    // float32 and float64 parameters (two dtype groups), norms 2 and inf, clipping active and inactive.
    double[][] grads = new double[4][];
    for (int i = 0; i < grads.length; i++) {
      grads[i] = new double[5 + 3 * i];
      for (int k = 0; k < grads[i].length; k++) grads[i][k] = Math.sin(1.7 * k + i) * (1 + i);
    }
    DType[] dtypes = {DType.FLOAT32, DType.FLOAT64, DType.FLOAT32, DType.FLOAT64};
    double[][] settings = {{1.0, 2}, {100.0, 2}, {0.5, Double.POSITIVE_INFINITY}, {2.0, 3}};
    StringBuilder py = new StringBuilder("import torch, math\ngrads = [");
    for (int i = 0; i < grads.length; i++) {
      py.append(i == 0 ? "" : ",").append("torch.tensor([");
      for (int k = 0; k < grads[i].length; k++) py.append(k == 0 ? "" : ",").append(Double.toString(grads[i][k]));
      py.append("], dtype=torch.").append(dtypes[i] == DType.FLOAT32 ? "float32" : "float64").append(")");
    }
    py.append("]\nfor max_norm, p in ");
    py.append("[(1.0, 2.0), (100.0, 2.0), (0.5, math.inf), (2.0, 3.0)]:\n");
    py.append("""
            ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
            for p_, g in zip(ps, grads):
                p_.grad = g.clone()
            total = torch.nn.utils.clip_grad_norm_(ps, max_norm, p)
            print(repr(total.item()), ' '.join(repr(x) for p_ in ps for x in p_.grad.tolist()))
        """);
    String[] lines = PythonRef.run(py.toString()).trim().split("\n");
    for (int si = 0; si < settings.length; si++) {
      List<Tensor> ps = new ArrayList<>();
      for (int i = 0; i < grads.length; i++) ps.add(paramWithGrad(grads[i], dtypes[i]));
      double total = new ClipGradNorm(settings[si][0], settings[si][1]).apply(ps).item();
      String[] ref = lines[si].trim().split(" ");
      assertEquals(Double.parseDouble(ref[0]), total, "total norm, setting " + si);
      int o = 1;
      for (Tensor p : ps) {
        for (double v : p.grad().toDoubleArray()) {
          assertEquals(Double.parseDouble(ref[o++]), v, "clipped gradient, setting " + si);
        }
      }
    }
  }
}
