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

  /**
   * The same point of the global item stream, seen from shard {@code newRank} of {@code newWorld}: valid for a state
   * taken when every rank had consumed the same number of items (as after each synchronous data-parallel step). The
   * global position is {@code epoch · n + position − rank}; the new rank continues at that position plus its rank.
   * With x-flips, the new rank's flip generator is its own seed-derived stream advanced by the items it would have
   * consumed, so a run resumed with another world size flips other images than the original would have.
   */
  public LoaderState reshard(int newRank, int newWorld) {
    if (newWorld < 1 || newRank < 0 || newRank >= newWorld) {
      throw new IllegalArgumentException("bad shard " + newRank + " of " + newWorld);
    }
    if (newRank == rank && newWorld == worldSize) return this;
    long n = datasetSize;
    long global = epoch * n + position - rank;
    if (global < 0) throw new IllegalArgumentException("loader state " + this + " is not at a lockstep point");
    long next = global + newRank;
    long consumed = global <= newRank ? 0 : (global - newRank + newWorld - 1) / newWorld;
    long flip = SplitMix64.derive(seed ^ 0x6c6f61646572L, newRank) + consumed * 0x9E3779B97F4A7C15L;
    return new LoaderState(next / n, next % n, flip, seed, shuffle, newRank, newWorld, datasetSize);
  }
}
