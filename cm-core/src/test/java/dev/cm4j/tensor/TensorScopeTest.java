package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class TensorScopeTest {
  @Test
  void scopeReleasesItsTensorsAndEscapedOnesSurvive() {
    Tensor kept;
    Tensor temp;
    try (TensorScope outer = TensorScope.open()) {
      try (TensorScope inner = TensorScope.open()) {
        temp = Tensor.ones(3).mul(2.0);
        Tensor y = temp.add(1.0);
        kept = inner.escape(y);
        assertEquals(2, inner.liveCount()); // ones and temp (y escaped)
      }
      assertTrue(temp.released());
      assertFalse(kept.released());
      assertArrayEquals(new float[] {3, 3, 3}, kept.toFloatArray());
      assertEquals(1, outer.liveCount());
    }
    assertTrue(kept.released());
  }

  @Test
  void scopedKeepsOnlyItsResultInTheCurrentScope() {
    try (TensorScope outer = TensorScope.open()) {
      Tensor x = Tensor.ones(3);
      Tensor[] temp = new Tensor[1];
      Tensor r = TensorScope.scoped(() -> {
        temp[0] = x.mul(2.0);
        return temp[0].add(1.0);
      });
      assertTrue(temp[0].released(), "body's other tensors are released when it returns");
      assertFalse(x.released());
      assertArrayEquals(new float[] {3, 3, 3}, r.toFloatArray());
      assertEquals(2, outer.liveCount()); // x and the result, which now belongs to outer
      assertSame(x, TensorScope.scoped(() -> x), "a result body did not create is returned as it is");
      assertFalse(x.released());
      // an exception releases the body's tensors and makes the enclosing scope current again
      assertThrows(IllegalArgumentException.class, () -> TensorScope.scoped(() -> {
        temp[0] = x.mul(3.0);
        throw new IllegalArgumentException("boom");
      }));
      assertTrue(temp[0].released());
      assertSame(outer, TensorScope.current());
    }
    Tensor unowned = TensorScope.scoped(() -> Tensor.ones(2).mul(4.0)); // no enclosing scope: the caller owns it
    assertArrayEquals(new float[] {4, 4}, unowned.toFloatArray());
    unowned.close();
  }

  @Test
  void chainReleasesEachLinkOnceTheNextStepReturned() {
    try (TensorScope outer = TensorScope.open()) {
      Tensor x = Tensor.ones(2);
      Tensor first = x.mul(2.0);
      java.util.List<Tensor> seen = new java.util.ArrayList<>();
      Tensor r = TensorScope.chain(first,
          t -> {
            seen.add(t);
            return t.add(1.0);
          },
          t -> {
            seen.add(t);
            return t.add_(1.0); // in place: hands its input on
          },
          t -> {
            seen.add(t);
            assertFalse(t.released(), "an in-place step's output is not released");
            return t.mul(3.0);
          });
      assertArrayEquals(new float[] {12, 12}, r.toFloatArray());
      assertSame(first, seen.get(0));
      assertSame(seen.get(1), seen.get(2));
      for (Tensor t : seen) assertTrue(t.released(), "first and every intermediate are released");
      assertFalse(x.released());
      assertEquals(2, outer.liveCount()); // x and the result
      assertSame(first, TensorScope.chain(first), "no steps: first itself");
    }
  }

  @Test
  void usingAReleasedTensorThrowsAClearException() {
    Tensor t = Tensor.ones(2);
    t.close();
    t.close(); // idempotent
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.add(1.0));
    assertTrue(e.getMessage().contains("released"));
    assertThrows(IllegalStateException.class, t::shape);
    Tensor other = Tensor.ones(2);
    assertThrows(IllegalStateException.class, () -> other.add(t));
    other.close();
  }

  @Test
  void keptTensorBelongsToTheCallerAndScopesCloseInOrder() {
    Tensor k;
    try (TensorScope s = TensorScope.open()) {
      k = s.keep(Tensor.zeros(2));
    }
    assertFalse(k.released());
    k.close();
    TensorScope a = TensorScope.open();
    TensorScope b = TensorScope.open();
    assertThrows(IllegalStateException.class, a::close);
    b.close();
    a.close();
  }

  @Test
  void escapeOfAForeignTensorIsRejected() {
    try (TensorScope a = TensorScope.open()) {
      Tensor x = Tensor.ones(1);
      try (TensorScope b = TensorScope.open()) {
        assertThrows(IllegalArgumentException.class, () -> b.escape(x));
      }
    }
  }

  @Test
  void scopesAreThreadConfinedAndVirtualThreadsAreRefused() throws Exception {
    TensorScope s = TensorScope.open();
    Throwable[] err = new Throwable[1];
    Thread t = new Thread(() -> {
      try {
        s.close();
      } catch (Throwable e) {
        err[0] = e;
      }
    });
    t.start();
    t.join();
    assertInstanceOf(IllegalStateException.class, err[0]);
    s.close();
    Thread v = Thread.ofVirtual().start(() -> {
      try {
        Tensor.ones(1);
      } catch (Throwable e) {
        err[0] = e;
      }
    });
    v.join();
    assertInstanceOf(IllegalStateException.class, err[0]);
    assertTrue(err[0].getMessage().contains("virtual thread"));
  }

  @Test
  void manyTensorsInOneScopeAreAllFreedInBatches() {
    try (TensorScope s = TensorScope.open()) {
      Tensor x = Tensor.zeros(4);
      for (int i = 0; i < 1000; i++) x = x.add(1.0);
      assertEquals(1000.0, x.select(0, 0).item());
      assertEquals(1002, s.liveCount());
    }
  }
}
