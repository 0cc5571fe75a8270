package dev.cm4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a run reports as it goes: the status lines (console and log.txt), the progress bar between them, and one
 * record per tick (mean loss, the objective's parts, lr, speed, memory) appended to stats.jsonl, kept in the
 * history a training state carries and drawn into loss.png. On a rank other than 0 ({@code dir} null) it only keeps
 * the tick's counts.
 *
 * <p>A stats.jsonl line is also a line of EDM's {@code training_stats} (what EDM's training_loop writes): entries
 * {@code "Group/name": {"num", "mean", "std"}} — Loss/loss, Progress/tick, Progress/kimg, Timing/total_sec,
 * Timing/sec_per_tick, Timing/sec_per_kimg, Timing/maintenance_sec, Resources/cpu_mem_gb and, on CUDA,
 * Resources/peak_gpu_mem_gb and Resources/peak_gpu_mem_reserved_gb — and a {@code "timestamp"} in Unix seconds,
 * with our own flat fields (tick, kimg, loss, ...; the history record) between them. Loss/loss summarises the
 * tick's step losses (each the mean over its global batch): num is the number of step losses (times the number of
 * ranks), mean their mean, std their standard deviation; EDM's counts each per-pixel loss, which never leaves the
 * device here.
 */
final class TickReporter {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final RunDirectory dir;
  private final PrintStream console;
  private final Progress progress;
  private final List<Map<String, Object>> history;
  private long tickStart;
  private long tickStartImages;
  private final long started = System.nanoTime();
  private long lastTickEnd = -1; // nanoTime at the last tick's end, -1 before the first
  private double maintenanceSec; // between the last tick's end and this tick's start (snapshots, states, metrics)
  private double lastTickLoss = Double.NaN; // the progress line's loss: the last tick's (steps do not read theirs)
  private DeviceMemory deviceMemory; // null unless the run's device is CUDA

  /** Where a tick's accelerator memory figures come from: the CUDA caching allocator, or a test's stand-in. */
  interface DeviceMemory {
    /** The allocator's current statistics (bytes; the peaks since the last {@link #resetPeak}). */
    dev.cm4j.tensor.Cuda.MemoryStats stats();

    /** Starts the peak figures again from the current ones. */
    void resetPeak();

    /** CUDA device index's caching allocator. */
    static DeviceMemory cuda(int index) {
      return new DeviceMemory() {
        @Override
        public dev.cm4j.tensor.Cuda.MemoryStats stats() {
          return dev.cm4j.tensor.Cuda.memoryStats(index);
        }

        @Override
        public void resetPeak() {
          dev.cm4j.tensor.Cuda.resetPeakMemoryStats(index);
        }
      };
    }
  }

  /** Reports into dir (null: nowhere, a rank other than 0); history holds the ticks so far (a resumed run's). */
  TickReporter(RunDirectory dir, PrintStream console, Progress progress, List<Map<String, Object>> history) {
    this.dir = dir;
    this.console = console;
    this.progress = progress;
    this.history = history;
  }

  /**
   * Reports the run device's memory when it is a CUDA device: each tick's record and status line then carry the
   * caching allocator's allocated, reserved and peak-allocated megabytes (the peak per tick); on any other device
   * nothing is added.
   */
  void watchDevice(dev.cm4j.tensor.Device device) {
    deviceMemory = device.type() == dev.cm4j.tensor.Device.Type.CUDA ? DeviceMemory.cuda(device.index()) : null;
  }

  /** Reports memory from this source (null: none). */
  void watchDevice(DeviceMemory source) {
    deviceMemory = source;
  }

  /** The tick records so far (the live list: a training state stores it). */
  List<Map<String, Object>> history() {
    return history;
  }

  /** Prints a status line and appends it to log.txt (rank 0 only). */
  void log(String line) {
    if (dir == null) return;
    progress.clear();
    console.println(line);
    Atomic.append(dir.log(), line + "\n");
  }

  /** Starts a tick at this many images. */
  void startTick(long images) {
    tickStart = System.nanoTime();
    maintenanceSec = (tickStart - (lastTickEnd < 0 ? started : lastTickEnd)) / 1e9;
    tickStartImages = images;
    if (deviceMemory != null) deviceMemory.resetPeak(); // the tick's peak, not the run's
  }

  /**
   * Redraws the progress bar after a finished optimizer step; the loss it shows is the last tick's mean, since a step's
   * own loss stays on the device until the tick ends.
   */
  void step(long images, long total) {
    double elapsed = (System.nanoTime() - tickStart) / 1e9;
    progress.update(images, total, (images - tickStartImages) / Math.max(elapsed, 1e-9), lastTickLoss);
  }

  /** Whether the tick has seen at least tickImages images. */
  boolean tickFull(long images, long tickImages) {
    return images - tickStartImages >= tickImages;
  }

  /**
   * Ends the tick: on rank 0, the stats.jsonl record, the status line and loss.png. The caller then starts the next
   * one ({@link #startTick}) after what it writes at a tick's end, so that writing is no tick's time.
   *
   * @param loss the tick's step losses (already gathered over ranks)
   * @param parts the objective's per-tick values (already averaged over ranks)
   * @param position the objective's schedule position for the status line (e.g. "stage 2")
   */
  void endTick(long tick, long images, long iteration, long total, LossSummary lossStats, Map<String, Double> parts,
      double lr, String position) {
    double loss = lossStats.mean();
    lastTickLoss = loss;
    long now = System.nanoTime();
    lastTickEnd = now;
    if (dir != null) {
      double sec = (now - tickStart) / 1e9;
      double imagesPerSec = (images - tickStartImages) / Math.max(sec, 1e-9);
      Map<String, Object> rec = new LinkedHashMap<>();
      rec.put("tick", tick);
      rec.put("kimg", images / 1000.0);
      rec.put("iteration", iteration);
      rec.put("loss", loss);
      for (var e : parts.entrySet()) rec.put(e.getKey(), e.getValue());
      rec.put("lr", lr);
      rec.put("sec_per_tick", sec);
      rec.put("images_per_sec", imagesPerSec);
      double rss = rssMb();
      rec.put("rss_mb", rss);
      // the Java heap's share of the RSS (G1 commits and first touches heap regions as it grows): used and committed
      var heap = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
      rec.put("heap_used_mb", heap.getUsed() / 1048576.0);
      rec.put("heap_committed_mb", heap.getCommitted() / 1048576.0);
      // libtorch CPU buffers held by cm4j's caching allocator (CpuAllocator): in live tensors, and free for reuse
      // (0 when it was never installed)
      var alloc = dev.cm4j.tensor.CpuAllocator.stats();
      rec.put("cpu_alloc_mb", alloc.allocatedBytes() / 1048576.0);
      rec.put("cpu_cached_mb", alloc.cachedBytes() / 1048576.0);
      String memory = "";
      if (deviceMemory != null) {
        // CUDA's caching allocator: bytes in live tensors, bytes held from the driver, and this tick's peak in tensors
        var m = deviceMemory.stats();
        rec.put("cuda_allocated_mb", m.allocatedBytes() / 1048576.0);
        rec.put("cuda_reserved_mb", m.reservedBytes() / 1048576.0);
        rec.put("cuda_peak_mb", m.peakAllocatedBytes() / 1048576.0);
        memory = String.format(Locale.ROOT, "  gpu %.0f/%.0f MB (peak %.0f)", m.allocatedBytes() / 1048576.0,
            m.reservedBytes() / 1048576.0, m.peakAllocatedBytes() / 1048576.0);
      }
      rec.put("time", System.currentTimeMillis() / 1000.0);
      history.add(rec);
      Map<String, Object> line = new LinkedHashMap<>();
      line.put("Loss/loss", lossStats.entry());
      line.put("Progress/tick", scalar(tick));
      line.put("Progress/kimg", scalar(images / 1000.0));
      line.put("Timing/total_sec", scalar((now - started) / 1e9));
      line.put("Timing/sec_per_tick", scalar(sec));
      line.put("Timing/sec_per_kimg", scalar(sec / Math.max(images - tickStartImages, 1) * 1e3));
      line.put("Timing/maintenance_sec", scalar(maintenanceSec));
      line.put("Resources/cpu_mem_gb", scalar(rss / 1024.0));
      if (deviceMemory != null) { // EDM's names for the same figures (the peaks since this tick started)
        var m = deviceMemory.stats();
        line.put("Resources/peak_gpu_mem_gb", scalar(m.peakAllocatedBytes() / (double) (1L << 30)));
        line.put("Resources/peak_gpu_mem_reserved_gb", scalar(m.peakReservedBytes() / (double) (1L << 30)));
      }
      line.putAll(rec);
      line.put("timestamp", rec.get("time"));
      Atomic.append(dir.stats(), json(line) + "\n");
      log(String.format(Locale.ROOT,
          "tick %-5d kimg %-8.1f loss %-9.4f %-10s sec/tick %-6.1f img/s %-7.0f ETA %s  rss %.0f MB", tick,
          images / 1000.0, loss, position, sec, imagesPerSec,
          Progress.eta((total - images) / Math.max(imagesPerSec, 1e-9)), rss) + memory);
      LossPlot.write(history, dir.lossPlot());
    }
  }

  /** EDM's training_stats entry of one value reported once (report0). */
  static Map<String, Object> scalar(double v) {
    Map<String, Object> e = new LinkedHashMap<>();
    e.put("num", 1.0);
    e.put("mean", v);
    e.put("std", 0.0);
    return e;
  }

  /**
   * The step losses of a tick, as training_stats summarises a reported series.
   *
   * @param count number of step losses
   * @param mean their mean
   * @param meanSquare the mean of their squares
   */
  record LossSummary(double count, double mean, double meanSquare) {
    /** training_stats' {num, mean, std}, std = sqrt(max(E[x²] − E[x]², 0)). */
    Map<String, Object> entry() {
      Map<String, Object> e = new LinkedHashMap<>();
      e.put("num", count);
      e.put("mean", mean);
      e.put("std", Math.sqrt(Math.max(meanSquare - mean * mean, 0)));
      return e;
    }
  }

  static String json(Object value) {
    try {
      return JSON.writeValueAsString(value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static double rssMb() {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (l.startsWith("VmRSS:")) return Long.parseLong(l.replaceAll("[^0-9]", "")) / 1024.0;
      }
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
    return -1;
  }
}
