package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.cm4j.data.Cifar10Dataset;
import dev.cm4j.data.ClassGaussians;
import dev.cm4j.data.Dataset;
import dev.cm4j.data.IdxDataset;
import dev.cm4j.data.ImageFolderDataset;
import dev.cm4j.data.InMemoryPointDataset;
import dev.cm4j.data.PointClouds;
import dev.cm4j.data.SplitMix64;
import dev.cm4j.data.Toy2D;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The training data (options.data), chosen by {@code kind}: image sets (fashion-mnist, cifar10, folder) carry the
 * loader's resolution, x-flip and the sample grid's size; point sets (npy, toy2d) are [N, D] floats.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.EXISTING_PROPERTY, property = "kind", visible = true)
@JsonSubTypes({
    @JsonSubTypes.Type(value = DataOptions.Images.class, names = {"fashion-mnist", "cifar10", "folder"}),
    @JsonSubTypes.Type(value = DataOptions.Npy.class, name = "npy"),
    @JsonSubTypes.Type(value = DataOptions.Toy2d.class, name = "toy2d")})
public sealed interface DataOptions {
  /** fashion-mnist | cifar10 | folder | npy | toy2d. */
  String kind();

  /** Opens the dataset. */
  Dataset open();

  /**
   * Opens the dataset with its labels when {@code labels} (options.cond): kind folder then reads dataset.json whatever
   * use_labels says; the other kinds always carry the labels they have.
   */
  default Dataset open(boolean labels) {
    return open();
  }

  /** The loader's image resolution (images are padded to it), or {@code own} (the dataset's) when 0 or points. */
  default int resolutionOr(int own) {
    return own;
  }

  /** Random horizontal flips. */
  default boolean xflip() {
    return false;
  }

  /** Images in a sample grid. */
  default int grid() {
    return 64;
  }

  /**
   * Threads decoding each batch's images (EDM's {@code --workers}, default 1): 0 loads every batch on the training
   * thread itself, 1 on one background (prefetch) thread, n on that thread plus n − 1 helpers. Batches do not
   * depend on it.
   */
  default int workers() {
    return 1;
  }

  private static Path existing(String path, String kind) {
    if (path == null) throw new OptionException("data.path", "required for data.kind " + kind);
    if (!Files.exists(Path.of(path))) throw new IllegalArgumentException("data.path does not exist: " + path);
    return Path.of(path);
  }

  /**
   * An image set: Fashion-MNIST (IDX files in path, or Debian's dataset-fashion-mnist when path is null), CIFAR-10
   * (the python or binary archive/directory) or a folder/zip of images (EDM's dataset.json labels with use_labels, or
   * whenever options.cond is true; use_labels alone only loads them).
   *
   * @param resolution loader resolution (images are padded to it; 0: the dataset's own)
   * @param grid images in the sample grids
   * @param workers threads decoding each batch ({@link DataOptions#workers()})
   */
  record Images(
      @JsonProperty("kind") String kind,
      @JsonProperty("path") String path,
      @JsonProperty("resolution") int resolution,
      @JsonProperty("xflip") boolean xflip,
      @JsonProperty("grid") int grid,
      @JsonProperty("use_labels") boolean useLabels,
      @JsonProperty("workers") int workers) implements DataOptions {
    public Images {
      OptionException.oneOf("kind", kind, List.of("fashion-mnist", "cifar10", "folder"));
      OptionException.atLeast("resolution", resolution, 0);
      OptionException.atLeast("grid", grid, 1);
      OptionException.atLeast("workers", workers, 0);
      if (useLabels && !kind.equals("folder")) throw new OptionException("use_labels", "only for kind folder");
    }

    static Images defaults(String kind) {
      return new Images(kind, null, 0, false, 64, false, 1);
    }

    @Override
    public int resolutionOr(int own) {
      return resolution > 0 ? resolution : own;
    }

    @Override
    public Dataset open() {
      return open(useLabels);
    }

    @Override
    public Dataset open(boolean labels) {
      return switch (kind) {
        case "fashion-mnist" -> path != null ? IdxDataset.openStandard(Path.of(path), true)
            : IdxDataset.debianFashionMnist(true).orElseThrow(() -> new IllegalArgumentException(
                "Fashion-MNIST not found in " + IdxDataset.DEBIAN_FASHION_MNIST
                    + ": install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or set data.path"));
        case "cifar10" -> Cifar10Dataset.open(existing(path, kind), true);
        default -> ImageFolderDataset.open(existing(path, kind), labels || useLabels);
      };
    }
  }

  /** Points from a .npy/.npz/.safetensors file ([N, D] floats; key picks the array of an archive). */
  record Npy(@JsonProperty("kind") String kind, @JsonProperty("path") String path, @JsonProperty("key") String key)
      implements DataOptions {
    public Npy {
      OptionException.oneOf("kind", kind, List.of("npy"));
    }

    static Npy defaults(String kind) {
      return new Npy("npy", null, null);
    }

    @Override
    public Dataset open() {
      return PointClouds.read(existing(path, kind), key);
    }
  }

  /**
   * A 2-D toy distribution, sampled once with its own seed and scaled.
   *
   * @param name eight-gaussians | checkerboard | two-moons | swiss-roll (unlabelled) | class-gaussians (labelled: one
   *     Gaussian mode per class, {@link ClassGaussians} with radius 2 and σ 0.2)
   * @param size points drawn
   * @param scale factor applied to the distribution's points
   * @param seed seed of the draw
   * @param classes class-gaussians: the number of classes (modes)
   */
  record Toy2d(@JsonProperty("kind") String kind, @JsonProperty("name") String name, @JsonProperty("size") int size,
      @JsonProperty("scale") double scale, @JsonProperty("seed") long seed, @JsonProperty("classes") int classes)
      implements DataOptions {
    public Toy2d {
      OptionException.oneOf("kind", kind, List.of("toy2d"));
      OptionException.oneOf("name", name, List.of("eight-gaussians", "checkerboard", "two-moons", "swiss-roll",
          "class-gaussians"));
      OptionException.atLeast("size", size, 1);
      OptionException.positive("scale", scale);
      OptionException.atLeast("classes", classes, 1);
    }

    static Toy2d defaults(String kind) {
      return new Toy2d("toy2d", "eight-gaussians", 100_000, 0.25, 0, 4);
    }

    @Override
    public Dataset open() {
      if (name.equals("class-gaussians")) return new ClassGaussians(classes, 2.0, 0.2).dataset(size, seed, scale);
      Toy2D toy = switch (name) {
        case "eight-gaussians" -> Toy2D.EightGaussians.DEFAULT;
        case "checkerboard" -> Toy2D.Checkerboard.DEFAULT;
        case "two-moons" -> Toy2D.TwoMoons.DEFAULT;
        default -> Toy2D.SwissRoll.DEFAULT;
      };
      double[] pts = toy.sample(size, new SplitMix64(seed));
      float[] f = new float[pts.length];
      for (int i = 0; i < pts.length; i++) f[i] = (float) (pts[i] * scale);
      return new InMemoryPointDataset(f, 2, null);
    }
  }
}
