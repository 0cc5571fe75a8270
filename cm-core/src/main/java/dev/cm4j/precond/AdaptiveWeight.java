package dev.cm4j.precond;

import dev.cm4j.nn.Init;
import dev.cm4j.nn.Linear;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.PositionalEmbedding;
import dev.cm4j.tensor.Tensor;

/**
 * sCM's learned adaptive weighting w_φ(t) (Eq. 8, EDM2-style uncertainty weighting): a linear head on a positional
 * embedding of the time label. Zero-initialised, so training starts with e^w = 1 (docs/algorithms/scm.md §2.5).
 */
public final class AdaptiveWeight extends Module {
  private final PositionalEmbedding embedding;
  private final Linear head;

  /** A head over a channels-wide positional embedding (sCM reimplementations use 128). */
  public AdaptiveWeight(int channels) {
    embedding = child("embedding", new PositionalEmbedding(channels, 10000, true));
    head = child("linear", new Linear(channels, 1, true, new Init("xavier_uniform", 0, 0)));
  }

  /** w_φ(c) [N] for time labels c [N]. */
  public Tensor forward(Tensor timeLabels) {
    return head.forward(embedding.forward(timeLabels)).flatten();
  }
}
