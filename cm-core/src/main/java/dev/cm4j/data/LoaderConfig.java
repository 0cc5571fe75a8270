package dev.cm4j.data;

/**
 * Configuration of a {@link Loader} (a JSON-serialisable record, part of a run's options).
 *
 * @param batchSize items per batch on this rank (EDM's {@code batch_gpu})
 * @param seed seeds the per-epoch permutations and the x-flip stream
 * @param shuffle draw items in a fresh random permutation each epoch (false: dataset order)
 * @param infinite cycle over epochs forever (EDM's InfiniteSampler); false stops after the current epoch, the last
 *     batch possibly smaller
 * @param xflip flip each image horizontally with probability ½ (images only)
 * @param resolution output resolution; 0 keeps the dataset's (images only)
 * @param resize how to reach {@code resolution} from the dataset's resolution (images only)
 * @param useLabels deliver labels when the dataset has them
 * @param rank this process's rank, 0 ≤ rank &lt; worldSize
 * @param worldSize number of processes sharing the dataset; each epoch is split into disjoint, covering shards
 * @param prefetch number of ready batches a background thread keeps queued; 0 loads on the caller's thread
 * @param workers threads that decode the images of a batch: the producing thread (the prefetch thread, or the
 *     caller's with {@code prefetch} 0) plus {@code workers − 1} pool threads; 0 and 1 both mean the producing
 *     thread alone. Batches are bit-identical for every value.
 */
public record LoaderConfig(
    int batchSize,
    long seed,
    boolean shuffle,
    boolean infinite,
    boolean xflip,
    int resolution,
    Resize resize,
    boolean useLabels,
    int rank,
    int worldSize,
    int prefetch,
    int workers) {

  /** How images are brought to the output resolution. */
  public enum Resize {
    /**
     * Centre the image and pad with the background value −1 (zero-padding of the uint8 image), e.g. 28 → 32 with
     * 2 pixels on each side; an odd difference puts the extra pixel at the bottom/right. Cannot shrink.
     */
    PAD,
    /** Bilinear resampling as {@code F.interpolate(mode="bilinear", align_corners=False)}, no antialiasing. */
    BILINEAR
  }

  public LoaderConfig {
    if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1: " + batchSize);
    if (resolution < 0) throw new IllegalArgumentException("resolution must be >= 0: " + resolution);
    if (resize == null) resize = Resize.PAD;
    if (worldSize < 1 || rank < 0 || rank >= worldSize) {
      throw new IllegalArgumentException("need 0 <= rank < worldSize, got rank " + rank + " of " + worldSize);
    }
    if (prefetch < 0) throw new IllegalArgumentException("prefetch must be >= 0: " + prefetch);
    if (workers < 0) throw new IllegalArgumentException("workers must be >= 0: " + workers);
  }

  /** As the canonical constructor, decoding on the producing thread alone (workers 1). */
  public LoaderConfig(int batchSize, long seed, boolean shuffle, boolean infinite, boolean xflip, int resolution,
      Resize resize, boolean useLabels, int rank, int worldSize, int prefetch) {
    this(batchSize, seed, shuffle, infinite, xflip, resolution, resize, useLabels, rank, worldSize, prefetch, 1);
  }

  /**
   * Defaults for training: shuffled, infinite, no flip, native resolution, labels on, a single rank, 2 batches
   * prefetched, decoded on the prefetch thread.
   */
  public static LoaderConfig of(int batchSize, long seed) {
    return new LoaderConfig(batchSize, seed, true, true, false, 0, Resize.PAD, true, 0, 1, 2, 1);
  }

  /** With shuffling on or off. */
  public LoaderConfig withShuffle(boolean shuffle) {
    return new LoaderConfig(batchSize, seed, shuffle, infinite, xflip, resolution, resize, useLabels, rank,
        worldSize, prefetch, workers);
  }

  /** Infinite (true) or a single epoch (false). */
  public LoaderConfig withInfinite(boolean infinite) {
    return new LoaderConfig(batchSize, seed, shuffle, infinite, xflip, resolution, resize, useLabels, rank,
        worldSize, prefetch, workers);
  }

  /** With random x-flips on or off. */
  public LoaderConfig withXflip(boolean xflip) {
    return new LoaderConfig(batchSize, seed, shuffle, infinite, xflip, resolution, resize, useLabels, rank,
        worldSize, prefetch, workers);
  }

  /** Output images at {@code resolution} (0: the dataset's) using {@code resize}. */
  public LoaderConfig withResize(int resolution, Resize resize) {
    return new LoaderConfig(batchSize, seed, shuffle, infinite, xflip, resolution, resize, useLabels, rank,
        worldSize, prefetch, workers);
  }

  /** With labels on or off. */
  public LoaderConfig withLabels(boolean useLabels) {
    return new LoaderConfig(batchSize, seed, shuffle, infinite, xflip, resolution, resize, useLabels, rank,
        worldSize, prefetch, workers);
  }

  /** As shard {@code rank} of {@code worldSize}. */
  public LoaderConfig withShard(int rank, int worldSize) {
    return new LoaderConfig(batchSize, seed, shuffle, infinite, xflip, resolution, resize, useLabels, rank,
        worldSize, prefetch, workers);
  }

  /** With {@code prefetch} batches queued by a background thread (0: synchronous). */
  public LoaderConfig withPrefetch(int prefetch) {
    return new LoaderConfig(batchSize, seed, shuffle, infinite, xflip, resolution, resize, useLabels, rank,
        worldSize, prefetch, workers);
  }

  /** With a different batch size. */
  public LoaderConfig withBatchSize(int batchSize) {
    return new LoaderConfig(batchSize, seed, shuffle, infinite, xflip, resolution, resize, useLabels, rank,
        worldSize, prefetch, workers);
  }

  /** With {@code workers} threads decoding each batch's images (0 or 1: the producing thread alone). */
  public LoaderConfig withWorkers(int workers) {
    return new LoaderConfig(batchSize, seed, shuffle, infinite, xflip, resolution, resize, useLabels, rank,
        worldSize, prefetch, workers);
  }
}
