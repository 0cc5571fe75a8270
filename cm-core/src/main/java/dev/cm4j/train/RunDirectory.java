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
 * training-state-IIIIIIIII.safetensors and nan-dump-IIIIIIIII.safetensors, where IIIIIIIII is the images seen.
 */
final class RunDirectory {
  private static final Pattern STATE_FILE = Pattern.compile("training-state-(\\d+)\\.safetensors");

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
