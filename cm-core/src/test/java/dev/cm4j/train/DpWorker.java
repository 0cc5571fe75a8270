package dev.cm4j.train;

import dev.cm4j.io.SafeTensors;
import java.nio.file.Path;

/**
 * A data-parallel training worker for {@link DataParallelTrainingTest}: trains the options in args[0] under the
 * torchrun variables of its environment, writes the trained parameters to args[2] and exits 0; any error prints
 * one line and exits 1 (as cm train does).
 */
public final class DpWorker {
  private DpWorker() {}

  public static void main(String[] args) {
    try {
      TrainingOptions opts = TrainingOptions.read(Path.of(args[0]));
      try (Trainer t = Trainer.start(opts, Path.of(args[1]), System.out)) {
        t.run();
        SafeTensors.write(Path.of(args[2]), t.model().stateDict());
      }
      System.out.println("worker done");
      System.exit(0);
    } catch (Throwable e) {
      System.err.println("worker failed: " + e.getMessage());
      System.exit(1);
    }
  }
}
