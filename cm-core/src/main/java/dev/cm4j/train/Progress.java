package dev.cm4j.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * The console progress bar of a run on a terminal: a bar over the run's images, kimg done and total, images per
 * second, time left and the running loss, redrawn in place at most once a second. Off a terminal (a pipe, a log file)
 * nothing is drawn and only the per-tick status lines appear.
 */
final class Progress {
  private final PrintStream out;
  private final boolean enabled;
  private long lastDraw;
  private boolean drawn;

  Progress(PrintStream out, boolean enabled) {
    this.out = out;
    this.enabled = enabled;
  }

  /** Enabled when out is System.out and that is a terminal. */
  static Progress forConsole(PrintStream out) {
    java.io.Console c = System.console();
    return new Progress(out, out == System.out && c != null && c.isTerminal());
  }

  /** One bar line, {@code width} characters of bar; the loss is the last tick's ("--" before the first tick ends). */
  static String line(long images, long total, double imagesPerSec, double loss, int width) {
    double f = total <= 0 ? 1 : Math.min(1, (double) images / total);
    int full = (int) Math.round(f * width);
    String bar = "#".repeat(full) + "-".repeat(width - full);
    double eta = imagesPerSec > 0 ? (total - images) / imagesPerSec : Double.NaN;
    return String.format(Locale.ROOT, "[%s] %5.1f%%  %.1f/%.1f kimg  %.0f img/s  ETA %s  loss %s", bar, 100 * f,
        images / 1000.0, total / 1000.0, imagesPerSec, Double.isNaN(eta) ? "--" : eta(eta),
        Double.isNaN(loss) ? "--" : String.format(Locale.ROOT, "%.4f", loss));
  }

  static String eta(double seconds) {
    long s = (long) Math.max(0, seconds);
    return String.format(Locale.ROOT, "%dh%02dm%02ds", s / 3600, (s / 60) % 60, s % 60);
  }

  /** Redraws the bar if a second has passed since the last draw. */
  void update(long images, long total, double imagesPerSec, double loss) {
    if (!enabled) return;
    long now = System.nanoTime();
    if (drawn && now - lastDraw < 1_000_000_000L) return;
    out.print("\r" + line(images, total, imagesPerSec, loss, 30) + "\033[K");
    out.flush();
    lastDraw = now;
    drawn = true;
  }

  /** Clears the bar so that a status line can be printed in its place. */
  void clear() {
    if (!enabled || !drawn) return;
    out.print("\r\033[K");
    out.flush();
    drawn = false;
  }
}
