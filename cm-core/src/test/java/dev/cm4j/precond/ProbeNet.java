package dev.cm4j.precond;

import dev.cm4j.nn.CTMNetwork;
import dev.cm4j.nn.Module;
import dev.cm4j.tensor.Tensor;

/** A stand-in raw network F(x, c) = a·x + b that records the inputs it was called with. */
final class ProbeNet extends Module implements CTMNetwork {
  final double a;
  final double b;
  Tensor lastX;
  Tensor lastNoise;
  Tensor lastSNoise;

  ProbeNet(double a, double b) {
    this.a = a;
    this.b = b;
  }

  @Override
  public Tensor forward(Tensor x, Tensor noise, Tensor sNoise, Tensor classLabels, Tensor augmentLabels) {
    lastX = x;
    lastNoise = noise;
    lastSNoise = sNoise;
    return x.mul(a).add(b);
  }

  @Override
  public Tensor forward(Tensor x, Tensor noise, Tensor classLabels, Tensor augmentLabels) {
    return forward(x, noise, null, classLabels, augmentLabels);
  }

  @Override
  public boolean hasSEmbedding() {
    return true;
  }

  @Override
  public int resolution() {
    return 1;
  }

  @Override
  public int channels() {
    return 1;
  }

  @Override
  public int labelDim() {
    return 0;
  }

}
