package dev.cm4j.nn;

import dev.cm4j.nn.mp.MP;
import dev.cm4j.nn.mp.MPBlock;
import dev.cm4j.nn.mp.MPConv;
import dev.cm4j.nn.mp.MPFourier;
import dev.cm4j.nn.mp.MPPositional;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * EDM2's magnitude-preserving U-Net (Karras et al. 2024, Fig. 21; NVlabs/edm2 training/networks_edm2.py {@code UNet}
 * at 4bf8162), state-dict key-compatible with it: {@code out_gain}, {@code emb_fourier.*}, {@code emb_noise},
 * {@code emb_label}, {@code enc.<res>x<res>_{conv,down,block<i>}.*}, {@code dec.<res>x<res>_{in0,in1,up,block<i>}.*},
 * {@code out_conv}. Every layer is an {@link MPConv} (no biases, forced weight normalisation); the input gets a
 * constant ones channel; skips join by {@link MP#cat}; the output is scaled by the learned {@code out_gain} (zero at
 * init, so a fresh network outputs 0).
 *
 * <p>Options beyond EDM2: ECT's {@code dropout_res} (ImageNet branch: dropout only in blocks at resolutions
 * ≤ dropout_res) and the sCM switches (Lu and Song 2024, §4.1), each off by default: a positional time embedding instead
 * of the Fourier features, adaptive double normalisation in every block, and a pixel norm on the noise embedding.
 * The class input is used only when {@code label_dim > 0}; augment labels are not part of EDM2 (rejected).
 */
public final class EDM2UNet extends Module implements CTMNetwork {
  /** EDM2 UNet keyword arguments, plus ECT's and sCM's. */
  public record Config(
      int imgResolution,
      int imgChannels,
      int labelDim,            // 0: unconditional
      int modelChannels,       // EDM2 default 192; presets XS 128, S 192, M 256, L 320, XL 384, XXL 448
      int[] channelMult,       // default [1, 2, 3, 4]
      int channelMultNoise,    // 0: EDM2's None (noise embedding width = model_channels·channel_mult[0])
      int channelMultEmb,      // 0: EDM2's None (embedding width = model_channels·max(channel_mult))
      int numBlocks,           // default 3
      int[] attnResolutions,   // default [16, 8]
      double labelBalance,     // default 0.5
      double concatBalance,    // default 0.5
      double[] resampleFilter, // default [1, 1]
      int channelsPerHead,     // default 64
      double dropout,          // default 0
      double resBalance,       // default 0.3
      double attnBalance,      // default 0.3
      double clipAct,          // default 256; 0 = off
      int dropoutRes,          // ECT imgnet: dropout only at resolutions <= dropout_res; 0 = everywhere
      String timeEmbedding,    // "fourier" (EDM2) or "positional" (sCM)
      boolean doubleNorm,      // sCM adaptive double normalisation
      boolean embPixelNorm) {  // sCM-style pixel norm on the noise embedding
    public Config {
      if (imgResolution < 1 || imgChannels < 1 || labelDim < 0 || modelChannels < 1 || channelMult.length == 0
          || numBlocks < 1) {
        throw new IllegalArgumentException("bad EDM2 UNet config");
      }
      for (int m : channelMult) if (m < 1) throw new IllegalArgumentException("channel_mult entries must be >= 1");
      if (imgResolution % (1 << (channelMult.length - 1)) != 0) {
        throw new IllegalArgumentException("img_resolution " + imgResolution + " is not divisible by 2^"
            + (channelMult.length - 1) + " (channel_mult has " + channelMult.length + " levels)");
      }
      if (!timeEmbedding.equals("fourier") && !timeEmbedding.equals("positional")) {
        throw new IllegalArgumentException("time_embedding must be fourier or positional: " + timeEmbedding);
      }
      if (channelMultNoise < 0 || channelMultEmb < 0 || dropoutRes < 0) {
        throw new IllegalArgumentException("channel_mult_noise, channel_mult_emb and dropout_res must be >= 0");
      }
    }

    /** EDM2's defaults at a resolution, channel count, label count and model_channels. */
    public static Config defaults(int resolution, int channels, int labelDim, int modelChannels) {
      return new Config(resolution, channels, labelDim, modelChannels, new int[] {1, 2, 3, 4}, 0, 0, 3,
          new int[] {16, 8}, 0.5, 0.5, new double[] {1, 1}, 64, 0, 0.3, 0.3, 256, 0, "fourier", false, false);
    }

    /**
     * EDM2's published sizes by name (train_edm2.py presets): xs 128, s 192, m 256, l 320, xl 384, xxl 448
     * model channels; every other argument EDM2's default.
     */
    public static int modelChannelsOf(String size) {
      return switch (size) {
        case "xs" -> 128;
        case "s" -> 192;
        case "m" -> 256;
        case "l" -> 320;
        case "xl" -> 384;
        case "xxl" -> 448;
        default -> throw new IllegalArgumentException("EDM2 size must be xs, s, m, l, xl or xxl: " + size);
      };
    }
  }

  private final Config cfg;
  private final Param outGain;
  private final Module embTime;
  private final MPConv embNoise;
  private final MPConv embLabel;
  private final Container enc;
  private final Container dec;
  private final MPConv outConv;
  private final Module embTimeS;
  private final MPConv embNoiseS;
  // AYF's guidance-scale conditioning (addGuidanceEmbedding), or null: w's positional features, their projection and
  // its zero-initialised gain
  private MPPositional embGuidanceFeatures;
  private MPConv embGuidance;
  private Param embGuidanceGain;

  /** An ordered name → module container (EDM2's ModuleDict). */
  static final class Container extends Module {
    final LinkedHashMap<String, Module> items = new LinkedHashMap<>();

    <M extends Module> M add(String name, M m) {
      items.put(name, child(name, m));
      return m;
    }
  }

  /** Builds the network (weights ~ N(0, 1) from the default generator, gains 0), without a second time input. */
  public EDM2UNet(Config c) {
    this(c, false);
  }

  /**
   * Builds the network; with sEmbedding, a second time input s (MeanFlow's t − r, AYF's and IMM's second time) gets
   * its own time features ({@code emb_fourier_s} or {@code emb_positional_s}) and projection ({@code emb_noise_s}), and
   * the two time embeddings are combined by EDM2's magnitude-preserving sum with balance 0.5 before the label mix, the
   * way the official MeanFlow DiT sums its two timestep embedders' outputs (docs/networks.md). The s path is created
   * after every other layer, so the rest of the network draws the same initial weights as without it and a one-time
   * checkpoint loads into it (the s path reported missing).
   */
  public EDM2UNet(Config c, boolean sEmbedding) {
    this.cfg = c;
    int[] mult = c.channelMult();
    long[] cblock = new long[mult.length];
    long cmax = 0;
    for (int i = 0; i < mult.length; i++) {
      cblock[i] = (long) c.modelChannels() * mult[i];
      cmax = Math.max(cmax, cblock[i]);
    }
    long cnoise = c.channelMultNoise() > 0 ? (long) c.modelChannels() * c.channelMultNoise() : cblock[0];
    long cemb = c.channelMultEmb() > 0 ? (long) c.modelChannels() * c.channelMultEmb() : cmax;
    outGain = parameter("out_gain", Tensor.zeros());

    // Embedding.
    embTime = c.timeEmbedding().equals("positional")
        ? child("emb_positional", new MPPositional(cnoise, 10000))
        : child("emb_fourier", new MPFourier(cnoise, 1));
    embNoise = child("emb_noise", new MPConv(cnoise, cemb, 0));
    embLabel = c.labelDim() != 0 ? child("emb_label", new MPConv(c.labelDim(), cemb, 0)) : null;

    // Encoder.
    enc = child("enc", new Container());
    long cout = c.imgChannels() + 1;
    for (int level = 0; level < mult.length; level++) {
      int res = c.imgResolution() >> level;
      String r = res + "x" + res;
      double drop = c.dropoutRes() > 0 && res > c.dropoutRes() ? 0 : c.dropout();
      if (level == 0) {
        long cin = cout;
        cout = cblock[level];
        enc.add(r + "_conv", new MPConv(cin, cout, 3));
      } else {
        enc.add(r + "_down", new MPBlock(cout, cout, cemb, opts(c, "enc", MP.Resample.DOWN, false, drop)));
      }
      for (int idx = 0; idx < c.numBlocks(); idx++) {
        long cin = cout;
        cout = cblock[level];
        enc.add(r + "_block" + idx, new MPBlock(cin, cout, cemb,
            opts(c, "enc", MP.Resample.KEEP, contains(c.attnResolutions(), res), drop)));
      }
    }

    // Decoder.
    dec = child("dec", new Container());
    List<Long> skips = new ArrayList<>();
    for (Module m : enc.items.values()) skips.add(m instanceof MPBlock b ? b.outChannels() : ((MPConv) m).outChannels());
    for (int level = mult.length - 1; level >= 0; level--) {
      int res = c.imgResolution() >> level;
      String r = res + "x" + res;
      double drop = c.dropoutRes() > 0 && res > c.dropoutRes() ? 0 : c.dropout();
      if (level == mult.length - 1) {
        dec.add(r + "_in0", new MPBlock(cout, cout, cemb, opts(c, "dec", MP.Resample.KEEP, true, drop)));
        dec.add(r + "_in1", new MPBlock(cout, cout, cemb, opts(c, "dec", MP.Resample.KEEP, false, drop)));
      } else {
        dec.add(r + "_up", new MPBlock(cout, cout, cemb, opts(c, "dec", MP.Resample.UP, false, drop)));
      }
      for (int idx = 0; idx < c.numBlocks() + 1; idx++) {
        long cin = cout + skips.remove(skips.size() - 1);
        cout = cblock[level];
        dec.add(r + "_block" + idx, new MPBlock(cin, cout, cemb,
            opts(c, "dec", MP.Resample.KEEP, contains(c.attnResolutions(), res), drop)));
      }
    }
    outConv = child("out_conv", new MPConv(cout, c.imgChannels(), 3));

    // The second time's path (last, see the constructor's comment).
    embTimeS = !sEmbedding ? null : c.timeEmbedding().equals("positional")
        ? child("emb_positional_s", new MPPositional(cnoise, 10000))
        : child("emb_fourier_s", new MPFourier(cnoise, 1));
    embNoiseS = sEmbedding ? child("emb_noise_s", new MPConv(cnoise, cemb, 0)) : null;
  }

  @Override
  public boolean hasSEmbedding() {
    return embNoiseS != null;
  }

  @Override
  public boolean hasGuidanceEmbedding() {
    return embGuidance != null;
  }

  /**
   * {@code emb_guidance}: w's positional features through their own projection, times {@code emb_guidance_gain},
   * added to the time embedding (before the label mix). A magnitude-preserving layer normalises its weight, so it
   * cannot start at zero: the gain does, as EDM2's blocks' {@code emb_gain} and {@code out_gain} start at zero.
   */
  @Override
  public void addGuidanceEmbedding() {
    if (embGuidance != null) throw new IllegalArgumentException("this network has its guidance embedding already");
    long cnoise = embNoise.weight().get().size(1);
    long cemb = embNoise.weight().get().size(0);
    embGuidanceFeatures = child("emb_guidance_positional", new MPPositional(cnoise, 10000));
    embGuidance = child("emb_guidance", new MPConv(cnoise, cemb, 0));
    embGuidanceGain = parameter("emb_guidance_gain", Tensor.zeros());
  }

  private static MPBlock.Options opts(Config c, String flavor, MP.Resample mode, boolean attention, double dropout) {
    return new MPBlock.Options(flavor, mode, c.resampleFilter(), attention, c.channelsPerHead(), dropout,
        c.resBalance(), c.attnBalance(), c.clipAct(), c.doubleNorm());
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
    return cfg.imgChannels();
  }

  @Override
  public int labelDim() {
    return cfg.labelDim();
  }

  /** The blocks by state-dict path ("enc.16x16_block0", "dec.8x8_up", ...), in order. */
  public Map<String, MPBlock> blocks() {
    LinkedHashMap<String, MPBlock> m = new LinkedHashMap<>();
    for (var e : enc.items.entrySet()) if (e.getValue() instanceof MPBlock b) m.put("enc." + e.getKey(), b);
    for (var e : dec.items.entrySet()) m.put("dec." + e.getKey(), (MPBlock) e.getValue());
    return m;
  }

  /** Dropout masks are drawn from g (null: the default generator). */
  public void setDropoutGenerator(Generator g) {
    apply(m -> {
      if (m instanceof MPBlock b) b.setDropoutGenerator(g);
    });
  }

  /**
   * Switches the training-mode weight write-back of every layer ({@link MPConv#setForceWeightNorm}); returns a handle
   * that restores it (ECT's {@code disable_forced_wn} around a no-grad target pass).
   */
  public AutoCloseable suspendForcedWeightNorm() {
    List<MPConv> all = new ArrayList<>();
    apply(m -> {
      if (m instanceof MPConv c && c.forceWeightNorm()) all.add(c);
    });
    for (MPConv c : all) c.setForceWeightNorm(false);
    return () -> {
      for (MPConv c : all) c.setForceWeightNorm(true);
    };
  }

  /** The time embedding of the noise labels (before the label mix and the SiLU). */
  Tensor embedTime(Tensor noiseLabels) {
    return embedTime(noiseLabels, null);
  }

  /** The time embedding of t's noise labels and, when given, s's (before the label mix and the SiLU). */
  Tensor embedTime(Tensor noiseLabels, Tensor sNoiseLabels) {
    Tensor emb = embNoise.forward(features(embTime, noiseLabels));
    if (sNoiseLabels != null) {
      if (embNoiseS == null) {
        throw new IllegalArgumentException("this EDM2 U-Net has no second time input (built without s_embedding)");
      }
      emb = MP.sum(emb, embNoiseS.forward(features(embTimeS, sNoiseLabels)), 0.5);
    }
    return cfg.embPixelNorm() ? MP.normalize(emb, 1) : emb;
  }

  private static Tensor features(Module m, Tensor labels) {
    return m instanceof MPFourier f ? f.forward(labels) : ((MPPositional) m).forward(labels);
  }

  /**
   * F(x [N, C, H, W], noise labels [N], class labels [N, label_dim] (null: zeros for a conditional network), augment
   * labels (must be null)).
   */
  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor classLabels, Tensor augmentLabels) {
    return forward(x, noiseLabels, null, classLabels, augmentLabels);
  }

  /** As {@link #forward(Tensor, Tensor, Tensor, Tensor)} with the second time's noise labels (null: none). */
  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels,
      Tensor augmentLabels) {
    return forward(x, noiseLabels, sNoiseLabels, classLabels, augmentLabels, null);
  }

  /** As {@link #forward(Tensor, Tensor, Tensor, Tensor, Tensor)} with guidance scales w [N] (null: none). */
  @Override
  public Tensor forward(Tensor x, Tensor noiseLabels, Tensor sNoiseLabels, Tensor classLabels,
      Tensor augmentLabels, Tensor guidance) {
    if (augmentLabels != null) throw new IllegalArgumentException("EDM2's U-Net takes no augment labels");
    if (x.dim() != 4 || x.size(1) != cfg.imgChannels()) {
      throw new IllegalArgumentException("EDM2 U-Net expects [N, " + cfg.imgChannels() + ", H, W], got "
          + java.util.Arrays.toString(x.shape()));
    }
    try (TensorScope scope = TensorScope.open()) {
      // Embedding.
      Tensor emb = embedTime(noiseLabels, sNoiseLabels);
      if (guidance != null) {
        if (embGuidance == null) throw new IllegalArgumentException("this network has no guidance-scale embedding");
        GuidanceEmbedding.check(guidance, x.size(0));
        emb = emb.add(embGuidance.forward(embGuidanceFeatures.forward(guidance.to(emb.dtype())),
            embGuidanceGain.get()));
      }
      if (embLabel != null) {
        Tensor labels = classLabels != null ? classLabels
            : Tensor.zeros(new long[] {x.size(0), cfg.labelDim()}, x.dtype(), x.device());
        if (labels.dim() != 2 || labels.size(1) != cfg.labelDim()) {
          throw new IllegalArgumentException("class labels must be [N, " + cfg.labelDim() + "], got "
              + java.util.Arrays.toString(labels.shape()));
        }
        emb = MP.sum(emb, embLabel.forward(labels.mul(Math.sqrt(labels.size(1)))), cfg.labelBalance());
      }
      emb = MP.silu(emb);

      // Encoder.
      x = Tensor.cat(List.of(x, x.narrow(1, 0, 1).onesLike()), 1);
      List<Tensor> skips = new ArrayList<>();
      for (Map.Entry<String, Module> e : enc.items.entrySet()) {
        x = e.getValue() instanceof MPBlock b ? b.forward(x, emb) : ((MPConv) e.getValue()).forward(x);
        skips.add(x);
      }

      // Decoder.
      // Each input is released as soon as it is dead, as in UNetBlock.decode (docs/benchmarks.md §4): x and the skip
      // once concatenated, the block's input once the block returns (unless still a pending skip).
      for (Map.Entry<String, Module> e : dec.items.entrySet()) {
        Tensor in = x;
        if (e.getKey().contains("block")) {
          Tensor skip = skips.remove(skips.size() - 1);
          in = MP.cat(x, skip, 1, cfg.concatBalance());
          skip.close();
          UNetBlock.closeUnlessPending(x, skips);
        }
        x = ((MPBlock) e.getValue()).forward(in, emb);
        UNetBlock.closeUnlessPending(in, skips);
      }
      return scope.escape(outConv.forward(x, outGain.get()));
    }
  }
}
