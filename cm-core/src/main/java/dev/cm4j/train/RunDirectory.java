package dev.cm4j.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A run directory {@code NNNNN-desc/} and the names of the files in it: training_options.json, log.txt,
 * stats.jsonl, loss.png, network-snapshot-IIIIIIIII.safetensors, samples-Kstep-IIIIIIIII.png,
 * training-state-IIIIIIIII.safetensors and nan-dump-IIIIIIIII.safetensors, where IIIIIIIII is the images seen;
 * network-snapshot-latest.safetensors and training-state-latest.safetensors name the newest of each (as ECT's
 * run directories do): relative symbolic links, or copies on file systems without links, replaced atomically.
 * metric-NAME.jsonl holds the in-training evaluations ({@link InTrainingEval}).
 */
final class RunDirectory {
  private static final Pattern STATE_FILE = Pattern.compile("training-state-(\\d+)\\.safetensors");
  private static final Pattern NUMBERED = Pattern.compile("(network-snapshot|training-state)-\\d+(\\..+)");

  private final Path dir;

  private RunDirectory(Path dir) {
    this.dir = dir;
  }

  /** An existing run directory. */
  static RunDirectory of(Path dir) {
    return new RunDirectory(dir);
  }

  /** Creates {@code outdir/NNNNN-desc}, NNNNN one more than the largest number already in outdir (desc null: "run"). */
  static RunDirectory create(Path outdir, String desc) {
    try {
      Files.createDirectories(outdir);
      int next = 0;
      try (var s = Files.list(outdir)) {
        for (Path p : (Iterable<Path>) s::iterator) {
          String n = p.getFileName().toString();
          if (n.length() >= 5 && n.substring(0, 5).chars().allMatch(Character::isDigit)) {
            next = Math.max(next, Integer.parseInt(n.substring(0, 5)) + 1);
          }
        }
      }
      Path dir = outdir.resolve(String.format(Locale.ROOT, "%05d-%s", next, desc == null ? "run" : desc));
      Files.createDirectories(dir);
      return new RunDirectory(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the run directory under " + outdir, e);
    }
  }

  /**
   * Uses outdir itself as the run directory (EDM's and ECT's {@code --nosubdir}: {@code c.run_dir = opts.outdir}),
   * creating it if needed. A directory that already holds a run (training_options.json, a snapshot or a training
   * state) is refused, since the new run's files would mix with it.
   */
  static RunDirectory createFlat(Path outdir) {
    try {
      Files.createDirectories(outdir);
      try (var s = Files.list(outdir)) {
        for (Path p : (Iterable<Path>) s::iterator) {
          String n = p.getFileName().toString();
          if (n.equals("training_options.json") || NUMBERED.matcher(n).matches()) {
            throw new IllegalArgumentException("--nosubdir: " + outdir + " already holds a run (" + n + "); give an "
                + "empty directory, resume that run with --resume, or drop --nosubdir for a numbered sub-directory");
          }
        }
      }
      return new RunDirectory(outdir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the run directory " + outdir, e);
    }
  }

  Path path() {
    return dir;
  }

  Path options() {
    return dir.resolve("training_options.json");
  }

  Path log() {
    return dir.resolve("log.txt");
  }

  Path stats() {
    return dir.resolve("stats.jsonl");
  }

  /** data.png: a grid of training images written when a run starts (as ECT's training loop does). */
  Path dataGrid() {
    return dir.resolve("data.png");
  }

  Path lossPlot() {
    return dir.resolve("loss.png");
  }

  Path state(long images) {
    return dir.resolve(String.format(Locale.ROOT, "training-state-%09d.safetensors", images));
  }

  Path nanDump(long images) {
    return dir.resolve(String.format(Locale.ROOT, "nan-dump-%09d.safetensors", images));
  }

  Path snapshot(long images) {
    return dir.resolve(String.format(Locale.ROOT, "network-snapshot-%09d.safetensors", images));
  }

  /** The in-training evaluation file of a metric (EDM's metric-NAME.jsonl). */
  Path metric(String name) {
    return dir.resolve("metric-" + name + ".jsonl");
  }

  /** The -latest name of a numbered snapshot or state file (network-snapshot-latest.safetensors, ...). */
  Path latest(Path numbered) {
    Matcher m = NUMBERED.matcher(numbered.getFileName().toString());
    if (!m.matches()) throw new IllegalArgumentException("not a numbered snapshot or state: " + numbered);
    return dir.resolve(m.group(1) + "-latest" + m.group(2));
  }

  /**
   * Points the -latest name at a numbered file of this directory: a relative symbolic link (the run directory can
   * move), or a copy where links cannot be made. The new link or copy is made under a temporary name and renamed over
   * the old one, so a reader sees the old file or the new one, never none or half of one.
   */
  void markLatest(Path numbered) {
    markLatest(numbered, true);
  }

  /** As {@link #markLatest(Path)}; link false copies (what file systems without links get). */
  void markLatest(Path numbered, boolean link) {
    Path latest = latest(numbered);
    Path tmp = dir.resolve("." + latest.getFileName() + ".tmp");
    try {
      Files.deleteIfExists(tmp);
      boolean linked = false;
      if (link) {
        try {
          Files.createSymbolicLink(tmp, numbered.getFileName());
          linked = true;
        } catch (UnsupportedOperationException | IOException e) {
          Files.deleteIfExists(tmp); // no links here: a copy
        }
      }
      if (!linked) Files.copy(dir.resolve(numbered.getFileName()), tmp);
      Files.move(tmp, latest, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
          java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot update " + latest, e);
    }
  }

  /** The sample grid (or scatter plot) of {@code steps}-step samples at this point. */
  Path samples(int steps, long images) {
    return dir.resolve(String.format(Locale.ROOT, "samples-%dstep-%09d.png", steps, images));
  }

  /** The training-state files, newest (most images) first. */
  List<Path> statesNewestFirst() {
    try (var s = Files.list(dir)) {
      return s.filter(p -> STATE_FILE.matcher(p.getFileName().toString()).matches())
          .sorted(Comparator.comparing(RunDirectory::stateImages).reversed()).toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list the training states in " + dir, e);
    }
  }

  /** The images count in a training-state file name, as an integer of any length (a long could overflow). */
  private static java.math.BigInteger stateImages(Path p) {
    Matcher m = STATE_FILE.matcher(p.getFileName().toString());
    return m.matches() ? new java.math.BigInteger(m.group(1)) : java.math.BigInteger.ONE.negate();
  }
}
