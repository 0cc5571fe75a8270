package dev.cm4j.bench;

import dev.cm4j.nn.SongUNet;
import dev.cm4j.precond.TrigFlowPrecond;
import dev.cm4j.tensor.ForwardAD;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.List;

/**
 * Diagnostic for the sCT benchmark: the parts of an sCT step on the small SongUNet (TrigFlow, batch 8, training mode)
 * — a no-grad forward, a forward with gradients, forward + backward, and the forward-mode JVP pass — so their costs
 * can be set against the same parts in PyTorch ({@code python bench/objective_step.py parts sct}). Usage:
 * {@code JvpCost [warmupSteps,warmupSeconds,reps]}.
 */
public final class JvpCost {
  private JvpCost() {}

  public static void main(String[] args) {
    StepTimer timer = StepTimer.parse(args.length > 0 ? args[0] : null, new StepTimer(3, 1.0, 15));
    Torch.load();
    Torch.setNumThreads(1);
    Torch.manualSeed(0);
    TrigFlowPrecond net = new TrigFlowPrecond(new SongUNet(ObjectiveStep.small(true)), 0.5,
        TrigFlowPrecond.TimeLabel.IDENTITY);
    Torch.manualSeed(1);
    Tensor x = Tensor.randn(ObjectiveStep.BATCH, 3, 16, 16);
    Tensor t = Tensor.randn(ObjectiveStep.BATCH).mul(1.4).sub(1.0).exp().div(0.5).atan();
    Tensor tb = t.reshape(-1, 1, 1, 1);
    Tensor z = x.randnLike().mul(0.5);
    Tensor xt = tb.cos().mul(x).add(tb.sin().mul(z));
    Tensor v = tb.cos().mul(z).sub(tb.sin().mul(x));
    Tensor cs = tb.cos().mul(tb.sin());
    timer.measure("sct_part", "fwd_nograd", () -> {
      try (var s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
        net.rawF(xt, t, null);
      }
    });
    timer.measure("sct_part", "fwd_grad", () -> {
      try (var s = TensorScope.open()) {
        net.rawF(xt, t, null);
      }
    });
    timer.measure("sct_part", "fwd_grad_bwd", () -> {
      try (var s = TensorScope.open()) {
        net.rawF(xt, t, null).square().mean().backward();
      }
    });
    timer.measure("sct_part", "jvp_fwad", () -> {
      try (var s = TensorScope.open(); GradMode g = GradMode.noGrad()) {
        ForwardAD.jvp(in -> List.of(net.rawF(in.get(0), in.get(1), null)), List.of(xt, t),
            List.of(cs.mul(v), cs.flatten()));
      }
    });
  }
}
