package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.SongUNet;
import org.junit.jupiter.api.Test;

/** Where CTM's DSM weighting (the adaptive λ of sony/ctm) reads its gradients. */
class CtmLastWeightTest {
  static final String SMALL = "{\"img_resolution\":8,\"img_channels\":2,\"model_channels\":8,\"channel_mult\":[1,2],"
      + "\"num_blocks\":1,\"attn_resolutions\":[],\"dropout\":0,\"label_dim\":0}";

  @Test
  void songUNetWithTheSPathUsesTheOutputConvolutionAsSonyCtmDoes() {
    // sony/ctm (code/cm/karras_diffusion.py, CIFAR-10): last_layer = model.dec['32x32_aux_conv'].weight. SongUNet
    // registers CTM's s path (map_layer*_s, affine_s) after the decoder, so "the last weight" must skip it.
    SongUNet.Config c = SongUNet.Config.fromKwargs(SMALL);
    try (SongUNet plain = new SongUNet(c); SongUNet withS = new SongUNet(c.withSEmbedding())) {
      String expected = "dec.8x8_aux_conv.weight";
      assertEquals(expected, RunObjective.lastWeightName(plain));
      assertEquals(expected, RunObjective.lastWeightName(withS));
      assertSame(withS.namedParameters().get(expected).get(), RunObjective.lastWeight(withS));
      // the s path is there, after the decoder: the old rule (last 2-D weight) would have picked it
      String last = null;
      for (var e : withS.namedParameters().entrySet()) {
        if (e.getKey().endsWith("weight") && e.getValue().get().dim() >= 2) last = e.getKey();
      }
      assertTrue(last.contains("_s."), last);
    }
  }
}
