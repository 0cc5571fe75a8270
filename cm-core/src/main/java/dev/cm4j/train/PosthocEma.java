package dev.cm4j.train;

import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Module;
import dev.cm4j.optim.EMA;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * EDM2's post-hoc EMA (Karras et al. 2024, §3): power-function EMA tracks with {@code snapshot_kimg} are stored during
 * training as {@code network-snapshot-IIIIIIIII-S.SSS.safetensors} (images seen, σ_rel), and afterwards any σ_rel is
 * reconstructed as a linear combination of the stored snapshots with {@link EMA#solvePosthoc}'s coefficients
 * ({@code cm phema}). The stored files are ordinary network snapshots ({@link Snapshot#load} reads them) with the
 * keys {@value #STD_KEY} and {@value #IMAGES_KEY} added to their metadata.
 */
public final class PosthocEma {
  private PosthocEma() {}

  /** Metadata key of a stored or reconstructed snapshot's σ_rel. */
  public static final String STD_KEY = "ema_sigma_rel";
  /** Metadata key of the number of training images a stored snapshot had seen. */
  public static final String IMAGES_KEY = "images";

  private static final Pattern STORED = Pattern.compile("network-snapshot-(\\d+)-(\\d+\\.\\d+)\\.safetensors");

  /** A stored snapshot: its file, the images it had seen and its σ_rel. */
  public record Input(Path file, long nimg, double std) {}

  /** The file of the track of σ_rel std after images. */
  public static Path storedFile(Path dir, long images, double std) {
    return dir.resolve(String.format(Locale.ROOT, "network-snapshot-%09d-%.3f.safetensors", images, std));
  }

  /**
   * After a step that took the run from imagesBefore to imagesAfter images: writes every power track whose
   * snapshot_kimg interval boundary the step crossed (emaModels[i] is the track of options.ema[i]).
   */
  static void afterStep(Path dir, TrainingOptions o, List<Module> emaModels, long imagesBefore, long imagesAfter,
      Supplier<Map<String, String>> metadata) {
    for (int i = 0; i < o.ema().size(); i++) {
      if (!(o.ema().get(i) instanceof EmaOptions.Power p) || p.snapshotKimg() <= 0) continue;
      long every = Math.max(1, Math.round(p.snapshotKimg() * 1000));
      if (imagesAfter / every == imagesBefore / every) continue;
      Map<String, String> meta = new LinkedHashMap<>(metadata.get());
      meta.put("training_options", o.toJson());
      meta.put("kimg", Double.toString(imagesAfter / 1000.0));
      meta.put("format", "cm4j network snapshot");
      meta.put(STD_KEY, Double.toString(p.sigmaRel()));
      meta.put(IMAGES_KEY, Long.toString(imagesAfter));
      try (TensorScope s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
        SafeTensors.write(storedFile(dir, imagesAfter, p.sigmaRel()), emaModels.get(i).stateDict(), meta);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write a post-hoc EMA snapshot into " + dir, e);
      }
    }
  }

  /**
   * The stored snapshots of a run directory, by images then σ_rel. σ_rel and images come from the metadata (the name's
   * three decimals when a file has none).
   */
  public static List<Input> list(Path dir) {
    if (!Files.isDirectory(dir)) throw new IllegalArgumentException("not a directory: " + dir);
    List<Input> in = new ArrayList<>();
    try (var files = Files.list(dir)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        Matcher m = STORED.matcher(f.getFileName().toString());
        if (!m.matches() || !Files.isRegularFile(f)) continue;
        long nimg = Long.parseLong(m.group(1));
        double std = Double.parseDouble(m.group(2));
        try (SafeTensorFile sf = SafeTensors.read(f)) {
          String s = sf.metadata().get(STD_KEY);
          String n = sf.metadata().get(IMAGES_KEY);
          if (s != null) std = Double.parseDouble(s);
          if (n != null) nimg = Long.parseLong(n);
        }
        in.add(new Input(f, nimg, std));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
    }
    in.sort(Comparator.comparingLong(Input::nimg).thenComparingDouble(Input::std));
    return in;
  }

  /**
   * Reconstructs the profiles outStd at outNimg images (0: the latest stored time) from the stored snapshots up to
   * that time, as EDM2's reconstruct_phema does: each floating-point tensor is Σ_i x[i][j]·θ_i (accumulated in float64,
   * written in the snapshots' dtype), other tensors are the last snapshot's. Writes
   * {@code phema-IIIIIIIII-S.SSS.safetensors} into outDir, with the last input's metadata and σ_rel; returns the files.
   */
  public static List<Path> reconstruct(List<Input> inputs, double[] outStd, long outNimg, Path outDir) {
    if (outStd.length == 0) throw new IllegalArgumentException("no std to reconstruct");
    long at = outNimg > 0 ? outNimg : inputs.stream().mapToLong(Input::nimg).max().orElse(0);
    if (outNimg > 0 && inputs.stream().noneMatch(x -> x.nimg() == outNimg)) {
      throw new IllegalArgumentException("the reconstruction time " + outNimg + " images must be one of the stored "
          + "snapshots' times");
    }
    List<Input> in = inputs.stream().filter(x -> x.nimg() > 0 && x.nimg() <= at).toList();
    if (in.isEmpty()) {
      throw new IllegalArgumentException("no stored post-hoc EMA snapshots (network-snapshot-*-S.SSS.safetensors, "
          + "written by power EMA tracks with snapshot_kimg > 0)");
    }
    double[] nimg = new double[in.size()];
    double[] std = new double[in.size()];
    for (int i = 0; i < in.size(); i++) {
      nimg[i] = in.get(i).nimg();
      std[i] = in.get(i).std();
    }
    double[][] x = EMA.solvePosthoc(nimg, std, at, outStd);
    List<Path> written = new ArrayList<>();
    try (TensorScope scope = TensorScope.open(); GradMode g = GradMode.noGrad()) {
      List<Map<String, Tensor>> acc = new ArrayList<>();
      for (int j = 0; j < outStd.length; j++) acc.add(new LinkedHashMap<>());
      Map<String, DType> dtypes = new LinkedHashMap<>();
      Map<String, String> lastMeta = Map.of();
      for (int i = 0; i < in.size(); i++) {
        try (SafeTensorFile f = SafeTensors.read(in.get(i).file()); TensorScope s = TensorScope.open()) {
          if (i > 0 && !f.names().equals(new ArrayList<>(dtypes.keySet()))) {
            throw new IllegalArgumentException(in.get(i).file() + " holds other tensors than " + in.get(0).file());
          }
          for (String k : f.names()) {
            Tensor t = f.tensor(k);
            if (i == 0) dtypes.put(k, t.dtype());
            for (int j = 0; j < outStd.length; j++) {
              if (!t.dtype().isFloatingPoint()) {
                Tensor old = acc.get(j).put(k, TensorScope.release(t.clone()));
                if (old != null) old.close();
                continue;
              }
              Tensor term = t.to(DType.FLOAT64).mul(x[i][j]);
              Tensor a = acc.get(j).get(k);
              if (a == null) acc.get(j).put(k, TensorScope.release(term));
              else a.add_(term);
            }
          }
          lastMeta = f.metadata();
        }
      }
      Files.createDirectories(outDir);
      for (int j = 0; j < outStd.length; j++) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (var e : acc.get(j).entrySet()) out.put(e.getKey(), e.getValue().to(dtypes.get(e.getKey())));
        Map<String, String> meta = new LinkedHashMap<>(lastMeta);
        meta.put(STD_KEY, Double.toString(outStd[j]));
        meta.put(IMAGES_KEY, Long.toString(at));
        meta.put("kimg", Double.toString(at / 1000.0));
        meta.put("phema", "post-hoc EMA of " + in.size() + " stored snapshots");
        Path file = outDir.resolve(String.format(Locale.ROOT, "phema-%09d-%.3f.safetensors", at, outStd[j]));
        SafeTensors.write(file, out, meta);
        written.add(file);
        for (Tensor t : acc.get(j).values()) t.close();
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write post-hoc EMA snapshots into " + outDir + ": " + e.getMessage(), e);
    }
    return written;
  }
}
