package dev.cm4j.objectives;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.cm4j.data.Npy;
import dev.cm4j.data.Npz;
import dev.cm4j.jit.ScriptModule;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.PythonRef;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LPIPS through a TorchScript stand-in (LPIPS's structure: unit-normalised features, learned channel weights). */
class DistancesTest {
  @TempDir static Path dir;
  static Map<String, Npy.Array> ref;

  @BeforeAll
  static void fixture() {
    PythonRef.run("""
        import sys, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
        out = sys.argv[1]
        torch.manual_seed(0)
        class TinyLpips(nn.Module):
            def __init__(self):
                super().__init__()
                self.f1 = nn.Conv2d(3, 8, 3, padding=1)
                self.f2 = nn.Conv2d(8, 12, 3, stride=2, padding=1)
                self.lin1 = nn.Conv2d(8, 1, 1, bias=False)
                self.lin2 = nn.Conv2d(12, 1, 1, bias=False)
                with torch.no_grad():
                    self.lin1.weight.abs_(); self.lin2.weight.abs_()
            def normalize(self, x):
                return x / (torch.sqrt((x * x).sum(1, keepdim=True)) + 1e-10)
            def forward(self, a, b):
                ha1 = torch.relu(self.f1(a)); hb1 = torch.relu(self.f1(b))
                ha2 = torch.relu(self.f2(ha1)); hb2 = torch.relu(self.f2(hb1))
                d1 = self.lin1((self.normalize(ha1) - self.normalize(hb1)) ** 2).mean([2, 3], keepdim=True)
                d2 = self.lin2((self.normalize(ha2) - self.normalize(hb2)) ** 2).mean([2, 3], keepdim=True)
                return d1 + d2
        net = torch.jit.script(TinyLpips().eval())
        for p in net.parameters(): p.requires_grad_(False)
        net.save(out + '/lpips.pt')
        a = (torch.rand(3, 3, 8, 8) * 2 - 1).requires_grad_(True)
        b = torch.rand(3, 3, 8, 8) * 2 - 1
        w = torch.tensor([1.0, -0.5, 2.0])
        d = net(a, b).reshape(3)
        (d * w).sum().backward()
        a2 = a.detach().clone().requires_grad_(True)
        d16 = net(F.interpolate(a2, size=(16, 16), mode='bilinear', align_corners=False),
                  F.interpolate(b, size=(16, 16), mode='bilinear', align_corners=False)).reshape(3)
        (d16 * w).sum().backward()
        np.savez(out + '/ref.npz', a=a.detach().numpy(), b=b.numpy(), w=w.numpy(), d=d.detach().numpy(),
                 grad=a.grad.numpy(), d16=d16.detach().numpy(), grad16=a2.grad.numpy())
        """, dir.toString());
    ref = Npz.read(dir.resolve("ref.npz"));
  }

  @Test
  void lpipsValuesAndInputGradientsMatchPython() {
    try (ScriptModule net = ScriptModule.load(dir.resolve("lpips.pt")); TensorScope s = TensorScope.open()) {
      net.eval().requiresGrad(false);
      Tensor b = ref.get("b").toTensor();
      Tensor w = ref.get("w").toTensor();
      for (int resize : new int[] {0, 16}) {
        Tensor a = ref.get("a").toTensor().requiresGrad_(true);
        Tensor d = Distances.lpips(net, a, b, resize);
        assertArrayEquals(new long[] {3}, d.shape());
        assertArrayEquals(ref.get(resize == 0 ? "d" : "d16").toFloatArray(), d.toFloatArray(), 1e-6f);
        d.mul(w).sum().backward();
        assertArrayEquals(ref.get(resize == 0 ? "grad" : "grad16").toFloatArray(), a.grad().toFloatArray(), 1e-6f);
      }
      assertEquals(0.0, Distances.lpips(net, b, b, 0).abs().sum().item(), 1e-7);
    }
  }

  @Test
  void mismatchedShapesAreRejected() {
    try (ScriptModule net = ScriptModule.load(dir.resolve("lpips.pt")); TensorScope s = TensorScope.open()) {
      assertThrows(IllegalArgumentException.class,
          () -> Distances.lpips(net, Tensor.zeros(2, 3, 8, 8), Tensor.zeros(3, 3, 8, 8), 0));
      assertThrows(IllegalArgumentException.class, () -> Distances.lpips(net, Tensor.zeros(2, 3), Tensor.zeros(2, 3), 0));
    }
  }
}
