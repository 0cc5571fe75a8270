package dev.cm4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.image.UInt8Image;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * EDM's dataset format ({@code training/dataset.py: ImageFolderDataset}, as written by {@code dataset_tool.py}): a
 * zip archive or a directory tree of images, plus an optional {@code dataset.json} at the root of the form
 * {@code {"labels": [["00000/img00000000.png", 6], ...]}} (or {@code "labels": null}).
 *
 * <p>As in EDM: every file (recursively, names relative with {@code /}) whose extension is an image extension is an
 * item; items are sorted by name (code-point order, like Python's {@code sorted}); the shape of the first image is
 * the dataset's shape and must be square; integer labels become class labels with {@code label_dim = max + 1},
 * list labels become float vectors. Differences: only formats ImageIO decodes are read (PNG, JPEG, BMP, GIF), and
 * files with other image extensions PIL knows (TIFF, WebP, …) make {@link #open} fail rather than being read;
 * palette images are expanded to colour (see {@link dev.cm4j.image.Png}). PNGs are decoded by {@link PngDecoder}.
 *
 * <p>Images are decoded on every read; wrap with {@link InMemoryImageDataset#copyOf} to decode once. Reads are
 * thread-safe. {@link #close()} closes the zip file.
 */
public final class ImageFolderDataset implements ImageDataset, AutoCloseable {
  private static final Set<String> READABLE = Set.of(".png", ".jpg", ".jpeg", ".bmp", ".gif");
  private static final Set<String> UNREADABLE = Set.of(".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm",
      ".tga", ".ico", ".jp2", ".j2k", ".dds", ".icns", ".pcx", ".sgi", ".im", ".psd", ".apng", ".avif", ".qoi");

  private final String root; // for messages
  private final Path dir; // folder, or null
  private final ZipFile zip; // zip, or null
  private final List<String> names;
  private final ZipEntry[] entries; // zip only
  private final int channels;
  private final int resolution;
  private final Labels labels;

  private ImageFolderDataset(String root, Path dir, ZipFile zip, List<String> names, int channels, int resolution,
      Labels labels) {
    this.root = root;
    this.dir = dir;
    this.zip = zip;
    this.names = List.copyOf(names);
    this.channels = channels;
    this.resolution = resolution;
    this.labels = labels;
    if (zip != null) {
      entries = new ZipEntry[names.size()];
      for (int i = 0; i < entries.length; i++) entries[i] = zip.getEntry(names.get(i));
    } else {
      entries = null;
    }
  }

  /** Opens a dataset folder or {@code .zip} file, with the labels of its dataset.json (if any). */
  public static ImageFolderDataset open(Path path) {
    return open(path, true);
  }

  /**
   * Opens a dataset folder or {@code .zip} file.
   *
   * @param useLabels false ignores dataset.json (EDM's {@code use_labels=False})
   * @throws DataException naming the file when the path is missing, the archive is corrupt, there are no images,
   *     the first image cannot be decoded or is not square, or dataset.json is malformed or lacks an image
   */
  public static ImageFolderDataset open(Path path, boolean useLabels) {
    if (!Files.exists(path)) throw new DataException(path.toString(), "dataset path not found");
    List<String> all = new ArrayList<>();
    ZipFile zip = null;
    Path dir = null;
    try {
      if (Files.isDirectory(path)) {
        dir = path;
        try (Stream<Path> s = Files.walk(path)) {
          final Path base = path;
          s.filter(Files::isRegularFile)
              .forEach(p -> all.add(base.relativize(p).toString().replace(p.getFileSystem().getSeparator(), "/")));
        } catch (IOException | UncheckedIOException e) {
          throw new DataException(path.toString(), "cannot list directory: " + e, e);
        }
      } else if (ext(path.getFileName().toString()).equals(".zip")) {
        try {
          zip = new ZipFile(path.toFile());
        } catch (ZipException e) {
          throw new DataException(path.toString(), "corrupt zip archive: " + e.getMessage(), e);
        } catch (IOException e) {
          throw new DataException(path.toString(), "cannot open zip archive: " + e, e);
        }
        zip.stream().filter(e -> !e.isDirectory()).forEach(e -> all.add(e.getName()));
      } else {
        throw new DataException(path.toString(), "expected a directory or a .zip file");
      }
      List<String> names = new ArrayList<>();
      for (String f : all) {
        String e = ext(f);
        if (READABLE.contains(e)) names.add(f);
        else if (e.equals(".npy")) {
          throw new DataException(path + "!" + f, "EDM2 latent datasets (.npy items from dataset_tool.py encode) "
              + "are not supported; train on the image dataset");
        }
        else if (UNREADABLE.contains(e)) {
          throw new DataException(path + "!" + f, "image format " + e + " is not supported (EDM would include "
              + "it; convert the dataset to PNG)");
        }
      }
      if (names.isEmpty()) throw new DataException(path.toString(), "no image files found");
      names.sort(CODE_POINT_ORDER);
      String root = path.toString();
      UInt8Image first = decode(root, dir, zip, names.get(0), zip == null ? null : zip.getEntry(names.get(0)));
      if (first.height() != first.width()) {
        throw new DataException(where(root, names.get(0)), "image is " + first.height() + "×" + first.width()
            + "; EDM datasets must be square");
      }
      Labels labels = null;
      if (useLabels && all.contains("dataset.json")) {
        labels = parseLabels(where(root, "dataset.json"), read(root, dir, zip, "dataset.json",
            zip == null ? null : zip.getEntry("dataset.json")), names);
      }
      return new ImageFolderDataset(root, dir, zip, names, first.channels(), first.height(), labels);
    } catch (RuntimeException e) {
      if (zip != null) {
        try {
          zip.close();
        } catch (IOException ignored) {
          // already failing
        }
      }
      throw e;
    }
  }

  /** Python's string order (by code point), which differs from {@link String#compareTo} only beyond the BMP. */
  static final Comparator<String> CODE_POINT_ORDER = (a, b) -> {
    int i = 0;
    int j = 0;
    while (i < a.length() && j < b.length()) {
      int ca = a.codePointAt(i);
      int cb = b.codePointAt(j);
      if (ca != cb) return Integer.compare(ca, cb);
      i += Character.charCount(ca);
      j += Character.charCount(cb);
    }
    return Integer.compare(a.length() - i, b.length() - j);
  };

  private static String ext(String name) {
    String base = name.substring(name.lastIndexOf('/') + 1);
    int dot = base.lastIndexOf('.');
    return dot <= 0 ? "" : base.substring(dot).toLowerCase(Locale.ROOT);
  }

  private static String where(String root, String name) {
    return root + (root.endsWith(".zip") ? "!" : "/") + name;
  }

  private static byte[] read(String root, Path dir, ZipFile zip, String name, ZipEntry entry) {
    if (zip == null) {
      Path f = dir.resolve(name);
      try {
        return Files.readAllBytes(f);
      } catch (NoSuchFileException e) {
        throw new DataException(f.toString(), "file not found", e);
      } catch (IOException e) {
        throw new DataException(f.toString(), "cannot read: " + e, e);
      }
    }
    if (entry == null) throw new DataException(where(root, name), "entry not found in the zip archive");
    try (InputStream in = zip.getInputStream(entry)) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new DataException(where(root, name), "cannot read zip entry (corrupt archive?): " + e, e);
    }
  }

  private static UInt8Image decode(String root, Path dir, ZipFile zip, String name, ZipEntry entry) {
    return PngDecoder.forThread().decode(read(root, dir, zip, name, entry), where(root, name));
  }

  private static Labels parseLabels(String file, byte[] json, List<String> names) {
    JsonNode rootNode;
    try {
      rootNode = new ObjectMapper().readTree(json);
    } catch (IOException e) {
      throw new DataException(file, "malformed JSON: " + e.getMessage(), e);
    }
    if (rootNode == null || !rootNode.isObject() || !rootNode.has("labels")) {
      throw new DataException(file, "expected an object with a \"labels\" key");
    }
    JsonNode ls = rootNode.get("labels");
    if (ls.isNull()) return null;
    if (!ls.isArray()) throw new DataException(file, "\"labels\" must be a list of [file name, label] pairs or null");
    Map<String, JsonNode> byName = new HashMap<>();
    for (JsonNode pair : ls) {
      if (!pair.isArray() || pair.size() != 2 || !pair.get(0).isTextual()) {
        throw new DataException(file, "bad label entry " + pair + " (expected [\"file name\", label])");
      }
      byName.put(pair.get(0).asText().replace('\\', '/'), pair.get(1));
    }
    JsonNode first = byName.get(names.get(0));
    boolean vectors = first != null && first.isArray();
    int dim = vectors ? first.size() : 1;
    int[] classes = vectors ? null : new int[names.size()];
    float[] vec = vectors ? new float[names.size() * dim] : null;
    for (int i = 0; i < names.size(); i++) {
      JsonNode v = byName.get(names.get(i));
      if (v == null) throw new DataException(file, "no label for image " + names.get(i));
      if (vectors) {
        if (!v.isArray() || v.size() != dim) {
          throw new DataException(file, "label of " + names.get(i) + " is " + v + "; expected a list of " + dim
              + " numbers like the first image's");
        }
        for (int k = 0; k < dim; k++) {
          if (!v.get(k).isNumber()) throw new DataException(file, "label of " + names.get(i) + " is " + v);
          vec[i * dim + k] = (float) v.get(k).asDouble();
        }
      } else {
        if (!v.isIntegralNumber() || v.asLong() < 0 || v.asLong() > Integer.MAX_VALUE - 1) {
          throw new DataException(file, "label of " + names.get(i) + " is " + v
              + "; expected a non-negative integer class");
        }
        classes[i] = v.asInt();
      }
    }
    return vectors ? Labels.vectors(vec, dim) : Labels.classes(classes);
  }

  /** The image file names (relative, with {@code /}), in item order. */
  public List<String> fileNames() {
    return names;
  }

  @Override
  public int size() {
    return names.size();
  }

  @Override
  public int channels() {
    return channels;
  }

  @Override
  public int resolution() {
    return resolution;
  }

  @Override
  public Optional<Labels> labels() {
    return Optional.ofNullable(labels);
  }

  @Override
  public void readImage(int i, byte[] dst, int off) {
    Objects.checkIndex(i, names.size());
    String name = names.get(i);
    UInt8Image im = decode(root, dir, zip, name, entries == null ? null : entries[i]);
    if (im.channels() != channels || im.height() != resolution || im.width() != resolution) {
      throw new DataException(where(root, name), "image has shape " + Arrays.toString(im.shape())
          + " but the dataset's (first image's) is [" + channels + ", " + resolution + ", " + resolution + "]");
    }
    System.arraycopy(im.data(), 0, dst, off, im.data().length);
  }

  /** Closes the zip archive (no-op for a folder). */
  @Override
  public void close() {
    if (zip == null) return;
    try {
      zip.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
