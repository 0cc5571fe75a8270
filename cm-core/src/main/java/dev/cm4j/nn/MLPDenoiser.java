package dev.cm4j.nn;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;

/**
 * A small residual MLP denoiser for low-dimensional data (toy experiments, fast tests): a positional embedding of the
 * noise label through a two-layer mapping MLP conditions every residual block additively; optional CTM s path.
 * Class labels enter as SongUNet's do: {@code map_label(c·√L)} is added to the noise embedding before the mapping
 * MLP, and in training each sample's label vector is zeroed with probability {@code label_dropout} (the zero vector is
 * the unconditional input of classifier-free guidance). Same raw-network contract as SongUNet, so every
 * preconditioner and objective works with it.
 */
public final class MLPDenoiser extends Module implements CTMNetwork {
  /**
   * @param dim data dimension D (x is [N, D])
   * @param hidden hidden width
   * @param blocks residual blocks
   * @param embChannels width of the noise embedding
   * @param dropout dropout in blocks
   * @param sEmbedding CTM's second time input
   * @param labelDim length of the class-label vector (0: unconditional)
   * @param labelDropout probability of zeroing a sample's label vector in training
   */
  public record Config(@JsonProperty("dim") int dim, @JsonProperty("hidden") int hidden,
      @JsonProperty("blocks") int blocks, @JsonProperty("emb_channels") int embChannels,
      @JsonProperty("dropout") double dropout, @JsonProperty("s_embedding") boolean sEmbedding,
      @JsonProperty("label_dim") int labelDim, @JsonProperty("label_dropout") double labelDropout) {
    public Config {
      if (dim <= 0 || hidden <= 0 || blocks < 0 || embChannels <= 1 || embChannels % 2 != 0) {
        throw new IllegalArgumentException("bad MLPDenoiser config");
      }
      if (labelDim < 0 || !(labelDropout >= 0 && labelDropout <= 1)) {
        throw new IllegalArgumentException("bad MLPDenoiser config: label_dim " + labelDim + ", label_dropout "
            + labelDropout);
      }
    }

    /** An unconditional network. */
    public Config(int dim, int hidden, int blocks, int embChannels, double dropout, boolean sEmbedding) {
      this(dim, hidden, blocks, embChannels, dropout, sEmbedding, 0, 0);
    }
  }

  /** One residual block: h + W2·silu(W1·silu(LN(h)) + cond). */
  static final class Block extends Module {
    final Linear lin0;
    final Linear lin1;
    final Linear affine;
    Linear affineS;

    Block(int hidden) {
      lin0 = child("lin0", new Linear(hidden, hidden, true, Init.XAVIER));
      affine = child("affine", new Linear(hidden, hidden, true, Init.XAVIER));
      lin1 = child("lin1", new Linear(hidden, hidden, true, Init.XAVIER_ZERO));
    }

    Tensor forward(Tensor h, Tensor emb, Tensor embS, double dropout, boolean training, Generator g) {
      Tensor cond = affine.forward(emb);
      if (embS != null) cond = cond.add(affineS.forward(embS));
      Tensor y = lin0.forward(F.layerNorm(h, new long[] {h.size(1)}, null, null, 1e-5).silu()).add(cond).silu();
      return h.add(lin1.forward(F.dropout(y, dropout, training, g)));
    }
  }

  private final Config cfg;
  private final PositionalEmbedding mapNoise;
  private final Linear mapLabel;
  private final Linear mapLayer0;
  private final Linear mapLayer1;
  private final Linear inProj;
  private final Block[] blocks;
  private final Linear outProj;
  private final Linear mapLayer0S;
  private final Linear mapLayer1S;
  private GuidanceEmbedding mapGuidance; // AYF's guidance-scale conditioning (addGuidanceEmbedding), or null
  private Generator dropoutGenerator;

  /** Builds the network. */
  public MLPDenoiser(Config c) {
    this.cfg = c;
    mapNoise = child("map_noise", new PositionalEmbedding(c.embChannels(), 10000, true));
    mapLabel = c.labelDim() > 0 ? child("map_label", new Linear(c.labelDim(), c.embChannels(), true, Init.XAVIER))
        : null;
    mapLayer0 = child("map_layer0", new Linear(c.embChannels(), c.hidden(), true, Init.XAVIER));
    mapLayer1 = child("map_layer1", new Linear(c.hidden(), c.hidden(), true, Init.XAVIER));
    inProj = child("in_proj", new Linear(c.dim(), c.hidden(), true, Init.XAVIER));
    blocks = new Block[c.blocks()];
    for (int i = 0; i < blocks.length; i++) blocks[i] = child("block" + i, new Block(c.hidden()));
    outProj = child("out_proj", new Linear(c.hidden(), c.dim(), true, Init.XAVIER_ZERO));
    if (c.sEmbedding()) {
      mapLayer0S = child("map_layer0_s", new Linear(c.embChannels(), c.hidden(), true, Init.XAVIER));
      mapLayer1S = child("map_layer1_s", new Linear(c.hidden(), c.hidden(), true, Init.XAVIER));
      for (Block b : blocks) b.affineS = b.child("affine_s", new Linear(c.hidden(), c.hidden(), true, new Init("xavier_uniform", 0, 0)));
    } else {
      mapLayer0S = null;
      mapLayer1S = null;
    }
  }

  /** The configuration. */
  public Config config() {
    return cfg;
  }

  /** Dropout masks (and label dropout) are drawn from g (null: the default generator). */
  public void setDropoutGenerator(Generator g) {
    dropoutGenerator = g;
  }

  @Override
  public int resolution() {
    return 0;
  }

  @Override
  public int channels() {
    return cfg.dim();
  }

  @Override
  public int labelDim() {
    return cfg.labelDim();
  }

  @Override
  public boolean hasSEmbedding() {
    return mapLayer0S != null;
  }

  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor classLabels, Tensor augmentLabels) {
    return forward(x, noiseLabels, null, classLabels, augmentLabels);
  }

  @Override
  public boolean hasGuidanceEmbedding() {
    return mapGuidance != null;
  }

  /** {@code map_guidance}: w's embedding, added to the noise embedding before the mapping layers (zero at first). */
  @Override
  public void addGuidanceEmbedding() {
    if (mapGuidance != null) throw new IllegalArgumentException("this network has its guidance embedding already");
    mapGuidance = child("map_guidance", new GuidanceEmbedding(cfg.embChannels()));
  }

  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels,
      Tensor augmentLabels) {
    return forward(x, noiseLabels, sNoiseLabels, classLabels, augmentLabels, null);
  }

  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels,
      Tensor augmentLabels, Tensor guidance) {
    Tensor labelTerm = null;
    if (mapLabel != null) {
      if (classLabels == null) throw new IllegalArgumentException("this network is class-conditional: give labels");
      if (classLabels.dim() != 2 || classLabels.size(0) != x.size(0) || classLabels.size(1) != cfg.labelDim()) {
        throw new IllegalArgumentException("class labels must be [" + x.size(0) + ", " + cfg.labelDim() + "], got "
            + java.util.Arrays.toString(classLabels.shape()));
      }
      Tensor c = classLabels;
      if (isTraining() && cfg.labelDropout() > 0) {
        Tensor keep = Tensor.rand(new long[] {x.size(0), 1}, c.dtype(), x.device(), dropoutGenerator)
            .ge(cfg.labelDropout()).to(c.dtype());
        c = c.mul(keep);
      }
      labelTerm = mapLabel.forward(c.mul(Math.sqrt(cfg.labelDim())));
    }
    Tensor e0 = mapNoise.forward(noiseLabels);
    if (labelTerm != null) e0 = e0.add(labelTerm);
    if (guidance != null) {
      if (mapGuidance == null) throw new IllegalArgumentException("this network has no guidance-scale embedding");
      GuidanceEmbedding.check(guidance, x.size(0));
      e0 = e0.add(mapGuidance.forward(guidance));
    }
    Tensor emb = mapLayer1.forward(mapLayer0.forward(e0).silu()).silu();
    Tensor embS = null;
    if (sNoiseLabels != null) {
      if (mapLayer0S == null) throw new IllegalArgumentException("this network has no s-embedding (CTM) path");
      Tensor s0 = mapNoise.forward(sNoiseLabels);
      if (labelTerm != null) s0 = s0.add(labelTerm);
      embS = mapLayer1S.forward(mapLayer0S.forward(s0).silu()).silu();
    }
    Tensor h = inProj.forward(x);
    for (Block b : blocks) h = b.forward(h, emb, embS, cfg.dropout(), isTraining(), dropoutGenerator);
    return outProj.forward(h.silu());
  }
}
