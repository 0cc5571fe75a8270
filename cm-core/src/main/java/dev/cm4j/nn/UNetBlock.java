package dev.cm4j.nn;

import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;

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
   * <p>The block's intermediates live in their own {@link TensorScope} and are released when the block returns
   * (autograd keeps what backward needs), so a pass's working set stays near one block's. The adds are in place
   * where EDM's are: on fresh convolution outputs, which no backward formula reads.
   */
  public Tensor forward(Tensor x, Tensor emb, Tensor embS) {
    try (TensorScope scope = TensorScope.open()) {
      Tensor orig = x;
      // Nested scopes free each stage's temporaries (norms, activations, the attention weights) as soon as the stage
      // ends rather than when the block returns: a no-grad or forward-mode pass (sCT's and MeanFlow's JVP) then peaks
      // near one stage's working set (docs/benchmarks.md §4).
      try (TensorScope st = TensorScope.open()) {
        x = st.escape(conv0.forward(norm0.forward(x).silu()));
      }
      try (TensorScope st = TensorScope.open()) {
        Tensor cond = affine.forward(emb);
        if (embS != null) {
          if (affineS == null) throw new IllegalStateException("this block has no s-embedding path");
          cond = cond.add_(affineS.forward(embS));
        }
        Tensor params = cond.unsqueeze(2).unsqueeze(3).to(x.dtype());
        Tensor h;
        if (adaptiveScale) {
          var ss = params.chunk(2, 1);
          h = ss.get(1).add(norm1.forward(x).mul(ss.get(0).add(1.0))).silu();
        } else {
          h = norm1.forward(x.add_(params)).silu();
        }
        h = conv1.forward(F.dropout(h, dropout, isTraining(), dropoutGenerator));
        Tensor first = x;
        x = st.escape(h.add_(skip != null ? skip.forward(orig) : orig).mul(skipScale));
        first.close(); // conv0's output: autograd keeps it if backward needs it
      }
      if (numHeads > 0) {
        try (TensorScope st = TensorScope.open()) {
          long[] sh = x.shape();
          Tensor qkvT = qkv.forward(norm2.forward(x)).reshape(sh[0] * numHeads, sh[1] / numHeads, 3, -1);
          Tensor q = qkvT.select(2, 0);
          Tensor k = qkvT.select(2, 1);
          Tensor v = qkvT.select(2, 2);
          Tensor w = Tensor.einsum("ncq,nck->nqk", q, k.div(Math.sqrt(k.size(1)))).softmax(2);
          Tensor a = Tensor.einsum("nqk,nck->ncq", w, v);
          x = st.escape(proj.forward(a.reshape(sh)).add_(x).mul(skipScale));
        }
      }
      return scope.escape(x);
    }
  }
}
