package dev.cm4j.tensor;

import java.nio.file.Path;

/**
 * What {@link Torch#load()} loaded, from where.
 *
 * @param library the cm_torch library file
 * @param libtorchVersion the version of the libtorch actually loaded
 * @param libtorchLibrary the libtorch library file (libtorch_cpu) that was loaded
 * @param source how the cm_torch library was found (explicit path, packaged, ...)
 */
public record NativeInfo(Path library, String libtorchVersion, Path libtorchLibrary, String source) {}
