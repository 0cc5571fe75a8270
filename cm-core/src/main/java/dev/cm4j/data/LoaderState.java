package dev.cm4j.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Where a {@link Loader} is in its item stream — everything needed to resume it exactly, as a small JSON-able
 * record (save it with a training checkpoint). The stream of one rank is a function of the dataset size, the seed,
 * the shuffle flag and the shard, so those are recorded too and checked on resume; the batch size may change
 * between save and resume (the stream is per item).
 *
 * @param epoch the epoch of the next item
 * @param position the index, within that epoch's permutation, of the next item this rank takes
 * @param flipState state of the x-flip generator ({@link SplitMix64})
 * @param seed the loader's seed
 * @param shuffle whether epochs are shuffled
 * @param rank this rank
 * @param worldSize number of ranks
 * @param datasetSize number of items in the dataset
 */
public record LoaderState(long epoch, long position, long flipState, long seed, boolean shuffle, int rank,
    int worldSize, int datasetSize) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** This state as a JSON object. */
  public String toJson() {
    try {
      return JSON.writeValueAsString(this);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Parses {@link #toJson()}'s output. */
  public static LoaderState fromJson(String json) {
    try {
      return JSON.readValue(json, LoaderState.class);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("malformed loader state: " + e.getOriginalMessage(), e);
    }
  }
}
