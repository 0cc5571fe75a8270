package dev.cm4j.precond;

import dev.cm4j.nn.EDMNetwork;
import dev.cm4j.nn.Module;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;

/**
 * EDM preconditioning (Karras et al. 2022, Table 1) around a raw network F:
 * D(x, σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x, c_noise(σ)) with c_in = 1/√(σ² + σ_d²), c_noise = ln(σ)/4.
 *
 * <p>Boundary {@link Boundary#EDM}: c_skip = σ_d²/(σ² + σ_d²), c_out = σ·σ_d/√(σ² + σ_d²) (identity at σ = 0).
 * Boundary {@link Boundary#ECT} (ECT's ECMPrecond): the same in training mode; in eval mode Song et al.'s consistency
 * boundary c_skip = σ_d²/((σ − σ_min)² + σ_d²), c_out = (σ − σ_min)·σ_d/√(σ² + σ_d²), identity at σ_min
 * (docs/algorithms/ect.md §1.2).
 */
public final class EDMPrecond extends Module implements Denoiser {
  /** Which boundary condition c_skip/c_out implement. */
  public enum Boundary {
    /** EDM's: identity at σ = 0. */
    EDM,
    /** ECT's: EDM's in training mode, the consistency boundary at σ_min in eval mode. */
    ECT,
    /** Song et al.'s consistency boundary at σ_min in both modes (CD, CT, iCT). */
    CM
  }

  private final Module model;
  private final EDMNetwork net;
  private final double sigmaData;
  private final double sigmaMin;
  private final double sigmaMax;
  private final Boundary boundary;

  /**
   * @param net the raw network (a Module implementing EDMNetwork), registered as child "model"
   * @param sigmaData σ_d, the data standard deviation (0.5 for images in [-1, 1])
   * @param sigmaMin σ_min (ECT's eval boundary: 0.003; EDM: 0)
   * @param sigmaMax σ_max (informational: samplers start here)
   * @param boundary the boundary condition
   */
  public <N extends Module & EDMNetwork> EDMPrecond(N net, double sigmaData, double sigmaMin, double sigmaMax,
      Boundary boundary) {
    this.model = child("model", net);
    this.net = net;
    this.sigmaData = sigmaData;
    this.sigmaMin = sigmaMin;
    this.sigmaMax = sigmaMax;
    this.boundary = boundary;
  }

  /** EDM's EDMPrecond(σ_d = 0.5, σ_min = 0, σ_max = ∞). */
  public static <N extends Module & EDMNetwork> EDMPrecond edm(N net) {
    return new EDMPrecond(net, 0.5, 0, Double.POSITIVE_INFINITY, Boundary.EDM);
  }

  /** ECT's ECMPrecond(σ_d = 0.5, σ_min = 0.003, σ_max = 80). */
  public static <N extends Module & EDMNetwork> EDMPrecond ect(N net) {
    return new EDMPrecond(net, 0.5, 0.003, 80, Boundary.ECT);
  }

  /** EDM's input, skip and output scalings for σ (broadcast shape), with the boundary shifted to σ_min (0: EDM's). */
  public record Scalings(Tensor cIn, Tensor cSkip, Tensor cOut) {}

  /**
   * c_in = 1/√(σ² + σ_d²), c_skip = σ_d²/((σ − ε)² + σ_d²), c_out = (σ − ε)·σ_d/√(σ² + σ_d²), with ε = 0 for EDM's
   * boundary and ε = σ_min for the consistency boundary (Karras et al. 2022, Table 1; Song et al. 2023, App. C).
   */
  public static Scalings scalings(Tensor sigma, double sigmaData, double epsilon) {
    double sd2 = sigmaData * sigmaData;
    Tensor cIn = sigma.square().add(sd2).rsqrt();
    Tensor shifted = epsilon == 0 ? sigma : sigma.sub(epsilon);
    Tensor cSkip = shifted.square().add(sd2).rdiv(sd2);
    Tensor cOut = shifted.mul(sigmaData).mul(cIn);
    return new Scalings(cIn, cSkip, cOut);
  }

  /** Song et al.'s consistency-model parameterisation (σ_d = 0.5, σ_min = 0.002, σ_max = 80). */
  public static <N extends Module & EDMNetwork> EDMPrecond cm(N net) {
    return new EDMPrecond(net, 0.5, 0.002, 80, Boundary.CM);
  }

  /** This model as a {@link Denoiser} that passes augmentLabels (null: none) to every call. */
  public Denoiser withAugmentLabels(Tensor augmentLabels) {
    return augmentLabels == null ? this : (x, sigma, classLabels) -> denoise(x, sigma, classLabels, augmentLabels);
  }

  /** The raw network. */
  public EDMNetwork network() {
    return net;
  }

  /** σ_d. */
  public double sigmaData() {
    return sigmaData;
  }

  /** σ_min. */
  public double sigmaMin() {
    return sigmaMin;
  }

  /** σ_max. */
  public double sigmaMax() {
    return sigmaMax;
  }

  @Override
  public Tensor denoise(Tensor x, Tensor sigma, Tensor classLabels) {
    return denoise(x, sigma, classLabels, null);
  }

  /**
   * D(x, σ) of an augmented batch: augmentLabels [N, augment_dim] (EDM's AugmentPipe labels; null: none) go to the raw
   * network's augmentation input.
   */
  public Tensor denoise(Tensor x, Tensor sigma, Tensor classLabels, Tensor augmentLabels) {
    x = x.to(DType.FLOAT32);
    long n = x.dim();
    long[] bshape = new long[(int) n];
    java.util.Arrays.fill(bshape, 1);
    bshape[0] = -1;
    Tensor s = sigma.to(DType.FLOAT32).reshape(bshape); // σ as [N, 1, 1, 1]
    Tensor cNoise = s.log().div(4.0);                                   // c_noise = ln(σ)/4
    boolean cm = boundary == Boundary.CM || (boundary == Boundary.ECT && !isTraining());
    Scalings c = scalings(s, sigmaData, cm ? sigmaMin : 0);
    Tensor cIn = c.cIn();
    Tensor cSkip = c.cSkip();
    Tensor cOut = c.cOut();
    Tensor labels = null;
    if (net.labelDim() > 0) {
      labels = classLabels != null ? classLabels.to(DType.FLOAT32).reshape(-1, net.labelDim())
          : Tensor.zeros(new long[] {1, net.labelDim()}, DType.FLOAT32, x.device());
    }
    Tensor fx = net.forward(cIn.mul(x), cNoise.flatten(), labels, augmentLabels);
    return cSkip.mul(x).add(cOut.mul(fx.to(DType.FLOAT32)));             // D = c_skip·x + c_out·F
  }
}
