package dev.cm4j.gpu;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Runs of {@code cm train} for the GPU group, and what they leave behind. */
final class Runs {
  private Runs() {}

  record Out(int code, String out, String err) {}

  static Out cm(List<String> args) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int code = Main.run(args.toArray(String[]::new), new PrintStream(o, true, StandardCharsets.UTF_8),
        new PrintStream(e, true, StandardCharsets.UTF_8));
    return new Out(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
  }

  /**
   * Skips the test unless {@code cm train} takes a device (the {@code device} training option); says which build
   * lacks it.
   */
  static void assumeDeviceOption(String preset) {
    Out p = cm(List.of("train", "--preset", preset, "--device", "cpu", "-n"));
    assumeTrue(p.code() == 0, () -> "cm train has no 'device' training option in this build ("
        + p.err().strip().replaceAll(";.*", "") + ")");
  }

  /** Whether {@code cm train} takes a device in this build. */
  static boolean hasDeviceOption(String preset) {
    return cm(List.of("train", "--preset", preset, "--device", "cpu", "-n")).code() == 0;
  }

  /** The single run directory under outdir. */
  static Path runDir(Path outdir) throws IOException {
    try (var s = Files.list(outdir)) {
      List<Path> runs = s.filter(Files::isDirectory).toList();
      assertEquals(1, runs.size(), "run directories under " + outdir + ": " + runs);
      return runs.get(0);
    }
  }

  /** The loss of every tick in a run's stats.jsonl. */
  static double[] tickLosses(Path run) throws IOException {
    ObjectMapper m = new ObjectMapper();
    List<Double> l = new ArrayList<>();
    for (String line : Files.readAllLines(run.resolve("stats.jsonl"))) {
      if (line.isBlank()) continue;
      JsonNode n = m.readTree(line);
      l.add(n.get("loss").asDouble());
    }
    return l.stream().mapToDouble(Double::doubleValue).toArray();
  }

  /** The newest network snapshot of a run. */
  static Path newestSnapshot(Path run) throws IOException {
    try (var s = Files.list(run)) {
      return s.filter(p -> p.getFileName().toString().matches("network-snapshot-\\d+\\.safetensors")
          && p.toString().endsWith(".safetensors")).sorted().reduce((a, b) -> b)
          .orElseThrow(() -> new AssertionError("no snapshot in " + run));
    }
  }
}
