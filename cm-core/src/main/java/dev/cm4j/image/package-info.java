/**
 * 8-bit images on the host: {@link dev.cm4j.image.UInt8Image} (planar CHW), PNG reading and writing through
 * {@code javax.imageio} ({@link dev.cm4j.image.Png}), sample grids from {@code [N, C, H, W]} tensors in [−1, 1]
 * ({@link dev.cm4j.image.ImageGrid}) and torch-compatible bilinear resampling ({@link dev.cm4j.image.Resample}).
 */
package dev.cm4j.image;
