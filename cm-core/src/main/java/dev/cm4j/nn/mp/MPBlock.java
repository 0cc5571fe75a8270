package dev.cm4j.nn.mp;

import static dev.cm4j.tensor.TensorScope.chain;

import dev.cm4j.nn.Module;
import dev.cm4j.nn.Param;
import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * EDM2's U-Net encoder/decoder block with optional self-attention (Karras et al. 2024, Fig. 21). Encoder blocks
 * resample, project the skip (1×1) and pixel-normalise the main path before the residual branch; decoder blocks project
 * the skip after it. The residual branch is conv → scale by (1 + gain·emb_linear(emb)) → mp_silu → dropout → conv,
 * joined by an mp_sum with balance {@code res_balance}; attention uses pixel-normalised q, k, v and joins by an mp_sum
 * with balance {@code attn_balance}; activations are clipped to ±clip_act.
 *
 * <p>With {@code doubleNorm} (sCM's adaptive double normalisation, Lu and Song 2024 §4.1) the modulation becomes
 * pnorm(h)·pnorm(s) + pnorm(b), where h is the first conv's output, [s, b] = emb_linear(emb) (2·C outputs) and pnorm is
 * EDM2's {@link MP#normalize} over channels; the block then has no emb_gain (a gain in front of a pixel norm cancels).
 */
public final class MPBlock extends Module {
  /** Block options (EDM2's Block keyword arguments, plus sCM's switch). */
  public record Options(
      String flavor,            // "enc" or "dec"
      MP.Resample resample,     // KEEP, UP or DOWN
      double[] resampleFilter,  // EDM2: [1, 1]
      boolean attention,
      int channelsPerHead,      // EDM2: 64
      double dropout,
      double resBalance,        // EDM2: 0.3
      double attnBalance,       // EDM2: 0.3
      double clipAct,           // EDM2: 256; 0 = no clipping
      boolean doubleNorm) {     // sCM adaptive double normalisation
    public Options {
      if (!flavor.equals("enc") && !flavor.equals("dec")) throw new IllegalArgumentException("flavor must be enc or dec: " + flavor);
      if (channelsPerHead < 1) throw new IllegalArgumentException("channels_per_head must be >= 1");
      if (!(dropout >= 0 && dropout <= 1)) throw new IllegalArgumentException("dropout must be in [0, 1]: " + dropout);
      if (clipAct < 0) throw new IllegalArgumentException("clip_act must be >= 0 (0: off): " + clipAct);
    }
  }

  private final Options o;
  private final long outChannels;
  private final int numHeads;
  private final Param embGain;
  private final MPConv convRes0;
  private final MPConv embLinear;
  private final MPConv convRes1;
  private final MPConv convSkip;
  private final MPConv attnQkv;
  private final MPConv attnProj;
  private Generator dropoutGenerator;

  /** EDM2 {@code Block(in_channels, out_channels, emb_channels, ...)}; parameters registered in EDM2's order. */
  public MPBlock(long inChannels, long outChannels, long embChannels, Options o) {
    this.o = o;
    this.outChannels = outChannels;
    this.numHeads = o.attention() ? (int) (outChannels / o.channelsPerHead()) : 0;
    embGain = o.doubleNorm() ? null : parameter("emb_gain", Tensor.zeros());
    convRes0 = child("conv_res0", new MPConv(o.flavor().equals("enc") ? outChannels : inChannels, outChannels, 3));
    embLinear = child("emb_linear", new MPConv(embChannels, o.doubleNorm() ? 2 * outChannels : outChannels, 0));
    convRes1 = child("conv_res1", new MPConv(outChannels, outChannels, 3));
    convSkip = inChannels != outChannels ? child("conv_skip", new MPConv(inChannels, outChannels, 1)) : null;
    attnQkv = numHeads != 0 ? child("attn_qkv", new MPConv(outChannels, outChannels * 3, 1)) : null;
    attnProj = numHeads != 0 ? child("attn_proj", new MPConv(outChannels, outChannels, 1)) : null;
  }

  /** Output channels. */
  public long outChannels() {
    return outChannels;
  }

  /** Attention heads (0: no attention). */
  public int numHeads() {
    return numHeads;
  }

  /** The options. */
  public Options options() {
    return o;
  }

  /** Dropout masks are drawn from g (null: the default generator). */
  public void setDropoutGenerator(Generator g) {
    dropoutGenerator = g;
  }

  /** EDM2's modulation: h·(1 + e) with e = gain·emb_linear(emb) [N, C] broadcast over H, W. */
  static Tensor modulate(Tensor h, Tensor e) {
    return h.mul(e.add(1).unsqueeze(2).unsqueeze(3).to(h.dtype()));
  }

  /** sCM's adaptive double normalisation: pnorm(h)·pnorm(s) + pnorm(b), with [s, b] = sb split along channels. */
  static Tensor doubleNormalize(Tensor h, Tensor sb) {
    long c = h.size(1);
    Tensor s = MP.normalize(sb.narrow(1, 0, c), 1);
    Tensor b = MP.normalize(sb.narrow(1, c, c), 1);
    return MP.normalize(h, 1).mul(s.unsqueeze(2).unsqueeze(3).to(h.dtype()))
        .add(b.unsqueeze(2).unsqueeze(3).to(h.dtype()));
  }

  /**
   * The block on x [N, C_in, H, W] with the embedding emb [N, C_emb].
   *
   * <p>Each intermediate is released as soon as it is dead ({@link TensorScope#chain}, {@link TensorScope#scoped},
   * close), as CPython frees it: a no-grad or forward-mode pass then peaks near one layer's input and output, not a
   * whole block's (docs/benchmarks.md §4; autograd keeps what backward needs). The block's scope releases whatever
   * remains when it returns.
   */
  public Tensor forward(Tensor x, Tensor emb) {
    try (TensorScope scope = TensorScope.open()) {
      // Main branch (x itself when it neither resamples nor is an encoder block).
      Tensor main = TensorScope.scoped(() -> {
        Tensor m = MP.resample(x, o.resampleFilter(), o.resample());
        if (o.flavor().equals("enc")) {
          if (convSkip != null) m = convSkip.forward(m);
          m = MP.normalize(m, 1); // pixel norm
        }
        return m;
      });

      // Residual branch.
      Tensor e = o.doubleNorm() ? embLinear.forward(emb) : embLinear.forward(emb, embGain.get());
      UnaryOperator<Tensor> dropoutStep = t -> isTraining() && o.dropout() != 0
          ? F.dropout(t, o.dropout(), true, dropoutGenerator) : t;
      Tensor y = chain(MP.silu(main), convRes0::forward,
          h -> o.doubleNorm() ? TensorScope.scoped(() -> doubleNormalize(h, e)) : modulate(h, e),
          MP::silu, dropoutStep, convRes1::forward);

      // Join the branches.
      Tensor skip = o.flavor().equals("dec") && convSkip != null ? convSkip.forward(main) : main;
      Tensor out = MP.sum(skip, y, o.resBalance());
      for (Tensor t : new Tensor[] {y, skip, main}) if (t != x) t.close();

      // Self-attention: per head, softmax(qᵀk/√c) over keys, with q, k, v pixel-normalised over their c channels.
      if (numHeads != 0) {
        long n = out.size(0);
        long hw = out.size(2) * out.size(3);
        long[] shape = out.shape();
        Tensor qkv = chain(attnQkv.forward(out), t -> t.reshape(n, numHeads, -1, 3, hw), t -> MP.normalize(t, 2));
        Tensor q = qkv.select(3, 0);
        Tensor k = qkv.select(3, 1);
        Tensor v = qkv.select(3, 2);
        Tensor w = chain(k.div(Math.sqrt(q.size(2))), kk -> Tensor.einsum("nhcq,nhck->nhqk", q, kk), t -> t.softmax(3));
        Tensor a = Tensor.einsum("nhqk,nhck->nhcq", w, v);
        for (Tensor t : new Tensor[] {w, q, k, v, qkv}) t.close();
        y = chain(a, t -> t.reshape(shape), attnProj::forward);
        Tensor joined = MP.sum(out, y, o.attnBalance());
        y.close();
        out.close();
        out = joined;
      }

      if (o.clipAct() > 0) out = chain(out, t -> t.clamp(-o.clipAct(), o.clipAct()));
      return scope.escape(out);
    }
  }

  /** All MPConv layers of this block (for switching the forced weight normalisation). */
  List<MPConv> convs() {
    return java.util.stream.Stream.of(convRes0, embLinear, convRes1, convSkip, attnQkv, attnProj)
        .filter(java.util.Objects::nonNull).toList();
  }
}
