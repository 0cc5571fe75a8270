package dev.cm4j.nn;

import dev.cm4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Renames the state dict of openai's guided-diffusion {@code UNetModel} (as sony/ctm and openai/consistency_models use
 * it for ImageNet 64, with CTM's {@code time_embed_s} / {@code emb_layers_s} when present) to {@link DhariwalUNet}'s
 * names, so their checkpoints (e.g. CTM's teacher {@code edm_imagenet64_ema.pt}, converted to safetensors) load into
 * it. docs/networks.md lists the correspondence.
 *
 * <p>The two compute the same function when the openai model uses scale-shift norm, resampling residual blocks, 64
 * channels per attention head, {@code learn_sigma} off, and every normalised layer has at least 128 channels (openai's
 * GroupNorm always has 32 groups, EDM's min(32, C/4)); the time input is then 1000 × EDM's c_noise
 * ({@code noise_label_scale} 1000). Besides renaming, the class embedding is transposed (nn.Embedding → a Linear on
 * one-hot labels), the 1-D attention convolutions gain a spatial dimension, and the qkv rows are reordered from
 * openai's (q/k/v, head, channel) to EDM's (head, channel, q/k/v).
 */
public final class OpenaiUNetKeys {
  private OpenaiUNetKeys() {}

  /**
   * The DhariwalUNet state dict for config c from an openai UNetModel state dict (parameters only: EDM's resampling
   * filter buffers are constants the module has). Every source entry must be used and every expected one present,
   * else IllegalArgumentException names them. The returned tensors are new (renamed views or copies).
   */
  public static Map<String, Tensor> toDhariwal(Map<String, Tensor> src, DhariwalUNet.Config c) {
    int minChannels = Integer.MAX_VALUE;
    for (int m : c.channelMult()) minChannels = Math.min(minChannels, c.modelChannels() * m);
    if (minChannels < 128) {
      throw new IllegalArgumentException("openai's GroupNorm has 32 groups and EDM's min(32, C/4): the networks agree "
          + "only with at least 128 channels per layer, this config has " + minChannels);
    }
    Mapper mp = new Mapper(src);
    mp.linear("time_embed.0.", "map_layer0.");
    mp.linear("time_embed.2.", "map_layer1.");
    if (c.sEmbedding()) {
      mp.linear("time_embed_s.0.", "map_layer0_s.");
      mp.linear("time_embed_s.2.", "map_layer1_s.");
    }
    if (c.labelDim() > 0) mp.put("label_emb.weight", "map_label.weight", t -> t.transpose(0, 1).contiguous());
    if (c.augmentDim() > 0) throw new IllegalArgumentException("openai's UNetModel has no augmentation labels");

    int[] mult = c.channelMult();
    int levels = mult.length;
    int res0 = c.imgResolution();
    mp.linear("input_blocks.0.0.", "enc." + r(res0) + "_conv.");
    int i = 1;
    for (int level = 0; level < levels; level++) {
      int res = res0 >> level;
      boolean attn = contains(c.attnResolutions(), res);
      for (int idx = 0; idx < c.numBlocks(); idx++, i++) {
        String dst = "enc." + r(res) + "_block" + idx + ".";
        mp.resBlock("input_blocks." + i + ".0.", dst);
        if (attn) mp.attention("input_blocks." + i + ".1.", dst, c.modelChannels() * mult[level]);
      }
      if (level != levels - 1) {
        mp.resBlock("input_blocks." + i + ".0.", "enc." + r(res >> 1) + "_down.");
        i++;
      }
    }
    int resLast = res0 >> (levels - 1);
    long cLast = (long) c.modelChannels() * mult[levels - 1];
    mp.resBlock("middle_block.0.", "dec." + r(resLast) + "_in0.");
    mp.attention("middle_block.1.", "dec." + r(resLast) + "_in0.", cLast);
    mp.resBlock("middle_block.2.", "dec." + r(resLast) + "_in1.");
    int j = 0;
    for (int level = levels - 1; level >= 0; level--) {
      int res = res0 >> level;
      boolean attn = contains(c.attnResolutions(), res);
      for (int idx = 0; idx <= c.numBlocks(); idx++, j++) {
        String p = "output_blocks." + j + ".";
        String dst = "dec." + r(res) + "_block" + idx + ".";
        mp.resBlock(p + "0.", dst);
        int k = 1;
        if (attn) mp.attention(p + (k++) + ".", dst, (long) c.modelChannels() * mult[level]);
        if (level > 0 && idx == c.numBlocks()) mp.resBlock(p + k + ".", "dec." + r(res << 1) + "_up.");
      }
    }
    mp.linear("out.0.", "out_norm.");
    mp.linear("out.2.", "out_conv.");
    return mp.finish();
  }

  private static String r(int res) {
    return res + "x" + res;
  }

  private static boolean contains(int[] a, int v) {
    for (int x : a) if (x == v) return true;
    return false;
  }

  private static final class Mapper {
    final Map<String, Tensor> src;
    final Map<String, Tensor> out = new LinkedHashMap<>();
    final TreeSet<String> left;
    final List<String> missing = new ArrayList<>();

    Mapper(Map<String, Tensor> src) {
      this.src = src;
      this.left = new TreeSet<>(src.keySet());
    }

    void put(String from, String to, java.util.function.UnaryOperator<Tensor> f) {
      Tensor t = src.get(from);
      if (t == null) {
        missing.add(from);
        return;
      }
      left.remove(from);
      out.put(to, f.apply(t));
    }

    /** weight and bias under the same names. */
    void linear(String from, String to) {
      put(from + "weight", to + "weight", t -> t);
      put(from + "bias", to + "bias", t -> t);
    }

    /** Weight and bias if the source has the weight (an optional layer). */
    void optional(String from, String to) {
      if (src.containsKey(from + "weight")) linear(from, to);
    }

    void resBlock(String from, String to) {
      linear(from + "in_layers.0.", to + "norm0.");
      linear(from + "in_layers.2.", to + "conv0.");
      linear(from + "emb_layers.1.", to + "affine.");
      optional(from + "emb_layers_s.1.", to + "affine_s.");
      linear(from + "out_layers.0.", to + "norm1.");
      linear(from + "out_layers.3.", to + "conv1.");
      optional(from + "skip_connection.", to + "skip.");
    }

    /** AttentionBlock of C channels (64 per head) into the attention part of an EDM UNetBlock. */
    void attention(String from, String to, long channels) {
      long heads = channels / 64;
      if (heads < 1 || channels % 64 != 0) {
        throw new IllegalArgumentException(from + ": " + channels + " channels do not split into heads of 64");
      }
      long d = channels / heads;
      linear(from + "norm.", to + "norm2.");
      // openai rows (three, head, d) → EDM rows (head, d, three).
      put(from + "qkv.weight", to + "qkv.weight",
          t -> t.reshape(3, heads, d, channels).permute(1, 2, 0, 3).reshape(3 * channels, channels, 1, 1));
      put(from + "qkv.bias", to + "qkv.bias", t -> t.reshape(3, heads, d).permute(1, 2, 0).reshape(3 * channels));
      put(from + "proj_out.weight", to + "proj.weight", t -> t.reshape(channels, channels, 1, 1));
      put(from + "proj_out.bias", to + "proj.bias", t -> t);
    }

    Map<String, Tensor> finish() {
      if (!missing.isEmpty() || !left.isEmpty()) {
        throw new IllegalArgumentException("the openai UNetModel state dict does not match this config: missing "
            + missing + ", not used " + left);
      }
      return out;
    }
  }
}
