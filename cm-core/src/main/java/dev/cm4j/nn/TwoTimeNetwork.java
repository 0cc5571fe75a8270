package dev.cm4j.nn;

import dev.cm4j.tensor.Tensor;

/**
 * A network of two time inputs for MeanFlow's average velocity u(z, r, t) (docs/algorithms/meanflow.md §3): it feeds
 * the raw network F the pair (t, t − r), the conditioning the MeanFlow paper and both official codes use, as
 * {@code F(z, c·t, c·(t − r), labels)} with the time scale c (1 in the official codes).
 *
 * <p>The second time goes through the second-time path that {@link SongUNet} and {@link MLPDenoiser} already have for
 * CTM ({@code s_embedding}): its own mapping MLP, whose output enters every residual block through its own
 * zero-initialised projection, added to the first time's. That is the official JAX DiT's design (two timestep
 * embedders whose outputs are summed into the condition) rather than the official PyTorch U-Net's (the two
 * positional embeddings concatenated before one mapping MLP); both give the block an affine function of both
 * embeddings. Built this way the raw network is an ordinary SongUNet/MLP with {@code s_embedding} on, so no layer of
 * an existing network changes shape and its checkpoints load (the second path's tensors are reported missing and keep
 * their initial values: zero projections, so at first u ignores t − r).
 *
 * <p>State-dict names are the raw network's under {@code net.}.
 */
public final class TwoTimeNetwork extends Module {
  private final CTMNetwork raw;
  private final double timeScale;

  /**
   * @param raw a network with the second-time path ({@link CTMNetwork#hasSEmbedding()})
   * @param timeScale c: the networks see c·t and c·(t − r)
   */
  public <N extends Module & CTMNetwork> TwoTimeNetwork(N raw, double timeScale) {
    if (!raw.hasSEmbedding()) {
      throw new IllegalArgumentException("MeanFlow's u(z, r, t) needs a network with the second time input: build it "
          + "with s_embedding = true (network.s_embedding)");
    }
    if (!(timeScale > 0) || Double.isInfinite(timeScale)) {
      throw new IllegalArgumentException("time scale must be positive and finite, got " + timeScale);
    }
    this.raw = child("net", raw);
    this.timeScale = timeScale;
  }

  /** A network with time scale 1 (the official codes' t ∈ [0, 1] fed as it is). */
  public <N extends Module & CTMNetwork> TwoTimeNetwork(N raw) {
    this(raw, 1.0);
  }

  /** The raw network. */
  public CTMNetwork raw() {
    return raw;
  }

  /** c of the time inputs c·t and c·(t − r). */
  public double timeScale() {
    return timeScale;
  }

  /** Number of class labels of the raw network (0: unconditional). */
  public int labelDim() {
    return raw.labelDim();
  }

  /**
   * u(z, r, t) = F(z, c·t, c·(t − r), labels).
   *
   * @param z the state [N, ...]
   * @param r the start times [N]
   * @param t the end times [N] (t ≥ r on the MeanFlow path; not enforced, the JVP needs t free)
   * @param classLabels one-hot labels [N, L] (all zeros: the null class) or null
   */
  public Tensor forward(Tensor z, Tensor r, Tensor t, Tensor classLabels) {
    return forwardH(z, t, t.sub(r), classLabels);
  }

  /**
   * u(z, r, t) of a guidance-conditioned network (AYF, {@link CTMNetwork#addGuidanceEmbedding()}): F(z, c·t, c·(t − r),
   * labels, w) with the guidance scales w [N] fed as they are (null: none).
   */
  public Tensor forward(Tensor z, Tensor r, Tensor t, Tensor classLabels, Tensor guidance) {
    return forwardH(z, t, t.sub(r), classLabels, guidance);
  }

  /** Whether the raw network takes a guidance scale ({@link CTMNetwork#hasGuidanceEmbedding()}). */
  public boolean hasGuidance() {
    return raw.hasGuidanceEmbedding();
  }

  /** The same network in its own inputs: F(z, c·t, c·h, labels) with h = t − r. */
  public Tensor forwardH(Tensor z, Tensor t, Tensor h, Tensor classLabels) {
    return forwardH(z, t, h, classLabels, null);
  }

  /** F(z, c·t, c·h, labels, w) with guidance scales w [N] (null: none). */
  public Tensor forwardH(Tensor z, Tensor t, Tensor h, Tensor classLabels, Tensor guidance) {
    if (t.dim() != 1 || h.dim() != 1 || t.size(0) != z.size(0) || h.size(0) != z.size(0)) {
      throw new IllegalArgumentException("t and t − r must be 1-d with one entry per sample of z ["
          + z.size(0) + "], got " + java.util.Arrays.toString(t.shape()) + " and "
          + java.util.Arrays.toString(h.shape()));
    }
    Tensor tl = timeScale == 1.0 ? t : t.mul(timeScale);
    Tensor hl = timeScale == 1.0 ? h : h.mul(timeScale);
    return guidance == null ? raw.forward(z, tl, hl, classLabels, null)
        : raw.forward(z, tl, hl, classLabels, null, guidance);
  }
}
