package dev.cm4j.jit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.TorchException;
import dev.cm4j.testing.PythonRef;
import dev.cm4j.testing.TestDevice;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The C API encodes CPU, CUDA and PrivateUse1 devices: a tensor on another device type (here a TorchScript
 * module's meta tensor, which the C API cannot create itself) is reported as an error naming the device, not as a
 * code; a TorchScript module's result on the test device (PrivateUse1) comes back with its code.
 */
class DeviceEncodingTest {
  @TempDir Path dir;

  @Test
  void aMetaTensorsDeviceIsAnErrorNamingIt() {
    PythonRef.run("""
        import sys, torch, torch.nn as nn
        class ToMeta(nn.Module):
            def forward(self, x):
                return x.to("meta")
        torch.jit.script(ToMeta()).save(sys.argv[1] + "/meta.pt")
        """, dir.toString());
    try (ScriptModule m = ScriptModule.load(dir.resolve("meta.pt"));
        TensorScope scope = TensorScope.open()) {
      Tensor meta = m.forward(Tensor.of(new float[] {1, 2, 3}, 3));
      assertArrayEquals(new long[] {3}, meta.shape(), "the handle itself is usable");
      TorchException e = assertThrows(TorchException.class, meta::device);
      assertTrue(e.getMessage().contains("meta"), e.getMessage());
    }
  }

  @Test
  void aModuleLoadedOntoTheTestDeviceReturnsTensorsWithItsCode() {
    Device dev = TestDevice.device();
    PythonRef.run("""
        import sys, torch, torch.nn as nn
        class Lin(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.tensor([[2.0, 0.0], [0.0, 3.0]]))
            def forward(self, x):
                return x @ self.w
        torch.jit.script(Lin()).save(sys.argv[1] + "/lin.pt")
        """, dir.toString());
    try (ScriptModule m = ScriptModule.load(dir.resolve("lin.pt"), dev);
        TensorScope scope = TensorScope.open()) {
      Tensor y = m.forward(Tensor.ones(new long[] {1, 2}, DType.FLOAT32, dev));
      assertEquals(dev, y.device());
      assertArrayEquals(new float[] {2, 3}, y.toFloatArray());
      TorchException e = assertThrows(TorchException.class,
          () -> m.forward(Tensor.ones(new long[] {1, 2}, DType.FLOAT32, Device.CPU)));
      assertTrue(e.getMessage().contains("privateuseone"), e.getMessage());
    }
  }
}
