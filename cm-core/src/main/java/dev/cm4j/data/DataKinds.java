package dev.cm4j.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;

/**
 * The {@code data.kind} a path on disk holds, told from its name and layout, so that {@code cm train --data PATH}
 * trains on that path whatever kind the preset started from:
 * <ul>
 *   <li>{@code .npy}, {@code .npz}, {@code .safetensors} files: point clouds ({@value #POINTS});
 *   <li>a directory with {@code data_batch_1.bin}: the CIFAR-10 binary batches ({@value #CIFAR10});
 *   <li>a directory with {@code train-images-idx3-ubyte[.gz]}: an MNIST-layout set ({@value #FASHION_MNIST});
 *   <li>any other directory, or a {@code .zip}: an image folder ({@value #FOLDER}).
 * </ul>
 * Anything else (a missing path, one CIFAR batch file, an unextracted archive, an unknown extension) is an error that
 * says what to pass instead.
 */
public final class DataKinds {
  private DataKinds() {}

  public static final String POINTS = "npy";
  public static final String TOY2D = "toy2d";
  public static final String CIFAR10 = "cifar10";
  public static final String FASHION_MNIST = "fashion-mnist";
  public static final String FOLDER = "folder";

  /** Kinds whose items are points [D] (trained with an MLP). */
  public static final Set<String> POINT_KINDS = Set.of(POINTS, TOY2D);

  /** Kinds whose items are images [C, H, W]. */
  public static final Set<String> IMAGE_KINDS = Set.of(CIFAR10, FASHION_MNIST, FOLDER);

  /** Whether a data kind holds points rather than images. */
  public static boolean isPoints(String kind) {
    return POINT_KINDS.contains(kind);
  }

  /**
   * The data kind of a path.
   *
   * @throws DataException naming the path when it does not exist or its kind cannot be told
   */
  public static String infer(Path path) {
    if (!Files.exists(path)) throw new DataException(path.toString(), "no such file or directory");
    String name = path.getFileName() == null ? "" : path.getFileName().toString().toLowerCase(Locale.ROOT);
    if (Files.isDirectory(path)) {
      if (Files.exists(path.resolve("data_batch_1.bin"))) return CIFAR10;
      if (Files.exists(path.resolve("cifar-10-batches-bin").resolve("data_batch_1.bin"))) {
        throw new DataException(path.toString(), "holds CIFAR-10 in cifar-10-batches-bin/: pass that directory");
      }
      if (Files.exists(path.resolve("train-images-idx3-ubyte"))
          || Files.exists(path.resolve("train-images-idx3-ubyte.gz"))) {
        return FASHION_MNIST;
      }
      if (isEmpty(path)) throw new DataException(path.toString(), "is an empty directory");
      return FOLDER;
    }
    if (name.endsWith(".npy") || name.endsWith(".npz") || name.endsWith(".safetensors")) return POINTS;
    if (name.endsWith(".zip")) return FOLDER;
    if (name.matches("(data|test)_batch(_\\d+)?\\.bin")) {
      throw new DataException(path.toString(), "is one CIFAR-10 batch: pass the directory that holds "
          + "data_batch_1.bin .. data_batch_5.bin");
    }
    if (name.endsWith(".tar.gz") || name.endsWith(".tgz") || name.endsWith(".tar")) {
      throw new DataException(path.toString(), "is an archive: extract it and pass the directory (CIFAR-10: "
          + "cifar-10-batches-bin/; images: a folder or a .zip)");
    }
    throw new DataException(path.toString(), "cannot tell the data kind from this file: expected a point cloud "
        + "(.npy, .npz, .safetensors), an image folder or .zip, a CIFAR-10 binary directory or an MNIST-layout "
        + "directory");
  }

  private static boolean isEmpty(Path dir) {
    try (var s = Files.list(dir)) {
      return s.findAny().isEmpty();
    } catch (IOException e) {
      throw new DataException(dir.toString(), "cannot list directory: " + e.getMessage(), e);
    }
  }
}
