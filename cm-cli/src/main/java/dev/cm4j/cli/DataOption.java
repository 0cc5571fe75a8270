package dev.cm4j.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cm4j.data.DataKinds;
import dev.cm4j.data.DataStats;
import dev.cm4j.data.PointDataset;
import dev.cm4j.train.TrainingOptions;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.commons.cli.ParseException;

/**
 * {@code cm train --data PATH}: the data kind follows the file ({@link DataKinds#infer}), so a preset's data (e.g.
 * toy2d's eight Gaussians) is replaced rather than silently kept. An explicit {@code --set data.kind=...} that
 * disagrees with the file, or a network built for the other kind of data, is an error naming both.
 */
final class DataOption {
  private DataOption() {}

  /** Data options that keep their meaning from one image kind to another. */
  private static final Set<String> IMAGE_KEYS = Set.of("xflip", "resolution", "grid", "workers");

  /**
   * The overrides that {@code --data path} stands for, given the options it starts from and the user's own
   * {@code --set} overrides (which are applied after these). Notes about replaced preset settings go to note.
   */
  static Map<String, String> overrides(TrainingOptions opts, String path, Map<String, String> sets, PrintStream note)
      throws ParseException {
    String inferred;
    try {
      inferred = DataKinds.infer(Path.of(path));
    } catch (RuntimeException e) {
      throw new ParseException("--data " + e.getMessage());
    }
    String current = opts.data().kind();
    String explicit = sets.containsKey("data.kind") ? unquote(sets.get("data.kind")) : null;
    if (explicit != null && !explicit.equals(inferred)) {
      throw new ParseException("--data " + path + " holds " + describe(inferred) + " (data.kind " + inferred
          + "), which conflicts with --set data.kind=" + explicit);
    }
    Map<String, String> ov = new LinkedHashMap<>();
    if (inferred.equals(current)) {
      ov.put("data.path", quote(path));
    } else {
      // a new section: kind and path, plus what carries over between image kinds; the binder fills the defaults
      ObjectNode old = (ObjectNode) opts.tree().get("data");
      ObjectNode data = old.objectNode();
      data.put("kind", inferred);
      data.put("path", path);
      List<String> dropped = new ArrayList<>();
      boolean bothImages = DataKinds.IMAGE_KINDS.contains(inferred) && DataKinds.IMAGE_KINDS.contains(current);
      for (var e : old.properties()) {
        if (e.getKey().equals("kind") || e.getKey().equals("path") || e.getValue().isNull()) continue;
        if (bothImages && IMAGE_KEYS.contains(e.getKey())) data.set(e.getKey(), e.getValue());
        else dropped.add(e.getKey());
      }
      ov.put("data", data.toString());
      note.println("cm train: --data " + path + " holds " + describe(inferred) + ": data.kind " + inferred
          + " replaces " + current + (dropped.isEmpty() ? "" : " (dropped data." + String.join(", data.", dropped) + ")"));
    }
    String arch = sets.containsKey("network.arch") ? unquote(sets.get("network.arch")) : opts.network().arch();
    boolean points = DataKinds.isPoints(inferred);
    if (points != arch.equals("mlp")) {
      throw new ParseException("--data " + path + " holds " + describe(inferred) + " but network.arch is " + arch
          + (points ? " (an image network): start from a point preset (toy2d-ect, toy2d-sct) or --set network.arch=mlp"
              : " (a point network): start from an image preset or --set network.arch=ddpmpp"));
    }
    return ov;
  }

  /**
   * For point data, the warning when precond.sigma_data and the data's standard deviation differ by more than
   * {@link DataStats#SIGMA_DATA_TOLERANCE}× (the preconditioning assumes they match), printed to note; null when
   * they agree or the data are images. Opens the data.
   */
  static String checkSigmaData(TrainingOptions opts, PrintStream note) {
    if (!DataKinds.isPoints(opts.data().kind())) return null;
    String w = DataStats.sigmaDataWarning(opts.precond().sigmaData(),
        DataStats.pointStd((PointDataset) opts.data().open(), 100_000));
    if (w != null) note.println("cm train: " + w);
    return w;
  }

  private static String describe(String kind) {
    return switch (kind) {
      case DataKinds.POINTS -> "a point cloud";
      case DataKinds.CIFAR10 -> "CIFAR-10 binary batches";
      case DataKinds.FASHION_MNIST -> "an MNIST-layout image set";
      case DataKinds.FOLDER -> "an image folder";
      default -> kind + " data";
    };
  }

  private static String unquote(String v) {
    String t = v.trim();
    return t.length() >= 2 && t.startsWith("\"") && t.endsWith("\"") ? t.substring(1, t.length() - 1) : t;
  }

  private static String quote(String v) {
    return "\"" + v.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
