package dev.cm4j.data;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.F;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Op;
import dev.cm4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * EDM's augmentation pipeline (Karras et al. 2022, App. F.2; built on the ADA pipeline of Karras et al. 2020): pixel
 * blitting (x/y flips, 90° rotations, integer translation with mirrored borders), general geometric transforms
 * (isotropic and anisotropic scaling, arbitrary rotation, fractional translation) executed once as one affine warp on
 * a 2× upsampled, reflect-padded image with the sym6 wavelet filter, and colour transforms (brightness, contrast,
 * luma flip, hue rotation, saturation) as one 4×4 matrix per image.
 *
 * <p>Each transform is applied to an image with probability min(1, multiplier·p); its parameters go into the
 * augmentation label vector (a zero where the transform was not applied), which the network receives through its
 * {@code augment_dim} input so that it can tell augmented images apart and be sampled with zero labels. The label
 * layout follows EDM: xflip 1, yflip 1, rotate_int 2, translate_int 2, scale 1, rotate_frac 2, aniso 2,
 * translate_frac 2, brightness 1, contrast 1, lumaflip 1, hue 2, saturation 1, each present when its multiplier is
 * positive. EDM's training set ({@link Config#edm}) gives 9 labels.
 *
 * <p>Random numbers come from a {@link Draws} source, normally a libtorch generator on the images' device, drawn in
 * EDM's order (so a CPU generator seeded like {@code torch.manual_seed} reproduces EDM's augmentations). p = 0 turns
 * the pipe off: the images come back unchanged with all-zero labels and nothing is drawn.
 */
public final class AugmentPipe {
  /**
   * The pipe's parameters, EDM's {@code AugmentPipe} keyword arguments: {@code p} is the overall probability
   * multiplier, the other multipliers scale it per transform (0: the transform is absent, and so are its labels).
   */
  public record Config(
      double p,                 // overall multiplier of the probabilities
      double xflip,             // x flip
      double yflip,             // y flip
      double rotateInt,         // rotation by a multiple of 90°
      double translateInt,      // integer translation
      double translateIntMax,   // its range, relative to the image size
      double scale,             // isotropic scaling
      double rotateFrac,        // arbitrary rotation
      double aniso,             // anisotropic scaling
      double translateFrac,     // fractional translation
      double scaleStd,          // log2 standard deviation of the isotropic scale
      double rotateFracMax,     // range of the rotation, 1 = full circle
      double anisoStd,          // log2 standard deviation of the anisotropic scale
      double anisoRotateProb,   // probability of scaling along a rotated frame
      double translateFracStd,  // standard deviation of the translation, relative to the image size
      double brightness,        // brightness
      double contrast,          // contrast
      double lumaflip,          // luma flip
      double hue,               // hue rotation
      double saturation,        // saturation
      double brightnessStd,     // standard deviation of the brightness offset
      double contrastStd,       // log2 standard deviation of the contrast
      double hueMax,            // range of the hue rotation, 1 = full circle
      double saturationStd) {   // log2 standard deviation of the saturation
    public Config {
      double[] all = {p, xflip, yflip, rotateInt, translateInt, translateIntMax, scale, rotateFrac, aniso, translateFrac,
          scaleStd, rotateFracMax, anisoStd, anisoRotateProb, translateFracStd, brightness, contrast, lumaflip, hue,
          saturation, brightnessStd, contrastStd, hueMax, saturationStd};
      String[] names = {"p", "xflip", "yflip", "rotate_int", "translate_int", "translate_int_max", "scale",
          "rotate_frac", "aniso", "translate_frac", "scale_std", "rotate_frac_max", "aniso_std", "aniso_rotate_prob",
          "translate_frac_std", "brightness", "contrast", "lumaflip", "hue", "saturation", "brightness_std",
          "contrast_std", "hue_max", "saturation_std"};
      for (int i = 0; i < all.length; i++) {
        if (!(all[i] >= 0) || Double.isInfinite(all[i])) {
          throw new IllegalArgumentException("augment " + names[i] + " must be finite and >= 0, got " + all[i]);
        }
      }
    }

    /** EDM's defaults for everything but the multipliers given (every other multiplier 0). */
    private static Config of(double p, double xflip, double yflip, double rotateInt, double translateInt, double scale,
        double rotateFrac, double aniso, double translateFrac, double brightness, double contrast, double lumaflip,
        double hue, double saturation) {
      return new Config(p, xflip, yflip, rotateInt, translateInt, 0.125, scale, rotateFrac, aniso, translateFrac, 0.2,
          1, 0.2, 0.5, 0.125, brightness, contrast, lumaflip, hue, saturation, 0.2, 0.5, 1, 1);
    }

    /**
     * EDM's train.py (and ECT's ct_train.py) set with overall probability p: xflip 1e8 (so a flip in half the images
     * whenever p > 0), yflip, scale, rotate_frac, aniso and translate_frac 1; 9 labels.
     */
    public static Config edm(double p) {
      return of(p, 1e8, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0);
    }

    /** Every transform with multiplier 1 (EDM's and ADA's full set, 19 labels). */
    public static Config everything(double p) {
      return of(p, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    }

    /** Only the x flip, with multiplier 1. */
    public static Config xflipOnly(double p) {
      return of(p, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    /** The length of the label vector: the labels of each transform whose multiplier is positive. */
    public int labelDim() {
      int n = 0;
      n += xflip > 0 ? 1 : 0;
      n += yflip > 0 ? 1 : 0;
      n += rotateInt > 0 ? 2 : 0;
      n += translateInt > 0 ? 2 : 0;
      n += scale > 0 ? 1 : 0;
      n += rotateFrac > 0 ? 2 : 0;
      n += aniso > 0 ? 2 : 0;
      n += translateFrac > 0 ? 2 : 0;
      n += brightness > 0 ? 1 : 0;
      n += contrast > 0 ? 1 : 0;
      n += lumaflip > 0 ? 1 : 0;
      n += hue > 0 ? 2 : 0;
      n += saturation > 0 ? 1 : 0;
      return n;
    }
  }

  /**
   * The random numbers the pipe consumes, in EDM's order. Each request names the axis of its shape that runs over the
   * images of the batch, so that a data-parallel rank can draw for the global batch and keep its own rows
   * ({@link #sharded}).
   */
  public interface Draws {
    /** U[0, 1) float32 of the shape. */
    Tensor rand(int batchAxis, long... shape);

    /** N(0, 1) float32 of the shape. */
    Tensor randn(int batchAxis, long... shape);

    /** Integers on [0, high) as int64 of the shape. */
    Tensor randint(long high, int batchAxis, long... shape);

    /** Draws from gen (null: the device's default generator) on device. */
    static Draws of(Generator gen, Device device) {
      return sharded(gen, device, 0, 1);
    }

    /**
     * Draws for a global batch of world times the local size from gen on device, of which rank keeps the rows rank,
     * rank + world, … (the loader's strided sharding): the augmentations of an image do not depend on the number of
     * processes.
     */
    static Draws sharded(Generator gen, Device device, int rank, int world) {
      if (world < 1 || rank < 0 || rank >= world) {
        throw new IllegalArgumentException("bad shard: rank " + rank + " of " + world);
      }
      interface Source {
        Tensor draw(long[] shape);
      }
      return new Draws() {
        Tensor shard(int axis, long[] shape, Source s) {
          if (world == 1) return s.draw(shape);
          long[] g = shape.clone();
          g[axis] *= world;
          return s.draw(g).slice(axis, rank, g[axis], world).contiguous();
        }

        @Override
        public Tensor rand(int batchAxis, long... shape) {
          return shard(batchAxis, shape, sh -> Tensor.rand(sh, DType.FLOAT32, device, gen));
        }

        @Override
        public Tensor randn(int batchAxis, long... shape) {
          return shard(batchAxis, shape, sh -> Tensor.randn(sh, DType.FLOAT32, device, gen));
        }

        @Override
        public Tensor randint(long high, int batchAxis, long... shape) {
          return shard(batchAxis, shape, sh -> Tensor.randint(0, high, sh, DType.INT64, device, gen));
        }
      };
    }
  }

  /** Augmented images (the input's shape and dtype) and their labels [N, labelDim] float32. */
  public record Result(Tensor images, Tensor labels) {}

  /** Low-pass filter of the Daubechies symlet with 6 vanishing moments (the up/downsampling filter). */
  private static final float[] SYM6 = {0.015404109327027373f, 0.0034907120842174702f, -0.11799011114819057f,
      -0.048311742585633f, 0.4910559419267466f, 0.787641141030194f, 0.3379294217276218f, -0.07263752278646252f,
      -0.021060292512300564f, 0.04472490177066578f, 0.0017677118642428036f, -0.007800708325034148f};

  private final Config cfg;

  public AugmentPipe(Config cfg) {
    this.cfg = cfg;
  }

  public Config config() {
    return cfg;
  }

  /** The length of the label vector ({@link Config#labelDim()}). */
  public int labelDim() {
    return cfg.labelDim();
  }

  /** Augments images [N, C, H, W] with draws from gen on the images' device (null: its default generator). */
  public Result apply(Tensor images, Generator gen) {
    return apply(images, Draws.of(gen, images.device()));
  }

  /** Augments images [N, C, H, W] with the given draws. */
  public Result apply(Tensor images, Draws draws) {
    if (images.dim() != 4) {
      throw new IllegalArgumentException("augmentation needs images [N, C, H, W], got shape "
          + java.util.Arrays.toString(images.shape()));
    }
    long n = images.size(0);
    long c = images.size(1);
    long h = images.size(2);
    long w = images.size(3);
    Device dev = images.device();
    if (cfg.p() == 0) return new Result(images, Tensor.zeros(new long[] {n, labelDim()}, DType.FLOAT32, dev));
    if (cfg.rotateInt() > 0 && h != w) {
      throw new IllegalArgumentException("augment rotate_int needs square images, got " + h + "x" + w);
    }
    boolean colour = cfg.brightness() > 0 || cfg.contrast() > 0 || cfg.lumaflip() > 0 || cfg.hue() > 0
        || cfg.saturation() > 0;
    if (colour && c != 1 && c != 3) {
      throw new IllegalArgumentException("colour augmentation needs RGB (3 channels) or L (1 channel), got " + c);
    }
    DType dtype = images.dtype();
    Tensor x = images.to(DType.FLOAT32);
    double p = cfg.p();
    List<Tensor> labels = new ArrayList<>();

    // Pixel blitting.
    if (cfg.xflip() > 0) {
      Tensor f = gate(draws.randint(2, 0, n, 1, 1, 1), draws.rand(0, n, 1, 1, 1), cfg.xflip() * p);
      x = Tensor.where(f.eq(1.0), x.flip(3), x);
      labels.add(f);
    }
    if (cfg.yflip() > 0) {
      Tensor f = gate(draws.randint(2, 0, n, 1, 1, 1), draws.rand(0, n, 1, 1, 1), cfg.yflip() * p);
      x = Tensor.where(f.eq(1.0), x.flip(2), x);
      labels.add(f);
    }
    if (cfg.rotateInt() > 0) {
      Tensor r = gate(draws.randint(4, 0, n, 1, 1, 1), draws.rand(0, n, 1, 1, 1), cfg.rotateInt() * p);
      Tensor r1 = r.eq(1.0);
      Tensor r2 = r.eq(2.0);
      Tensor r3 = r.eq(3.0);
      x = Tensor.where(r1.logicalOr(r2), x.flip(3), x);
      x = Tensor.where(r2.logicalOr(r3), x.flip(2), x);
      x = Tensor.where(r1.logicalOr(r3), x.transpose(2, 3), x);
      labels.add(r1.logicalOr(r2));
      labels.add(r2.logicalOr(r3));
    }
    if (cfg.translateInt() > 0) {
      Tensor t = gate(draws.rand(1, 2, n, 1, 1, 1).mul(2.0).sub(1.0), draws.rand(1, 1, n, 1, 1, 1),
          cfg.translateInt() * p);
      Tensor tx = t.select(0, 0).mul(w * cfg.translateIntMax()).round().to(DType.INT64);
      Tensor ty = t.select(0, 1).mul(h * cfg.translateIntMax()).round().to(DType.INT64);
      Tensor b = Tensor.arange(0, n, 1, DType.INT64, dev).reshape(n, 1, 1, 1);
      Tensor ch = Tensor.arange(0, c, 1, DType.INT64, dev).reshape(1, c, 1, 1);
      Tensor yi = Tensor.arange(0, h, 1, DType.INT64, dev).reshape(1, 1, h, 1);
      Tensor xi = Tensor.arange(0, w, 1, DType.INT64, dev).reshape(1, 1, 1, w);
      // mirrored borders: positions fold back at both edges with period 2·size − 2
      Tensor xs = xi.sub(tx).remainder(w * 2 - 2).rsub(w - 1).abs().rsub(w - 1).to(DType.INT64);
      Tensor ys = yi.add(ty).remainder(h * 2 - 2).rsub(h - 1).abs().rsub(h - 1).to(DType.INT64);
      Tensor idx = b.mul(c).add(ch).mul(h).add(ys).mul(w).add(xs);
      x = x.flatten().index(idx);
      labels.add(tx.div(w * cfg.translateIntMax()));
      labels.add(ty.div(h * cfg.translateIntMax()));
    }

    // Parameters of the general geometric transforms: G_inv maps output to input coordinates.
    Tensor gInv = null;
    if (cfg.scale() > 0) {
      Tensor s = gate(draws.randn(0, n), draws.rand(0, n), cfg.scale() * p);
      Tensor sc = exp2(s.mul(cfg.scaleStd()));
      gInv = mm(gInv, scale2d(sc.reciprocal(), sc.reciprocal(), dev));
      labels.add(s);
    }
    if (cfg.rotateFrac() > 0) {
      Tensor a = gate(draws.rand(0, n).mul(2.0).sub(1.0).mul(Math.PI * cfg.rotateFracMax()), draws.rand(0, n),
          cfg.rotateFrac() * p);
      gInv = mm(gInv, rotate2d(a, dev)); // rotate2d_inv(−a)
      labels.add(a.cos().sub(1.0));
      labels.add(a.sin());
    }
    if (cfg.aniso() > 0) {
      Tensor s = draws.randn(0, n);
      Tensor r = draws.rand(0, n).mul(2.0).sub(1.0).mul(Math.PI);
      s = gate(s, draws.rand(0, n), cfg.aniso() * p);
      r = gate(r, draws.rand(0, n), cfg.anisoRotateProb());
      Tensor sc = exp2(s.mul(cfg.anisoStd()));
      gInv = mm(gInv, rotate2d(r.neg(), dev));
      gInv = mm(gInv, scale2d(sc.reciprocal(), sc, dev));
      gInv = mm(gInv, rotate2d(r, dev));
      labels.add(s.mul(r.cos()));
      labels.add(s.mul(r.sin()));
    }
    if (cfg.translateFrac() > 0) {
      Tensor t = gate(draws.randn(1, 2, n), draws.rand(1, 1, n), cfg.translateFrac() * p);
      Tensor t0 = t.select(0, 0);
      Tensor t1 = t.select(0, 1);
      gInv = mm(gInv, translate2d(t0.mul(-w * cfg.translateFracStd()), t1.mul(-h * cfg.translateFracStd()), dev));
      labels.add(t0);
      labels.add(t1);
    }
    if (gInv != null) x = warp(x, gInv, dev);

    // Colour transforms as one 4x4 matrix per image, acting on (r, g, b, 1).
    if (colour) {
      Tensor eye = eye4(dev);
      Tensor luma = Tensor.of(new float[] {1, 1, 1, 0}, 4).div(Math.sqrt(3)).to(dev);
      Tensor lumaOuter = luma.reshape(4, 1).mul(luma.reshape(1, 4));
      Tensor m = null;
      if (cfg.brightness() > 0) {
        Tensor v = gate(draws.randn(0, n), draws.rand(0, n), cfg.brightness() * p);
        Tensor o = v.mul(cfg.brightnessStd());
        m = mmLeft(translate3d(o, o, o, dev), m);
        labels.add(v);
      }
      if (cfg.contrast() > 0) {
        Tensor v = gate(draws.randn(0, n), draws.rand(0, n), cfg.contrast() * p);
        Tensor s = exp2(v.mul(cfg.contrastStd()));
        m = mmLeft(scale3d(s, s, s, dev), m);
        labels.add(v);
      }
      if (cfg.lumaflip() > 0) {
        Tensor v = gate(draws.randint(2, 0, n, 1, 1), draws.rand(0, n, 1, 1), cfg.lumaflip() * p);
        m = mmLeft(eye.sub(lumaOuter.mul(2.0).mul(v)), m);
        labels.add(v);
      }
      if (cfg.hue() > 0) {
        Tensor a = gate(draws.rand(0, n).mul(2.0).sub(1.0).mul(Math.PI * cfg.hueMax()), draws.rand(0, n),
            cfg.hue() * p);
        m = mmLeft(rotateAboutLuma(a, dev), m);
        labels.add(a.cos().sub(1.0));
        labels.add(a.sin());
      }
      if (cfg.saturation() > 0) {
        Tensor v = gate(draws.randn(0, n, 1, 1), draws.rand(0, n, 1, 1), cfg.saturation() * p);
        m = mmLeft(lumaOuter.add(eye.sub(lumaOuter).mul(exp2(v.mul(cfg.saturationStd())))), m);
        labels.add(v);
      }
      Tensor flat = x.reshape(n, c, h * w);
      if (c == 3) {
        flat = m.slice(1, 0, 3, 1).slice(2, 0, 3, 1).matmul(flat).add(m.slice(1, 0, 3, 1).slice(2, 3, 4, 1));
      } else {
        Tensor m1 = m.slice(1, 0, 3, 1).mean(true, 1); // [N, 1, 4]: the mean of the three rows
        flat = flat.mul(m1.slice(2, 0, 3, 1).sum(true, 2)).add(m1.slice(2, 3, 4, 1));
      }
      x = flat.reshape(n, c, h, w);
    }

    List<Tensor> flat = new ArrayList<>();
    for (Tensor l : labels) flat.add(l.to(DType.FLOAT32).reshape(n, -1));
    Tensor lab = flat.isEmpty() ? Tensor.zeros(new long[] {n, 0}, DType.FLOAT32, dev) : Tensor.cat(flat, 1);
    return new Result(x.to(dtype), lab);
  }

  // ----------------------------------------------------------------------------------------------- geometric warp

  /**
   * Applies the per-image affine map gInv [N, 3, 3] (output pixel → input pixel, centred coordinates) as EDM does:
   * reflect-pad by the margin the transformed corners need, upsample 2× with the sym6 filter, resample bilinearly,
   * filter and downsample 2× and crop. EDM reads the tight margin on the host; that read would be a wait for the
   * device in every training step, so the image is padded by the largest margin EDM can choose (its clamp bound,
   * size − 1 on every side) on every device instead: the resampling grid then reads the same reflected pixels and the
   * result equals the tight margin's up to rounding (tested), at the price of more padded pixels going through the
   * upsampling filter. The same arithmetic on every device keeps CPU and accelerator runs equal.
   */
  private static Tensor warp(Tensor x, Tensor gInv, Device dev) {
    return warp(x, gInv, dev, tightMarginForTests);
  }

  /** Tests: EDM's tight margin read on the host. */
  static volatile boolean tightMarginForTests;

  private static Tensor warp(Tensor x, Tensor gInv, Device dev, boolean tightMargin) {
    long n = x.size(0);
    long c = x.size(1);
    long h = x.size(2);
    long w = x.size(3);
    double cx = (w - 1) / 2.0;
    double cy = (h - 1) / 2.0;
    int hzPad = SYM6.length / 4;
    int mx0 = (int) w - 1;
    int my0 = (int) h - 1;
    int mx1 = mx0;
    int my1 = my0;
    if (tightMargin) { // EDM: the transformed corners plus the filter's reach, clamped to [0, size − 1]
      Tensor corners = Tensor.of(new float[] {(float) -cx, (float) cx, (float) cx, (float) -cx, (float) -cy,
          (float) -cy, (float) cy, (float) cy, 1, 1, 1, 1}, 3, 4).to(dev);
      Tensor cp = gInv.matmul(corners);                                  // [N, 3, 4]
      Tensor xy = cp.slice(1, 0, 2, 1).permute(1, 0, 2).reshape(2, -1);  // [2, N·4]
      Tensor margin = Tensor.cat(List.of(xy.neg(), xy), 0).amax(false, 1);  // [x0, y0, x1, y1]
      margin = margin.add(Tensor.of(new float[] {(float) (hzPad * 2 - cx), (float) (hzPad * 2 - cy),
          (float) (hzPad * 2 - cx), (float) (hzPad * 2 - cy)}, 4).to(dev));
      margin = margin.clampMin(0);
      margin = margin.minimum(Tensor.of(new float[] {w - 1, h - 1, w - 1, h - 1}, 4).to(dev));
      float[] mg = margin.ceil().to(DType.FLOAT32).toFloatArray();
      mx0 = (int) mg[0];
      my0 = (int) mg[1];
      mx1 = (int) mg[2];
      my1 = (int) mg[3];
    }

    // Pad and move the origin to the padded image's centre.
    x = F.pad(x, new long[] {mx0, mx1, my0, my1}, F.PadMode.REFLECT, 0);
    gInv = translate2dConst((mx0 - mx1) / 2.0, (my0 - my1) / 2.0, dev).matmul(gInv);

    // Upsample 2x: interleave zeros, then filter along each axis (the filter reversed, as a convolution).
    float[] rev = new float[SYM6.length];
    for (int i = 0; i < SYM6.length; i++) rev[i] = SYM6[SYM6.length - 1 - i];
    Tensor up = Tensor.of(rev, 1, 1, SYM6.length).to(dev).repeat(c, 1, 1);
    int upPad = (SYM6.length + 1) / 2;
    long ph = x.size(2);
    x = Tensor.stack(List.of(x, x.zerosLike()), 4).reshape(n, c, ph, -1);
    x = x.slice(3, 0, x.size(3) - 1, 1);
    x = F.conv2d(x, up.unsqueeze(2), null, 1, 1, 0, upPad, 1, 1, (int) c);
    long pw = x.size(3);
    x = Tensor.stack(List.of(x, x.zerosLike()), 3).reshape(n, c, -1, pw);
    x = x.slice(2, 0, x.size(2) - 1, 1);
    x = F.conv2d(x, up.unsqueeze(3), null, 1, 1, upPad, 0, 1, 1, (int) c);
    gInv = scale2dConst(2, 2, dev).matmul(gInv).matmul(scale2dConst(0.5, 0.5, dev));
    gInv = translate2dConst(-0.5, -0.5, dev).matmul(gInv).matmul(translate2dConst(0.5, 0.5, dev));

    // Resample onto the 2x grid of the (padded by the filter's reach) output, in normalised coordinates.
    long[] shape = {n, c, (h + hzPad * 2L) * 2, (w + hzPad * 2L) * 2};
    gInv = scale2dConst(2.0 / x.size(3), 2.0 / x.size(2), dev).matmul(gInv)
        .matmul(scale2dConst(shape[3] / 2.0, shape[2] / 2.0, dev));
    Tensor theta = gInv.slice(1, 0, 2, 1).contiguous();
    Tensor grid = Op.of("aten::affine_grid_generator", "").callTensor(theta, shape, false);
    x = Op.of("aten::grid_sampler", "").callTensor(x, grid, 0L, 0L, false); // bilinear, zero padding

    // Filter, downsample 2x and crop.
    Tensor down = Tensor.of(SYM6.clone(), 1, 1, SYM6.length).to(dev).repeat(c, 1, 1);
    int downPad = (SYM6.length - 1) / 2;
    x = F.conv2d(x, down.unsqueeze(2), null, 1, 2, 0, downPad, 1, 1, (int) c);
    x = x.slice(3, hzPad, x.size(3) - hzPad, 1);
    x = F.conv2d(x, down.unsqueeze(3), null, 2, 1, downPad, 0, 1, 1, (int) c);
    return x.slice(2, hzPad, x.size(2) - hzPad, 1);
  }

  // ----------------------------------------------------------------------------------------------- helpers

  /** v where a uniform draw u is below prob, else 0 (EDM's torch.where(rand < prob, v, 0)). */
  private static Tensor gate(Tensor v, Tensor u, double prob) {
    return Tensor.where(u.lt(prob), v, v.zerosLike());
  }

  /** 2^v. */
  private static Tensor exp2(Tensor v) {
    return v.mul(Math.log(2)).exp();
  }

  /** a @ b with a = null as the identity. */
  private static Tensor mm(Tensor a, Tensor b) {
    return a == null ? b : a.matmul(b);
  }

  /** a @ b with b = null as the identity. */
  private static Tensor mmLeft(Tensor a, Tensor b) {
    return b == null ? a : a.matmul(b);
  }

  /**
   * A batch of matrices [N, rows, cols] from row-major entries, each a Tensor [N] or a Number (the same for every
   * image).
   */
  private static Tensor matrix(int rows, Object[] e, Device dev) {
    long n = -1;
    for (Object o : e) if (o instanceof Tensor t) n = t.size(0);
    List<Tensor> parts = new ArrayList<>();
    for (Object o : e) {
      parts.add(o instanceof Tensor t ? t.to(DType.FLOAT32)
          : Tensor.full(new long[] {n}, ((Number) o).doubleValue(), DType.FLOAT32, dev));
    }
    return Tensor.stack(parts, -1).reshape(n, rows, e.length / rows);
  }

  private static Tensor scale2d(Tensor sx, Tensor sy, Device dev) {
    return matrix(3, new Object[] {sx, 0, 0, 0, sy, 0, 0, 0, 1}, dev);
  }

  private static Tensor translate2d(Tensor tx, Tensor ty, Device dev) {
    return matrix(3, new Object[] {1, 0, tx, 0, 1, ty, 0, 0, 1}, dev);
  }

  /** [[cos θ, −sin θ, 0], [sin θ, cos θ, 0], [0, 0, 1]] per image. */
  private static Tensor rotate2d(Tensor theta, Device dev) {
    return matrix(3, new Object[] {theta.cos(), theta.neg().sin(), 0, theta.sin(), theta.cos(), 0, 0, 0, 1}, dev);
  }

  private static Tensor translate3d(Tensor tx, Tensor ty, Tensor tz, Device dev) {
    return matrix(4, new Object[] {1, 0, 0, tx, 0, 1, 0, ty, 0, 0, 1, tz, 0, 0, 0, 1}, dev);
  }

  private static Tensor scale3d(Tensor sx, Tensor sy, Tensor sz, Device dev) {
    return matrix(4, new Object[] {sx, 0, 0, 0, 0, sy, 0, 0, 0, 0, sz, 0, 0, 0, 0, 1}, dev);
  }

  /** Rodrigues' rotation by θ [N] about the unit luma axis (1, 1, 1)/√3, homogeneous 4×4. */
  private static Tensor rotateAboutLuma(Tensor theta, Device dev) {
    float a = (float) (1 / Math.sqrt(3));
    Tensor s = theta.sin();
    Tensor c = theta.cos();
    Tensor cc = c.rsub(1.0);
    double aa = (double) a * a;
    Tensor d = cc.mul(aa).add(c);          // v_i v_i (1 − c) + c
    Tensor plus = cc.mul(aa).add(s.mul(a));  // v_i v_j (1 − c) + v_k s
    Tensor minus = cc.mul(aa).sub(s.mul(a)); // v_i v_j (1 − c) − v_k s
    return matrix(4, new Object[] {d, minus, plus, 0, plus, d, minus, 0, minus, plus, d, 0, 0, 0, 0, 1}, dev);
  }

  private static Tensor constant(double[] v, int rows, Device dev) {
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
    return Tensor.of(f, rows, v.length / rows).to(dev);
  }

  private static Tensor scale2dConst(double sx, double sy, Device dev) {
    return constant(new double[] {sx, 0, 0, 0, sy, 0, 0, 0, 1}, 3, dev);
  }

  private static Tensor translate2dConst(double tx, double ty, Device dev) {
    return constant(new double[] {1, 0, tx, 0, 1, ty, 0, 0, 1}, 3, dev);
  }

  private static Tensor eye4(Device dev) {
    return constant(new double[] {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, 4, dev);
  }
}
