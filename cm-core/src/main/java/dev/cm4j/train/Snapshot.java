package dev.cm4j.train;

import dev.cm4j.data.Dataset;
import dev.cm4j.data.ImageDataset;
import dev.cm4j.data.PointDataset;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Module;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A network snapshot written by the trainer ({@code network-snapshot-*.safetensors}): the EMA model's state dict plus the
 * run's training options in the metadata, from which the model is rebuilt for sampling.
 */
public final class Snapshot implements AutoCloseable {
  private final TrainingOptions options;
  private final RunObjective objective;
  private final Module model;
  private final long[] itemShape;
  private final Device device;

  private Snapshot(TrainingOptions options, RunObjective objective, long[] itemShape, Device device) {
    this.options = options;
    this.objective = objective;
    this.model = objective.model();
    this.itemShape = itemShape;
    this.device = device;
  }

  /** Loads a snapshot onto the CPU; the dataset named in its options is opened only to learn the data shape. */
  public static Snapshot load(Path file) {
    return load(file, Device.CPU);
  }

  /**
   * Loads a snapshot with its model on device; {@link #sample} then draws the latents and the re-noising there, from
   * generators of that device (so a CUDA device gives other numbers than the CPU for the same seed, as in PyTorch).
   */
  public static Snapshot load(Path file, Device device) {
    try (SafeTensorFile f = SafeTensors.read(file); TensorScope s = TensorScope.open()) {
      String json = f.metadata().get("training_options");
      if (json == null) throw new IllegalArgumentException(file + " is not a cm4j network snapshot (no training_options)");
      TrainingOptions o = TrainingOptions.fromJson(json);
      Dataset d = Builders.dataset(o.data());
      int resolution;
      int channels;
      long[] shape;
      if (d instanceof ImageDataset img) {
        resolution = o.data().resolutionOr(img.resolution());
        channels = img.channels();
        shape = new long[] {channels, resolution, resolution};
      } else {
        resolution = 0;
        channels = ((PointDataset) d).dim();
        shape = new long[] {channels};
      }
      RunObjective obj = RunObjective.create(o, (cfg, s2) -> Builders.network(cfg, resolution, channels, s2), o.seed());
      Map<String, Tensor> sd = new LinkedHashMap<>();
      for (String k : f.names()) sd.put(k, f.tensor(k));
      try {
        obj.model().loadStateDict(sd, true);
      } catch (IllegalArgumentException e) {
        obj.model().close();
        throw new IllegalArgumentException("snapshot " + file + " does not fit the network its options describe: "
            + e.getMessage(), e);
      }
      obj.model().eval();
      if (!device.equals(Device.CPU)) obj.model().to(device, null);
      return new Snapshot(o, obj, shape, device);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read snapshot " + file + ": " + e.getMessage(), e);
    }
  }

  /** The run's options. */
  public TrainingOptions options() {
    return options;
  }

  /** The device of the model and of the samples. */
  public Device device() {
    return device;
  }

  /** The shape of one sample (C, H, W) or (D). */
  public long[] itemShape() {
    return itemShape.clone();
  }

  /** n samples: one step, then one more per intermediate time in mids; latents and re-noising from seed. */
  public Tensor sample(int n, double[] mids, long seed) {
    long[] shape = new long[itemShape.length + 1];
    shape[0] = n;
    System.arraycopy(itemShape, 0, shape, 1, itemShape.length);
    try (GradMode g = GradMode.noGrad(); Generator zg = Generator.create(device, seed);
        Generator ng = Generator.create(device, seed + 1)) {
      Tensor z = Tensor.randn(shape, DType.FLOAT32, device, zg);
      return objective.sample(model, z, mids, ng);
    }
  }

  @Override
  public void close() {
    model.close();
  }
}
