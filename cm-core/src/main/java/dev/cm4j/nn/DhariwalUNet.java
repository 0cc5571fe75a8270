package dev.cm4j.nn;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The ADM UNet of Dhariwal and Nichol ("Diffusion Models Beat GANs on Image Synthesis") as EDM re-implements it
 * (networks.py {@code DhariwalUNet}, EDM's ImageNet-64 network), with EDM's parameter names and shapes, so an EDM
 * state dict loads without renaming.
 *
 * <p>Compared with {@link SongUNet}: the blocks use adaptive scale/shift (GroupNorm eps 1e-5, no skip scaling, one
 * attention head per 64 channels, box resampling), weights are kaiming-uniform, the class embedding is added after the
 * second mapping layer (no bias, no input scaling), attention sits in every block at the listed resolutions, and a
 * final GroupNorm–SiLU–Conv replaces SongUNet's aux layers.
 *
 * <p>With {@link Config#sEmbedding()} the network also takes CTM's second time s the way sony/ctm's ImageNet UNet does:
 * a separate mapping MLP ({@code map_layer0_s}, {@code map_layer1_s}) of s's positional embedding without the class
 * label, and a projection {@code affine_s} in every block whose output is added to the block's conditioning. Those
 * layers are created after the EDM ones, zero-initialised at the projection, so an EDM model's output is unchanged.
 *
 * <p>{@link Config#noiseLabelScale()} multiplies the noise labels before the positional embedding. EDM feeds
 * c_noise = ln(σ)/4 (scale 1); openai's consistency_models and sony/ctm feed their ImageNet-64 UNet 250·ln(σ), which is
 * scale 1000 on EDM's c_noise (docs/networks.md).
 */
public final class DhariwalUNet extends Module implements CTMNetwork {

  /** The constructor arguments of EDM's DhariwalUNet (JSON names as in EDM's config dicts), plus CTM's s path. */
  public record Config(
      @JsonProperty("img_resolution") int imgResolution,       // image resolution
      @JsonProperty("in_channels") int inChannels,             // input channels
      @JsonProperty("out_channels") int outChannels,           // output channels
      @JsonProperty("label_dim") int labelDim,                 // class labels (0 = unconditional)
      @JsonProperty("augment_dim") int augmentDim,             // augmentation labels (0 = none)
      @JsonProperty("model_channels") int modelChannels,       // base channels
      @JsonProperty("channel_mult") int[] channelMult,         // per-resolution multipliers
      @JsonProperty("channel_mult_emb") int channelMultEmb,    // embedding width multiplier
      @JsonProperty("num_blocks") int numBlocks,               // residual blocks per resolution
      @JsonProperty("attn_resolutions") int[] attnResolutions, // resolutions with self-attention
      @JsonProperty("dropout") double dropout,                 // dropout probability in blocks
      @JsonProperty("label_dropout") double labelDropout,      // class-label dropout (classifier-free guidance)
      @JsonProperty("noise_label_scale") double noiseLabelScale, // factor on the noise labels (1: EDM; 1000: openai)
      @JsonProperty("s_embedding") boolean sEmbedding          // CTM: second time input s
  ) {
    public Config {
      if (imgResolution <= 0 || inChannels <= 0 || outChannels <= 0) {
        throw new IllegalArgumentException("DhariwalUNet needs positive img_resolution, in_channels and out_channels");
      }
      if (labelDim < 0 || augmentDim < 0) throw new IllegalArgumentException("label_dim and augment_dim must be >= 0");
      if (modelChannels <= 0 || channelMultEmb <= 0 || numBlocks <= 0) {
        throw new IllegalArgumentException("model_channels, channel_mult_emb and num_blocks must be positive");
      }
      if (channelMult.length == 0) throw new IllegalArgumentException("channel_mult must not be empty");
      for (int m : channelMult) if (m <= 0) throw new IllegalArgumentException("channel_mult entries must be positive");
      if (imgResolution >> (channelMult.length - 1) <= 0) {
        throw new IllegalArgumentException("img_resolution " + imgResolution + " is too small for "
            + channelMult.length + " levels");
      }
      if (!(dropout >= 0 && dropout <= 1) || !(labelDropout >= 0 && labelDropout <= 1)) {
        throw new IllegalArgumentException("dropout and label_dropout must lie in [0, 1]");
      }
      if (!(noiseLabelScale > 0) || Double.isInfinite(noiseLabelScale)) {
        throw new IllegalArgumentException("noise_label_scale must be positive and finite: " + noiseLabelScale);
      }
      channelMult = channelMult.clone();
      attnResolutions = attnResolutions.clone();
    }

    /** EDM's DhariwalUNet defaults (model_channels 192, channel_mult [1,2,3,4], 3 blocks, attention at 32/16/8). */
    public static Config defaults(int resolution, int channels) {
      return new Config(resolution, channels, channels, 0, 0, 192, new int[] {1, 2, 3, 4}, 4, 3,
          new int[] {32, 16, 8}, 0.10, 0, 1, false);
    }

    /** The same network with CTM's s-embedding path. */
    public Config withSEmbedding() {
      return new Config(imgResolution, inChannels, outChannels, labelDim, augmentDim, modelChannels, channelMult,
          channelMultEmb, numBlocks, attnResolutions, dropout, labelDropout, noiseLabelScale, true);
    }
  }

  // EDM's DhariwalUNet initialisation: kaiming-uniform scaled by sqrt(1/3) (PyTorch's own Linear/Conv default), and
  // all-zero for the layers that start silent.
  static final Init INIT = new Init("kaiming_uniform", Math.sqrt(1.0 / 3), Math.sqrt(1.0 / 3));
  static final Init INIT_ZERO = new Init("kaiming_uniform", 0, 0);
  private static final double[] BOX = {1, 1};

  private final Config cfg;
  private final PositionalEmbedding mapNoise;
  private final Linear mapAugment;
  private final Linear mapLayer0;
  private final Linear mapLayer1;
  private final Linear mapLabel;
  private final SongUNet.Container enc;
  private final SongUNet.Container dec;
  private final GroupNorm outNorm;
  private final Conv2d outConv;
  private final Linear mapLayer0S;
  private final Linear mapLayer1S;
  private Generator labelDropoutGenerator;

  /** Builds the network (parameters drawn from the default generator in EDM's order). */
  public DhariwalUNet(Config c) {
    this.cfg = c;
    long embChannels = (long) c.modelChannels() * c.channelMultEmb();
    UNetBlock.Options bk = new UNetBlock.Options(embChannels, null, 64, c.dropout(), 1.0, 1e-5, BOX, false, true,
        INIT, INIT_ZERO, null);

    // Mapping.
    mapNoise = child("map_noise", new PositionalEmbedding(c.modelChannels(), 10000, false));
    mapAugment = c.augmentDim() > 0
        ? child("map_augment", new Linear(c.augmentDim(), c.modelChannels(), false, INIT_ZERO)) : null;
    mapLayer0 = child("map_layer0", new Linear(c.modelChannels(), embChannels, true, INIT));
    mapLayer1 = child("map_layer1", new Linear(embChannels, embChannels, true, INIT));
    mapLabel = c.labelDim() > 0
        ? child("map_label", new Linear(c.labelDim(), embChannels, false,
            new Init("kaiming_normal", Math.sqrt(c.labelDim()), 0)))
        : null;

    // Encoder.
    enc = child("enc", new SongUNet.Container());
    long cout = c.inChannels();
    List<Long> skips = new ArrayList<>();
    int[] mult = c.channelMult();
    for (int level = 0; level < mult.length; level++) {
      int res = c.imgResolution() >> level;
      String r = res + "x" + res;
      if (level == 0) {
        long cin = cout;
        cout = (long) c.modelChannels() * mult[level];
        enc.add(r + "_conv", new Conv2d(cin, cout, 3, true, false, false, BOX, false, INIT));
      } else {
        enc.add(r + "_down", new UNetBlock(cout, cout, false, true, false, bk));
      }
      skips.add(cout);
      for (int idx = 0; idx < c.numBlocks(); idx++) {
        long cin = cout;
        cout = (long) c.modelChannels() * mult[level];
        enc.add(r + "_block" + idx, new UNetBlock(cin, cout, false, false, contains(c.attnResolutions(), res), bk));
        skips.add(cout);
      }
    }

    // Decoder.
    dec = child("dec", new SongUNet.Container());
    for (int level = mult.length - 1; level >= 0; level--) {
      int res = c.imgResolution() >> level;
      String r = res + "x" + res;
      if (level == mult.length - 1) {
        dec.add(r + "_in0", new UNetBlock(cout, cout, false, false, true, bk));
        dec.add(r + "_in1", new UNetBlock(cout, cout, false, false, false, bk));
      } else {
        dec.add(r + "_up", new UNetBlock(cout, cout, true, false, false, bk));
      }
      for (int idx = 0; idx < c.numBlocks() + 1; idx++) {
        long cin = cout + skips.remove(skips.size() - 1);
        cout = (long) c.modelChannels() * mult[level];
        dec.add(r + "_block" + idx, new UNetBlock(cin, cout, false, false, contains(c.attnResolutions(), res), bk));
      }
    }
    GroupNorm norm = new GroupNorm(cout, 1e-5);
    Conv2d conv = new Conv2d(cout, c.outChannels(), 3, true, false, false, BOX, false, INIT_ZERO);

    // CTM's s path (created last, so the EDM parameters draw the same random numbers as without it). The output layers
    // are registered after it, so they stay last in parameter order; CTM's λ_DSM reads its gradient norms at
    // dsmLayer() (the last decoder block's conv1, as sony/ctm's ImageNet code).
    if (c.sEmbedding()) {
      mapLayer0S = child("map_layer0_s", new Linear(c.modelChannels(), embChannels, true, INIT));
      mapLayer1S = child("map_layer1_s", new Linear(embChannels, embChannels, true, INIT));
      for (SongUNet.Container part : List.of(enc, dec)) {
        for (Module m : part.items.values()) if (m instanceof UNetBlock b) b.addSProjection(embChannels);
      }
    } else {
      mapLayer0S = null;
      mapLayer1S = null;
    }
    outNorm = child("out_norm", norm);
    outConv = child("out_conv", conv);
  }

  private static boolean contains(int[] a, int v) {
    for (int x : a) if (x == v) return true;
    return false;
  }

  /** The configuration. */
  public Config config() {
    return cfg;
  }

  @Override
  public int resolution() {
    return cfg.imgResolution();
  }

  @Override
  public int channels() {
    return cfg.inChannels();
  }

  /**
   * The last decoder block's second convolution, as sony/ctm's ImageNet-64 code
   * ({@code output_blocks[15][0].out_layers[3].weight}, that block's conv1 here; docs/networks.md).
   */
  @Override
  public String dsmLayer() {
    String last = null;
    for (var e : dec.items.entrySet()) if (e.getValue() instanceof UNetBlock) last = e.getKey();
    return last == null ? null : "dec." + last + ".conv1.weight";
  }

  @Override
  public int labelDim() {
    return cfg.labelDim();
  }

  @Override
  public boolean hasSEmbedding() {
    return mapLayer0S != null;
  }

  /** Dropout masks (and label dropout) are drawn from g (null: the default generator). */
  public void setDropoutGenerator(Generator g) {
    labelDropoutGenerator = g;
    apply(m -> {
      if (m instanceof UNetBlock b) b.setDropoutGenerator(g);
    });
  }

  private Tensor scaleNoise(Tensor noiseLabels) {
    return cfg.noiseLabelScale() == 1 ? noiseLabels : noiseLabels.mul(cfg.noiseLabelScale());
  }

  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor classLabels, Tensor augmentLabels) {
    return forward(x, noiseLabels, null, classLabels, augmentLabels);
  }

  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels,
      Tensor augmentLabels) {
    if (x.dim() != 4 || x.size(1) != cfg.inChannels() || x.size(2) != cfg.imgResolution()
        || x.size(3) != cfg.imgResolution()) {
      throw new IllegalArgumentException("DhariwalUNet expects x of shape [N, " + cfg.inChannels() + ", "
          + cfg.imgResolution() + ", " + cfg.imgResolution() + "], got " + java.util.Arrays.toString(x.shape()));
    }
    try (TensorScope scope = TensorScope.open()) {
      // Mapping.
      Tensor emb = mapNoise.forward(scaleNoise(noiseLabels));
      if (mapAugment != null && augmentLabels != null) emb = emb.add(mapAugment.forward(augmentLabels));
      emb = mapLayer1.forward(mapLayer0.forward(emb).silu());
      if (mapLabel != null) {
        if (classLabels == null) throw new IllegalArgumentException("this network is class-conditional: give labels");
        Tensor tmp = classLabels;
        if (isTraining() && cfg.labelDropout() > 0) {
          Tensor keep = Tensor.rand(new long[] {x.size(0), 1}, tmp.dtype(), x.device(), labelDropoutGenerator)
              .ge(cfg.labelDropout()).to(tmp.dtype());
          tmp = tmp.mul(keep);
        }
        emb = emb.add(mapLabel.forward(tmp));
      }
      emb = emb.silu();
      Tensor embS = null;
      if (sNoiseLabels != null) {
        if (mapLayer0S == null) throw new IllegalArgumentException("this network has no s-embedding (CTM) path");
        embS = mapLayer1S.forward(mapLayer0S.forward(mapNoise.forward(scaleNoise(sNoiseLabels))).silu()).silu();
      }

      // Encoder.
      List<Tensor> skips = new ArrayList<>();
      for (Map.Entry<String, Module> e : enc.items.entrySet()) {
        x = e.getValue() instanceof UNetBlock u ? u.forward(x, emb, embS) : ((Conv2d) e.getValue()).forward(x);
        skips.add(x);
      }

      // Decoder.
      for (Module m : dec.items.values()) x = ((UNetBlock) m).decode(x, skips, emb, embS);
      return scope.escape(TensorScope.chain(outNorm.forward(x), Tensor::silu, outConv::forward));
    }
  }
}
