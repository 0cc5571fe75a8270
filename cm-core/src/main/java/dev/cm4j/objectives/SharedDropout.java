package dev.cm4j.objectives;

import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import java.util.function.Supplier;

/**
 * Runs two forward passes with the same dropout masks, the way the reference implementations save and restore the
 * RNG state around the student pass: the state of the generator the network draws its masks from is captured before
 * the first pass and restored before the second.
 */
public final class SharedDropout {
  private SharedDropout() {}

  /** The results of both passes. */
  public record Pair<A, B>(A first, B second) {}

  /**
   * @param gen the generator the network's dropout draws from (null: the default generator of device)
   * @param device where the default generator lives
   */
  public static <A, B> Pair<A, B> run(Generator gen, Device device, Supplier<A> first, Supplier<B> second) {
    Generator g = gen != null ? gen : Generator.defaultFor(device);
    try {
      byte[] state = g.getState();
      A a = first.get();
      g.setState(state);
      B b = second.get();
      return new Pair<>(a, b);
    } finally {
      if (gen == null) g.close();
    }
  }
}
