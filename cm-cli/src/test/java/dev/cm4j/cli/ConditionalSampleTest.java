package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.cli.MainTest.Out;
import dev.cm4j.data.Npy;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cm sample --class/--guidance/--guide} on a class-conditional and an unconditional toy snapshot. */
class ConditionalSampleTest {
  @TempDir static Path dir;
  static Path cond;
  static Path uncond;

  static Path train(String name, String... extra) throws Exception {
    Path runs = dir.resolve(name);
    String[] base = {"train", "--preset", "toy2d-ect", "--outdir", runs.toString(), "--duration", "0.000256", "--batch",
        "64", "--set", "tick_kimg=0.128", "--set", "network.hidden=16", "--set", "network.blocks=1", "--set",
        "objective.denoise_kimg=0.128", "--set", "data.size=1000"};
    String[] args = java.util.Arrays.copyOf(base, base.length + extra.length);
    System.arraycopy(extra, 0, args, base.length, extra.length);
    Out t = MainTest.run(args);
    assertEquals(0, t.code(), t.err());
    try (var s = Files.walk(runs)) {
      return s.filter(p -> p.getFileName().toString().startsWith("network-snapshot-")).sorted()
          .reduce((a, b) -> b).orElseThrow();
    }
  }

  @BeforeAll
  static void snapshots() throws Exception {
    cond = train("cond", "--set", "cond=true", "--set", "data.name=class-gaussians", "--set", "data.classes=4",
        "--set", "network.label_dropout=0.2");
    uncond = train("uncond");
  }

  static float[] sample(Path snap, String out, String... extra) {
    Path file = dir.resolve(out);
    String[] base = {"sample", "--snapshot", snap.toString(), "--n", "40", "--out", file.toString()};
    String[] args = java.util.Arrays.copyOf(base, base.length + extra.length);
    System.arraycopy(extra, 0, args, base.length, extra.length);
    Out r = MainTest.run(args);
    assertEquals(0, r.code(), r.err());
    return Npy.read(file).toFloatArray();
  }

  static Out fails(Path snap, String... extra) {
    String[] base = {"sample", "--snapshot", snap.toString(), "--n", "4", "--out", dir.resolve("x.npy").toString()};
    String[] args = java.util.Arrays.copyOf(base, base.length + extra.length);
    System.arraycopy(extra, 0, args, base.length, extra.length);
    Out r = MainTest.run(args);
    assertNotEquals(0, r.code(), String.join(" ", extra));
    return r;
  }

  @Test
  void classesSelectWhatAConditionalSnapshotSamples() {
    float[] c1 = sample(cond, "c1.npy", "--class", "1");
    float[] c2 = sample(cond, "c2.npy", "--class", "2");
    assertFalse(java.util.Arrays.equals(c1, c2), "the class changes the samples");
    assertArrayEquals(c1, sample(cond, "c1b.npy", "--class", "1"), 0f);
    float[] list = sample(cond, "list.npy", "--class", "1,2");
    for (int i = 0; i < 40; i++) { // image i gets class list[i mod 2]: the same latents as the single-class runs
      float[] want = i % 2 == 0 ? c1 : c2;
      assertEquals(want[2 * i], list[2 * i], 1e-6f, "image " + i);
      assertEquals(want[2 * i + 1], list[2 * i + 1], 1e-6f, "image " + i);
    }
    assertArrayEquals(sample(cond, "bal.npy", "--class", "0,1,2,3"), sample(cond, "default.npy"), 0f,
        "the default is class-balanced: image i gets class i mod 4");
    assertArrayEquals(sample(cond, "bal2.npy", "--class", "balanced"), sample(cond, "default2.npy"), 0f);
    sample(cond, "random.npy", "--class", "random");
    float[] guided = sample(cond, "g.npy", "--class", "1", "--guidance", "2");
    assertFalse(java.util.Arrays.equals(c1, guided), "guidance changes the samples");
    assertArrayEquals(c1, sample(cond, "g1.npy", "--class", "1", "--guidance", "1"), 0f, "w = 1 is no guidance");
  }

  @Test
  void randomClassesAndLatentsFollowEachImagesSeedNotTheBatch() throws Exception {
    // EDM's per-image seeds: image i's latent, class and re-noising come from seed S + i
    String[] two = {"--class", "random", "--steps", "2", "--t-mid", "0.821", "--seed", "5"};
    float[] b4 = sample(cond, "r4.npy", cat(two, "--batch", "4"));
    float[] b7 = sample(cond, "r7.npy", cat(two, "--batch", "7"));
    assertArrayEquals(b4, b7, 0f, "batch 4 and batch 7 give the same samples");
    assertFalse(java.util.Arrays.equals(b4, sample(cond, "r7s.npy", "--class", "random", "--steps", "2", "--t-mid",
        "0.821", "--seed", "6", "--batch", "7")), "the seed draws them");
    int[] k;
    try (dev.cm4j.train.Snapshot s = dev.cm4j.train.Snapshot.load(cond)) {
      s.setSampling(dev.cm4j.sampling.ClassLabels.RANDOM, 1, null);
      k = s.classes(0, 40, 5);
    }
    assertTrue(java.util.Arrays.stream(k).distinct().count() > 1, "random classes vary");
    for (int c = 0; c < 4; c++) { // image i equals image i sampled with its drawn class fixed
      float[] fixed = sample(cond, "fix" + c + ".npy", "--class", String.valueOf(c), "--steps", "2", "--t-mid",
          "0.821", "--seed", "5");
      for (int i = 0; i < 40; i++) {
        if (k[i] != c) continue;
        assertEquals(fixed[2 * i], b4[2 * i], 0f, "image " + i);
        assertEquals(fixed[2 * i + 1], b4[2 * i + 1], 0f, "image " + i);
      }
    }
  }

  static String[] cat(String[] a, String... b) {
    String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, r, a.length, b.length);
    return r;
  }

  @Test
  void badClassesAndGuidanceAreClearErrors() {
    Out word = fails(cond, "--class", "cat");
    assertEquals(2, word.code());
    assertTrue(word.err().contains("--class") && word.err().contains("cat"), word.err());
    Out empty = fails(cond, "--class", "1,,2");
    assertTrue(empty.err().contains("empty"), empty.err());
    Out negative = fails(cond, "--class", "-1");
    assertTrue(negative.err().contains("--class"), negative.err());
    Out range = fails(cond, "--class", "4");
    assertTrue(range.err().contains("class 4 does not exist") && range.err().contains("4 classes"), range.err());
    Out unconditional = fails(uncond, "--class", "1");
    assertTrue(unconditional.err().contains("unconditional"), unconditional.err());
    Out cfg = fails(uncond, "--guidance", "2");
    assertTrue(cfg.err().contains("classifier-free") && cfg.err().contains("--guide"), cfg.err());
    Out notNumber = fails(cond, "--guidance", "lots");
    assertEquals(2, notNumber.code());
    assertTrue(notNumber.err().contains("--guidance"), notNumber.err());
    Out misfit = fails(cond, "--guide", uncond.toString());
    assertTrue(misfit.err().contains("guide snapshot does not fit"), misfit.err());
  }

  @Test
  void autoguidanceByTheModelItselfIsTheModel() {
    float[] plain = sample(uncond, "p.npy");
    float[] self = sample(uncond, "self.npy", "--guide", uncond.toString(), "--guidance", "3");
    assertArrayEquals(plain, self, 1e-5f, "D + w·(D − D) = D");
    float[] other = sample(cond, "auto.npy", "--class", "2", "--guide", cond.toString());
    assertArrayEquals(sample(cond, "c2x.npy", "--class", "2"), other, 1e-5f);
  }
}
