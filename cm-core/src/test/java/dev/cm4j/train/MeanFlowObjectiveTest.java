package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cm4j.tensor.Device;
import dev.cm4j.testing.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MeanFlow in the training loop: the presets (cifar10-meanflow against the quoted lines of the official PyTorch code
 * in reference/meanflow-cifar10-preset-sources.tsv), a few toy steps with grids and a bit-exact resume, bad options,
 * and one step on the test device equal to the CPU's to 1e-6.
 */
class MeanFlowObjectiveTest {
  static TrainingOptions toy(double kimg) {
    return Presets.get("toy2d-meanflow").with(Map.of("duration_kimg", Double.toString(kimg), "tick_kimg", "0.064",
        "snap_ticks", "1", "state_ticks", "1", "batch", "64", "network.hidden", "32", "network.blocks", "1",
        "data.size", "2000"));
  }

  /**
   * Each row of the sources file: the preset's JSON path, the value, how it follows from the quoted line ("=" the
   * number in the line; "x8" times the 8 GPUs of the launch line; "x50" epochs of 50,000 images in kimg), the source
   * file and line, and the line as quoted. The test checks that the quote holds the number and the preset the value.
   */
  @Test
  void cifar10MeanflowIsTheOfficialV0Script() throws Exception {
    List<String> rows = Files.readAllLines(Fixtures.reference("meanflow-cifar10-preset-sources.tsv"));
    TrainingOptions o = Presets.get("cifar10-meanflow");
    int checked = 0;
    for (String row : rows) {
      if (row.isBlank() || row.startsWith("#")) continue;
      String[] f = row.split("\t");
      assertEquals(5, f.length, "row " + row);
      String path = f[0];
      double value = Double.parseDouble(f[1]);
      String rule = f[2];
      String quote = f[4];
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("(-?[0-9][0-9.e-]*)").matcher(quote);
      List<Double> numbers = new ArrayList<>();
      while (m.find()) {
        try {
          numbers.add(Double.parseDouble(m.group(1)));
        } catch (NumberFormatException ignored) {
          // not a number (e.g. "16-bit")
        }
      }
      double factor = switch (rule) {
        case "x8" -> 8;
        case "x50" -> 50;
        default -> 1;
      };
      boolean quoted = numbers.stream().anyMatch(n -> Math.abs(n * factor - value) <= 1e-12 * Math.abs(value));
      assertTrue(quoted, path + ": " + value + " does not follow (" + rule + ") from the quote: " + quote);
      JsonNode v = PresetsTest.at(o, path);
      assertNotNull(v, path + " missing from the preset");
      assertEquals(value, v.asDouble(), 1e-12 * Math.max(1, Math.abs(value)), path);
      checked++;
    }
    assertTrue(checked >= 15, "rows checked: " + checked);
    assertEquals("meanflow", o.objective().kind());
    assertEquals("v0", ((MeanFlowObjective.Options) o.objective()).trSampler());
    assertEquals("u", ((MeanFlowObjective.Options) o.objective()).loss());
    assertTrue(o.data().xflip(), "RandomHorizontalFlip (training/data_transform.py)");
    assertEquals("adam", o.optimizer().kind());
  }

  @Test
  void meanflowDefaultsAreTheCifar10OnesAndBadOptionsAreNamed() {
    TrainingOptions d = Presets.get("toy2d-meanflow").with(Map.of("objective", "{\"kind\": \"meanflow\"}"));
    MeanFlowObjective.Options m = (MeanFlowObjective.Options) d.objective();
    assertEquals(-2.0, m.pMeanT());
    assertEquals(0.75, m.ratio());
    assertEquals(0.75, m.normP());
    for (String[] bad : new String[][] {{"objective.ratio", "1.5"}, {"objective.tr_sampler", "\"v9\""},
        {"objective.loss", "\"w\""}, {"objective.norm_eps", "0"}, {"objective.P_std_t", "-1"}}) {
      var e = assertThrows(OptionException.class, () -> Presets.get("toy2d-meanflow").with(Map.of(bad[0], bad[1])));
      assertTrue(e.getMessage().contains(bad[0].substring("objective.".length())), e.getMessage());
    }
    // guidance without a class-conditional network is refused when the run is built
    var e = assertThrows(IllegalArgumentException.class,
        () -> RunObjective.create(toy(0.064).with(Map.of("objective.omega", "2")),
            (cfg, s) -> Builders.network(cfg, 0, 2, s), 0, Device.CPU));
    assertTrue(e.getMessage().contains("class-conditional"), e.getMessage());
  }

  @Test
  void toyRunTrainsWritesGridsAndResumesBitExactly(@TempDir Path dir) throws Exception {
    TrainerTest.assertToyRunResumesBitExactly(MeanFlowObjectiveTest::toy, dir);
  }

  /** One step and its samples on the test device (TestDeviceTrainingTest's harness) equal the CPU's to 1e-6. */
  @Test
  void oneStepOnTheTestDeviceEqualsTheCpu(@TempDir Path dir) throws Exception {
    TrainingOptions o = toy(0.064);
    TestDeviceTrainingTest.assertStepOnTestDeviceEqualsCpu(o, dir, 0.5, true);
  }
}
