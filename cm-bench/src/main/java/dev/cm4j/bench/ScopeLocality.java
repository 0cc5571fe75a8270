package dev.cm4j.bench;

import dev.cm4j.nn.SongUNet;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;

/**
 * Diagnostic for bench/objective_step.sh: the cost of keeping every intermediate of several no-grad forward passes
 * alive until one scope closes, against freeing each pass's intermediates when it ends. Runs F no-grad forwards of
 * the small SongUNet (EDMPrecond, eval, batch 8) per step, (a) in one scope, as CTM's teacher Heun steps do inside
 * the step's scope, and (b) with a scope per pass that keeps only the pass's output. Usage:
 * {@code ScopeLocality [passes] [warmupSteps,warmupSeconds,reps]}.
 */
public final class ScopeLocality {
  private ScopeLocality() {}

  public static void main(String[] args) {
    int passes = args.length > 0 ? Integer.parseInt(args[0]) : 6;
    StepTimer timer = StepTimer.parse(args.length > 1 ? args[1] : null, new StepTimer(3, 2.0, 21));
    Torch.load();
    Torch.setNumThreads(1);
    Torch.manualSeed(0);
    EDMPrecond net = EDMPrecond.edm(new SongUNet(ObjectiveStep.small(true)));
    net.eval();
    Tensor x = Tensor.randn(ObjectiveStep.BATCH, 3, 16, 16);
    Tensor sigma = Tensor.full(new long[] {ObjectiveStep.BATCH}, 1.0, dev.cm4j.tensor.DType.FLOAT32,
        dev.cm4j.tensor.Device.CPU);
    for (int round = 0; round < 2; round++) {
      timer.measure("forwards_x" + passes, "one_scope", () -> {
        try (var s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
          Tensor y = x;
          for (int i = 0; i < passes; i++) y = net.denoise(y, sigma, null);
        }
      });
      timer.measure("forwards_x" + passes, "scope_per_pass", () -> {
        try (var s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
          Tensor y = x;
          for (int i = 0; i < passes; i++) {
            try (var inner = TensorScope.open()) {
              y = inner.escape(net.denoise(y, sigma, null));
            }
          }
        }
      });
    }
  }
}
