package dev.cm4j.data;

import java.nio.file.Path;

/**
 * A file format that holds a point cloud, an {@code [N, D]} float array: the extension point of
 * {@link PointClouds}. Built in: {@code .npy} ({@link Npy}). Further formats (safetensors is planned) implement this
 * interface and are either registered with {@link PointClouds#register} or listed as a {@link java.util.ServiceLoader}
 * service in {@code META-INF/services/dev.cm4j.data.PointCloudFormat}.
 */
public interface PointCloudFormat {
  /** A short name for messages ("npy"). */
  String name();

  /** True if this format reads {@code file} (normally decided by the file name's extension). */
  boolean accepts(Path file);

  /**
   * Reads the point cloud. {@code key} selects one array in a multi-array container (a safetensors tensor name);
   * it is null for single-array formats, which reject a non-null key.
   *
   * @throws DataException naming the file if it is missing, malformed, or not a 2-D float array
   */
  InMemoryPointDataset read(Path file, String key);
}
