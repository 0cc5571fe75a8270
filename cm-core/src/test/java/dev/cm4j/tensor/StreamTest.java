package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;
import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Streams: the CPU's single no-op stream, scoped changes of the current stream, bad ids, and CUDA where present. */
class StreamTest {
  @Test
  void theCpuHasOneStreamWithIdZero() {
    Stream cur = Stream.current(Device.CPU);
    assertEquals(Device.CPU, cur.device());
    assertEquals(0, cur.id());
    assertEquals(cur, Stream.defaultStream(Device.CPU));
    assertEquals(cur, Stream.fromPool(Device.CPU));
    assertEquals(cur.hashCode(), Stream.fromPool(Device.CPU).hashCode());
  }

  @Test
  void cpuStreamOperationsSucceedAndChangeNothing() {
    Stream a = Stream.fromPool(Device.CPU);
    Stream b = Stream.current(Device.CPU);
    a.waitStream(b);
    b.waitStream(a);
    a.synchronize();
    assertTrue(a.query());
    try (Tensor x = Tensor.of(new float[] {1, 2, 3}, 3)) {
      x.recordStream(a);
      assertArrayEquals(new float[] {1, 2, 3}, x.toFloatArray());
    }
    assertEquals(b, Stream.current(Device.CPU));
  }

  @Test
  void useMakesTheStreamCurrentAndCloseRestoresThePreviousOne() {
    Stream before = Stream.current(Device.CPU);
    Stream s = Stream.fromPool(Device.CPU);
    try (Stream.Scope scope = s.use()) {
      assertEquals(before, scope.previous());
      assertEquals(s, Stream.current(Device.CPU));
      try (Stream.Scope inner = Stream.defaultStream(Device.CPU).use()) {
        assertEquals(s, inner.previous());
      }
      assertEquals(s, Stream.current(Device.CPU));
    }
    assertEquals(before, Stream.current(Device.CPU));
  }

  @Test
  void aScopeClosesOnlyOnItsOwnThreadAndOnlyOnce() throws Exception {
    Stream.Scope scope = Stream.current(Device.CPU).use();
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        scope.close();
      } catch (Throwable e) {
        thrown.set(e);
      }
    });
    t.start();
    t.join();
    assertInstanceOf(IllegalStateException.class, thrown.get());
    assertTrue(thrown.get().getMessage().contains("thread that opened it"), thrown.get().getMessage());
    scope.close();
    scope.close(); // a second close does nothing
    assertEquals(Stream.defaultStream(Device.CPU), Stream.current(Device.CPU));
  }

  @Test
  void cudaStreamsFailClearlyWithoutCuda() {
    Assumptions.assumeFalse(Cuda.isAvailable(), "this machine has CUDA; cudaStreamsWork covers it");
    for (var call : new Runnable[] {
        () -> Stream.current(Device.cuda(0)), () -> Stream.defaultStream(Device.cuda(0)),
        () -> Stream.fromPool(Device.cuda(0))}) {
      TorchException e = assertThrows(TorchException.class, call::run);
      assertTrue(e.getMessage().contains("CUDA is not available"), e.getMessage());
    }
  }

  @Test
  void madeUpStreamIdsAndBadDeviceCodesAreErrors() {
    Native.scratch();
    assertEquals(CM_ERROR(), cm_stream_synchronize(CM_DEVICE_CPU(), 7));
    assertTrue(Native.lastError().contains("the CPU has one stream"), Native.lastError());
    assertEquals(CM_ERROR(), cm_stream_query(-5, 0, MemorySegment.NULL));
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG);
      assertEquals(CM_ERROR(), cm_stream_current(-5, out));
      assertTrue(Native.lastError().contains("unknown device code -5"), Native.lastError());
      assertEquals(CM_ERROR(), cm_stream_exchange(CM_DEVICE_CPU(), 3, out));
      assertEquals(CM_ERROR(), cm_stream_current(CM_DEVICE_CPU(), MemorySegment.NULL));
      assertTrue(Native.lastError().contains("NULL"), Native.lastError());
      if (Cuda.isAvailable()) {
        // An id this library never handed out is refused before it reaches CUDA.
        assertEquals(CM_ERROR(), cm_stream_synchronize(0, 0x7fff_0000_1234L));
        assertTrue(Native.lastError().contains("was not obtained"), Native.lastError());
      }
    }
    // A CPU tensor cannot be recorded on a CUDA stream, nor anything on a CPU stream with a bad id.
    try (Tensor x = Tensor.zeros(2)) {
      assertEquals(CM_ERROR(), cm_tensor_record_stream(x.handle(), CM_DEVICE_CPU(), 1));
      assertEquals(CM_ERROR(), cm_tensor_record_stream(x.handle(), 0, 0));
    }
  }

  @Test
  void cudaStreamsWork() {
    Assumptions.assumeTrue(Cuda.isAvailable(), "needs CUDA");
    Device dev = Device.cuda(0);
    Stream main = Stream.current(dev);
    assertEquals(Stream.defaultStream(dev), main);
    Stream side = Stream.fromPool(dev);
    assertNotEquals(main, side);
    try (TensorScope ts = TensorScope.open()) {
      Tensor x = Tensor.randn(new long[] {512, 512}, DType.FLOAT32, dev, null);
      side.waitStream(main); // x is ready before side reads it
      Tensor y;
      try (Stream.Scope scope = side.use()) {
        assertEquals(side, Stream.current(dev));
        y = x.matmul(x).mul(2.0);
        x.recordStream(side);
      }
      assertEquals(main, Stream.current(dev));
      main.waitStream(side);
      Tensor expected = x.matmul(x).mul(2.0);
      side.synchronize();
      assertTrue(side.query());
      assertTrue(y.sub(expected).abs().amax(false).item() <= 1e-3 * expected.abs().amax(false).item());
    }
  }
}
