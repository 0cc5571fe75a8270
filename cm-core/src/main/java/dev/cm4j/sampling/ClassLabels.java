package dev.cm4j.sampling;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.Arrays;
import java.util.Locale;

/**
 * Which classes a conditional model samples, and their one-hot label vectors (EDM's {@code class_labels}). Classes
 * are assigned per image index, never per batch, so the samples of a run do not depend on the batch size: image i of
 * a request gets
 * <ul>
 *   <li>{@link #BALANCED}: class {@code i mod C} (EDM2/ECT-style class-balanced evaluation: every class equally often,
 *       exactly so when n is a multiple of C);</li>
 *   <li>{@link #RANDOM}: a class drawn uniformly by the image's own generator (EDM's generate.py: seed i draws image
 *       i's latent, then its class, {@code rnd.randint(label_dim)}), so the class depends on the image's seed only;</li>
 *   <li>a list {@code k₀, k₁, …}: class {@code k_(i mod len)} (one class for {@code --class K}).</li>
 * </ul>
 *
 * @param list the classes to cycle through, or null for balanced/random
 * @param random uniform random classes (list null)
 */
public record ClassLabels(int[] list, boolean random) {
  /** Image i gets class i mod C. */
  public static final ClassLabels BALANCED = new ClassLabels(null, false);
  /** Image i gets a uniformly random class drawn by its own generator (seed i). */
  public static final ClassLabels RANDOM = new ClassLabels(null, true);

  public ClassLabels {
    if (list != null) {
      if (random) throw new IllegalArgumentException("a class list is not random");
      if (list.length == 0) throw new IllegalArgumentException("the class list is empty");
      for (int k : list) if (k < 0) throw new IllegalArgumentException("class " + k + " is negative");
      list = list.clone();
    }
  }

  /** The given classes, cycled over the images. */
  public static ClassLabels of(int... classes) {
    return new ClassLabels(classes, false);
  }

  /**
   * Parses a {@code --class} value: "balanced", "random", one class "K" or a comma-separated list "0,3,5".
   *
   * @throws IllegalArgumentException naming the value when it is none of these
   */
  public static ClassLabels parse(String spec) {
    String s = spec == null ? "" : spec.trim().toLowerCase(Locale.ROOT);
    if (s.equals("balanced")) return BALANCED;
    if (s.equals("random") || s.equals("uniform")) return RANDOM;
    String[] parts = s.split(",", -1);
    int[] k = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      String p = parts[i].trim();
      if (!p.matches("\\d{1,9}")) {
        throw new IllegalArgumentException("--class takes a class index K, a list K1,K2,..., 'balanced' or 'random'; "
            + "got '" + spec + "'" + (p.isEmpty() ? " (an empty entry)" : " ('" + p + "' is not a class index)"));
      }
      k[i] = Integer.parseInt(p);
    }
    return of(k);
  }

  /**
   * The classes of images {@code first .. first + n − 1} for a model with {@code dim} classes.
   *
   * @param rnd {@link #RANDOM} only: a {@link Generator#stacked} generator with one row per image (image j's own
   *     generator, after its latent was drawn), which draws each image's class; unused otherwise (may be null)
   * @throws IllegalArgumentException if a listed class is not below dim, or random classes have no generator
   */
  public int[] classes(long first, int n, int dim, Generator rnd) {
    if (dim < 1) throw new IllegalArgumentException("the model is unconditional (no classes)");
    if (list != null) {
      for (int k : list) {
        if (k >= dim) {
          throw new IllegalArgumentException("class " + k + " does not exist: the model has " + dim + " classes (0.."
              + (dim - 1) + ")");
        }
      }
    }
    int[] c = new int[n];
    if (random) {
      if (rnd == null) throw new IllegalArgumentException("random classes are drawn by the images' generators: none given");
      try (Tensor k = Tensor.randint(0, dim, new long[] {n}, DType.INT64, rnd.device(), rnd)) {
        long[] v = k.to(Device.CPU).toLongArray();
        for (int i = 0; i < n; i++) c[i] = (int) v[i];
      }
      return c;
    }
    for (int i = 0; i < n; i++) {
      long idx = first + i;
      c[i] = list != null ? list[(int) Math.floorMod(idx, (long) list.length)] : (int) Math.floorMod(idx, (long) dim);
    }
    return c;
  }

  /** Classes of a sample grid with cols columns: row r shows class r mod dim. */
  public static int[] gridRows(int n, int cols, int dim) {
    int[] c = new int[n];
    for (int i = 0; i < n; i++) c[i] = (i / cols) % dim;
    return c;
  }

  /** One-hot float32 labels [n, dim] on device. */
  public static Tensor oneHot(int[] classes, int dim, Device device) {
    float[] v = new float[classes.length * dim];
    for (int i = 0; i < classes.length; i++) {
      if (classes[i] < 0 || classes[i] >= dim) {
        throw new IllegalArgumentException("class " + classes[i] + " is outside [0, " + dim + ")");
      }
      v[i * dim + classes[i]] = 1f;
    }
    Tensor t = Tensor.of(v, classes.length, dim);
    return device.type() == Device.Type.CPU ? t : t.to(device);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ClassLabels c && c.random == random && Arrays.equals(c.list, list);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(list) + Boolean.hashCode(random);
  }

  @Override
  public String toString() {
    return list != null ? Arrays.toString(list) : random ? "random" : "balanced";
  }
}
