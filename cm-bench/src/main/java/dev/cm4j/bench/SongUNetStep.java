package dev.cm4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Param;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.optim.Adam;
import dev.cm4j.precond.Denoiser;
import dev.cm4j.precond.EDMPrecond;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One SongUNet training step, Java side of {@code bench/songunet_step.sh}: EDM preconditioning around EDM's SongUNet,
 * loss = mean((D(x + σn, σ) − x)²) with σ = exp(1.2·N(0,1) − 1.2) (EDM's training σ distribution), backward, Adam
 * (defaults, lr 1e-3), one {@link TensorScope} per step — written as a user writes it. The Python side
 * ({@code bench/songunet_step.py}) runs the same step on EDM's network re-implemented in
 * {@code bench/edm_songunet.py}.
 *
 * <p>Usage:
 * <ul>
 *   <li>{@code SongUNetStep time <small|ddpmpp> [warmupSteps,warmupSeconds,reps [plain]]}: prints the timing line
 *       of the step ({@link StepTimer}, variant {@code java}) and, unless {@code plain}, of the diagnostic variant
 *       {@code java_scoped} (the forward pass in its own scope);
 *   <li>{@code SongUNetStep serve <small|ddpmpp>}: builds the model, prints {@code ready}, then runs one step
 *       ({@code java}) per {@code step} line read from standard input and answers each with the step's thread CPU
 *       time and wall time in ms; ends at {@code quit} or end of input ({@code bench/paired.py} drives it);
 *   <li>{@code SongUNetStep export <small|ddpmpp> <file.safetensors>}: writes the initial weights (seed 0), an input
 *       batch, the eval-mode output D, the loss and every parameter's gradient, for the Python side's parity check.
 * </ul>
 */
public final class SongUNetStep {
  private SongUNetStep() {}

  /**
   * The small test network of the upstream parity fixture, cm-core/src/test/resources/reference (dropout:
   * SongUNet's default 0.10).
   */
  public static final String SMALL_JSON = "{\"img_resolution\":16,\"img_channels\":3,\"model_channels\":32,"
      + "\"channel_mult\":[1,2],\"num_blocks\":1,\"attn_resolutions\":[8]}";

  /** A named benchmark configuration: network and batch size. */
  public record Case(String name, SongUNet.Config config, int batch) {
    /** C×R×R of one image. */
    long[] batchShape() {
      return new long[] {batch, config.inChannels(), config.imgResolution(), config.imgResolution()};
    }
  }

  /** small (batch 8) or ddpmpp (CIFAR-10 DDPM++, dropout 0, batch 4). */
  public static Case named(String name) {
    return switch (name) {
      case "small" -> new Case(name, SongUNet.Config.fromKwargs(SMALL_JSON), 8);
      case "ddpmpp" -> new Case(name, SongUNet.Config.ddpmpp(32, 3, 0), 4);
      default -> throw new IllegalArgumentException("unknown case '" + name + "' (small, ddpmpp)");
    };
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: SongUNetStep time <small|ddpmpp> [warmupSteps,warmupSeconds,reps|default [plain]]"
          + " | export <small|ddpmpp> <file>");
      System.exit(2);
    }
    Torch.load(); // before setNumThreads (see Overhead)
    Torch.setNumThreads(1);
    Case c = named(args[1]);
    switch (args[0]) {
      case "time" -> time(c, StepTimer.parse(args.length > 2 ? args[2] : null,
          c.name().equals("small") ? new StepTimer(3, 2.0, 21) : new StepTimer(2, 0, 5)),
          args.length <= 3 || !args[3].equals("plain"));
      case "serve" -> serve(c);
      case "export" -> export(c, Path.of(args[2]));
      default -> throw new IllegalArgumentException("unknown command " + args[0]);
    }
  }

  /**
   * One training step on the data batch x in its own scope: σ = exp(1.2·N(0,1) − 1.2), loss = mean((D(x + σn, σ) −
   * x)²) through {@code d}, backward, a step of {@code opt}.
   */
  static Runnable step(Denoiser d, Adam opt, Tensor x) {
    long b = x.shape()[0];
    return () -> {
      try (var s = TensorScope.open()) {
        Tensor sigma = Tensor.randn(b).mul(1.2).sub(1.2).exp();
        Tensor n = x.randnLike();
        Tensor loss = d.denoise(x.add(n.mul(sigma.reshape(-1, 1, 1, 1))), sigma, null).sub(x).square().mean();
        opt.zeroGrad();
        loss.backward();
        opt.step();
      }
    };
  }

  /** The step protocol of {@code bench/paired.py}: one training step per "step" line, timed. */
  static void serve(Case c) throws java.io.IOException {
    Torch.manualSeed(0);
    EDMPrecond net = EDMPrecond.edm(new SongUNet(c.config()));
    Adam opt = new Adam(net, Adam.Config.defaults());
    Tensor x = Tensor.randn(c.batchShape());
    Runnable step = step(net, opt, x);
    StepTimer.serve(step);
    opt.close();
    net.close();
    x.close();
  }

  /** Times the training step (model in training mode, as EDM trains it). */
  static StepTimer.Result time(Case c, StepTimer timer, boolean scoped) {
    Torch.manualSeed(0);
    EDMPrecond net = EDMPrecond.edm(new SongUNet(c.config()));
    Adam opt = new Adam(net, Adam.Config.defaults());
    Tensor x = Tensor.randn(c.batchShape()); // the data batch, kept for the whole run
    try {
      StepTimer.Result r = timer.measure("songunet_" + c.name(), "java", step(net, opt, x));
      if (!scoped) return r;
      // Diagnostic: the same step with the forward pass in its own scope that keeps only D, so the intermediates
      // autograd does not save are freed before backward (as Python frees them when their last reference goes).
      return timer.measure("songunet_" + c.name(), "java_scoped", step(ObjectiveStep.scoped(net), opt, x));
    } finally {
      opt.close();
      net.close();
      x.close();
    }
  }

  /**
   * Writes {@code model.*} (the EDMPrecond state dict at seed 0), {@code in.x}, {@code in.sigma}, {@code in.noise},
   * {@code out.D} (eval mode: no dropout), {@code out.loss} and {@code grad.<param>}; metadata: the config as JSON,
   * the parameter count and the batch.
   */
  static void export(Case c, Path file) throws Exception {
    Torch.manualSeed(0);
    EDMPrecond net = EDMPrecond.edm(new SongUNet(c.config()));
    try (var s = TensorScope.open()) {
      Map<String, Tensor> out = new LinkedHashMap<>();
      for (var e : net.stateDict().entrySet()) out.put(e.getKey(), e.getValue().detach().clone());
      net.eval();
      Torch.manualSeed(1);
      Tensor x = Tensor.randn(c.batchShape());
      Tensor sigma = Tensor.randn(c.batch()).mul(1.2).sub(1.2).exp();
      Tensor n = x.randnLike();
      Tensor d = net.denoise(x.add(n.mul(sigma.reshape(-1, 1, 1, 1))), sigma, null);
      Tensor loss = d.sub(x).square().mean();
      loss.backward();
      out.put("in.x", x);
      out.put("in.sigma", sigma);
      out.put("in.noise", n);
      out.put("out.D", d.detach());
      out.put("out.loss", loss.detach());
      for (Map.Entry<String, Param> e : net.namedParameters().entrySet()) {
        out.put("grad." + e.getKey(), e.getValue().get().grad());
      }
      Map<String, String> meta = new LinkedHashMap<>();
      meta.put("config", new ObjectMapper().writeValueAsString(c.config()));
      meta.put("parameter_count", Long.toString(net.parameterCount()));
      meta.put("batch", Integer.toString(c.batch()));
      SafeTensors.write(file, out, meta);
    } finally {
      net.close();
    }
  }
}
