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
      class Detector(nn.Module):
          def __init__(self):
              super().__init__()
              self.fc = nn.Linear(3, 5)
          def forward(self, img, return_features: bool = False, scale: float = 1.0):
              f = self.fc(img.to(torch.float32).mean(dim=(2, 3))) * scale
              if return_features:
                  return f
              return f.softmax(dim=1)
          @torch.jit.export
          def stats(self, x, k: int):
              return x.sum() * k, x.shape[0] > 1
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
      det = torch.jit.script(Detector())
      det.save(out + "/detector.pt")
      img = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
      img.numpy().tofile(out + "/img.bin")
      with torch.no_grad():
          det(img, True, 0.5).numpy().tofile(out + "/feat.bin")
          det(img).numpy().tofile(out + "/prob.bin")
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

  static byte[] bytes(Path p) throws Exception {
    return Files.readAllBytes(p);
  }

  @Test
  void callPassesBoolAndNumberArgumentsAndFillsDefaults() throws Exception {
    byte[] img = bytes(dir.resolve("img.bin"));
    try (TensorScope s = TensorScope.open(); ScriptModule det = ScriptModule.load(dir.resolve("detector.pt"))) {
      det.eval();
      Tensor x = Tensor.fromBytes(java.lang.foreign.MemorySegment.ofArray(img), dev.cm4j.tensor.DType.UINT8, 2, 3, 4, 4);
      Tensor feat = det.callTensor("forward", x, true, 0.5);
      assertArrayEquals(new long[] {2, 5}, feat.shape());
      assertArrayEquals(floats(dir.resolve("feat.bin")), feat.toFloatArray(), 1e-6f);
      Tensor prob = det.callTensor("forward", x); // return_features=False, scale=1.0 from the schema
      assertArrayEquals(floats(dir.resolve("prob.bin")), prob.toFloatArray(), 1e-6f);
      List<Object> r = det.call("stats", Tensor.of(new float[] {1, 2, 3}), 2);
      assertEquals(2, r.size());
      assertEquals(12.0, ((Tensor) r.get(0)).item(), 1e-6);
      assertEquals(true, r.get(1));
    }
  }

  @Test
  void callRejectsBadMethodsAndArguments() {
    try (TensorScope s = TensorScope.open(); ScriptModule det = ScriptModule.load(dir.resolve("detector.pt"))) {
      TorchException e = assertThrows(TorchException.class, () -> det.call("nope", Tensor.of(new float[] {1})));
      assertTrue(e.getMessage().contains("no method 'nope'"), e.getMessage());
      TorchException e2 = assertThrows(TorchException.class, () -> det.call("forward", Tensor.of(new float[] {1}), "x"));
      assertTrue(e2.getMessage().contains("forward of TorchScript module"), e2.getMessage());
      assertThrows(TorchException.class, () -> det.call("forward"));
      // the thread's stack is usable after a failure
      assertEquals(1, det.call("forward", Tensor.zeros(1, 3, 2, 2), true).size());
    }
  }
}
