package dev.cm4j.data;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Point clouds — {@code [N, D]} float arrays — read from files into {@link InMemoryPointDataset}s, dispatching on
 * the file format ({@link PointCloudFormat}). Built in: {@code .npy} (little-endian f4/f8, C order, 2-D; float64 is
 * rounded to float32), {@code .npz} and {@code .safetensors} (the array named by {@code key}, or the only one).
 */
public final class PointClouds {
  private PointClouds() {}

  private static final List<PointCloudFormat> FORMATS = new CopyOnWriteArrayList<>();

  static {
    FORMATS.add(new NpyFormat());
    FORMATS.add(new SafetensorsFormat());
    FORMATS.add(new NpzFormat());
    ServiceLoader.load(PointCloudFormat.class).forEach(FORMATS::add);
  }

  /** Adds a format; it is consulted before the ones registered earlier. */
  public static void register(PointCloudFormat format) {
    FORMATS.addFirst(format);
  }

  /** The registered formats, most recently registered first. */
  public static List<PointCloudFormat> formats() {
    return List.copyOf(FORMATS);
  }

  /** Reads a single-array point-cloud file (e.g. {@code .npy}). */
  public static InMemoryPointDataset read(Path file) {
    return read(file, null);
  }

  /**
   * Reads a point cloud; {@code key} names the array inside a multi-array container (null for single-array files).
   *
   * @throws DataException naming the file if no registered format accepts it, or the format's reader fails
   */
  public static InMemoryPointDataset read(Path file, String key) {
    for (PointCloudFormat f : FORMATS) {
      if (f.accepts(file)) return f.read(file, key);
    }
    throw new DataException(file.toString(), "no point-cloud format accepts this file; known: "
        + FORMATS.stream().map(PointCloudFormat::name).toList());
  }

  /** Converts a 2-D float array to a point dataset; {@code name} is the file for messages. */
  public static InMemoryPointDataset fromArray(Npy.Array a, String name) {
    if (a.shape().length != 2) {
      throw new DataException(name, "a point cloud must be a 2-D [N, D] array, got shape "
          + Arrays.toString(a.shape()));
    }
    if (a.shape()[1] < 1) throw new DataException(name, "points of dimension 0");
    return new InMemoryPointDataset(a.toFloatArray(), Math.toIntExact(a.shape()[1]), null);
  }

  /**
   * The built-in {@code .safetensors} format: the tensor named by key (or the only tensor, when the file holds one),
   * a 2-D floating-point array converted to float32.
   */
  private static final class SafetensorsFormat implements PointCloudFormat {
    @Override
    public String name() {
      return "safetensors";
    }

    @Override
    public boolean accepts(Path file) {
      return file.getFileName() != null
          && file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors");
    }

    @Override
    public InMemoryPointDataset read(Path file, String key) {
      try (dev.cm4j.io.SafeTensorFile f = dev.cm4j.io.SafeTensors.read(file);
          dev.cm4j.tensor.TensorScope s = dev.cm4j.tensor.TensorScope.open()) {
        String name = key;
        if (name == null) {
          if (f.size() != 1) {
            throw new DataException(file.toString(), "holds " + f.size() + " tensors " + f.names()
                + ": name the point cloud with a key");
          }
          name = f.names().get(0);
        }
        if (!f.contains(name)) throw new DataException(file.toString(), "has no tensor '" + name + "'");
        dev.cm4j.tensor.Tensor t = f.tensor(name);
        if (t.dim() != 2 || t.size(1) < 1) {
          throw new DataException(file.toString(), "tensor '" + name + "' must be a 2-D [N, D] array, got shape "
              + Arrays.toString(t.shape()));
        }
        if (!t.dtype().isFloatingPoint()) {
          throw new DataException(file.toString(), "tensor '" + name + "' must be floating point, got " + t.dtype());
        }
        return new InMemoryPointDataset(t.toFloatArray(), Math.toIntExact(t.size(1)), null);
      } catch (java.io.IOException e) {
        throw new DataException(file.toString(), "cannot read: " + e.getMessage());
      } catch (dev.cm4j.io.SafeTensorsException e) {
        throw new DataException(file.toString(), e.getMessage());
      }
    }
  }

  /** The built-in {@code .npz} format: the array named by key, or the only array of the archive. */
  private static final class NpzFormat implements PointCloudFormat {
    @Override
    public String name() {
      return "npz";
    }

    @Override
    public boolean accepts(Path file) {
      return file.getFileName() != null && file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".npz");
    }

    @Override
    public InMemoryPointDataset read(Path file, String key) {
      java.util.Map<String, Npy.Array> all = Npz.read(file);
      String name = key;
      if (name == null) {
        if (all.size() != 1) {
          throw new DataException(file.toString(), "holds " + all.size() + " arrays " + all.keySet()
              + ": name the point cloud with data.key");
        }
        name = all.keySet().iterator().next();
      }
      Npy.Array a = all.get(name);
      if (a == null) throw new DataException(file.toString(), "has no array '" + name + "' (has " + all.keySet() + ")");
      return fromArray(a, file + ":" + name);
    }
  }

  /** The built-in {@code .npy} format. */
  private static final class NpyFormat implements PointCloudFormat {
    @Override
    public String name() {
      return "npy";
    }

    @Override
    public boolean accepts(Path file) {
      return file.getFileName() != null && file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".npy");
    }

    @Override
    public InMemoryPointDataset read(Path file, String key) {
      if (key != null) throw new IllegalArgumentException(".npy files hold one array; key must be null");
      return fromArray(Npy.read(file), file.toString());
    }
  }
}
