package dev.cm4j.nn;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.tensor.Torch;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The guidance-scale input of AYF's guidance-conditioned students (docs/algorithms/ayf.md §2.1) on SongUNet (both
 * second-time modes, DDPM++ and NCSN++ embeddings), EDM2's U-Net (its zero gain) and the toy MLP: added to a network,
 * it leaves the other initial weights and the output exactly as they were (at any w); a w-free state dict loads into
 * it with only the new tensors missing; the loss's gradient reaches the new zero-initialised parameter; once that
 * moves, w changes the output; and a network without the input refuses w with a clear error.
 */
class GuidanceEmbeddingTest {
  static final String SONG = "{\"img_resolution\":8,\"img_channels\":2,\"model_channels\":8,\"channel_mult\":[1,2],"
      + "\"num_blocks\":1,\"attn_resolutions\":[4],\"dropout\":0,\"s_embedding\":true";

  static List<Supplier<Module>> networks() {
    return List.of(
        () -> new SongUNet(SongUNet.Config.fromKwargs(SONG + "}")),
        () -> new SongUNet(SongUNet.Config.fromKwargs(SONG + ",\"s_embedding_mode\":\"sum\",\"embedding_type\":"
            + "\"fourier\",\"channel_mult_noise\":2,\"encoder_type\":\"residual\",\"decoder_type\":\"skip\"}")),
        () -> new EDM2UNet(new EDM2UNet.Config(8, 2, 0, 16, new int[] {1, 2}, 0, 0, 1, new int[] {4}, 0.5, 0.5,
            new double[] {1, 1}, 8, 0, 0.3, 0.3, 256, 0, "fourier", false, false), true),
        () -> new MLPDenoiser(new MLPDenoiser.Config(2, 16, 2, 8, 0.0, true)));
  }

  static Tensor input(Module m, Generator g) {
    long[] shape = m instanceof MLPDenoiser ? new long[] {3, 2} : new long[] {3, 2, 8, 8};
    return Tensor.randn(shape, DType.FLOAT32, Device.CPU, g);
  }

  @Test
  void aNoOpAtInitialisationThatLearns() {
    for (Supplier<Module> make : networks()) {
      try (TensorScope s = TensorScope.open()) {
        Torch.manualSeed(7);
        Module plain = make.get();
        Torch.manualSeed(7);
        Module cond = make.get();
        ((CTMNetwork) cond).addGuidanceEmbedding();
        String name = cond.getClass().getSimpleName();
        assertTrue(((CTMNetwork) cond).hasGuidanceEmbedding() && !((CTMNetwork) plain).hasGuidanceEmbedding());
        // the same initial weights (the new tensors come after every other), and a zero-initialised new parameter
        Map<String, Tensor> a = plain.stateDict();
        Map<String, Tensor> b = cond.stateDict();
        for (var e : a.entrySet()) assertEquals(0, e.getValue().sub(b.get(e.getKey())).abs().amax(false).item(), name);
        List<String> added = b.keySet().stream().filter(k -> !a.containsKey(k)).sorted().toList();
        String zero = cond instanceof EDM2UNet ? "emb_guidance_gain" : "map_guidance.weight";
        assertTrue(added.contains(zero), name + ": " + added);
        assertTrue(added.stream().allMatch(k -> k.contains("guidance")), name + ": " + added);
        assertEquals(0, b.get(zero).abs().amax(false).item());
        // a trained-looking network: every other weight perturbed alike in both (SongUNet's zero-initialised output
        // layers would otherwise hide every embedding's gradient)
        perturb(plain, 5);
        perturb(cond, 5); // perturbs the same parameters alike (the guidance ones are skipped)
        plain.eval(); // EDM2's layers renormalise their stored weights in training mode, at every pass
        cond.eval();
        // the output is the w-free network's, bit for bit, at any w
        Generator g = Generator.cpu(11);
        Tensor x = input(cond, g);
        Tensor t = Tensor.of(new double[] {0.9, 0.5, 0.2}).to(DType.FLOAT32);
        Tensor h = Tensor.of(new double[] {0.3, 0.5, 0.1}).to(DType.FLOAT32);
        Tensor w = Tensor.of(new double[] {1.0, 2.0, 3.5}).to(DType.FLOAT32);
        Tensor ref = ((CTMNetwork) plain).forward(x, t, h, null, null);
        Tensor out = ((CTMNetwork) cond).forward(x, t, h, null, null, w);
        assertEquals(0, out.sub(ref).abs().amax(false).item(), name + ": w changes nothing at initialisation");
        assertEquals(0, ((CTMNetwork) cond).forward(x, t, h, null, null).sub(ref).abs().amax(false).item());
        // a w-free snapshot loads: only the new weight is missing (and keeps its zeros)
        LoadReport r = cond.loadStateDict(new LinkedHashMap<>(plain.stateDict()), false);
        assertEquals(added, r.missing().stream().sorted().toList(), name);
        assertTrue(r.unexpected().isEmpty() && r.shapeMismatched().isEmpty(), name + ": " + r);
        // the gradient of a loss reaches the new weight (its input, w's embedding, is not zero)
        Tensor loss = ((CTMNetwork) cond).forward(x, t, h, null, null, w).square().sum();
        loss.backward();
        Tensor grad = cond.namedParameters().get(zero).get().grad();
        assertNotNull(grad, name + ": no gradient reached " + zero);
        assertTrue(grad.abs().amax(false).item() > 1e-6, name + ": gradient " + grad.abs().amax(false).item());
        // once it moves, w conditions the output
        try (var ng = dev.cm4j.tensor.GradMode.noGrad()) {
          cond.namedParameters().get(zero).get().sub_(grad.mul(0.1));
          Tensor w1 = ((CTMNetwork) cond).forward(x, t, h, null, null, w);
          Tensor w2 = ((CTMNetwork) cond).forward(x, t, h, null, null, w.add(1.0));
          assertTrue(w1.sub(w2).abs().amax(false).item() > 1e-6, name + ": w must matter once trained");
        }
        plain.close();
        cond.close();
      }
    }
  }

  /** Adds N(0, (0.5/√fan_in)²) noise to every parameter but the guidance embedding's, in name order, from seed. */
  static void perturb(Module m, long seed) {
    Generator g = Generator.cpu(seed);
    try (var ng = dev.cm4j.tensor.GradMode.noGrad(); TensorScope s = TensorScope.open()) {
      for (var e : m.namedParameters().entrySet()) {
        if (e.getKey().contains("guidance")) continue;
        Tensor t = e.getValue().get();
        double fanIn = t.dim() >= 2 ? (double) t.numel() / t.size(0) : 1;
        t.add_(Tensor.randn(t.shape(), DType.FLOAT32, Device.CPU, g).mul(0.5 / Math.sqrt(fanIn)));
      }
    }
  }

  @Test
  void badInputsAreClearErrors() {
    try (TensorScope s = TensorScope.open();
        MLPDenoiser plain = new MLPDenoiser(new MLPDenoiser.Config(2, 16, 1, 8, 0.0, true));
        MLPDenoiser cond = new MLPDenoiser(new MLPDenoiser.Config(2, 16, 1, 8, 0.0, true))) {
      cond.addGuidanceEmbedding();
      Tensor x = Tensor.zeros(3, 2);
      Tensor t = Tensor.ones(3);
      var e = assertThrows(IllegalArgumentException.class, () -> plain.forward(x, t, t, null, null, Tensor.ones(3)));
      assertTrue(e.getMessage().contains("guidance"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> cond.forward(x, t, t, null, null, Tensor.ones(2)));
      assertTrue(e.getMessage().contains("[3]"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, cond::addGuidanceEmbedding);
      assertTrue(e.getMessage().contains("already"), e.getMessage());
      // a network without the input (ADM's) says which networks have it
      try (DhariwalUNet adm = new DhariwalUNet(new DhariwalUNet.Config(8, 2, 2, 0, 0, 64, new int[] {1, 1}, 1, 1,
          new int[] {4}, 0, 0, 1, false))) {
        e = assertThrows(IllegalArgumentException.class, adm::addGuidanceEmbedding);
        assertTrue(e.getMessage().contains("SongUNet"), e.getMessage());
      }
    }
  }
}
