package dev.cm4j.examples;

import dev.cm4j.data.*;
import dev.cm4j.image.ImageGrid;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.objectives.ECT;
import dev.cm4j.optim.Adam;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.sampling.Samplers;
import dev.cm4j.tensor.*;
import java.nio.file.Path;

/** The README's library example, compiled and run by ReadmeExampleTest so it cannot rot. */
public final class ReadmeExample {
  public static void main(String[] args) {
    int steps = args.length > 0 ? Integer.parseInt(args[0]) : 200;
    Path out = Path.of(args.length > 1 ? args[1] : "samples.png");
    // README-BEGIN
    Dataset data = IdxDataset.debianFashionMnist(true).orElseThrow();          // Debian's dataset-fashion-mnist
    try (Loader loader = Loader.open(data, LoaderConfig.of(32, 0).withResize(32, LoaderConfig.Resize.PAD));
         EDMPrecond net = EDMPrecond.ect(new SongUNet(new SongUNet.Config(32, 1, 1, 0, 0, 32, new int[] {1, 2, 2},
             4, 1, new int[] {8}, 0.0, 0, "positional", 1, "standard", "standard", new double[] {1, 1}, false)));
         Adam opt = new Adam(net, Adam.Config.defaults().withLr(1e-3))) {
      ECT ect = new ECT(ECT.Config.cifar10());
      for (int step = 0; step < steps; step++) {
        try (TensorScope scope = TensorScope.open(); Batch batch = loader.next()) {
          opt.zeroGrad();
          int stage = step < steps / 2 ? ECT.DENOISING_STAGE : 0;            // denoise first, then tighten
          ect.loss(net, batch.x(), null, stage, null, null).mean().backward();
          opt.step();
        }
      }
      net.eval();
      try (TensorScope scope = TensorScope.open()) {
        Tensor z = Tensor.randn(16, 1, 32, 32);
        Tensor x = Samplers.consistency(net, z, new double[] {80, 0.821}, null, 0, null); // 2-step sampling
        ImageGrid.save(x.clamp(-1, 1), 4, out);
      }
    }
    // README-END
  }
}
