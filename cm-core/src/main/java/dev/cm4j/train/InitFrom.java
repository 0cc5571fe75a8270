package dev.cm4j.train;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.DhariwalUNet;
import dev.cm4j.nn.LoadReport;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.OpenaiUNetKeys;
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
 *
 * <p>A file in openai's guided-diffusion {@code UNetModel} layout (openai/consistency_models' and sony/ctm's ImageNet-64
 * checkpoints converted to safetensors: keys {@code input_blocks.*}, {@code time_embed.*}, {@code out.*}, possibly under
 * one prefix such as {@code model.}) is recognised by its {@code input_blocks.0.0.weight} and converted with
 * {@link OpenaiUNetKeys} into the model's ADM network ({@link DhariwalUNet}, arch adm), wherever it sits in the
 * model (an EDM teacher's {@code model.*}, sCT's {@code net.model.*}, CTM's {@code model.*}).
 */
final class InitFrom {
  private InitFrom() {}

  /** The key by which an openai UNetModel state dict is recognised (the input convolution). */
  static final String OPENAI_KEY = "input_blocks.0.0.weight";

  /** Copies matching weights from file into model; returns what was loaded and skipped. */
  static LoadReport apply(Module model, Path file) {
    try (SafeTensorFile f = SafeTensors.read(file); TensorScope s = TensorScope.open()) {
      Set<String> names = f.infos().keySet();
      String openai = openaiPrefix(names);
      if (openai != null) return applyOpenai(model, f, openai, file);
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

  /** The prefix under which names hold an openai UNetModel ("" for none), or null if they do not. */
  static String openaiPrefix(Set<String> names) {
    for (String n : names) {
      if (n.endsWith(OPENAI_KEY) && (n.length() == OPENAI_KEY.length()
          || n.charAt(n.length() - OPENAI_KEY.length() - 1) == '.')) {
        String prefix = n.substring(0, n.length() - OPENAI_KEY.length());
        if (names.contains(prefix + "time_embed.0.weight")) return prefix;
      }
    }
    return null;
  }

  /** The ADM networks inside m, by their state-dict prefix ("" for m itself). */
  private static void adms(String prefix, Module m, Map<String, DhariwalUNet> out) {
    if (m instanceof DhariwalUNet d) {
      out.put(prefix, d);
      return;
    }
    for (var e : m.children().entrySet()) adms(prefix + e.getKey() + ".", e.getValue(), out);
  }

  /** Converts the openai UNetModel under prefix in f into model's one ADM network and loads it. */
  private static LoadReport applyOpenai(Module model, SafeTensorFile f, String prefix, Path file) throws IOException {
    Map<String, DhariwalUNet> adms = new LinkedHashMap<>();
    adms("", model, adms);
    if (adms.size() != 1) {
      throw new IllegalArgumentException(file + " holds an openai UNetModel state dict (" + prefix + OPENAI_KEY + ", "
          + prefix + "time_embed.*), which converts into an ADM network (network.arch adm), but the model has "
          + (adms.isEmpty() ? "none" : adms.size() + " (" + adms.keySet() + ")"));
    }
    var entry = adms.entrySet().iterator().next();
    DhariwalUNet adm = entry.getValue();
    Map<String, Tensor> src = new LinkedHashMap<>();
    java.util.List<String> unexpected = new java.util.ArrayList<>();
    for (String n : f.infos().keySet()) {
      if (n.startsWith(prefix)) src.put(n.substring(prefix.length()), f.tensor(n));
      else unexpected.add(n);
    }
    Map<String, Tensor> converted;
    try {
      converted = OpenaiUNetKeys.toDhariwal(src, adm.config());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + " (openai UNetModel keys) does not convert into the ADM network: "
          + e.getMessage(), e);
    }
    Map<String, Tensor> sd = new LinkedHashMap<>();
    for (var e : converted.entrySet()) sd.put(entry.getKey() + e.getKey(), e.getValue());
    LoadReport r = model.loadStateDict(sd, false);
    // EDM's resampling filters are constant buffers the ADM network builds itself; openai's checkpoints have none
    Set<String> constants = new java.util.HashSet<>();
    for (String b : adm.namedBuffers().keySet()) constants.add(entry.getKey() + b);
    java.util.List<String> missing = new java.util.ArrayList<>(r.missing());
    missing.removeAll(constants);
    return new LoadReport(missing, unexpected, r.shapeMismatched());
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
