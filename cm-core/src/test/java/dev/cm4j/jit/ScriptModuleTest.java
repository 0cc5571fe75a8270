package dev.cm4j.jit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.TorchException;
import dev.cm4j.testing.PythonRef;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TorchScript modules written by the reference PyTorch, loaded and run from Java. */
class ScriptModuleTest {
  @TempDir static Path dir;

  static final String SCRIPT = """
      import sys, torch, torch.nn as nn
      out = sys.argv[1]
      torch.manual_seed(0)
      class Net(nn.Module):
          def __init__(self):
              super().__init__()
              self.conv = nn.Conv2d(3, 4, 3, padding=1)
              self.bn = nn.BatchNorm2d(4)
              self.fc = nn.Linear(4, 2)
          def forward(self, x):
              h = torch.relu(self.bn(self.conv(x)))
              return self.fc(h.mean(dim=(2, 3)))
      class Pair(nn.Module):
          def forward(self, x, y):
              return (x + y, x * y)
      class Mixed(nn.Module):
          def forward(self, x):
              return (x * 2, 7)
      net = Net()
      with torch.no_grad():
          net.bn.running_mean.uniform_(-0.5, 0.5)
          net.bn.running_var.uniform_(0.5, 2.0)
      sm = torch.jit.script(net)
      sm.train()
      sm.save(out + "/net.pt")          # saved in training mode
      x = torch.randn(2, 3, 8, 8)
      sm.eval()
      with torch.no_grad():
          y = sm(x)
      x.numpy().tofile(out + "/x.bin")
      y.numpy().tofile(out + "/y.bin")
      torch.jit.trace(Pair(), (torch.ones(2), torch.ones(2))).save(out + "/pair.pt")
      torch.jit.script(Mixed()).save(out + "/mixed.pt")
      print(list(y.shape))
      """;

  @BeforeAll
  static void writeModules() {
    String shape = PythonRef.run(SCRIPT, dir.toString()).trim();
    assertEquals("[2, 2]", shape);
  }

  static float[] floats(Path p) throws Exception {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
    float[] v = new float[b.remaining() / 4];
    b.asFloatBuffer().get(v);
    return v;
  }

  @Test
  void scriptedConvNetMatchesPyTorchInEvalMode() throws Exception {
    float[] x = floats(dir.resolve("x.bin"));
    float[] y = floats(dir.resolve("y.bin"));
    try (ScriptModule m = ScriptModule.load(dir.resolve("net.pt"), Device.CPU);
        TensorScope scope = TensorScope.open()) {
      assertTrue(m.isTraining(), "saved in training mode");
      m.eval();
      assertFalse(m.isTraining());
      Tensor out = m.forward(Tensor.of(x, 2, 3, 8, 8));
      assertArrayEquals(new long[] {2, 2}, out.shape());
      float[] got = out.toFloatArray();
      for (int i = 0; i < y.length; i++) assertEquals(y[i], got[i], 1e-5, "output " + i);
      // parameters require grad after loading; frozen, the output carries no graph
      Tensor in = Tensor.of(x, 2, 3, 8, 8);
      assertTrue(m.forward(in).requiresGrad());
      m.requiresGrad(false);
      assertFalse(m.forward(in).requiresGrad());
      // training mode uses the batch statistics: a different result
      m.train(true);
      float[] train = m.forward(in).toFloatArray();
      boolean differs = false;
      for (int i = 0; i < y.length; i++) differs |= Math.abs(train[i] - y[i]) > 1e-4;
      assertTrue(differs);
    }
  }

  @Test
  void tupleResultsGiveEveryTensor() {
    try (ScriptModule m = ScriptModule.load(dir.resolve("pair.pt"));
        TensorScope scope = TensorScope.open()) {
      Tensor a = Tensor.of(new float[] {1, 2}, 2);
      Tensor b = Tensor.of(new float[] {3, 4}, 2);
      List<Tensor> r = m.forwardAll(a, b);
      assertEquals(2, r.size());
      assertArrayEquals(new float[] {4, 6}, r.get(0).toFloatArray());
      assertArrayEquals(new float[] {3, 8}, r.get(1).toFloatArray());
      assertArrayEquals(new float[] {4, 6}, m.forward(a, b).toFloatArray());
      TorchException e = assertThrows(TorchException.class, () -> m.forward(a));
      assertTrue(e.getMessage().contains("pair.pt"), e.getMessage());
    }
    try (ScriptModule m = ScriptModule.load(dir.resolve("mixed.pt"));
        TensorScope scope = TensorScope.open()) {
      List<Tensor> r = m.forwardAll(Tensor.of(new float[] {1.5f}, 1));
      assertEquals(2, r.size());
      assertArrayEquals(new float[] {3}, r.get(0).toFloatArray());
      assertNull(r.get(1));
    }
  }

  @Test
  void missingCorruptAndDirectoryPathsAreClearErrors() throws Exception {
    Path missing = dir.resolve("no-such-model.pt");
    TorchException e = assertThrows(TorchException.class, () -> ScriptModule.load(missing));
    assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("no such file"),
        e.getMessage());

    Path corrupt = dir.resolve("corrupt.pt");
    Files.write(corrupt, "this is not a TorchScript archive".getBytes());
    e = assertThrows(TorchException.class, () -> ScriptModule.load(corrupt));
    assertTrue(e.getMessage().contains(corrupt.toString()) && e.getMessage().contains("torch.jit.save"),
        e.getMessage());

    // a truncated archive
    byte[] good = Files.readAllBytes(dir.resolve("net.pt"));
    Path truncated = dir.resolve("truncated.pt");
    Files.write(truncated, java.util.Arrays.copyOf(good, good.length / 2));
    e = assertThrows(TorchException.class, () -> ScriptModule.load(truncated));
    assertTrue(e.getMessage().contains(truncated.toString()), e.getMessage());

    e = assertThrows(TorchException.class, () -> ScriptModule.load(dir));
    assertTrue(e.getMessage().contains("not a regular file"), e.getMessage());
  }

  @Test
  void closedModulesRefuseWork() {
    ScriptModule m = ScriptModule.load(dir.resolve("pair.pt"));
    m.close();
    m.close();
    assertThrows(IllegalStateException.class, m::eval);
  }
}
