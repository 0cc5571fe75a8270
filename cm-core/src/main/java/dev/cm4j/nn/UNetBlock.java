package dev.cm4j.nn;

import static dev.cm4j.tensor.TensorScope.chain;

import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.InferenceMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * EDM's UNet residual block (networks.py {@code UNetBlock}): GroupNorm–SiLU–Conv, embedding conditioning (additive,
 * or adaptive scale/shift), dropout, GroupNorm–SiLU–Conv, skip connection, skip scaling, optional self-attention.
 */
public final class UNetBlock extends Module {
  /** Constructor options shared by the blocks of one network (EDM's {@code block_kwargs}). */
  public record Options(long embChannels, Integer numHeads, int channelsPerHead, double dropout, double skipScale,
      double eps, double[] resampleFilter, boolean resampleProj, boolean adaptiveScale, Init init, Init initZero,
      Init initAttn) {}

  private final long inChannels;
  private final long outChannels;
  private final int numHeads;
  private final double dropout;
  private final double skipScale;
  private final boolean adaptiveScale;
  private final GroupNorm norm0;
  private final Conv2d conv0;
  private final Linear affine;
  private Linear affineS;
  private final GroupNorm norm1;
  private final Conv2d conv1;
  private final Conv2d skip;
  private final GroupNorm norm2;
  private final Conv2d qkv;
  private final Conv2d proj;
  private Generator dropoutGenerator;

  /** EDM {@code UNetBlock(in_channels, out_channels, up, down, attention, **block_kwargs)}. */
  public UNetBlock(long inChannels, long outChannels, boolean up, boolean down, boolean attention, Options o) {
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.numHeads = !attention ? 0 : o.numHeads() != null ? o.numHeads() : (int) (outChannels / o.channelsPerHead());
    this.dropout = o.dropout();
    this.skipScale = o.skipScale();
    this.adaptiveScale = o.adaptiveScale();
    norm0 = child("norm0", new GroupNorm(inChannels, o.eps()));
    conv0 = child("conv0", new Conv2d(inChannels, outChannels, 3, true, up, down, o.resampleFilter(), false, o.init()));
    affine = child("affine", new Linear(o.embChannels(), outChannels * (adaptiveScale ? 2 : 1), true, o.init()));
    norm1 = child("norm1", new GroupNorm(outChannels, o.eps()));
    conv1 = child("conv1", new Conv2d(outChannels, outChannels, 3, true, false, false, o.resampleFilter(), false,
        o.initZero()));
    if (outChannels != inChannels || up || down) {
      int kernel = o.resampleProj() || outChannels != inChannels ? 1 : 0;
      skip = child("skip", new Conv2d(inChannels, outChannels, kernel, true, up, down, o.resampleFilter(), false,
          o.init()));
    } else {
      skip = null;
    }
    if (numHeads > 0) {
      norm2 = child("norm2", new GroupNorm(outChannels, o.eps()));
      qkv = child("qkv", new Conv2d(outChannels, outChannels * 3, 1, true, false, false, o.resampleFilter(), false,
          o.initAttn() != null ? o.initAttn() : o.init()));
      proj = child("proj", new Conv2d(outChannels, outChannels, 1, true, false, false, o.resampleFilter(), false,
          o.initZero()));
    } else {
      norm2 = null;
      qkv = null;
      proj = null;
    }
  }

  /** Input channels. */
  public long inChannels() {
    return inChannels;
  }

  /** Output channels. */
  public long outChannels() {
    return outChannels;
  }

  /**
   * Adds CTM's per-block projection of the s-embedding ({@code affine_s}, added to the t conditioning), zero-initialised
   * so a loaded EDM model's output is unchanged (docs/algorithms/ctm.md §1.2).
   */
  void addSProjection(long embChannels) {
    if (affineS != null) throw new IllegalStateException("affine_s already present");
    affineS = child("affine_s", new Linear(embChannels, affine.outFeatures(), true, new Init("xavier_uniform", 0, 0)));
  }

  /** The generator dropout masks are drawn from (null: the default generator). */
  public void setDropoutGenerator(Generator g) {
    dropoutGenerator = g;
  }

  /** x [N, Cin, H, W], emb [N, E] → [N, Cout, H', W']. */
  public Tensor forward(Tensor x, Tensor emb) {
    return forward(x, emb, null);
  }

  /**
   * With CTM's s-embedding embS [N, E] (null: none) added to the conditioning through affine_s.
   *
   * <p>Each intermediate is released as soon as it is dead ({@link TensorScope#chain}, close), as CPython frees a
   * tensor when its last reference goes: a no-grad or forward-mode pass (sCT's and MeanFlow's JVP) then peaks near
   * one layer's input and output, not a whole block's (docs/benchmarks.md §4; autograd keeps what backward needs).
   * The block's scope releases whatever remains when it returns. The adds are in place where EDM's are: on fresh
   * convolution outputs, which no backward formula reads.
   */
  public Tensor forward(Tensor x, Tensor emb, Tensor embS) {
    try (TensorScope scope = TensorScope.open()) {
      // Under inference mode (a stop-gradient target pass, sampling) nothing is kept for backward, so the activation
      // overwrites the norm's fresh output instead of allocating another tensor.
      UnaryOperator<Tensor> silu = InferenceMode.isEnabled() ? Tensor::silu_ : Tensor::silu;
      Tensor h = chain(norm0.forward(x), silu, conv0::forward);
      var dtype = h.dtype();
      Tensor params = TensorScope.scoped(() -> conditioning(emb, embS).unsqueeze(2).unsqueeze(3).to(dtype));
      UnaryOperator<Tensor> dropoutStep = t -> F.dropout(t, dropout, isTraining(), dropoutGenerator);
      if (adaptiveScale) {
        var ss = params.chunk(2, 1);
        Tensor scale = ss.get(0).add(1.0);
        Tensor shift = ss.get(1);
        h = chain(h, norm1::forward, n -> n.mul(scale), shift::add, silu, dropoutStep, conv1::forward);
      } else {
        h = chain(h.add_(params), norm1::forward, silu, dropoutStep, conv1::forward);
      }
      Tensor res = skip != null ? skip.forward(x) : x;
      h.add_(res);
      if (res != x) res.close();
      x = chain(h, this::scaleSkip);
      if (numHeads > 0) {
        long[] sh = x.shape();
        Tensor qkvT = chain(norm2.forward(x), qkv::forward, t -> t.reshape(sh[0] * numHeads, sh[1] / numHeads, 3, -1));
        Tensor q = qkvT.select(2, 0);
        Tensor k = qkvT.select(2, 1);
        Tensor v = qkvT.select(2, 2);
        Tensor w = chain(k.div(Math.sqrt(k.size(1))), kk -> Tensor.einsum("ncq,nck->nqk", q, kk), t -> t.softmax(2));
        Tensor a = Tensor.einsum("nqk,nck->ncq", w, v);
        for (Tensor t : new Tensor[] {w, q, k, v, qkvT}) t.close();
        Tensor in = x;
        x = chain(a, t -> t.reshape(sh), proj::forward, t -> t.add_(in), this::scaleSkip);
        in.close();
      }
      return scope.escape(x);
    }
  }

  /**
   * One decoder step of EDM's UNets (SongUNet, DhariwalUNet): concatenates x with the last pending skip when this
   * block's input channels ask for it, applies the block, and releases each input as soon as it is dead, as CPython
   * frees it (a no-grad or forward-mode pass then holds one level's tensors, docs/benchmarks.md §4; autograd keeps
   * what backward needs): x and the skip once concatenated, the block's input once the block returns. An x that is
   * still a pending skip (the encoder's last output) stays.
   */
  Tensor decode(Tensor x, List<Tensor> skips, Tensor emb, Tensor embS) {
    Tensor in = x;
    if (x.size(1) != inChannels) {
      Tensor skip = skips.remove(skips.size() - 1);
      in = Tensor.cat(List.of(x, skip), 1);
      skip.close();
      closeUnlessPending(x, skips);
    }
    Tensor y = forward(in, emb, embS);
    closeUnlessPending(in, skips);
    return y;
  }

  /** Closes t unless it is one of the pending skips (also used by EDM2UNet's decoder). */
  static void closeUnlessPending(Tensor t, List<Tensor> skips) {
    for (Tensor s : skips) if (s == t) return;
    t.close();
  }

  /**
   * x·skip_scale in place: x is always a fresh sum (a convolution's output plus the skip, added in place as EDM does),
   * which no backward formula reads, so the product needs no new tensor; skip_scale 1 is the identity, and EDM's
   * multiplication by 1.0 is exact, so it is skipped.
   */
  private Tensor scaleSkip(Tensor x) {
    return skipScale == 1 ? x : x.mul_(skipScale);
  }

  /** The embedding's projection: affine(emb), plus affine_s(embS) when embS is given. */
  private Tensor conditioning(Tensor emb, Tensor embS) {
    Tensor cond = affine.forward(emb);
    if (embS == null) return cond;
    if (affineS == null) throw new IllegalStateException("this block has no s-embedding path");
    return cond.add_(affineS.forward(embS));
  }
}
