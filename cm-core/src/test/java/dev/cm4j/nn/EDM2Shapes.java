package dev.cm4j.nn;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * State-dict keys and shapes of an {@link EDM2Precond}-wrapped {@link EDM2UNet}, computed without allocating any
 * tensor (an independent transcription of networks_edm2.py's constructor, for the published multi-GB configs; checked
 * against built networks in EDM2UNetTest).
 */
final class EDM2Shapes {
  private EDM2Shapes() {}

  static Map<String, long[]> shapes(EDM2UNet.Config c, int logvarChannels) {
    Map<String, long[]> m = new LinkedHashMap<>();
    int[] mult = c.channelMult();
    long[] cb = new long[mult.length];
    long cmax = 0;
    for (int i = 0; i < mult.length; i++) {
      cb[i] = (long) c.modelChannels() * mult[i];
      cmax = Math.max(cmax, cb[i]);
    }
    long cnoise = c.channelMultNoise() > 0 ? (long) c.modelChannels() * c.channelMultNoise() : cb[0];
    long cemb = c.channelMultEmb() > 0 ? (long) c.modelChannels() * c.channelMultEmb() : cmax;
    String u = "unet.";
    m.put(u + "out_gain", new long[0]);
    if (c.timeEmbedding().equals("fourier")) {
      m.put(u + "emb_fourier.freqs", new long[] {cnoise});
      m.put(u + "emb_fourier.phases", new long[] {cnoise});
    }
    m.put(u + "emb_noise.weight", new long[] {cemb, cnoise});
    if (c.labelDim() > 0) m.put(u + "emb_label.weight", new long[] {cemb, c.labelDim()});
    long cout = c.imgChannels() + 1;
    List<Long> skips = new ArrayList<>();
    for (int level = 0; level < mult.length; level++) {
      int res = c.imgResolution() >> level;
      String r = u + "enc." + res + "x" + res;
      if (level == 0) {
        m.put(r + "_conv.weight", new long[] {cb[0], cout, 3, 3});
        cout = cb[0];
      } else {
        block(m, r + "_down", cout, cout, cemb, "enc", false, c);
      }
      skips.add(cout);
      for (int i = 0; i < c.numBlocks(); i++) {
        block(m, r + "_block" + i, cout, cb[level], cemb, "enc", has(c.attnResolutions(), res), c);
        cout = cb[level];
        skips.add(cout);
      }
    }
    for (int level = mult.length - 1; level >= 0; level--) {
      int res = c.imgResolution() >> level;
      String r = u + "dec." + res + "x" + res;
      if (level == mult.length - 1) {
        block(m, r + "_in0", cout, cout, cemb, "dec", true, c);
        block(m, r + "_in1", cout, cout, cemb, "dec", false, c);
      } else {
        block(m, r + "_up", cout, cout, cemb, "dec", false, c);
      }
      for (int i = 0; i <= c.numBlocks(); i++) {
        long cin = cout + skips.remove(skips.size() - 1);
        block(m, r + "_block" + i, cin, cb[level], cemb, "dec", has(c.attnResolutions(), res), c);
        cout = cb[level];
      }
    }
    m.put(u + "out_conv.weight", new long[] {c.imgChannels(), cout, 3, 3});
    if (logvarChannels > 0) {
      m.put("logvar_fourier.freqs", new long[] {logvarChannels});
      m.put("logvar_fourier.phases", new long[] {logvarChannels});
      m.put("logvar_linear.weight", new long[] {1, logvarChannels});
    }
    return m;
  }

  private static void block(Map<String, long[]> m, String p, long cin, long cout, long cemb, String flavor,
      boolean attn, EDM2UNet.Config c) {
    if (!c.doubleNorm()) m.put(p + ".emb_gain", new long[0]);
    m.put(p + ".conv_res0.weight", new long[] {cout, flavor.equals("enc") ? cout : cin, 3, 3});
    m.put(p + ".emb_linear.weight", new long[] {c.doubleNorm() ? 2 * cout : cout, cemb});
    m.put(p + ".conv_res1.weight", new long[] {cout, cout, 3, 3});
    if (cin != cout) m.put(p + ".conv_skip.weight", new long[] {cout, cin, 1, 1});
    if (attn && cout / c.channelsPerHead() != 0) {
      m.put(p + ".attn_qkv.weight", new long[] {3 * cout, cout, 1, 1});
      m.put(p + ".attn_proj.weight", new long[] {cout, cout, 1, 1});
    }
  }

  private static boolean has(int[] a, int v) {
    for (int x : a) if (x == v) return true;
    return false;
  }
}
