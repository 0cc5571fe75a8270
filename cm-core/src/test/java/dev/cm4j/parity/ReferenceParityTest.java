package dev.cm4j.parity;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.objectives.ECT;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.Fixtures;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Parity with the upstream PyTorch code on the fixture reference/songunet-ddpmpp-small.safetensors (built by
 * tools/make_reference_fixtures.py from EDM's networks.py and ECT's loss.py): the EDM network's forward pass and ECT's
 * per-sample losses for given draws (see the file's metadata), to ≤ 1e-4 relative (max |ours − ref| / max |ref|).
 */
class ReferenceParityTest {
  static SafeTensorFile file;
  static EDMPrecond net;

  @BeforeAll
  static void load() throws Exception {
    file = SafeTensors.read(Fixtures.reference("songunet-ddpmpp-small.safetensors"));
    // The metadata's notes say the reference ran with dropout 0 ("net in train mode with dropout 0", "eval mode,
    // dropout 0"); the config JSON omits it, and SongUNet's default is 0.10.
    assertTrue(file.metadata().get("ect").contains("dropout 0") && file.metadata().get("precond").contains("dropout 0"));
    String kwargs = file.metadata().get("config").replaceFirst("\\{", "{\"dropout\": 0.0, ");
    SongUNet.Config c = SongUNet.Config.fromKwargs(kwargs);
    assertEquals(0.0, c.dropout());
    net = EDMPrecond.edm(new SongUNet(c));
    Map<String, Tensor> sd = new LinkedHashMap<>();
    for (String k : file.names()) if (k.startsWith("net.")) sd.put(k.substring(4), file.tensor(k));
    assertTrue(net.loadStateDict(sd, true).clean());
    for (Tensor t : sd.values()) t.close();
  }

  @AfterAll
  static void close() {
    if (net != null) net.close();
    if (file != null) file.close();
  }

  static double relErr(Tensor ours, Tensor ref) {
    double maxRef = ref.abs().amax(false).item();
    return ours.sub(ref).abs().amax(false).item() / maxRef;
  }

  @Test
  void edmNetworkForwardMatchesPyTorch() {
    assertTrue(file.metadata().get("precond").contains("eval mode"));
    try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      net.eval();
      Tensor d = net.denoise(file.tensor("input.x_noisy"), file.tensor("input.sigma"), null);
      Tensor ref = file.tensor("expected.D");
      double err = relErr(d, ref);
      assertTrue(err <= 1e-4, "relative error " + err);
    }
  }

  @Test
  void ectPerSampleLossesMatchPyTorch() {
    assertTrue(file.metadata().get("ect").contains("P_mean=-1.1"), file.metadata().get("ect"));
    int checked = 0;
    try (TensorScope s = TensorScope.open()) {
      net.train(true); // "net in train mode with dropout 0"
      Tensor y = file.tensor("ect.y");
      Tensor n = file.tensor("ect.normal_draw");
      Tensor eps = file.tensor("ect.eps");
      for (String key : file.names()) {
        if (!key.startsWith("ect.stage") || !key.endsWith(".loss")) continue;
        // ect.stage<S>_c<C>.loss
        String body = key.substring("ect.stage".length(), key.length() - ".loss".length());
        int stage = Integer.parseInt(body.substring(0, body.indexOf("_c")));
        double c = Double.parseDouble(body.substring(body.indexOf("_c") + 2));
        ECT ect = new ECT(ECT.Config.cifar10().with(2, c));
        Tensor loss = ect.loss(net, y, null, stage, n, eps, null);
        double err = relErr(loss.detach(), file.tensor(key));
        assertTrue(err <= 1e-4, key + ": relative error " + err);
        checked++;
      }
    }
    assertEquals(3, checked, "stage0_c0.0, stage1_c0.0 and stage3_c0.03");
  }
}
