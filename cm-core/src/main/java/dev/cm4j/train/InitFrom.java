package dev.cm4j.train;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.LoadReport;
import dev.cm4j.nn.Module;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Initialising a run from existing weights ({@code init_from}, ECT's {@code --transfer}): every parameter and buffer
 * whose name and shape match is copied from a safetensors file — a cm4j network snapshot or training state, or an
 * EDM/ECT/CTM checkpoint converted by {@code tools/export_pytorch.py}. A name matches as is, or after adding or
 * dropping one leading component (an EDM {@code model.*} checkpoint into sCT's {@code net.model.*}, a training
 * state's {@code model.*} into a plain network). What was not loaded is reported, never silently ignored.
 */
final class InitFrom {
  private InitFrom() {}

  /** Copies matching weights from file into model; returns what was loaded and skipped. */
  static LoadReport apply(Module model, Path file) {
    try (SafeTensorFile f = SafeTensors.read(file); TensorScope s = TensorScope.open()) {
      Set<String> names = f.infos().keySet();
      Map<String, Tensor> mine = model.stateDict();
      Map<String, Tensor> sd = new LinkedHashMap<>();
      java.util.List<String> used = new java.util.ArrayList<>();
      for (String k : mine.keySet()) {
        String src = match(k, names);
        if (src != null) {
          sd.put(k, f.tensor(src));
          used.add(src);
        }
      }
      if (sd.isEmpty()) {
        throw new IllegalArgumentException("init_from " + file + ": no tensor name matches the network (file has e.g. "
            + names.stream().limit(3).toList() + ", the network e.g. " + mine.keySet().stream().limit(3).toList() + ")");
      }
      LoadReport r = model.loadStateDict(sd, false);
      java.util.List<String> unexpected = new java.util.ArrayList<>(names);
      unexpected.removeAll(used);
      return new LoadReport(r.missing(), unexpected, r.shapeMismatched());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read init_from file " + file + ": " + e.getMessage(), e);
    }
  }

  private static String match(String k, Set<String> names) {
    if (names.contains(k)) return k;
    int dot = k.indexOf('.');
    if (dot > 0 && names.contains(k.substring(dot + 1))) return k.substring(dot + 1);
    for (String prefix : new String[] {"model.", "ema.", "net."}) {
      if (names.contains(prefix + k)) return prefix + k;
    }
    return null;
  }

  /** A one-paragraph summary for the log. */
  static String summary(Path file, LoadReport r, int total) {
    int loaded = total - r.missing().size() - r.shapeMismatched().size();
    StringBuilder b = new StringBuilder(String.format(java.util.Locale.ROOT,
        "init_from %s: loaded %d of %d tensors", file, loaded, total));
    if (!r.missing().isEmpty()) b.append("; not in the file (kept their initialisation): ").append(list(r.missing()));
    if (!r.shapeMismatched().isEmpty()) b.append("; shape mismatch (skipped): ").append(list(r.shapeMismatched()));
    if (!r.unexpected().isEmpty()) b.append("; unused from the file: ").append(list(r.unexpected()));
    return b.toString();
  }

  private static String list(java.util.List<String> l) {
    return l.size() <= 8 ? String.join(", ", l) : String.join(", ", l.subList(0, 8)) + ", … (" + l.size() + " in all)";
  }
}
