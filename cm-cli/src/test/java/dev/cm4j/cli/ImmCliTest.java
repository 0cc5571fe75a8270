package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.cli.MainTest.Out;
import dev.cm4j.data.Npy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `cm train --preset toy2d-imm` end to end (a few steps), then `cm sample` of its snapshot with the 2-step sampler. */
class ImmCliTest {
  @TempDir Path dir;

  @Test
  void toy2dImmTrainsAndItsSnapshotSamples() throws Exception {
    Out t = MainTest.run("train", "--preset", "toy2d-imm", "--duration", "0.000512", "--set", "tick_kimg=0.256",
        "--outdir", dir.toString());
    assertEquals(0, t.code(), t.err());
    Path run = dir.resolve("00000-toy2d-imm");
    List<String> names;
    try (var f = Files.list(run)) {
      names = f.map(p -> p.getFileName().toString()).toList();
    }
    assertTrue(names.contains("network-snapshot-000000512.safetensors"), names.toString());
    assertTrue(names.stream().anyMatch(n -> n.startsWith("samples-2step-")), names.toString());
    Path out = dir.resolve("s.npy");
    Out s = MainTest.run("sample", "--snapshot", run.resolve("network-snapshot-000000512.safetensors").toString(),
        "--n", "100", "--steps", "2", "--t-mid", "1.4", "--out", out.toString());
    assertEquals(0, s.code(), s.err());
    Npy.Array a = Npy.read(out);
    assertArrayEquals(new long[] {100, 2}, a.shape());
    for (float v : a.toFloatArray()) assertTrue(Float.isFinite(v), "finite samples");
  }
}
