package dev.cm4j.nn;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cm4j.tensor.Autocast;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * EDM's re-implementation of Song et al.'s DDPM++ and NCSN++ UNets (networks.py {@code SongUNet}), with the same
 * parameter names and shapes, so state dicts from PyTorch load without renaming.
 */
public final class SongUNet extends Module implements CTMNetwork {

  /**
   * The constructor arguments of EDM's SongUNet (JSON names as in EDM's config dicts).
   */
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
      @JsonProperty("embedding_type") String embeddingType,    // "positional" (DDPM++) or "fourier" (NCSN++)
      @JsonProperty("channel_mult_noise") int channelMultNoise, // noise embedding width multiplier
      @JsonProperty("encoder_type") String encoderType,        // "standard", "skip" or "residual"
      @JsonProperty("decoder_type") String decoderType,        // "standard" or "skip"
      @JsonProperty("resample_filter") double[] resampleFilter, // FIR filter, [1,1] or [1,3,3,1]
      @JsonProperty("s_embedding") boolean sEmbedding,         // second time input s (map_layer*_s)
      @JsonProperty("s_embedding_mode") String sEmbeddingMode  // how s enters: "block" (CTM) or "sum" (IMM)
  ) {
    /** How the second time enters: CTM's per-block projections (affine_s), the default. */
    public static final String S_BLOCK = "block";
    /** How the second time enters: IMM's sum with t's embedding before the final SiLU (lumalabs/imm s_embed). */
    public static final String S_SUM = "sum";

    /** A config with the default ("block") second-time path. */
    public Config(int imgResolution, int inChannels, int outChannels, int labelDim, int augmentDim, int modelChannels,
        int[] channelMult, int channelMultEmb, int numBlocks, int[] attnResolutions, double dropout, double labelDropout,
        String embeddingType, int channelMultNoise, String encoderType, String decoderType, double[] resampleFilter,
        boolean sEmbedding) {
      this(imgResolution, inChannels, outChannels, labelDim, augmentDim, modelChannels, channelMult, channelMultEmb,
          numBlocks, attnResolutions, dropout, labelDropout, embeddingType, channelMultNoise, encoderType, decoderType,
          resampleFilter, sEmbedding, S_BLOCK);
    }

    public Config {
      if (sEmbeddingMode == null) sEmbeddingMode = S_BLOCK;
      if (!List.of(S_BLOCK, S_SUM).contains(sEmbeddingMode)) {
        throw new IllegalArgumentException("s_embedding_mode must be block or sum: " + sEmbeddingMode);
      }
      if (!List.of("positional", "fourier").contains(embeddingType)) {
        throw new IllegalArgumentException("embedding_type must be positional or fourier: " + embeddingType);
      }
      if (!List.of("standard", "skip", "residual").contains(encoderType)) {
        throw new IllegalArgumentException("encoder_type must be standard, skip or residual: " + encoderType);
      }
      if (!List.of("standard", "skip").contains(decoderType)) {
        throw new IllegalArgumentException("decoder_type must be standard or skip: " + decoderType);
      }
      if (imgResolution <= 0 || inChannels <= 0 || outChannels <= 0 || modelChannels <= 0 || channelMult.length == 0) {
        throw new IllegalArgumentException("bad SongUNet config");
      }
    }

    /** EDM's SongUNet defaults for a resolution and channel count. */
    public static Config defaults(int resolution, int channels) {
      return new Config(resolution, channels, channels, 0, 0, 128, new int[] {1, 2, 2, 2}, 4, 4, new int[] {16},
          0.10, 0, "positional", 1, "standard", "standard", new double[] {1, 1}, false);
    }

    /** DDPM++ for CIFAR-10 as EDM and ECT configure it (channel_mult [2,2,2], positional, filter [1,1]). */
    public static Config ddpmpp(int resolution, int channels, double dropout) {
      return new Config(resolution, channels, channels, 0, 0, 128, new int[] {2, 2, 2}, 4, 4, new int[] {16},
          dropout, 0, "positional", 1, "standard", "standard", new double[] {1, 1}, false);
    }

    /** NCSN++ for CIFAR-10 as EDM configures it (Fourier, residual encoder, filter [1,3,3,1], noise mult 2). */
    public static Config ncsnpp(int resolution, int channels, double dropout) {
      return new Config(resolution, channels, channels, 0, 0, 128, new int[] {2, 2, 2}, 4, 4, new int[] {16},
          dropout, 0, "fourier", 2, "residual", "standard", new double[] {1, 3, 3, 1}, false);
    }

    /**
     * A config from EDM-style keyword arguments (JSON object, e.g. a training_options.json network_kwargs or the
     * reference fixture's metadata); absent keys take SongUNet's defaults. "img_channels" sets in and out channels.
     * lumalabs/imm's {@code s_embed} (its SongUNet's second time) means {@code s_embedding} with mode "sum".
     */
    public static Config fromKwargs(String json) {
      try {
        com.fasterxml.jackson.databind.JsonNode n = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
        if (n == null || !n.isObject()) throw new IllegalArgumentException("network kwargs must be a JSON object");
        int res = n.path("img_resolution").asInt(32);
        int ch = n.has("img_channels") ? n.get("img_channels").asInt() : n.path("in_channels").asInt(3);
        Config d = defaults(res, ch);
        return new Config(res, n.path("in_channels").asInt(ch), n.path("out_channels").asInt(ch),
            n.path("label_dim").asInt(d.labelDim()), n.path("augment_dim").asInt(d.augmentDim()),
            n.path("model_channels").asInt(d.modelChannels()), ints(n.get("channel_mult"), d.channelMult()),
            n.path("channel_mult_emb").asInt(d.channelMultEmb()), n.path("num_blocks").asInt(d.numBlocks()),
            ints(n.get("attn_resolutions"), d.attnResolutions()), n.path("dropout").asDouble(d.dropout()),
            n.path("label_dropout").asDouble(d.labelDropout()), n.path("embedding_type").asText(d.embeddingType()),
            n.path("channel_mult_noise").asInt(d.channelMultNoise()), n.path("encoder_type").asText(d.encoderType()),
            n.path("decoder_type").asText(d.decoderType()), doubles(n.get("resample_filter"), d.resampleFilter()),
            n.path("s_embedding").asBoolean(false) || n.path("s_embed").asBoolean(false),
            n.has("s_embed") && !n.has("s_embedding_mode") ? S_SUM : n.path("s_embedding_mode").asText(S_BLOCK));
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new IllegalArgumentException("bad network kwargs JSON: " + e.getOriginalMessage(), e);
      }
    }

    private static int[] ints(com.fasterxml.jackson.databind.JsonNode a, int[] dflt) {
      if (a == null) return dflt;
      int[] r = new int[a.size()];
      for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
      return r;
    }

    private static double[] doubles(com.fasterxml.jackson.databind.JsonNode a, double[] dflt) {
      if (a == null) return dflt;
      double[] r = new double[a.size()];
      for (int i = 0; i < r.length; i++) r[i] = a.get(i).asDouble();
      return r;
    }

    /** The same network with the second-time (s-embedding) path, in this config's mode. */
    public Config withSEmbedding() {
      return new Config(imgResolution, inChannels, outChannels, labelDim, augmentDim, modelChannels, channelMult,
          channelMultEmb, numBlocks, attnResolutions, dropout, labelDropout, embeddingType, channelMultNoise,
          encoderType, decoderType, resampleFilter, true, sEmbeddingMode);
    }

    /** The same network with the second time entering as given ("block" or "sum"). */
    public Config withSEmbeddingMode(String mode) {
      return new Config(imgResolution, inChannels, outChannels, labelDim, augmentDim, modelChannels, channelMult,
          channelMultEmb, numBlocks, attnResolutions, dropout, labelDropout, embeddingType, channelMultNoise,
          encoderType, decoderType, resampleFilter, sEmbedding, mode);
    }
  }

  private final Config cfg;
  private final Module mapNoise;
  private final Linear mapLabel;
  private final Linear mapAugment;
  private final Linear mapLayer0;
  private final Linear mapLayer1;
  private final Linear mapLayer0S;
  private final Linear mapLayer1S;
  private final FourierEmbedding mapNoiseS; // "sum" mode with Fourier embeddings only (its own frequencies)
  private final boolean sumS;
  private GuidanceEmbedding mapGuidance; // AYF's guidance-scale conditioning (addGuidanceEmbedding), or null
  private final Container enc;
  private final Container dec;
  private Generator labelDropoutGenerator;

  /** An ordered name → module container (EDM's ModuleDict). */
  static final class Container extends Module {
    final LinkedHashMap<String, Module> items = new LinkedHashMap<>();

    <M extends Module> M add(String name, M m) {
      items.put(name, child(name, m));
      return m;
    }
  }

  /** Builds the network (parameters drawn from the default generator, in EDM's order). */
  public SongUNet(Config c) {
    this.cfg = c;
    long embChannels = (long) c.modelChannels() * c.channelMultEmb();
    long noiseChannels = (long) c.modelChannels() * c.channelMultNoise();
    UNetBlock.Options bk = new UNetBlock.Options(embChannels, 1, 64, c.dropout(), Math.sqrt(0.5), 1e-6,
        c.resampleFilter(), true, false, Init.XAVIER, Init.XAVIER_ZERO, Init.XAVIER_ATTN);

    // Mapping.
    mapNoise = child("map_noise", c.embeddingType().equals("positional")
        ? new PositionalEmbedding(noiseChannels, 10000, true)
        : new FourierEmbedding(noiseChannels, 16));
    mapLabel = c.labelDim() > 0 ? child("map_label", new Linear(c.labelDim(), noiseChannels, true, Init.XAVIER)) : null;
    mapAugment = c.augmentDim() > 0
        ? child("map_augment", new Linear(c.augmentDim(), noiseChannels, false, Init.XAVIER)) : null;
    mapLayer0 = child("map_layer0", new Linear(noiseChannels, embChannels, true, Init.XAVIER));
    mapLayer1 = child("map_layer1", new Linear(embChannels, embChannels, true, Init.XAVIER));

    // Encoder.
    enc = child("enc", new Container());
    long cout = c.inChannels();
    long caux = c.inChannels();
    List<Long> skips = new ArrayList<>();
    int[] mult = c.channelMult();
    for (int level = 0; level < mult.length; level++) {
      int res = c.imgResolution() >> level;
      String r = res + "x" + res;
      if (level == 0) {
        long cin = cout;
        cout = c.modelChannels();
        enc.add(r + "_conv", new Conv2d(cin, cout, 3, Init.XAVIER));
        skips.add(cout);
      } else {
        enc.add(r + "_down", new UNetBlock(cout, cout, false, true, false, bk));
        skips.add(cout);
        if (c.encoderType().equals("skip")) {
          enc.add(r + "_aux_down", new Conv2d(caux, caux, 0, true, false, true, c.resampleFilter(), false, Init.DEFAULT));
          enc.add(r + "_aux_skip", new Conv2d(caux, cout, 1, Init.XAVIER));
        }
        if (c.encoderType().equals("residual")) {
          enc.add(r + "_aux_residual", new Conv2d(caux, cout, 3, true, false, true, c.resampleFilter(), true,
              Init.XAVIER));
          caux = cout;
        }
      }
      for (int idx = 0; idx < c.numBlocks(); idx++) {
        long cin = cout;
        cout = (long) c.modelChannels() * mult[level];
        boolean attn = contains(c.attnResolutions(), res);
        enc.add(r + "_block" + idx, new UNetBlock(cin, cout, false, false, attn, bk));
        skips.add(cout);
      }
    }

    // Decoder.
    dec = child("dec", new Container());
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
        boolean attn = idx == c.numBlocks() && contains(c.attnResolutions(), res);
        dec.add(r + "_block" + idx, new UNetBlock(cin, cout, false, false, attn, bk));
      }
      if (c.decoderType().equals("skip") || level == 0) {
        if (c.decoderType().equals("skip") && level < mult.length - 1) {
          dec.add(r + "_aux_up", new Conv2d(c.outChannels(), c.outChannels(), 0, true, true, false,
              c.resampleFilter(), false, Init.DEFAULT));
        }
        dec.add(r + "_aux_norm", new GroupNorm(cout, 1e-6));
        dec.add(r + "_aux_conv", new Conv2d(cout, c.outChannels(), 3, true, false, false, c.resampleFilter(), false,
            Init.XAVIER_ZERO));
      }
    }

    // The s path, created last so that the EDM parameters draw the same random numbers as without it. Its own
    // mapping MLP (map_layer0_s, map_layer1_s) and then either
    //  - "block" (CTM): a zero-initialised projection affine_s in every block, added to the t conditioning;
    //  - "sum" (IMM, lumalabs/imm c9473e9 training/unets.py SongUNet.__init__ / forward with s_embed): the MLP's
    //    output is added to t's (before the final SiLU), one embedding for all blocks. map_noise_s is its own
    //    embedding there: parameter-free when positional (the same function as map_noise), a second frequency
    //    buffer (map_noise_s.freqs) when Fourier.
    sumS = c.sEmbedding() && c.sEmbeddingMode().equals(Config.S_SUM);
    if (c.sEmbedding()) {
      mapNoiseS = sumS && c.embeddingType().equals("fourier")
          ? child("map_noise_s", new FourierEmbedding(noiseChannels, 16)) : null;
      mapLayer0S = child("map_layer0_s", new Linear(noiseChannels, embChannels, true, Init.XAVIER));
      mapLayer1S = child("map_layer1_s", new Linear(embChannels, embChannels, true, Init.XAVIER));
      if (!sumS) {
        for (Container part : List.of(enc, dec)) {
          for (Module m : part.items.values()) if (m instanceof UNetBlock b) b.addSProjection(embChannels);
        }
      }
    } else {
      mapNoiseS = null;
      mapLayer0S = null;
      mapLayer1S = null;
    }
  }

  @Override
  public boolean hasSEmbedding() {
    return mapLayer0S != null;
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

  /** The decoder's last aux_conv (the output convolution), as sony/ctm's CIFAR-10 code: dec['32x32_aux_conv'].weight. */
  @Override
  public String dsmLayer() {
    String last = null;
    for (String name : dec.items.keySet()) if (name.endsWith("_aux_conv")) last = name;
    return last == null ? null : "dec." + last + ".weight";
  }

  @Override
  public int labelDim() {
    return cfg.labelDim();
  }

  /** Dropout masks (and label dropout) are drawn from g (null: the default generator). */
  public void setDropoutGenerator(Generator g) {
    labelDropoutGenerator = g;
    apply(m -> {
      if (m instanceof UNetBlock b) b.setDropoutGenerator(g);
    });
  }

  @Override
  public boolean hasGuidanceEmbedding() {
    return mapGuidance != null;
  }

  /** {@code map_guidance}: w's embedding, added to the noise embedding beside map_augment's term (zero at first). */
  @Override
  public void addGuidanceEmbedding() {
    if (mapGuidance != null) throw new IllegalArgumentException("this network has its guidance embedding already");
    mapGuidance = child("map_guidance", new GuidanceEmbedding((long) cfg.modelChannels() * cfg.channelMultNoise()));
  }

  private Tensor embedNoise(Tensor noiseLabels) {
    if (mapNoise instanceof PositionalEmbedding p) return p.forward(noiseLabels);
    return ((FourierEmbedding) mapNoise).forward(noiseLabels);
  }

  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor classLabels, Tensor augmentLabels) {
    return forward(x, noiseLabels, null, classLabels, augmentLabels);
  }

  /** Positional/Fourier embedding with EDM's sin/cos swap, plus the scaled class-label embedding. */
  private Tensor embed(Tensor noise, Tensor labelTerm) {
    Tensor emb = embedNoise(noise);
    long[] es = emb.shape();
    emb = emb.reshape(es[0], 2, -1).flip(1).reshape(es); // swap sin/cos
    return labelTerm == null ? emb : emb.add(labelTerm);
  }

  /**
   * The mapping network: {emb, embS} (embS null without s labels). It runs in fp32 even under autocast: the
   * noise/time embedding and the mapping layers are where reduced precision makes sCM-style (continuous-time, JVP)
   * training spike, and they cost little. x gives the batch size, device and autocast device type.
   */
  Tensor[] mapping(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels, Tensor augmentLabels) {
    return mapping(x, noiseLabels, sNoiseLabels, classLabels, augmentLabels, null);
  }

  /** {@link #mapping(Tensor, Tensor, Tensor, Tensor, Tensor)} with guidance scales w [N] (null: none). */
  Tensor[] mapping(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels, Tensor augmentLabels,
      Tensor guidance) {
    Tensor emb;
    Tensor embS = null;
    try (Autocast fp32 = Autocast.disable(x.device().type())) {
      Tensor labelTerm = null;
      if (mapLabel != null) {
        if (classLabels == null) throw new IllegalArgumentException("this network is class-conditional: give labels");
        Tensor tmp = classLabels;
        if (isTraining() && cfg.labelDropout() > 0) {
          Tensor keep = Tensor.rand(new long[] {x.size(0), 1}, tmp.dtype(), x.device(), labelDropoutGenerator)
              .ge(cfg.labelDropout()).to(tmp.dtype());
          tmp = tmp.mul(keep);
        }
        labelTerm = mapLabel.forward(tmp.mul(Math.sqrt(mapLabel.inFeatures())));
      }
      emb = embed(noiseLabels, labelTerm);
      if (mapAugment != null && augmentLabels != null) emb = emb.add(mapAugment.forward(augmentLabels));
      if (guidance != null) {
        if (mapGuidance == null) throw new IllegalArgumentException("this network has no guidance-scale embedding");
        GuidanceEmbedding.check(guidance, x.size(0));
        emb = emb.add(mapGuidance.forward(guidance));
      }
      emb = mapLayer0.forward(emb).silu();
      emb = mapLayer1.forward(emb);
      if (sNoiseLabels != null && mapLayer0S == null) {
        throw new IllegalArgumentException("this network has no s-embedding (second time) path");
      }
      if (sNoiseLabels != null && sumS) {
        // IMM: emb += map_layer1_s(silu(map_layer0_s(swap(map_noise_s(s))))), no class-label term; then one SiLU.
        Tensor e = mapNoiseS != null ? mapNoiseS.forward(sNoiseLabels) : embedNoise(sNoiseLabels);
        long[] es = e.shape();
        e = e.reshape(es[0], 2, -1).flip(1).reshape(es); // swap sin/cos
        emb = emb.add(mapLayer1S.forward(mapLayer0S.forward(e).silu()));
      }
      emb = emb.silu();
      if (sNoiseLabels != null && !sumS) {
        embS = mapLayer1S.forward(mapLayer0S.forward(embed(sNoiseLabels, labelTerm)).silu()).silu();
      }
    }
    return new Tensor[] {emb, embS};
  }

  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels,
      Tensor augmentLabels) {
    return forward(x, noiseLabels, sNoiseLabels, classLabels, augmentLabels, null);
  }

  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels,
      Tensor augmentLabels, Tensor guidance) {
    // One scope per pass: the embeddings and whatever was not released earlier (UNetBlock.decode releases the
    // decoder's inputs) go when the pass returns (autograd keeps what backward needs), not when the caller's scope
    // closes.
    try (TensorScope scope = TensorScope.open()) {
      Tensor[] mapped = mapping(x, noiseLabels, sNoiseLabels, classLabels, augmentLabels, guidance);
      Tensor emb = mapped[0];
      Tensor embS = mapped[1];

      // Encoder.
      List<Tensor> skips = new ArrayList<>();
      Tensor aux = x;
      for (Map.Entry<String, Module> e : enc.items.entrySet()) {
        String name = e.getKey();
        Module block = e.getValue();
        if (name.contains("aux_down")) {
          aux = ((Conv2d) block).forward(aux);
        } else if (name.contains("aux_skip")) {
          x = x.add(((Conv2d) block).forward(aux));
          skips.set(skips.size() - 1, x);
        } else if (name.contains("aux_residual")) {
          x = x.add(((Conv2d) block).forward(aux)).div(Math.sqrt(2));
          aux = x;
          skips.set(skips.size() - 1, x);
        } else {
          x = block instanceof UNetBlock u ? u.forward(x, emb, embS) : ((Conv2d) block).forward(x);
          skips.add(x);
        }
      }

      // Decoder.
      aux = null;
      Tensor tmp = null;
      for (Map.Entry<String, Module> e : dec.items.entrySet()) {
        String name = e.getKey();
        Module block = e.getValue();
        if (name.contains("aux_up")) {
          aux = ((Conv2d) block).forward(aux);
        } else if (name.contains("aux_norm")) {
          tmp = ((GroupNorm) block).forward(x);
        } else if (name.contains("aux_conv")) {
          tmp = TensorScope.chain(tmp, Tensor::silu, ((Conv2d) block)::forward);
          aux = aux == null ? tmp : tmp.add(aux);
        } else {
          x = ((UNetBlock) block).decode(x, skips, emb, embS);
        }
      }
      if (aux == null) throw new IllegalStateException("the decoder produced no output (no aux_conv layer)");
      return scope.escape(aux);
    }
  }
}
