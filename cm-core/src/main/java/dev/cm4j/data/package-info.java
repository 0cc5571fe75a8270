/**
 * Training data: datasets and the batch loader.
 *
 * <ul>
 *   <li>{@link dev.cm4j.data.Dataset} — indexable items (8-bit CHW images or float vectors) with optional labels:
 *       {@link dev.cm4j.data.ImageFolderDataset} (EDM's zip/folder format), {@link dev.cm4j.data.Cifar10Dataset},
 *       {@link dev.cm4j.data.IdxDataset} (MNIST, Fashion-MNIST), in-memory images and points, {@code .npy} point
 *       clouds ({@link dev.cm4j.data.PointClouds}, extensible through {@link dev.cm4j.data.PointCloudFormat}) and
 *       2-D toy distributions with exact samplers and densities ({@link dev.cm4j.data.Toy2D}).
 *   <li>{@link dev.cm4j.data.Loader} — seeded per-epoch shuffling, sharding by rank, collation to float32 in
 *       [−1, 1], pad/resize, random x-flips, background prefetch, and a {@link dev.cm4j.data.LoaderState} that
 *       checkpoints to JSON and resumes exactly. Configured by the record {@link dev.cm4j.data.LoaderConfig}.
 * </ul>
 *
 * Dataset files that are missing or malformed raise {@link dev.cm4j.data.DataException}, whose message names the
 * file. Nothing in this package except the final tensor creation in {@link dev.cm4j.data.Loader#next()} touches
 * libtorch, so datasets can be read on any thread.
 */
package dev.cm4j.data;
