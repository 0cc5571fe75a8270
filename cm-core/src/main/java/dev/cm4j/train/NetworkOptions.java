package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.cm4j.nn.DhariwalUNet;
import dev.cm4j.nn.EDM2UNet;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.SongUNet;
import java.util.List;

/**
 * The raw network F (options.network), chosen by {@code arch}: the U-Nets take EDM's SongUNet keyword arguments (the
 * image size and channels come from the data), {@code mlp} the point-data denoiser's.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.EXISTING_PROPERTY, property = "arch", visible = true)
@JsonSubTypes({
    @JsonSubTypes.Type(value = NetworkOptions.UNet.class, names = {"ddpmpp", "ncsnpp", "songunet"}),
    @JsonSubTypes.Type(value = NetworkOptions.Adm.class, name = "adm"),
    @JsonSubTypes.Type(value = NetworkOptions.Mlp.class, name = "mlp"),
    @JsonSubTypes.Type(value = NetworkOptions.Edm2.class, name = "edm2")})
public sealed interface NetworkOptions {
  /** ddpmpp | ncsnpp | songunet | adm | mlp | edm2. */
  String arch();

  /** The network for data of the given resolution and channels (0 resolution: points of that dimension). */
  Module build(int resolution, int channels, boolean sEmbedding);

  /**
   * EDM's SongUNet: {@code ddpmpp} (DDPM++ as EDM/ECT configure it for CIFAR-10), {@code ncsnpp} (NCSN++) or
   * {@code songunet} (SongUNet's own defaults); the defaults of each come from {@link SongUNet.Config}.
   * {@code s_embedding_mode} says how a second time input enters, where the objective asks for one: {@code block}
   * (CTM's per-block projections, the default) or {@code sum} (IMM's: added to t's embedding, lumalabs/imm's keys).
   */
  record UNet(
      @JsonProperty("arch") String arch,
      @JsonProperty("label_dim") int labelDim,
      @JsonProperty("augment_dim") int augmentDim,
      @JsonProperty("model_channels") int modelChannels,
      @JsonProperty("channel_mult") int[] channelMult,
      @JsonProperty("channel_mult_emb") int channelMultEmb,
      @JsonProperty("num_blocks") int numBlocks,
      @JsonProperty("attn_resolutions") int[] attnResolutions,
      @JsonProperty("dropout") double dropout,
      @JsonProperty("label_dropout") double labelDropout,
      @JsonProperty("embedding_type") String embeddingType,
      @JsonProperty("channel_mult_noise") int channelMultNoise,
      @JsonProperty("encoder_type") String encoderType,
      @JsonProperty("decoder_type") String decoderType,
      @JsonProperty("resample_filter") double[] resampleFilter,
      @JsonProperty("s_embedding_mode") String sEmbeddingMode) implements NetworkOptions {
    public UNet {
      OptionException.oneOf("arch", arch, List.of("ddpmpp", "ncsnpp", "songunet"));
      OptionException.atLeast("label_dim", labelDim, 0);
      OptionException.atLeast("augment_dim", augmentDim, 0);
      OptionException.atLeast("model_channels", modelChannels, 1);
      if (channelMult.length == 0) throw new OptionException("channel_mult", "must not be empty");
      for (int i = 0; i < channelMult.length; i++) OptionException.atLeast("channel_mult." + i, channelMult[i], 1);
      OptionException.atLeast("channel_mult_emb", channelMultEmb, 1);
      OptionException.atLeast("num_blocks", numBlocks, 1);
      OptionException.within("dropout", dropout, 0, 1);
      OptionException.within("label_dropout", labelDropout, 0, 1);
      OptionException.oneOf("embedding_type", embeddingType, List.of("positional", "fourier"));
      OptionException.atLeast("channel_mult_noise", channelMultNoise, 1);
      OptionException.oneOf("encoder_type", encoderType, List.of("standard", "skip", "residual"));
      OptionException.oneOf("decoder_type", decoderType, List.of("standard", "skip"));
      if (resampleFilter.length == 0) throw new OptionException("resample_filter", "must not be empty");
      OptionException.oneOf("s_embedding_mode", sEmbeddingMode, List.of(SongUNet.Config.S_BLOCK, SongUNet.Config.S_SUM));
    }

    static UNet defaults(String arch) {
      SongUNet.Config c = switch (arch) {
        case "ddpmpp" -> SongUNet.Config.ddpmpp(32, 3, 0.13);
        case "ncsnpp" -> SongUNet.Config.ncsnpp(32, 3, 0.13);
        default -> SongUNet.Config.defaults(32, 3);
      };
      return new UNet(arch, c.labelDim(), c.augmentDim(), c.modelChannels(), c.channelMult(), c.channelMultEmb(),
          c.numBlocks(), c.attnResolutions(), c.dropout(), c.labelDropout(), c.embeddingType(), c.channelMultNoise(),
          c.encoderType(), c.decoderType(), c.resampleFilter(), c.sEmbeddingMode());
    }

    /** SongUNet's config for images of the given size. */
    public SongUNet.Config config(int resolution, int channels, boolean sEmbedding) {
      return new SongUNet.Config(resolution, channels, channels, labelDim, augmentDim, modelChannels, channelMult,
          channelMultEmb, numBlocks, attnResolutions, dropout, labelDropout, embeddingType, channelMultNoise,
          encoderType, decoderType, resampleFilter, sEmbedding, sEmbeddingMode);
    }

    @Override
    public Module build(int resolution, int channels, boolean sEmbedding) {
      if (resolution <= 0) {
        throw new IllegalArgumentException("network.arch " + arch + " needs image data; use network.arch mlp for points");
      }
      return new SongUNet(config(resolution, channels, sEmbedding));
    }
  }

  /**
   * EDM's DhariwalUNet (ADM, EDM's {@code --arch=adm}) with its keyword arguments and defaults; see
   * {@link DhariwalUNet.Config}, plus {@code noise_label_scale} (1: EDM; 1000: the openai/CTM ImageNet-64 UNet's
   * 250·ln σ time input). The image size and channels come from the data.
   */
  record Adm(
      @JsonProperty("arch") String arch,
      @JsonProperty("label_dim") int labelDim,
      @JsonProperty("augment_dim") int augmentDim,
      @JsonProperty("model_channels") int modelChannels,
      @JsonProperty("channel_mult") int[] channelMult,
      @JsonProperty("channel_mult_emb") int channelMultEmb,
      @JsonProperty("num_blocks") int numBlocks,
      @JsonProperty("attn_resolutions") int[] attnResolutions,
      @JsonProperty("dropout") double dropout,
      @JsonProperty("label_dropout") double labelDropout,
      @JsonProperty("noise_label_scale") double noiseLabelScale) implements NetworkOptions {
    public Adm {
      OptionException.oneOf("arch", arch, List.of("adm"));
      OptionException.atLeast("label_dim", labelDim, 0);
      OptionException.atLeast("augment_dim", augmentDim, 0);
      OptionException.atLeast("model_channels", modelChannels, 1);
      if (channelMult.length == 0) throw new OptionException("channel_mult", "must not be empty");
      for (int i = 0; i < channelMult.length; i++) OptionException.atLeast("channel_mult." + i, channelMult[i], 1);
      OptionException.atLeast("channel_mult_emb", channelMultEmb, 1);
      OptionException.atLeast("num_blocks", numBlocks, 1);
      OptionException.within("dropout", dropout, 0, 1);
      OptionException.within("label_dropout", labelDropout, 0, 1);
      OptionException.positive("noise_label_scale", noiseLabelScale);
      OptionException.finite("noise_label_scale", noiseLabelScale);
    }

    static Adm defaults(String arch) {
      DhariwalUNet.Config c = DhariwalUNet.Config.defaults(64, 3);
      return new Adm("adm", c.labelDim(), c.augmentDim(), c.modelChannels(), c.channelMult(), c.channelMultEmb(),
          c.numBlocks(), c.attnResolutions(), c.dropout(), c.labelDropout(), c.noiseLabelScale());
    }

    /** DhariwalUNet's config for images of the given size. */
    public DhariwalUNet.Config config(int resolution, int channels, boolean sEmbedding) {
      return new DhariwalUNet.Config(resolution, channels, channels, labelDim, augmentDim, modelChannels, channelMult,
          channelMultEmb, numBlocks, attnResolutions, dropout, labelDropout, noiseLabelScale, sEmbedding);
    }

    @Override
    public Module build(int resolution, int channels, boolean sEmbedding) {
      if (resolution <= 0) {
        throw new IllegalArgumentException("network.arch adm needs image data; use network.arch mlp for points");
      }
      if (resolution >> (channelMult.length - 1) <= 0) {
        throw new OptionException("channel_mult", channelMult.length + " levels do not fit images of " + resolution
            + " pixels");
      }
      return new DhariwalUNet(config(resolution, channels, sEmbedding));
    }
  }

  /** The residual MLP denoiser for point data (x is [N, D]). */
  record Mlp(
      @JsonProperty("arch") String arch,
      @JsonProperty("hidden") int hidden,             // hidden width
      @JsonProperty("blocks") int blocks,             // residual blocks
      @JsonProperty("emb_channels") int embChannels,  // width of the noise embedding (even)
      @JsonProperty("dropout") double dropout,
      @JsonProperty("label_dim") int labelDim,        // class labels (0 = unconditional; options.cond fills it in)
      @JsonProperty("label_dropout") double labelDropout) implements NetworkOptions { // for classifier-free guidance
    public Mlp {
      OptionException.oneOf("arch", arch, List.of("mlp"));
      OptionException.atLeast("hidden", hidden, 1);
      OptionException.atLeast("blocks", blocks, 0);
      OptionException.atLeast("emb_channels", embChannels, 2);
      if (embChannels % 2 != 0) throw new OptionException("emb_channels", "must be even, got " + embChannels);
      OptionException.within("dropout", dropout, 0, 1);
      OptionException.atLeast("label_dim", labelDim, 0);
      OptionException.within("label_dropout", labelDropout, 0, 1);
    }

    static Mlp defaults(String arch) {
      return new Mlp("mlp", 256, 4, 64, 0, 0, 0);
    }

    @Override
    public Module build(int resolution, int channels, boolean sEmbedding) {
      return new MLPDenoiser(new MLPDenoiser.Config(channels, hidden, blocks, embChannels, dropout, sEmbedding,
          labelDim, labelDropout));
    }
  }

  /**
   * EDM2's magnitude-preserving U-Net ({@link EDM2UNet}) with EDM2's keyword arguments and defaults (0 for
   * channel_mult_noise / channel_mult_emb is EDM2's None; 0 clip_act: no clipping), ECT's {@code dropout_res} and
   * sCM's switches (time_embedding positional, double_norm, emb_pixel_norm), all off by default. The image size and
   * channels come from the data. docs/networks.md, EDM2 section.
   */
  record Edm2(
      @JsonProperty("arch") String arch,
      @JsonProperty("label_dim") int labelDim,                  // 0: unconditional
      @JsonProperty("model_channels") int modelChannels,        // XS 128, S 192, M 256, L 320, XL 384, XXL 448
      @JsonProperty("channel_mult") int[] channelMult,          // [1, 2, 3, 4]
      @JsonProperty("channel_mult_noise") int channelMultNoise, // 0: channel_mult[0]
      @JsonProperty("channel_mult_emb") int channelMultEmb,     // 0: max(channel_mult)
      @JsonProperty("num_blocks") int numBlocks,                // 3
      @JsonProperty("attn_resolutions") int[] attnResolutions,  // [16, 8]
      @JsonProperty("label_balance") double labelBalance,       // 0.5
      @JsonProperty("concat_balance") double concatBalance,     // 0.5
      @JsonProperty("resample_filter") double[] resampleFilter, // [1, 1]
      @JsonProperty("channels_per_head") int channelsPerHead,   // 64
      @JsonProperty("dropout") double dropout,                  // 0
      @JsonProperty("res_balance") double resBalance,           // 0.3
      @JsonProperty("attn_balance") double attnBalance,         // 0.3
      @JsonProperty("clip_act") double clipAct,                 // 256
      @JsonProperty("dropout_res") int dropoutRes,              // ECT imgnet: dropout only at res <= this; 0: all
      @JsonProperty("time_embedding") String timeEmbedding,     // fourier | positional (sCM)
      @JsonProperty("double_norm") boolean doubleNorm,          // sCM adaptive double normalisation
      @JsonProperty("emb_pixel_norm") boolean embPixelNorm) implements NetworkOptions {
    public Edm2 {
      OptionException.oneOf("arch", arch, List.of("edm2"));
      OptionException.atLeast("label_dim", labelDim, 0);
      OptionException.atLeast("model_channels", modelChannels, 1);
      if (channelMult.length == 0) throw new OptionException("channel_mult", "must not be empty");
      for (int i = 0; i < channelMult.length; i++) OptionException.atLeast("channel_mult." + i, channelMult[i], 1);
      OptionException.atLeast("channel_mult_noise", channelMultNoise, 0);
      OptionException.atLeast("channel_mult_emb", channelMultEmb, 0);
      OptionException.atLeast("num_blocks", numBlocks, 1);
      OptionException.within("label_balance", labelBalance, 0, 1);
      OptionException.within("concat_balance", concatBalance, 0, 1);
      if (resampleFilter.length == 0 || resampleFilter.length % 2 != 0) {
        throw new OptionException("resample_filter", "must have an even, non-zero length");
      }
      OptionException.atLeast("channels_per_head", channelsPerHead, 1);
      OptionException.within("dropout", dropout, 0, 1);
      OptionException.within("res_balance", resBalance, 0, 1);
      OptionException.within("attn_balance", attnBalance, 0, 1);
      OptionException.atLeast("clip_act", clipAct, 0);
      OptionException.atLeast("dropout_res", dropoutRes, 0);
      OptionException.oneOf("time_embedding", timeEmbedding, List.of("fourier", "positional"));
    }

    static Edm2 defaults(String arch) {
      EDM2UNet.Config c = EDM2UNet.Config.defaults(64, 3, 0, 192);
      return new Edm2("edm2", c.labelDim(), c.modelChannels(), c.channelMult(), c.channelMultNoise(),
          c.channelMultEmb(), c.numBlocks(), c.attnResolutions(), c.labelBalance(), c.concatBalance(),
          c.resampleFilter(), c.channelsPerHead(), c.dropout(), c.resBalance(), c.attnBalance(), c.clipAct(),
          c.dropoutRes(), c.timeEmbedding(), c.doubleNorm(), c.embPixelNorm());
    }

    /** EDM2UNet's config for images of the given size. */
    public EDM2UNet.Config config(int resolution, int channels) {
      return new EDM2UNet.Config(resolution, channels, labelDim, modelChannels, channelMult, channelMultNoise,
          channelMultEmb, numBlocks, attnResolutions, labelBalance, concatBalance, resampleFilter, channelsPerHead,
          dropout, resBalance, attnBalance, clipAct, dropoutRes, timeEmbedding, doubleNorm, embPixelNorm);
    }

    @Override
    public Module build(int resolution, int channels, boolean sEmbedding) {
      if (resolution <= 0) throw new IllegalArgumentException("network.arch edm2 needs image data");
      return new EDM2UNet(config(resolution, channels), sEmbedding);
    }
  }
}
