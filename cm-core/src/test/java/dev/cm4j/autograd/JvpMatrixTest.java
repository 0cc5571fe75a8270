package dev.cm4j.autograd;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.Conv2d;
import dev.cm4j.nn.DhariwalUNet;
import dev.cm4j.nn.EDM2UNet;
import dev.cm4j.nn.FourierEmbedding;
import dev.cm4j.nn.GroupNorm;
import dev.cm4j.nn.Init;
import dev.cm4j.nn.Linear;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.Param;
import dev.cm4j.nn.PositionalEmbedding;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.nn.TwoTimeNetwork;
import dev.cm4j.nn.UNetBlock;
import dev.cm4j.nn.mp.MP;
import dev.cm4j.nn.mp.MPBlock;
import dev.cm4j.nn.mp.MPConv;
import dev.cm4j.nn.mp.MPFourier;
import dev.cm4j.nn.mp.MPPositional;
import dev.cm4j.objectives.SCM;
import dev.cm4j.objectives.SharedDropout;
import dev.cm4j.precond.AdaptiveWeight;
import dev.cm4j.precond.CTMPrecond;
import dev.cm4j.precond.EDM2Precond;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.Autograd;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.F;
import dev.cm4j.tensor.ForwardAD;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.opentest4j.AssertionFailedError;

/**
 * The JVP test matrix (issue 14 §4): every op and module that our networks, preconditioners and objectives run under
 * forward-mode AD, each checked three ways in float64 —
 *
 * <ol>
 *   <li>the primal of the JVP pass equals a plain pass with the same dropout masks (masks shared between the primal
 *       and the tangent computation),
 *   <li>the tangent J·v equals the float64 central difference (f(x + hv) − f(x − hv))/2h, with the same masks,
 *   <li>the tangent equals J·v built from reverse mode alone: w(u) = Jᵀu by one backward with a graph, then J·v =
 *       ∂⟨w(u), v⟩/∂u by a second backward (the "double-vjp" route; it needs no forward-mode formula anywhere),
 * </ol>
 *
 * in training and in evaluation mode where the op or module behaves differently (dropout, label dropout, EDM2's forced
 * weight normalisation). In training mode every evaluation of f re-seeds the module's dropout generator to the same
 * state, so all five passes (JVP, f(x ± hv), reverse) see the same masks, the way {@link SharedDropout} makes the
 * objectives' gradient pass and JVP pass share them.
 *
 * <p>Rows whose op computes in float32 on purpose (EDM2's MP ops take norms in float32, MPConv keeps float32 weights,
 * the EDM/EDM2/CTM preconditioners return float32) are checked with a larger difference step and tolerances set by
 * float32 rounding; every other row at float64 precision. Every zero-initialised parameter is perturbed first, so no
 * branch is silently switched off (a zero last convolution would hide a wrong tangent behind it).
 *
 * <p>Inventory of the forward-mode tests elsewhere: tensor/ForwardADTest (conv + group norm + SiLU + SDPA, the
 * dual-level API), tensor/FunctionalTest (SDPA with a mask), tensor/TestDeviceNetworkTest (SongUNet JVP on the test
 * device equals the CPU), objectives/SCMTest (sCM's tangent against differences on an MLP), objectives/MeanFlowTest
 * (du/dt against a float64 central difference on an MLP). None covered dropout, training mode, the UNet blocks with
 * resampling or attention, ADM, EDM2/MP ops, the embeddings or the preconditioners: that is this matrix.
 */
class JvpMatrixTest {
  static final DType D = DType.FLOAT64;
  static final Device CPU = Device.CPU;

  /**
   * How closely each route must agree: fdStep h of the central difference, and the relative errors (‖a − b‖/‖b‖)
   * allowed against the difference and against reverse mode. The primal must match a plain pass to primalRel.
   */
  record Tol(double fdStep, double fdRel, double revRel, double primalRel) {}

  /**
   * Pure float64 computation. Measured (2026-12-06, libtorch 2.13 CPU): primal exactly equal on every row, difference
   * errors up to 4e-8 (NCSN++, Fourier features at scale 16), reverse mode up to 8e-16.
   */
  static final Tol F64 = new Tol(1e-6, 1e-6, 1e-12, 1e-13);
  /**
   * An op that rounds through float32 internally: a larger step (rounding/h) and float32-level tolerances. Measured:
   * difference errors up to 2.2e-4 (MPPositional), reverse mode up to 1e-7.
   */
  static final Tol F32 = new Tol(1e-3, 2e-3, 1e-6, 1e-7);

  /**
   * One built row: f over its differentiable inputs, the primals and tangents (float64), the generator the row's
   * dropout draws from (null: no randomness) and the module to close afterwards (null: none).
   */
  record Built(Function<List<Tensor>, Tensor> f, List<Tensor> primals, List<Tensor> tangents, Generator gen,
      Module module) {}

  /** A row of the matrix: name, tolerances, whether train and eval differ, and how to build it in a mode. */
  record Row(String name, Tol tol, boolean modal, Function<Boolean, Built> build) {}

  // ---- input builders ------------------------------------------------------------------------------------------

  static Generator gen(long seed) {
    return Generator.cpu(seed);
  }

  static Tensor randn(Generator g, long... shape) {
    return Tensor.randn(shape, D, CPU, g);
  }

  /** Uniform on [lo, hi). */
  static Tensor uniform(Generator g, double lo, double hi, long... shape) {
    return Tensor.rand(shape, D, CPU, g).mul(hi - lo).add(lo);
  }

  /** Inputs and same-shaped random tangents. */
  static List<Tensor> tangentsFor(List<Tensor> primals, long seed) {
    Generator g = gen(seed);
    List<Tensor> t = new ArrayList<>();
    for (Tensor p : primals) t.add(randn(g, p.shape()).to(p.dtype()));
    return t;
  }

  static Built op(Function<List<Tensor>, Tensor> f, long seed, Tensor... primals) {
    return new Built(f, List.of(primals), tangentsFor(List.of(primals), seed + 1000), null, null);
  }

  /**
   * Moves m to float64 in the given mode, draws its dropout from a fresh generator and perturbs every parameter
   * (p + N(0, 0.5²/fan_in)), so zero-initialised layers and gains are live.
   */
  static <M extends Module> M prepare(M m, boolean train, long seed) {
    return prepare(m, train, seed, D);
  }

  /** {@link #prepare} in another dtype (the float32-only preconditioners). */
  static <M extends Module> M prepare(M m, boolean train, long seed, DType dtype) {
    m.to(CPU, dtype);
    m.train(train);
    Generator g = gen(seed);
    try (GradMode ng = GradMode.noGrad(); TensorScope s = TensorScope.open()) {
      for (Param p : m.namedParameters().values()) {
        Tensor t = p.get();
        double fanIn = t.dim() >= 2 ? (double) t.numel() / t.size(0) : 1;
        t.add_(randn(g, t.shape()).mul(0.5 / Math.sqrt(fanIn)).to(t.dtype()));
      }
    }
    return m;
  }

  static Built module(Module m, Generator dropout, Function<List<Tensor>, Tensor> f, long seed, Tensor... primals) {
    return new Built(f, List.of(primals), tangentsFor(List.of(primals), seed + 1000), dropout, m);
  }

  /** The small networks of the matrix (2 channels, 8×8, batch 2). */
  static SongUNet.Config songConfig(String variant, double dropout, int labelDim, double labelDropout, boolean s) {
    String base = "{\"img_resolution\":8,\"img_channels\":2,\"model_channels\":8,\"channel_mult\":[1,2],"
        + "\"num_blocks\":1,\"attn_resolutions\":[4],\"dropout\":" + dropout + ",\"label_dim\":" + labelDim
        + ",\"label_dropout\":" + labelDropout + ",\"s_embedding\":" + s;
    String extra = variant.equals("ncsnpp")
        ? ",\"embedding_type\":\"fourier\",\"channel_mult_noise\":2,\"encoder_type\":\"residual\","
            + "\"decoder_type\":\"skip\",\"resample_filter\":[1,3,3,1]"
        : variant.equals("skip") ? ",\"encoder_type\":\"skip\",\"decoder_type\":\"skip\"" : "";
    return SongUNet.Config.fromKwargs(base + extra + "}");
  }

  static UNetBlock.Options blockOptions(double dropout, boolean adaptive, double[] filter, Integer heads) {
    return new UNetBlock.Options(6, heads, 4, dropout, Math.sqrt(0.5), 1e-6, filter, true, adaptive, Init.XAVIER,
        Init.XAVIER_ZERO, Init.XAVIER_ATTN);
  }

  static EDM2UNet.Config edm2Config(String time, boolean doubleNorm, double dropout) {
    return new EDM2UNet.Config(8, 2, 3, 16, new int[] {1, 2}, 0, 0, 1, new int[] {4}, 0.5, 0.5, new double[] {1, 1},
        8, dropout, 0.3, 0.3, 256, 0, time, doubleNorm, doubleNorm);
  }

  static Tensor oneHot(long n, long classes) {
    double[] a = new double[(int) (n * classes)];
    for (int i = 0; i < n; i++) a[(int) (i * classes + (i % classes))] = 1;
    return Tensor.of(a, n, classes);
  }

  // ---- the matrix -------------------------------------------------------------------------------------------------

  static List<Row> rows() {
    List<Row> r = new ArrayList<>();
    // Tensor-level ops (the objectives' arithmetic and the networks' building blocks).
    r.add(new Row("unary trig: sin cos tan atan", F64, false, m -> {
      Generator g = gen(1);
      return op(in -> in.get(0).sin().add(in.get(0).cos().mul(in.get(0).tan())).add(in.get(0).atan()), 1,
          uniform(g, -1.2, 1.2, 3, 4));
    }));
    r.add(new Row("atan2", F64, false, m -> {
      Generator g = gen(2);
      return op(in -> in.get(0).atan2(in.get(1)), 2, randn(g, 3, 4), uniform(g, 0.5, 2, 3, 4));
    }));
    r.add(new Row("sqrt rsqrt reciprocal pow", F64, false, m -> {
      Generator g = gen(3);
      return op(in -> in.get(0).sqrt().add(in.get(0).rsqrt()).add(in.get(0).reciprocal()).add(in.get(0).pow(0.75))
          .add(in.get(0).pow(in.get(1))), 3, uniform(g, 0.5, 2, 3, 4), randn(g, 3, 4));
    }));
    r.add(new Row("div rdiv square neg", F64, false, m -> {
      Generator g = gen(4);
      return op(in -> in.get(0).div(in.get(1)).add(in.get(1).rdiv(2.0)).sub(in.get(0).square().neg()), 4,
          randn(g, 3, 4), uniform(g, 0.5, 2, 3, 4));
    }));
    r.add(new Row("exp log log1p expm1 sigmoid tanh erf", F64, false, m -> {
      Generator g = gen(5);
      return op(in -> in.get(0).exp().add(in.get(0).abs().add(0.5).log()).add(in.get(0).abs().log1p())
          .add(in.get(0).expm1()).add(in.get(0).sigmoid()).add(in.get(0).tanh()).add(in.get(0).erf()), 5,
          randn(g, 3, 4));
    }));
    r.add(new Row("silu gelu relu", F64, false, m -> {
      Generator g = gen(6);
      return op(in -> in.get(0).silu().add(in.get(0).gelu()).add(in.get(0).relu()), 6, randn(g, 3, 4));
    }));
    r.add(new Row("where clamp clampMin maximum minimum", F64, false, m -> {
      Generator g = gen(7);
      // values kept away from the kinks (|x| not near 0.5, x ≠ y) so that the difference quotient is smooth
      Tensor x = Tensor.of(new double[] {-1.3, -0.2, 0.1, 0.9, 1.4, -0.8, 0.3, 2.0}, 2, 4);
      Tensor y = Tensor.of(new double[] {0.4, -1.0, 0.6, 0.2, -0.3, 1.1, -0.7, 0.5}, 2, 4);
      return op(in -> {
        Tensor a = in.get(0);
        Tensor b = in.get(1);
        return Tensor.where(a.gt(b), a.mul(b), a.sub(b)).add(a.clamp(-0.5, 0.5)).add(b.clampMin(0))
            .add(a.maximum(b)).add(a.minimum(b));
      }, 7, x, y);
    }));
    r.add(new Row("lerp lerp(tensor weight) nanToNum", F64, false, m -> {
      Generator g = gen(8);
      return op(in -> in.get(0).lerp(in.get(1), 0.3).add(in.get(0).lerp(in.get(1), in.get(2))).nanToNum(), 8,
          randn(g, 3, 4), randn(g, 3, 4), uniform(g, 0, 1, 3, 4));
    }));
    r.add(new Row("in-place add_ mul_ lerp_ on fresh results", F64, false, m -> {
      Generator g = gen(9);
      return op(in -> in.get(0).mul(2.0).add_(in.get(1)).mul_(in.get(1)).lerp_(in.get(0), 0.25), 9, randn(g, 3, 4),
          randn(g, 3, 4));
    }));
    r.add(new Row("reductions sum mean norm amax logsumexp", F64, false, m -> {
      Generator g = gen(10);
      return op(in -> {
        Tensor x = in.get(0);
        return x.sum(false, 1).add(x.mean(false, 1)).add(x.norm(2, false, 1)).add(x.amax(false, 1))
            .add(x.logsumexp(false, 1)).add(x.square().sum().sqrt());
      }, 10, randn(g, 3, 5));
    }));
    r.add(new Row("views and copies: reshape flatten transpose permute narrow select chunk flip repeat expand cat",
        F64, false, m -> {
          Generator g = gen(11);
          return op(in -> {
            Tensor x = in.get(0); // [2, 4, 3]
            Tensor a = x.transpose(1, 2).permute(0, 2, 1).flip(1).narrow(1, 1, 2).reshape(2, 6); // [2, 6]
            Tensor b = x.select(1, 0).repeat(1, 2).add(x.chunk(2, 1).get(1).flatten(1, -1)); // [2, 6]
            Tensor c = x.narrow(1, 0, 1).flatten(1, -1).unsqueeze(1).expand(2, 2, 3).reshape(2, 6);
            return Tensor.cat(List.of(a, b, c, x.to(DType.FLOAT64).flatten(1, -1)), 1);
          }, 11, randn(g, 2, 4, 3));
        }));
    r.add(new Row("float32 round trip to(float32).to(float64)", F32, false, m -> {
      Generator g = gen(12);
      return op(in -> in.get(0).to(DType.FLOAT32).mul(1.5).to(DType.FLOAT64), 12, randn(g, 3, 4));
    }));
    r.add(new Row("linear matmul bmm einsum", F64, false, m -> {
      Generator g = gen(13);
      return op(in -> {
        Tensor y = F.linear(in.get(0), in.get(1), in.get(2)); // [2, 3, 4]
        Tensor z = y.matmul(in.get(1)); // [2, 3, 5]
        return Tensor.einsum("nqc,nkc->nqk", z, z.add(1.0)).add(y.bmm(y.transpose(1, 2)));
      }, 13, randn(g, 2, 3, 5), randn(g, 4, 5), randn(g, 4));
    }));
    r.add(new Row("softmax", F64, false, m -> {
      Generator g = gen(14);
      return op(in -> in.get(0).softmax(1), 14, randn(g, 3, 5));
    }));
    r.add(new Row("conv2d 3x3 (x, w, b)", F64, false, m -> {
      Generator g = gen(15);
      return op(in -> F.conv2d(in.get(0), in.get(1), in.get(2), 1, 1, 1, 1), 15, randn(g, 2, 3, 5, 5),
          randn(g, 4, 3, 3, 3), randn(g, 4));
    }));
    r.add(new Row("conv2d depthwise stride 2 (FIR down) and conv_transpose2d (FIR up)", F64, false, m -> {
      Generator g = gen(16);
      return op(in -> {
        Tensor down = F.conv2d(in.get(0), in.get(1), null, 2, 1, 1, 3); // [2, 3, 3, 3]
        return F.convTranspose2d(down, in.get(1).mul(4.0), null, 2, 1, 0, 3, 1); // [2, 3, 6, 6]
      }, 16, randn(g, 2, 3, 6, 6), randn(g, 3, 1, 4, 4));
    }));
    r.add(new Row("group_norm (x, w, b)", F64, false, m -> {
      Generator g = gen(17);
      return op(in -> F.groupNorm(in.get(0), 2, in.get(1), in.get(2), 1e-5), 17, randn(g, 2, 4, 3, 3),
          randn(g, 4), randn(g, 4));
    }));
    r.add(new Row("layer_norm (MLPDenoiser's, no affine)", F64, false, m -> {
      Generator g = gen(18);
      return op(in -> F.layerNorm(in.get(0), new long[] {5}, null, null, 1e-5), 18, randn(g, 3, 5));
    }));
    r.add(new Row("scaled_dot_product_attention (q, k, v)", F64, false, m -> {
      Generator g = gen(19);
      return op(in -> F.scaledDotProductAttention(in.get(0), in.get(1), in.get(2), null, false, Double.NaN), 19,
          randn(g, 2, 2, 4, 3), randn(g, 2, 2, 5, 3), randn(g, 2, 2, 5, 3));
    }));
    r.add(new Row("dropout p = 0.3", F64, true, train -> {
      Generator g = gen(20);
      Generator mask = gen(21);
      List<Tensor> x = List.of(randn(g, 4, 6));
      return new Built(in -> F.dropout(in.get(0), 0.3, train, mask).mul(in.get(0)), x, tangentsFor(x, 22), mask,
          null);
    }));

    // Layers and embeddings.
    r.add(new Row("Linear", F64, false, m -> {
      Linear l = prepare(new Linear(5, 4, true, Init.XAVIER), m, 30);
      return module(l, null, in -> l.forward(in.get(0)), 30, randn(gen(31), 3, 5));
    }));
    r.add(new Row("Conv2d 3x3", F64, false, m -> {
      Conv2d c = prepare(new Conv2d(3, 4, 3, Init.XAVIER), m, 32);
      return module(c, null, in -> c.forward(in.get(0)), 32, randn(gen(33), 2, 3, 6, 6));
    }));
    for (double[] filt : List.of(new double[] {1, 1}, new double[] {1, 3, 3, 1})) {
      String fn = filt.length == 2 ? "[1,1]" : "[1,3,3,1]";
      for (String kind : List.of("up", "down", "fused up", "fused down", "resample only up", "resample only down")) {
        boolean up = kind.endsWith("up");
        boolean fused = kind.startsWith("fused");
        int kernel = kind.startsWith("resample") ? 0 : 3;
        r.add(new Row("Conv2d " + kind + " FIR " + fn, F64, false, m -> {
          Conv2d c = prepare(new Conv2d(3, kernel == 0 ? 3 : 4, kernel, true, up, !up, filt, fused, Init.XAVIER), m,
              34);
          return module(c, null, in -> c.forward(in.get(0)), 34, randn(gen(35), 2, 3, 6, 6));
        }));
      }
    }
    r.add(new Row("GroupNorm", F64, false, m -> {
      GroupNorm n = prepare(new GroupNorm(8, 4, 2, 1e-5), m, 36);
      return module(n, null, in -> n.forward(in.get(0)), 36, randn(gen(37), 2, 8, 3, 3));
    }));
    r.add(new Row("PositionalEmbedding (endpoint)", F64, false, m -> {
      PositionalEmbedding e = prepare(new PositionalEmbedding(8, 10000, true), m, 38);
      return module(e, null, in -> e.forward(in.get(0)), 38, uniform(gen(39), -1, 1, 3));
    }));
    r.add(new Row("FourierEmbedding", F64, false, m -> {
      Torch.manualSeed(40);
      FourierEmbedding e = prepare(new FourierEmbedding(8, 2), m, 40);
      return module(e, null, in -> e.forward(in.get(0)), 40, uniform(gen(41), -1, 1, 3));
    }));
    for (String kind : List.of("plain", "attention", "down", "up", "adaptive scale", "up [1,3,3,1] attention")) {
      r.add(new Row("UNetBlock " + kind + ", dropout 0.3", F64, true, m -> {
        Torch.manualSeed(42);
        boolean attn = kind.contains("attention");
        double[] filt = kind.contains("[1,3,3,1]") ? new double[] {1, 3, 3, 1} : new double[] {1, 1};
        UNetBlock b = prepare(new UNetBlock(4, kind.equals("plain") ? 4 : 8, kind.startsWith("up"),
            kind.equals("down"), attn, blockOptions(0.3, kind.equals("adaptive scale"), filt, attn ? 2 : null)), m,
            42);
        Generator drop = gen(43);
        b.setDropoutGenerator(drop);
        Generator g = gen(44);
        return module(b, drop, in -> b.forward(in.get(0), in.get(1)), 44, randn(g, 2, 4, 4, 4), randn(g, 2, 6));
      }));
    }
    r.add(new Row("MLPDenoiser (layer norm, dropout 0.3, s path)", F64, true, m -> {
      Torch.manualSeed(45);
      MLPDenoiser net = prepare(new MLPDenoiser(new MLPDenoiser.Config(3, 16, 2, 8, 0.3, true)), m, 45);
      Generator drop = gen(46);
      net.setDropoutGenerator(drop);
      Generator g = gen(47);
      return module(net, drop, in -> net.forward(in.get(0), in.get(1), in.get(2), null, null), 47, randn(g, 4, 3),
          uniform(g, -1, 1, 4), uniform(g, -1, 1, 4));
    }));

    // Whole networks (x and the noise labels carry tangents, as in sCM's and MeanFlow's JVPs).
    for (String variant : List.of("ddpmpp", "ncsnpp", "skip")) {
      r.add(new Row("SongUNet " + variant + ", dropout 0.3", F64, true, m -> {
        Torch.manualSeed(50);
        SongUNet net = prepare(new SongUNet(songConfig(variant, 0.3, 0, 0, false)), m, 50);
        Generator drop = gen(51);
        net.setDropoutGenerator(drop);
        Generator g = gen(52);
        return module(net, drop, in -> net.forward(in.get(0), in.get(1), null, null), 52, randn(g, 2, 2, 8, 8),
            uniform(g, -1, 1, 2));
      }));
    }
    r.add(new Row("SongUNet conditional, label dropout 0.5, dropout 0.3", F64, true, m -> {
      Torch.manualSeed(53);
      SongUNet net = prepare(new SongUNet(songConfig("ddpmpp", 0.3, 3, 0.5, false)), m, 53);
      Generator drop = gen(54);
      net.setDropoutGenerator(drop);
      Generator g = gen(55);
      Tensor labels = oneHot(2, 3);
      return module(net, drop, in -> net.forward(in.get(0), in.get(1), labels, null), 55, randn(g, 2, 2, 8, 8),
          uniform(g, -1, 1, 2));
    }));
    r.add(new Row("TwoTimeNetwork(SongUNet with s path): u(z, r, t)", F64, true, m -> {
      Torch.manualSeed(56);
      TwoTimeNetwork net = prepare(new TwoTimeNetwork(new SongUNet(songConfig("ddpmpp", 0.3, 0, 0, true))), m, 56);
      Generator drop = gen(57);
      ((SongUNet) net.raw()).setDropoutGenerator(drop);
      Generator g = gen(58);
      return module(net, drop, in -> net.forward(in.get(0), in.get(1), in.get(2), null), 58, randn(g, 2, 2, 8, 8),
          uniform(g, 0, 0.4, 2), uniform(g, 0.5, 1, 2));
    }));
    // AYF's guidance-scale conditioning: w's sinusoidal embedding times map_guidance's weight (zero at first, perturbed
    // by prepare), added to the noise embedding; w is a differentiable input here, so its embedding's JVP is checked.
    r.add(new Row("TwoTimeNetwork(SongUNet with s path and guidance embedding): u(z, r, t; w)", F64, true, m -> {
      Torch.manualSeed(62);
      SongUNet raw = new SongUNet(songConfig("ddpmpp", 0.3, 0, 0, true));
      raw.addGuidanceEmbedding();
      TwoTimeNetwork net = prepare(new TwoTimeNetwork(raw), m, 62);
      Generator drop = gen(63);
      raw.setDropoutGenerator(drop);
      Generator g = gen(64);
      return module(net, drop, in -> net.forward(in.get(0), in.get(1), in.get(2), null, in.get(3)), 64,
          randn(g, 2, 2, 8, 8), uniform(g, 0, 0.4, 2), uniform(g, 0.5, 1, 2), uniform(g, 1, 3, 2));
    }));
    r.add(new Row("MLPDenoiser with guidance embedding (dropout 0.3, s path)", F64, true, m -> {
      Torch.manualSeed(65);
      MLPDenoiser raw = new MLPDenoiser(new MLPDenoiser.Config(3, 16, 2, 8, 0.3, true));
      raw.addGuidanceEmbedding();
      MLPDenoiser net = prepare(raw, m, 65);
      Generator drop = gen(66);
      net.setDropoutGenerator(drop);
      Generator g = gen(67);
      return module(net, drop, in -> net.forward(in.get(0), in.get(1), in.get(2), null, null, in.get(3)), 67,
          randn(g, 4, 3), uniform(g, 0.1, 1, 4), uniform(g, 0, 0.5, 4), uniform(g, 1, 3, 4));
    }));
    r.add(new Row("DhariwalUNet (ADM), dropout 0.3", F64, true, m -> {
      Torch.manualSeed(59);
      DhariwalUNet net = prepare(new DhariwalUNet(new DhariwalUNet.Config(8, 2, 2, 0, 0, 64, new int[] {1, 1}, 1, 1,
          new int[] {4}, 0.3, 0, 1, false)), m, 59);
      Generator drop = gen(60);
      net.setDropoutGenerator(drop);
      Generator g = gen(61);
      return module(net, drop, in -> net.forward(in.get(0), in.get(1), null, null), 61, randn(g, 2, 2, 8, 8),
          uniform(g, -1, 1, 2));
    }));

    // EDM2: magnitude-preserving ops (norms in float32, float32 weights).
    r.add(new Row("MP normalize (pixel norm) silu sum cat", F32, false, m -> {
      Generator g = gen(70);
      return op(in -> {
        Tensor a = MP.normalize(in.get(0), 1);
        Tensor b = MP.normalize(in.get(1));
        return MP.cat(MP.sum(MP.silu(a), b, 0.3), b, 1, 0.5);
      }, 70, randn(g, 2, 4, 3, 3), randn(g, 2, 4, 3, 3));
    }));
    r.add(new Row("MP resample up/down", F64, false, m -> {
      Generator g = gen(71);
      return op(in -> MP.resample(MP.resample(in.get(0), new double[] {1, 3, 3, 1}, MP.Resample.DOWN),
          new double[] {1, 1}, MP.Resample.UP), 71, randn(g, 2, 3, 6, 6));
    }));
    for (int kernel : new int[] {0, 3}) {
      r.add(new Row("MPConv kernel " + kernel + " (forced weight normalisation in training)", F32, true, m -> {
        Torch.manualSeed(72);
        MPConv c = prepare(new MPConv(4, 5, kernel), m, 72);
        Generator g = gen(73);
        Tensor x = kernel == 0 ? randn(g, 3, 4) : randn(g, 2, 4, 4, 4);
        Tensor gain = Tensor.of(new double[] {0.7});
        return module(c, null, in -> c.forward(in.get(0), gain), 73, x);
      }));
    }
    r.add(new Row("MPFourier", F32, false, m -> {
      Torch.manualSeed(74);
      MPFourier e = prepare(new MPFourier(8, 1), m, 74);
      return module(e, null, in -> e.forward(in.get(0)), 74, uniform(gen(75), -1, 1, 3));
    }));
    r.add(new Row("MPPositional", F32, false, m -> {
      MPPositional e = prepare(new MPPositional(8, 10000), m, 76);
      return module(e, null, in -> e.forward(in.get(0)), 76, uniform(gen(77), -1, 1, 3));
    }));
    for (String kind : List.of("enc down", "dec attention", "enc double norm")) {
      r.add(new Row("MPBlock " + kind + ", dropout 0.3", F32, true, m -> {
        Torch.manualSeed(78);
        boolean dn = kind.contains("double");
        MPBlock b = prepare(new MPBlock(4, 8, 6, new MPBlock.Options(kind.startsWith("enc") ? "enc" : "dec",
            kind.contains("down") ? MP.Resample.DOWN : MP.Resample.KEEP, new double[] {1, 1}, kind.contains("attention"),
            4, 0.3, 0.3, 0.3, 2.5, dn)), m, 78);
        Generator drop = gen(79);
        b.setDropoutGenerator(drop);
        Generator g = gen(80);
        return module(b, drop, in -> b.forward(in.get(0), in.get(1)), 80, randn(g, 2, 4, 4, 4), randn(g, 2, 6));
      }));
    }
    for (String time : List.of("fourier", "positional")) {
      r.add(new Row("EDM2UNet " + time + (time.equals("positional") ? " + double norm" : "") + ", dropout 0.3", F32,
          true, m -> {
            Torch.manualSeed(81);
            EDM2UNet net = prepare(new EDM2UNet(edm2Config(time, time.equals("positional"), 0.3)), m, 81);
            Generator drop = gen(82);
            net.setDropoutGenerator(drop);
            Generator g = gen(83);
            Tensor labels = oneHot(2, 3);
            return module(net, drop, in -> net.forward(in.get(0), in.get(1), labels, null), 83,
                randn(g, 2, 2, 8, 8), uniform(g, -1, 1, 2));
          }));
    }
    r.add(new Row("TwoTimeNetwork(EDM2UNet with s path): u(z, r, t), dropout 0.3", F32, true, m -> {
      Torch.manualSeed(84);
      TwoTimeNetwork net = prepare(new TwoTimeNetwork(new EDM2UNet(edm2Config("fourier", false, 0.3), true)), m, 84);
      Generator drop = gen(85);
      ((EDM2UNet) net.raw()).setDropoutGenerator(drop);
      Generator g = gen(86);
      Tensor labels = oneHot(2, 3);
      return module(net, drop, in -> net.forward(in.get(0), in.get(1), in.get(2), labels), 86, randn(g, 2, 2, 8, 8),
          uniform(g, 0, 0.4, 2), uniform(g, 0.5, 1, 2));
    }));
    r.add(new Row("TwoTimeNetwork(EDM2UNet with s path and guidance embedding): u(z, r, t; w), dropout 0.3", F32, true,
        m -> {
          Torch.manualSeed(87);
          EDM2UNet raw = new EDM2UNet(edm2Config("fourier", false, 0.3), true);
          raw.addGuidanceEmbedding();
          TwoTimeNetwork net = prepare(new TwoTimeNetwork(raw), m, 87);
          Generator drop = gen(88);
          raw.setDropoutGenerator(drop);
          Generator g = gen(89);
          Tensor labels = oneHot(2, 3);
          return module(net, drop, in -> net.forward(in.get(0), in.get(1), in.get(2), labels, in.get(3)), 89,
              randn(g, 2, 2, 8, 8), uniform(g, 0, 0.4, 2), uniform(g, 0.5, 1, 2), uniform(g, 1, 3, 2));
        }));

    // Preconditioners and objectives' functions.
    r.add(new Row("EDMPrecond.scalings (c_in, c_skip, c_out; EDM and CM boundary)", F64, false, m -> {
      Generator g = gen(90);
      return op(in -> {
        var a = EDMPrecond.scalings(in.get(0), 0.5, 0);
        var b = EDMPrecond.scalings(in.get(0), 0.5, 0.002);
        return Tensor.cat(List.of(a.cIn(), a.cSkip(), a.cOut(), b.cIn(), b.cSkip(), b.cOut()), 0);
      }, 90, uniform(g, 0.01, 5, 4));
    }));
    for (TrigFlowPrecond.TimeLabel tl : TrigFlowPrecond.TimeLabel.values()) {
      r.add(new Row("TrigFlowPrecond " + tl + ": f(x_t, t) around SongUNet, dropout 0.3", F64, true, m -> {
        Torch.manualSeed(91);
        SongUNet raw = new SongUNet(songConfig("ddpmpp", 0.3, 0, 0, false));
        TrigFlowPrecond net = prepare(new TrigFlowPrecond(raw, 0.5, tl), m, 91);
        Generator drop = gen(92);
        raw.setDropoutGenerator(drop);
        Generator g = gen(93);
        return module(net, drop, in -> net.f(in.get(0), in.get(1), null), 93, randn(g, 2, 2, 8, 8),
            uniform(g, 0.2, 1.3, 2));
      }));
    }
    r.add(new Row("EDMPrecond.denoise around SongUNet (float32 throughout)", F32, true, m -> {
      Torch.manualSeed(94);
      SongUNet raw = new SongUNet(songConfig("ddpmpp", 0.3, 0, 0, false));
      EDMPrecond net = prepare(EDMPrecond.edm(raw), m, 94, DType.FLOAT32);
      Generator drop = gen(95);
      raw.setDropoutGenerator(drop);
      Generator g = gen(96);
      return module(net, drop, in -> net.denoise(in.get(0), in.get(1), null), 96,
          randn(g, 2, 2, 8, 8).to(DType.FLOAT32), uniform(g, 0.1, 3, 2).to(DType.FLOAT32));
    }));
    r.add(new Row("CTMPrecond.jump around SongUNet with s path (float32)", F32, true, m -> {
      Torch.manualSeed(97);
      SongUNet raw = new SongUNet(songConfig("ddpmpp", 0.3, 0, 0, true));
      CTMPrecond net = prepare(CTMPrecond.cifar(raw), m, 97, DType.FLOAT32);
      Generator drop = gen(98);
      raw.setDropoutGenerator(drop);
      Generator g = gen(99);
      return module(net, drop, in -> net.jump(in.get(0), in.get(1), in.get(2), null), 99,
          randn(g, 2, 2, 8, 8).to(DType.FLOAT32), uniform(g, 1, 3, 2).to(DType.FLOAT32),
          uniform(g, 0.1, 0.8, 2).to(DType.FLOAT32));
    }));
    r.add(new Row("EDM2Precond.denoise around EDM2UNet (float32)", F32, true, m -> {
      Torch.manualSeed(100);
      EDM2UNet raw = new EDM2UNet(edm2Config("fourier", false, 0.3));
      EDM2Precond net = prepare(new EDM2Precond(raw, 0.5, 0), m, 100);
      Generator drop = gen(101);
      raw.setDropoutGenerator(drop);
      Generator g = gen(102);
      Tensor labels = oneHot(2, 3);
      return module(net, drop, in -> net.denoise(in.get(0), in.get(1), labels), 102, randn(g, 2, 2, 8, 8),
          uniform(g, 0.1, 3, 2));
    }));
    r.add(new Row("AdaptiveWeight w_φ(t)", F64, false, m -> {
      AdaptiveWeight w = prepare(new AdaptiveWeight(16), m, 103);
      return module(w, null, in -> w.forward(in.get(0)), 103, uniform(gen(104), 0, 1.5, 4));
    }));
    r.add(new Row("SCM.tangent (sCM's g, float64 inside) and its normalisation", F64, false, m -> {
      Generator g = gen(105);
      return op(in -> {
        Tensor t = in.get(4).reshape(-1, 1);
        Tensor raw = SCM.tangent(in.get(0), in.get(1), in.get(2), in.get(3), t.cos(), t.sin(), 0.5, 0.7);
        Tensor norm = raw.norm(2, true, 1);
        return raw.div(norm.add(0.1));
      }, 105, randn(g, 3, 4), randn(g, 3, 4), randn(g, 3, 4), randn(g, 3, 4), uniform(g, 0.1, 1.4, 3));
    }));
    r.add(new Row("MeanFlow time sampler and loss arithmetic (sigmoid, max/min, where, adaptive weight)", F64, false,
        m -> {
          Generator g = gen(106);
          Tensor same = Tensor.of(new boolean[] {true, false, false, true});
          return op(in -> {
            Tensor t = in.get(0).mul(2.0).add(-2.0).sigmoid();
            Tensor r0 = in.get(1).mul(2.0).add(-2.0).sigmoid();
            Tensor hi = t.maximum(r0);
            Tensor lo = Tensor.where(same, hi, t.minimum(r0));
            Tensor sq = in.get(2).mul(hi.sub(lo).unsqueeze(1)).square().sum(false, 1);
            return sq.div(sq.add(1e-3).pow(0.75));
          }, 106, Tensor.of(new double[] {-1.1, 0.3, 1.7, -0.2}), Tensor.of(new double[] {0.8, -1.4, 0.6, 0.9}),
              randn(g, 4, 3));
        }));
    return r;
  }

  static Stream<Arguments> matrix() {
    List<Arguments> a = new ArrayList<>();
    for (Row row : rows()) {
      if (row.modal()) {
        a.add(Arguments.of(row.name() + " [train]", row, true));
        a.add(Arguments.of(row.name() + " [eval]", row, false));
      } else {
        a.add(Arguments.of(row.name(), row, false));
      }
    }
    return a.stream();
  }

  // ---- the checks -------------------------------------------------------------------------------------------------

  /** ‖a − b‖/‖b‖ (‖b‖ floored at 1e-30). */
  static double relErr(Tensor a, Tensor b) {
    return a.sub(b).norm().item() / Math.max(b.norm().item(), 1e-30);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("matrix")
  void jvpMatchesDifferencesAndReverseMode(String name, Row row, boolean train) {
    try (TensorScope s = TensorScope.open()) {
      Built b = row.build().apply(train);
      try {
        check(name, b, row.tol());
      } finally {
        if (b.module() != null) b.module().close();
      }
    }
  }

  static void check(String name, Built b, Tol tol) {
    // Every evaluation starts from the same dropout generator state: the same masks in every pass.
    byte[] state = b.gen() == null ? null : b.gen().getState();
    Function<List<Tensor>, Tensor> f = in -> {
      if (state != null) b.gen().setState(state);
      return b.f().apply(in);
    };
    // Settle state a training-mode pass with gradients writes (EDM2's forced weight normalisation converges to its
    // fixed point within a few passes), so that all routes below see the same weights.
    for (int i = 0; i < 3; i++) {
      try (TensorScope s = TensorScope.open()) {
        f.apply(b.primals());
      }
    }

    // 1. The JVP (under no-grad, as the objectives run it) and its primal.
    ForwardAD.Jvp j;
    Tensor plain;
    try (GradMode g = GradMode.noGrad()) {
      j = ForwardAD.jvp(in -> List.of(f.apply(in)), b.primals(), b.tangents());
      plain = f.apply(b.primals());
    }
    Tensor jv = j.tangents().get(0);
    assertEquals(plain.dtype(), jv.dtype(), name + ": tangent dtype");
    double ePrimal = relErr(j.outputs().get(0), plain);
    assertTrue(ePrimal <= tol.primalRel(), name + ": JVP primal vs plain pass (same masks): " + ePrimal);
    assertTrue(jv.norm().item() > 0, name + ": the tangent is zero, the row tests nothing");

    // 2. Central differences along the tangents.
    Tensor fd;
    try (GradMode g = GradMode.noGrad()) {
      double h = tol.fdStep();
      List<Tensor> up = new ArrayList<>();
      List<Tensor> dn = new ArrayList<>();
      for (int i = 0; i < b.primals().size(); i++) {
        up.add(b.primals().get(i).add(b.tangents().get(i), h));
        dn.add(b.primals().get(i).add(b.tangents().get(i), -h));
      }
      fd = f.apply(up).sub(f.apply(dn)).div(2 * h);
    }
    double eFd = relErr(jv, fd);
    assertTrue(eFd <= tol.fdRel(), name + ": JVP vs central difference: " + eFd);

    // 3. J·v from reverse mode alone: w(u) = Jᵀu with a graph, then J·v = ∂⟨w(u), v⟩/∂u.
    List<Tensor> xs = new ArrayList<>();
    for (Tensor p : b.primals()) xs.add(p.detach().clone().requiresGrad_(true));
    Tensor y = f.apply(xs);
    Tensor u = y.detach().randnLike(gen(999)).requiresGrad_(true);
    List<Tensor> w = Autograd.grad(List.of(y), xs, List.of(u), true, true, true);
    Tensor dot = null;
    for (int i = 0; i < xs.size(); i++) {
      if (w.get(i) == null) continue;
      Tensor d = w.get(i).mul(b.tangents().get(i)).sum();
      dot = dot == null ? d : dot.add(d);
    }
    assertNotNull(dot, name + ": the output depends on no input");
    Tensor rev = Autograd.grad(List.of(dot), List.of(u), null, false, false, true).get(0);
    assertNotNull(rev, name + ": reverse-mode J·v has no path to u");
    double eRev = relErr(jv, rev);
    assertTrue(eRev <= tol.revRel(), name + ": JVP vs reverse-mode J·v: " + eRev);
  }

  /** The checks can fail: a tangent that misses a term, and dropout masks that are not shared between the passes. */
  @Test
  void theChecksCatchAWrongTangentAndUnsharedMasks() {
    try (TensorScope s = TensorScope.open()) {
      // x·detach(x): forward and reverse mode both see only half of d(x²)/dx, the difference quotient all of it
      Built wrong = op(in -> in.get(0).mul(in.get(0).detach()), 200, randn(gen(200), 3, 4));
      assertThrows(AssertionFailedError.class, () -> check("x·detach(x)", wrong, F64));
      // dropout whose generator is not replayed (not handed to check): every pass draws other masks
      Generator g = gen(201);
      List<Tensor> x = List.of(randn(gen(202), 4, 6));
      Built unshared = new Built(in -> F.dropout(in.get(0), 0.3, true, g), x, tangentsFor(x, 203), null, null);
      assertThrows(AssertionFailedError.class, () -> check("unshared masks", unshared, F64));
    }
  }

  // ---- train/eval and shared masks actually matter ----------------------------------------------------------------

  /**
   * The matrix's training rows are not vacuous: with dropout, a pass whose masks are drawn afresh differs from the
   * shared-mask pass, and training differs from evaluation.
   */
  @Test
  void trainingRowsDrawMasksThatChangeTheOutput() {
    for (Row row : rows()) {
      if (!row.modal()) continue;
      try (TensorScope s = TensorScope.open()) {
        Built tr = row.build().apply(true);
        Built ev = row.build().apply(false);
        try (GradMode g = GradMode.noGrad()) {
          if (tr.gen() == null) continue; // MPConv: training differs only by the weight write-back
          byte[] state = tr.gen().getState();
          Tensor a = tr.f().apply(tr.primals()); // masks from state
          Tensor b = tr.f().apply(tr.primals()); // fresh masks
          tr.gen().setState(state);
          Tensor a2 = tr.f().apply(tr.primals()); // the same masks again
          Tensor e = ev.f().apply(ev.primals());
          assertEquals(0, relErr(a2, a), 1e-12, row.name() + ": replayed masks");
          assertTrue(relErr(b, a) > 1e-6, row.name() + ": fresh masks must change the output");
          assertTrue(relErr(e, a) > 1e-6, row.name() + ": training must differ from evaluation");
        } finally {
          if (tr.module() != null) tr.module().close();
          if (ev.module() != null) ev.module().close();
        }
      }
    }
  }

  /**
   * sCM's pattern end to end: a gradient pass and a JVP pass of F_θ through {@link SharedDropout} (the network in
   * training mode with dropout) — the JVP pass's primal equals the gradient pass's output, and its tangent equals the
   * central difference with those masks; without the shared state the JVP pass would see other masks.
   */
  @Test
  void sharedDropoutGivesTheJvpPassTheGradientPassMasks() {
    Torch.manualSeed(110);
    try (TrigFlowPrecond net = prepare(new TrigFlowPrecond(new SongUNet(songConfig("ddpmpp", 0.3, 0, 0, false)),
        0.5, TrigFlowPrecond.TimeLabel.IDENTITY), true, 110); TensorScope s = TensorScope.open()) {
      Generator drop = gen(111);
      ((SongUNet) net.network()).setDropoutGenerator(drop);
      Generator g = gen(112);
      Tensor xt = randn(g, 2, 2, 8, 8);
      Tensor t = uniform(g, 0.2, 1.3, 2);
      Tensor dx = randn(g, 2, 2, 8, 8);
      Tensor dt = uniform(g, 0.1, 0.5, 2);
      byte[] state = drop.getState();
      var passes = SharedDropout.run(drop, CPU, () -> net.rawF(xt, t, null), () -> {
        try (GradMode ng = GradMode.noGrad()) {
          return ForwardAD.jvp(in -> List.of(net.rawF(in.get(0), in.get(1), null)), List.of(xt, t), List.of(dx, dt));
        }
      });
      Tensor f = passes.first();
      assertTrue(f.requiresGrad(), "the first pass records gradients");
      assertEquals(0, relErr(passes.second().outputs().get(0), f.detach()), 1e-12, "JVP primal = gradient pass");
      Tensor fd;
      try (GradMode ng = GradMode.noGrad()) {
        double h = 1e-6;
        drop.setState(state);
        Tensor up = net.rawF(xt.add(dx, h), t.add(dt, h), null);
        drop.setState(state);
        Tensor dn = net.rawF(xt.add(dx, -h), t.add(dt, -h), null);
        fd = up.sub(dn).div(2 * h);
        // a pass with its own masks is a different function
        assertTrue(relErr(net.rawF(xt, t, null), f.detach()) > 1e-6);
      }
      double e = relErr(passes.second().tangents().get(0), fd);
      assertTrue(e <= 1e-6, "tangent vs central difference with the shared masks: " + e);
    }
  }
}
