package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.tensor.Cuda;
import dev.cm4j.tensor.Device;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tick's record and status line carry the device allocator's memory (allocated, reserved, the tick's peak) when the
 * run's device is CUDA, and nothing of the kind on other devices. This machine has no GPU, so the CUDA source is
 * replaced by a stand-in with the same interface; the CPU case runs as in a real run.
 */
class TickReporterMemoryTest {
  @TempDir Path dir;

  static final ObjectMapper JSON = new ObjectMapper();

  /** A stand-in allocator: fixed figures, counting peak resets. */
  static final class Fake implements TickReporter.DeviceMemory {
    int resets;
    long peak = 300L << 20;

    @Override
    public Cuda.MemoryStats stats() {
      return new Cuda.MemoryStats(100L << 20, 512L << 20, peak, 600L << 20, 0, 0);
    }

    @Override
    public void resetPeak() {
      resets++;
      peak = 100L << 20;
    }
  }

  List<Map<?, ?>> ticks(TickReporter.DeviceMemory source, Device device, ByteArrayOutputStream console)
      throws Exception {
    RunDirectory run = RunDirectory.of(Files.createDirectories(dir.resolve(device + "-" + (source != null))));
    TickReporter r = new TickReporter(run, new PrintStream(console, true, StandardCharsets.UTF_8),
        new Progress(new PrintStream(OutputStreamNothing.INSTANCE), false), new ArrayList<>());
    r.watchDevice(device);
    if (source != null) r.watchDevice(source);
    r.startTick(0);
    r.endTick(0, 64, 1, 128, new TickReporter.LossSummary(1, 0.5, 0.25), Map.of(), 1e-3, "");
    r.startTick(64);
    if (source instanceof Fake f) f.peak = 300L << 20; // a peak reached during the second tick
    r.endTick(1, 128, 2, 128, new TickReporter.LossSummary(1, 0.25, 0.0625), Map.of(), 1e-3, "");
    List<Map<?, ?>> out = new ArrayList<>();
    for (String l : Files.readAllLines(run.stats())) out.add(JSON.readValue(l, Map.class));
    return out;
  }

  @Test
  void cudaMemoryIsInEachTicksRecordAndStatusLineWithThePeakResetPerTick() throws Exception {
    Fake fake = new Fake();
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    List<Map<?, ?>> recs = ticks(fake, Device.CPU, console);
    assertEquals(2, recs.size());
    assertEquals(2, fake.resets, "the peak starts again at every tick");
    for (Map<?, ?> rec : recs) {
      assertEquals(100.0, ((Number) rec.get("cuda_allocated_mb")).doubleValue());
      assertEquals(512.0, ((Number) rec.get("cuda_reserved_mb")).doubleValue());
    }
    // the first tick's peak was reset at its start (100 MB); the second reached 300 MB
    assertEquals(100.0, ((Number) recs.get(0).get("cuda_peak_mb")).doubleValue());
    assertEquals(300.0, ((Number) recs.get(1).get("cuda_peak_mb")).doubleValue());
    // EDM's training_stats names carry the same tick peaks, in GiB
    Map<?, ?> edm = (Map<?, ?>) recs.get(1).get("Resources/peak_gpu_mem_gb");
    assertEquals(300.0 / 1024, ((Number) edm.get("mean")).doubleValue(), 1e-12);
    Map<?, ?> edmReserved = (Map<?, ?>) recs.get(1).get("Resources/peak_gpu_mem_reserved_gb");
    assertEquals(600.0 / 1024, ((Number) edmReserved.get("mean")).doubleValue(), 1e-12);
    String text = console.toString(StandardCharsets.UTF_8);
    assertTrue(text.contains("gpu 100/512 MB (peak 300)"), text);
  }

  @Test
  void onTheCpuThereAreNoCudaFields() throws Exception {
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    List<Map<?, ?>> recs = ticks(null, Device.CPU, console);
    assertEquals(2, recs.size());
    for (Map<?, ?> rec : recs) {
      for (Object k : rec.keySet()) {
        assertFalse(k.toString().startsWith("cuda_") || k.toString().contains("gpu_mem"), "unexpected field " + k);
      }
      assertTrue(rec.containsKey("rss_mb"));
    }
    assertFalse(console.toString(StandardCharsets.UTF_8).contains("gpu "));
  }

  /** Discards the progress bar. */
  static final class OutputStreamNothing extends java.io.OutputStream {
    static final OutputStreamNothing INSTANCE = new OutputStreamNothing();

    @Override
    public void write(int b) {}
  }
}
