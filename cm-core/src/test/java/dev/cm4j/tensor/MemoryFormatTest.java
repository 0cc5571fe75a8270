package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.testing.PythonRef;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Channels-last layouts: strides as PyTorch lays them out, unchanged values, round trips, and bad ranks. */
class MemoryFormatTest {
  /** Strides PyTorch gives x.contiguous(memory_format=fmt) for a tensor of this shape (reference venv). */
  private static long[] torchStrides(long[] shape, String fmt) {
    String script = String.join("\n",
        "import sys, torch",
        "shape = [int(v) for v in sys.argv[1].split(',')]",
        "x = torch.empty(shape).contiguous(memory_format=getattr(torch, sys.argv[2]))",
        "print(','.join(str(s) for s in x.stride()))",
        "");
    String out = PythonRef.run(script, String.join(",", Arrays.stream(shape).mapToObj(Long::toString).toList()), fmt)
        .strip();
    return Arrays.stream(out.split(",")).mapToLong(Long::parseLong).toArray();
  }

  @Test
  void codesFollowTheHeader() {
    assertEquals(CM_MEMORY_FORMAT_CONTIGUOUS(), MemoryFormat.CONTIGUOUS.code());
    assertEquals(CM_MEMORY_FORMAT_CHANNELS_LAST(), MemoryFormat.CHANNELS_LAST.code());
    assertEquals(CM_MEMORY_FORMAT_CHANNELS_LAST_3D(), MemoryFormat.CHANNELS_LAST_3D.code());
    assertEquals(3, MemoryFormat.values().length);
  }

  @Test
  void channelsLastHasPyTorchsStridesAndTheSameValues() {
    long[] shape = {2, 3, 4, 5};
    try (TensorScope ts = TensorScope.open()) {
      Tensor x = Tensor.arange(0, 120, 1, DType.FLOAT32, Device.CPU).reshape(shape);
      assertTrue(x.isContiguous(MemoryFormat.CONTIGUOUS));
      assertFalse(x.isContiguous(MemoryFormat.CHANNELS_LAST));

      Tensor cl = x.contiguous(MemoryFormat.CHANNELS_LAST);
      assertArrayEquals(torchStrides(shape, "channels_last"), cl.strides());
      assertArrayEquals(new long[] {60, 1, 15, 3}, cl.strides()); // C fastest, then W, H, N
      assertArrayEquals(shape, cl.shape());
      assertTrue(cl.isContiguous(MemoryFormat.CHANNELS_LAST));
      assertFalse(cl.isContiguous());
      assertFalse(cl.isContiguous(MemoryFormat.CONTIGUOUS));
      assertArrayEquals(x.toFloatArray(), cl.toFloatArray());
      // Already channels-last: the same storage comes back.
      Tensor again = cl.contiguous(MemoryFormat.CHANNELS_LAST);
      assertEquals(cl.dataAddress(), again.dataAddress());

      Tensor back = cl.contiguous(MemoryFormat.CONTIGUOUS);
      assertArrayEquals(x.strides(), back.strides());
      assertTrue(back.isContiguous());
      assertArrayEquals(x.toFloatArray(), back.toFloatArray());
      // Ops keep working on the channels-last layout and give the same values.
      assertArrayEquals(x.mul(3.0).add(1.0).toFloatArray(), cl.mul(3.0).add(1.0).toFloatArray());
    }
  }

  @Test
  void channelsLast3dHasPyTorchsStrides() {
    long[] shape = {2, 3, 2, 4, 5};
    try (TensorScope ts = TensorScope.open()) {
      Tensor x = Tensor.arange(0, 240, 1, DType.FLOAT64, Device.CPU).reshape(shape);
      Tensor cl = x.contiguous(MemoryFormat.CHANNELS_LAST_3D);
      assertArrayEquals(torchStrides(shape, "channels_last_3d"), cl.strides());
      assertTrue(cl.isContiguous(MemoryFormat.CHANNELS_LAST_3D));
      assertArrayEquals(x.toDoubleArray(), cl.toDoubleArray());
    }
  }

  @Test
  void gradientsFlowThroughTheLayoutChange() {
    try (TensorScope ts = TensorScope.open()) {
      Tensor x = Tensor.arange(0, 24, 1, DType.FLOAT32, Device.CPU).reshape(1, 2, 3, 4).requiresGrad_(true);
      Tensor y = x.contiguous(MemoryFormat.CHANNELS_LAST).square().sum();
      y.backward();
      assertArrayEquals(x.mul(2.0).toFloatArray(), x.grad().toFloatArray());
    }
  }

  @Test
  void wrongRanksAndNullsAreClearErrors() {
    try (TensorScope ts = TensorScope.open()) {
      Tensor v = Tensor.zeros(2, 3, 4);
      TorchException e = assertThrows(TorchException.class, () -> v.contiguous(MemoryFormat.CHANNELS_LAST));
      assertTrue(e.getMessage().contains("CHANNELS_LAST needs a 4-D"), e.getMessage());
      e = assertThrows(TorchException.class, () -> v.contiguous(MemoryFormat.CHANNELS_LAST_3D));
      assertTrue(e.getMessage().contains("5-D"), e.getMessage());
      assertFalse(v.isContiguous(MemoryFormat.CHANNELS_LAST));
      assertThrows(NullPointerException.class, () -> v.contiguous(null));
      Native.Scratch s = Native.scratch();
      assertEquals(CM_ERROR(), cm_contiguous(v.handle(), 7, s.out));
      assertTrue(Native.lastError().contains("unknown memory format code 7"), Native.lastError());
      assertEquals(CM_ERROR(), cm_tensor_is_contiguous_in(v.handle(), -1, s.out));
    }
  }
}
