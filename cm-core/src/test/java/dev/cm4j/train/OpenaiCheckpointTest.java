package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.DhariwalUNet;
import dev.cm4j.nn.LoadReport;
import dev.cm4j.nn.OpenaiUNetKeys;
import dev.cm4j.nn.OpenaiUNetKeysTest;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.Fixtures;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * init_from and objective.teacher (both through {@link InitFrom#apply}) take a checkpoint in openai's UNetModel key
 * layout (openai/consistency_models, sony/ctm ImageNet-64): recognised by its keys and converted by
 * {@link OpenaiUNetKeys} into the model's ADM network wherever it sits. The state dict is the sony/ctm UNetModel
 * fixture of {@link OpenaiUNetKeysTest} (128 channels, CTM's s path), once as it is and once without the s path.
 */
class OpenaiCheckpointTest {
  @Test
  void openaiKeysLoadIntoCtmStudentAndEdmTeacher(@TempDir Path dir) throws Exception {
    try (SafeTensorFile f = SafeTensors.read(Fixtures.reference(OpenaiUNetKeysTest.FILE));
        TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      DhariwalUNet.Config c = OpenaiUNetKeysTest.config(f);
      assertTrue(c.sEmbedding());
      Map<String, Tensor> openai = OpenaiUNetKeysTest.upstreamStateDict(f);
      Tensor x = f.tensor("input.x");
      Tensor ct = f.tensor("input.c_t");
      Tensor cs = f.tensor("input.c_s");
      Tensor labels = OpenaiUNetKeysTest.oneHot(f.tensor("input.y"), c.labelDim());

      // CTM student (init_from): the checkpoint under a "model." prefix, as tools/export_pytorch.py may write it
      Map<String, Tensor> prefixed = new LinkedHashMap<>();
      for (var e : openai.entrySet()) prefixed.put("model." + e.getKey(), e.getValue());
      Path ctmFile = dir.resolve("ctm-openai.safetensors");
      SafeTensors.write(ctmFile, prefixed);
      try (CTMPrecond student = new CTMPrecond(new DhariwalUNet(c), 0.5, 0.002, 80)) {
        LoadReport r = InitFrom.apply(student, ctmFile);
        assertTrue(r.missing().isEmpty() && r.unexpected().isEmpty() && r.shapeMismatched().isEmpty(), r.toString());
        student.eval();
        DhariwalUNet net = (DhariwalUNet) student.children().get("model");
        Tensor ts = net.forward(x, ct, cs, labels, null);
        assertTrue(relErr(ts, f.tensor("expected.ts")) <= 1e-4, "upstream output with s: " + relErr(ts,
            f.tensor("expected.ts")));
      }

      // EDM teacher (objective.teacher): the ADM without CTM's s path, plain openai keys
      Map<String, Tensor> noS = new LinkedHashMap<>();
      for (var e : openai.entrySet()) if (!e.getKey().contains("_s.")) noS.put(e.getKey(), e.getValue());
      assertTrue(noS.size() < openai.size(), "the fixture has an s path to drop");
      Path teacherFile = dir.resolve("teacher-openai.safetensors");
      SafeTensors.write(teacherFile, noS);
      DhariwalUNet.Config plain = new DhariwalUNet.Config(c.imgResolution(), c.inChannels(), c.outChannels(),
          c.labelDim(), 0, c.modelChannels(), c.channelMult(), c.channelMultEmb(), c.numBlocks(), c.attnResolutions(),
          c.dropout(), 0, c.noiseLabelScale(), false);
      try (EDMPrecond teacher = new EDMPrecond(new DhariwalUNet(plain), 0.5, 0.002, 80, EDMPrecond.Boundary.EDM);
          DhariwalUNet direct = new DhariwalUNet(plain)) {
        LoadReport r = InitFrom.apply(teacher, teacherFile);
        assertTrue(r.missing().isEmpty() && r.unexpected().isEmpty() && r.shapeMismatched().isEmpty(),
            "what loadTeacher requires: " + r);
        direct.loadStateDict(OpenaiUNetKeys.toDhariwal(noS, plain), false);
        teacher.eval();
        direct.eval();
        Tensor t = ((DhariwalUNet) teacher.children().get("model")).forward(x, ct, labels, null);
        assertEquals(0, t.sub(direct.forward(x, ct, labels, null)).abs().amax(false).item(),
            "the same weights as converting by hand");
        assertTrue(relErr(t, f.tensor("expected.t")) <= 1e-4, "upstream output without s: " + relErr(t,
            f.tensor("expected.t")));
      }

      // a network that is not an ADM: a clear error
      try (var song = Builders.network(AugmentTrainingTest.small(Map.of()).network(), 8, 1, false)) {
        assertTrue(song instanceof SongUNet);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> InitFrom.apply(song, teacherFile));
        assertTrue(e.getMessage().contains("openai UNetModel") && e.getMessage().contains("adm"), e.getMessage());
      }
    }
  }

  static double relErr(Tensor ours, Tensor ref) {
    return ours.sub(ref).square().sum().sqrt().item() / ref.square().sum().sqrt().item();
  }
}
