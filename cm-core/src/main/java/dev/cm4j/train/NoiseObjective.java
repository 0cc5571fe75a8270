package dev.cm4j.train;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import java.util.Map;

/**
 * An objective whose only random stream is one generator of its device, saved in a training state as "noise"
 * ({@link EctObjective}, {@link SctObjective}, {@link MeanFlowObjective}, {@link AyfObjective},
 * {@link ImmObjective}): per-sample draws and noise shaped like the batch, each made for
 * the global batch and sliced to this shard's rows ({@link #draw}), so a run's numbers do not depend on the number of
 * processes.
 */
abstract class NoiseObjective extends RunObjective {
  private static final double SQRT_HALF = 0.7071067811865476;

  /** The noise stream. */
  final Generator gen;

  /** @param seed the stream's seed (each objective mixes the run's seed with its own constant) */
  NoiseObjective(Device device, long seed) {
    super(device);
    gen = newGenerator(seed);
  }

  /** One standard-normal draw per sample of x: [N] float32 on x's device. */
  Tensor normalPerSample(Tensor x) {
    return draw(new long[] {x.size(0)}, DType.FLOAT32, x.device(), gen);
  }

  /**
   * One uniform [0, 1) draw per sample of x, as Φ(n) of a standard-normal draw (the stream only draws normals, so
   * every draw is sliced to the shard the same way): [N] float32.
   */
  Tensor uniformPerSample(Tensor x) {
    return normalPerSample(x).mul(SQRT_HALF).erf().add(1.0).mul(0.5);
  }

  /** Standard-normal noise shaped like x (its dtype and device). */
  Tensor noiseLike(Tensor x) {
    return draw(x.shape(), x.dtype(), x.device(), gen);
  }

  @Override
  final Map<String, Tensor> randomState() {
    return Map.of("noise", stateOf(gen));
  }

  @Override
  final void restoreRandomState(Map<String, Tensor> state) {
    restore(gen, state, "noise");
  }
}
