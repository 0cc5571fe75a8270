package dev.cm4j.train;

import dev.cm4j.data.DataStats;
import dev.cm4j.data.Dataset;
import dev.cm4j.data.ImageDataset;
import dev.cm4j.data.PointDataset;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Module;
import dev.cm4j.sampling.ClassLabels;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A network snapshot written by the trainer ({@code network-snapshot-*.safetensors}): the EMA model's state dict plus the
 * run's training options in the metadata, from which the model is rebuilt for sampling, and what sampling needs to
 * know about the data ({@link #describe}: kind, item shape, σ_data), so that a snapshot samples without its data.
 */
public final class Snapshot implements AutoCloseable {
  private final TrainingOptions options;
  private final RunObjective objective;
  private final Module model;
  private final long[] itemShape;
  private final Map<String, String> metadata;

  private final int labelDim;
  private ClassLabels classes;
  private double guidance = 1;
  private Snapshot guide;

  private Snapshot(TrainingOptions options, RunObjective objective, long[] itemShape, Map<String, String> metadata,
      int labelDim) {
    this.options = options;
    this.objective = objective;
    this.model = objective.model();
    this.itemShape = itemShape;
    this.metadata = metadata;
    this.labelDim = labelDim;
    this.classes = labelDim > 0 ? ClassLabels.BALANCED : null;
  }

  /** Metadata key of the item shape, e.g. "2" (points) or "3,32,32" (C,H,W). */
  public static final String ITEM_SHAPE = "item_shape";
  /** Metadata key of the data kind (data.kind at training time). */
  public static final String DATA_KIND = "data_kind";
  /** Metadata key of σ_data of the preconditioning. */
  public static final String SIGMA_DATA = "sigma_data";
  /** Metadata key of the network's class-label dimension (0: unconditional). */
  public static final String LABEL_DIM = "label_dim";
  /** Metadata key of the training data's standard deviation (point data only). */
  public static final String DATA_STD = "data_std";

  /**
   * What sampling needs to know about the training data, for the snapshot's metadata: data kind, item shape,
   * resolution and channels (0 resolution for points), σ_data, and for points the data's standard deviation. With
   * these a snapshot samples without its training data.
   */
  public static Map<String, String> describe(TrainingOptions o, Dataset d) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put(DATA_KIND, o.data().kind());
    long[] shape = itemShape(o, d);
    StringBuilder b = new StringBuilder();
    for (long v : shape) b.append(b.isEmpty() ? "" : ",").append(v);
    m.put(ITEM_SHAPE, b.toString());
    m.put("resolution", Long.toString(shape.length == 3 ? shape[1] : 0));
    m.put("channels", Long.toString(shape[0]));
    m.put(SIGMA_DATA, Double.toString(o.precond().sigmaData()));
    m.put(LABEL_DIM, Integer.toString(RunObjective.labelDim(o)));
    if (d instanceof PointDataset pd) m.put(DATA_STD, Double.toString(DataStats.pointStd(pd, 100_000)));
    return m;
  }

  /** The item shape a run trains on: (C, R, R) with R = data.resolution or the images' own, or (D) for points. */
  static long[] itemShape(TrainingOptions o, Dataset d) {
    if (d instanceof ImageDataset img) {
      long r = o.data().resolutionOr(img.resolution());
      return new long[] {img.channels(), r, r};
    }
    return new long[] {((PointDataset) d).dim()};
  }

  /** Parses the item_shape metadata: 1 (points) or 3 (C, H, W) positive sizes. */
  static long[] parseItemShape(String v, Path file) {
    String[] parts = v.split(",");
    long[] shape = new long[parts.length];
    try {
      for (int i = 0; i < parts.length; i++) shape[i] = Long.parseLong(parts[i].trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(file + ": malformed item_shape metadata '" + v + "'");
    }
    boolean ok = (shape.length == 1 || (shape.length == 3 && shape[1] == shape[2]))
        && Arrays.stream(shape).allMatch(x -> x > 0 && x <= Integer.MAX_VALUE);
    if (!ok) throw new IllegalArgumentException(file + ": item_shape metadata '" + v + "' is not D or C,R,R");
    return shape;
  }

  /**
   * Loads a snapshot. The data shape comes from the snapshot's own metadata ({@link #describe}); a snapshot written
   * before that metadata existed falls back to opening the dataset named in its options.
   */
  public static Snapshot load(Path file) {
    return load(file, Device.CPU);
  }

  /**
   * Loads a snapshot onto device (the file itself is device-independent: plain safetensors, read on the CPU and copied
   * to the device); {@link #sample} then draws its latents and re-noising on that device.
   */
  public static Snapshot load(Path file, Device device) {
    try (SafeTensorFile f = SafeTensors.read(file); TensorScope s = TensorScope.open()) {
      String json = f.metadata().get("training_options");
      if (json == null) throw new IllegalArgumentException(file + " is not a cm4j network snapshot (no training_options)");
      TrainingOptions o = TrainingOptions.fromJson(json);
      long[] shape;
      String described = f.metadata().get(ITEM_SHAPE);
      if (described != null) {
        shape = parseItemShape(described, file);
      } else {
        try {
          shape = itemShape(o, Builders.dataset(o.data()));
        } catch (RuntimeException e) {
          throw new IllegalArgumentException(file + " has no item_shape metadata (written by an older cm4j), so its "
              + "training data is needed to learn the sample shape, and that failed: " + e.getMessage(), e);
        }
      }
      int resolution = shape.length == 3 ? (int) shape[1] : 0;
      int channels = (int) shape[0];
      RunObjective obj = RunObjective.create(o, (cfg, s2) -> Builders.network(cfg, resolution, channels, s2), o.seed(),
          device);
      Map<String, Tensor> sd = new LinkedHashMap<>();
      for (String k : f.names()) sd.put(k, f.tensor(k));
      try {
        obj.model().loadStateDict(sd, true);
      } catch (IllegalArgumentException e) {
        obj.model().close();
        throw new IllegalArgumentException("snapshot " + file + " does not fit the network its options describe: "
            + e.getMessage(), e);
      }
      obj.model().eval();
      int labelDim = RunObjective.labelDim(o);
      String ld = f.metadata().get(LABEL_DIM);
      if (ld != null && !ld.equals(Integer.toString(labelDim))) {
        obj.model().close();
        throw new IllegalArgumentException(file + ": label_dim metadata '" + ld + "' differs from its options' "
            + "network.label_dim " + labelDim);
      }
      return new Snapshot(o, obj, shape, Map.copyOf(f.metadata()), labelDim);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read snapshot " + file + ": " + e.getMessage(), e);
    }
  }

  /** The snapshot's metadata (training_options, kimg, and the keys of {@link #describe} when present). */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** Whether the snapshot samples points (item shape [D]) rather than images. */
  public boolean samplesPoints() {
    return itemShape.length == 1;
  }

  /** The run's options. */
  public TrainingOptions options() {
    return options;
  }

  /** The shape of one sample (C, H, W) or (D). */
  public long[] itemShape() {
    return itemShape.clone();
  }

  /** The device the model is on. */
  public Device device() {
    return objective.device;
  }

  /** The network's class-label dimension: the number of classes of a class-conditional snapshot, 0 otherwise. */
  public int labelDim() {
    return labelDim;
  }

  /** Whether the snapshot is class-conditional. */
  public boolean conditional() {
    return labelDim > 0;
  }

  /**
   * Sets how {@link #sample} conditions and guides the model.
   *
   * @param classes the classes to sample (null: {@link ClassLabels#BALANCED} for a conditional snapshot); an
   *     unconditional snapshot takes none
   * @param w guidance weight (1: none); with a null guide classifier-free guidance, which needs a conditional model
   *     trained with label dropout
   * @param guide a weaker snapshot of the same run type, shape and classes (autoguidance), or null; it is sampled
   *     on its own device, which must be this one's
   * @throws IllegalArgumentException naming what does not fit
   */
  public void setSampling(ClassLabels classes, double w, Snapshot guide) {
    if (classes != null && labelDim == 0) {
      throw new IllegalArgumentException("this snapshot is unconditional (label_dim 0): it samples no classes; "
          + "--class needs a class-conditional snapshot (trained with cond=true)");
    }
    if (classes != null && classes.list() != null) {
      for (int k : classes.list()) {
        if (k >= labelDim) {
          throw new IllegalArgumentException("class " + k + " does not exist: this snapshot has " + labelDim
              + " classes (0.." + (labelDim - 1) + ")");
        }
      }
    }
    if (!Double.isFinite(w)) throw new IllegalArgumentException("guidance weight must be finite, got " + w);
    if (objective.takesGuidanceScale()) {
      // AYF's guidance-scale conditioning: the guidance is distilled, w is the student's input
      if (guide != null) {
        throw new IllegalArgumentException("this snapshot is guidance-conditioned (objective.guidance_cond): the "
            + "guidance is distilled into it and --guidance sets the scale it samples at; --guide does not apply");
      }
      objective.setSampleGuidanceScale(w);
      this.classes = labelDim > 0 ? (classes != null ? classes : ClassLabels.BALANCED) : null;
      this.guidance = 1;
      this.guide = null;
      return;
    }
    if (guide == null && w != 1) {
      if (labelDim == 0) {
        throw new IllegalArgumentException("classifier-free guidance (--guidance " + w + ") needs a class-conditional "
            + "snapshot; this one is unconditional: give a weaker snapshot with --guide for autoguidance");
      }
      double drop = options.tree().path("network").path("label_dropout").asDouble(0);
      if (drop <= 0) {
        throw new IllegalArgumentException("classifier-free guidance (--guidance " + w + ") needs a model trained with "
            + "label dropout, but this snapshot's network.label_dropout is 0 (it never saw the unconditional zero "
            + "label): train with network.label_dropout > 0, or give a weaker snapshot with --guide (autoguidance)");
      }
    }
    if (guide != null) {
      if (guide.objective.getClass() != objective.getClass() || !Arrays.equals(guide.itemShape, itemShape)
          || guide.labelDim != labelDim) {
        throw new IllegalArgumentException("the guide snapshot does not fit: it is a " + guide.options.objective().kind()
            + " model of items " + Arrays.toString(guide.itemShape) + " with " + guide.labelDim + " classes, this one a "
            + options.objective().kind() + " model of items " + Arrays.toString(itemShape) + " with " + labelDim
            + " classes");
      }
      if (!guide.device().equals(device())) {
        throw new IllegalArgumentException("the guide snapshot is on " + guide.device() + ", this one on " + device());
      }
    }
    this.classes = labelDim > 0 ? (classes != null ? classes : ClassLabels.BALANCED) : null;
    this.guidance = w;
    this.guide = guide;
  }

  /**
   * The guidance weight to sample at when none is given: 1 (none), or for a guidance-conditioned AYF snapshot its
   * objective.guidance (the scale it samples at by default).
   */
  public double defaultGuidance() {
    return objective.defaultGuidance();
  }

  /**
   * Sets γ of γ-sampling (AYF flow maps, docs/algorithms/ayf.md §3; default: the snapshot's objective.sample_gamma).
   * Its re-noising is drawn from each image's own generator, after the latent (and class), so per-image seeds hold.
   *
   * @throws IllegalArgumentException for γ outside [0, 1], or γ ≠ 0 for a snapshot whose sampler has no γ
   */
  public void setGamma(double gamma) {
    objective.setSampleGamma(gamma);
  }

  /**
   * The classes of images first .. first + n − 1 under the classes set, with image i seeded {@code seed + i} (null when
   * unconditional); random classes are drawn as {@link #sample(int, double[], long, long)} draws them.
   */
  public int[] classes(long first, int n, long seed) {
    if (labelDim == 0) return null;
    if (!classes.random()) return classes.classes(first, n, labelDim, null);
    try (TensorScope sc = TensorScope.open(); Generator rnd = Generator.stacked(objective.device, seed + first, n)) {
      Tensor.randn(batchShape(n), DType.FLOAT32, objective.device, rnd); // the latents come first
      return classesOf(first, n, rnd);
    }
  }

  /**
   * The classes of images first.. whose generators drew their latents: as EDM's generate.py, every image of a
   * conditional model draws a random class (so the re-noising that follows is the same whatever --class says), which
   * a listed or balanced choice then replaces.
   */
  private int[] classesOf(long first, int n, Generator rnd) {
    int[] drawn = ClassLabels.RANDOM.classes(first, n, labelDim, rnd);
    return classes.random() ? drawn : classes.classes(first, n, labelDim, null);
  }

  private long[] batchShape(int n) {
    long[] shape = new long[itemShape.length + 1];
    shape[0] = n;
    System.arraycopy(itemShape, 0, shape, 1, itemShape.length);
    return shape;
  }

  /**
   * n samples on {@link #device()}: one step, then one more per intermediate time in mids; image i drawn by its own
   * generator seeded {@code seed + i} (EDM's per-image seeds); a conditional snapshot's classes are those of images
   * 0 .. n − 1 ({@link #sample(int, double[], long, long)}).
   */
  public Tensor sample(int n, double[] mids, long seed) {
    return sample(n, mids, seed, 0);
  }

  /**
   * n samples as {@link #sample(int, double[], long)}, being images {@code first .. first + n − 1} of a larger request.
   * Image i has its own generator on the device, seeded {@code seed + i} (EDM generate.py's per-image seeds and
   * {@code StackedRandomGenerator}, {@link Generator#stacked}), which draws its latent, then (conditional model) its
   * class, then its re-noising at each intermediate time; listed and balanced classes replace the drawn one by the
   * index i, as generate.py's {@code --class} does. So an image does not depend on the batch it is drawn in. Guidance
   * as set.
   */
  public Tensor sample(int n, double[] mids, long seed, long first) {
    Device device = objective.device;
    try (GradMode g = GradMode.noGrad(); Generator rnd = Generator.stacked(device, seed + first, n)) {
      Tensor z = Tensor.randn(batchShape(n), DType.FLOAT32, device, rnd);
      Tensor labels = labelDim == 0 ? null
          : ClassLabels.oneHot(classesOf(first, n, rnd), labelDim, device);
      return objective.sample(model, z, mids, labels, guidance, guide == null ? null : guide.model, rnd);
    }
  }

  @Override
  public void close() {
    model.close();
  }
}
