package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

class NanToNumTest {
  static final float[] RAW = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1.5f, -2e30f};

  static Tensor param() {
    Tensor p = Tensor.zeros(RAW.length).requiresGrad_(true);
    p.setGrad(Tensor.of(RAW.clone()));
    return p;
  }

  @Test
  void ectReplacesNanWithZeroAndInfinitiesWithPlusMinus1e5() {
    Tensor p = param();
    Tensor q = Tensor.zeros(1).requiresGrad_(true); // no gradient
    NanToNum.ECT.apply(List.of(p, q));
    assertArrayEquals(new float[] {0, 1e5f, -1e5f, 1.5f, -2e30f}, p.grad().toFloatArray());
    assertNull(q.grad());
    assertEquals(NanToNum.ECT, NanToNum.EDM);
  }

  @Test
  void edm2ForcesEveryNonFiniteValueToZero() {
    Tensor p = param();
    NanToNum.EDM2.apply(List.of(p));
    assertArrayEquals(new float[] {0, 0, 0, 1.5f, -2e30f}, p.grad().toFloatArray());
  }
}
