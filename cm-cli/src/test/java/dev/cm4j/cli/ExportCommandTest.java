package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.data.Npy;
import dev.cm4j.data.Npz;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cm export both ways against PyTorch: an EDM network (bench/edm_songunet.py, EDM's module tree and names) pickled as
 * EDM's network-snapshot .pkl and saved as a training-state .pt, converted to safetensors, loads strictly into cm4j's
 * EDMPrecond(SongUNet) and reproduces PyTorch's output; the reverse export loads into PyTorch with the same output.
 */
class ExportCommandTest {
  @TempDir static Path dir;
  static final String CFG = "{\"img_resolution\": 16, \"img_channels\": 3, \"model_channels\": 32, \"channel_mult\": [1, 2],"
      + " \"num_blocks\": 1, \"attn_resolutions\": [8], \"dropout\": 0.0}";
  static String python;
  static Path bench;

  static String py(String script, String... args) throws Exception {
    Path f = Files.createTempFile(dir, "fx", ".py");
    Files.writeString(f, script);
    List<String> cmd = new java.util.ArrayList<>(List.of(python, f.toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("PYTHONPATH", bench.toString());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), err);
    return out;
  }

  @BeforeAll
  static void fixture() throws Exception {
    python = System.getProperty("cm4j.python", System.getenv("CM4J_PYTHON"));
    assertNotNull(python, "set CM4J_PYTHON to the reference venv's python (scripts/test.sh does)");
    bench = Path.of(System.getProperty("cm4j.root", "..")).resolve("bench").toAbsolutePath();
    py("""
        import sys, json, pickle, numpy as np, torch
        import edm_songunet as E
        d = sys.argv[1]; cfg = json.loads(sys.argv[2])
        torch.manual_seed(3)
        net = E.EDMPrecond(E.SongUNet(**E.songunet_kwargs(cfg))).eval()
        x = torch.randn(2, 3, 16, 16); sigma = torch.tensor([0.3, 7.0])
        with torch.no_grad():
            y = net(x, sigma)
        with open(d + "/network-snapshot.pkl", "wb") as f:
            pickle.dump({"ema": net, "dataset_kwargs": {}}, f)
        torch.save({"net": net.state_dict(), "optimizer_state": {}}, d + "/training-state.pt")
        np.savez(d + "/io.npz", x=x.numpy(), sigma=sigma.numpy(), y=y.numpy())
        """, dir.toString(), CFG);
  }

  @Test
  void pickleAndTrainingStateLoadIntoCm4jAndTheReverseLoadsIntoPyTorch() throws Exception {
    Path a = dir.resolve("a.safetensors");
    Path b = dir.resolve("b.safetensors");
    MainTest.Out r1 = MainTest.run("export", "--to", "safetensors", dir.resolve("network-snapshot.pkl").toString(),
        a.toString(), "--code-dir", bench.toString(), "--python", python);
    assertEquals(0, r1.code(), r1.err());
    MainTest.Out r2 = MainTest.run("export", "--to", "safetensors", dir.resolve("training-state.pt").toString(),
        b.toString(), "--key", "net", "--python", python);
    assertEquals(0, r2.code(), r2.err());
    Map<String, Npy.Array> io = Npz.read(dir.resolve("io.npz"));
    for (Path f : List.of(a, b)) {
      try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad();
          EDMPrecond net = EDMPrecond.edm(new SongUNet(SongUNet.Config.fromKwargs(CFG)))) {
        net.loadStateDict(SafeTensors.loadAll(f), true); // strict: EDM's names need no renaming
        net.eval();
        Tensor y = net.denoise(io.get("x").toTensor(), io.get("sigma").toTensor(), null);
        float[] want = io.get("y").toFloatArray();
        float[] got = y.toFloatArray();
        double worst = 0;
        double scale = 0;
        for (int i = 0; i < want.length; i++) {
          worst = Math.max(worst, Math.abs(want[i] - got[i]));
          scale = Math.max(scale, Math.abs(want[i]));
        }
        assertTrue(worst / scale < 1e-5, f + ": relative difference " + worst / scale);
      }
    }
    Path back = dir.resolve("back.pt");
    MainTest.Out r3 = MainTest.run("export", "--to", "pytorch", a.toString(), back.toString(), "--python", python);
    assertEquals(0, r3.code(), r3.err());
    String ok = py("""
        import sys, json, numpy as np, torch
        import edm_songunet as E
        d = sys.argv[1]; cfg = json.loads(sys.argv[2])
        net = E.EDMPrecond(E.SongUNet(**E.songunet_kwargs(cfg))).eval()
        net.load_state_dict(torch.load(d + "/back.pt"), strict=True)
        io = np.load(d + "/io.npz")
        with torch.no_grad():
            y = net(torch.from_numpy(io["x"]), torch.from_numpy(io["sigma"]))
        print("ok" if np.abs(y.numpy() - io["y"]).max() <= 1e-6 * np.abs(io["y"]).max() else "differs")
        """, dir.toString(), CFG);
    assertEquals("ok", ok.trim());
  }

  @Test
  void errorsAreOneClearLine() throws Exception {
    MainTest.Out r = MainTest.run("export", "--to", "safetensors", dir.resolve("network-snapshot.pkl").toString(),
        dir.resolve("x.safetensors").toString(), "--python", python);
    assertEquals(1, r.code());
    assertTrue(r.err().contains("--code-dir"), r.err());
    assertEquals(1, r.err().strip().split("\n").length, r.err());
    MainTest.Out r2 = MainTest.run("export", "--to", "safetensors", dir.resolve("training-state.pt").toString(),
        dir.resolve("y.safetensors").toString(), "--key", "nope", "--python", python);
    assertEquals(1, r2.code());
    assertTrue(r2.err().contains("nope"), r2.err());
    assertEquals(2, MainTest.run("export", "--to", "onnx", "a", "b").code());
  }
}
