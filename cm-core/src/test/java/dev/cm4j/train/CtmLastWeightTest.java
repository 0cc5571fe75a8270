package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.nn.DhariwalUNet;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.precond.CTMPrecond;
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

  @Test
  void admUsesTheLastDecoderBlocksSecondConvolutionAsSonyCtmsImageNetCodeDoes() {
    // sony/ctm (ImageNet-64): last_layer = output_blocks[15][0].out_layers[3].weight, the last output block's second
    // convolution; in EDM's DhariwalUNet that block is dec.<res>_block<num_blocks> and the convolution its conv1
    // (OpenaiUNetKeys maps out_layers.3 to conv1). Not the output convolution out_conv, which comes after it.
    DhariwalUNet.Config small = new DhariwalUNet.Config(8, 3, 3, 0, 0, 8, new int[] {1, 2}, 2, 1, new int[] {},
        0, 0, 1, true);
    try (DhariwalUNet net = new DhariwalUNet(small); CTMPrecond p = CTMPrecond.cifar(net)) {
      String expected = "model.dec.8x8_block1.conv1.weight";
      assertEquals(expected, RunObjective.lastWeightName(p));
      assertSame(p.namedParameters().get(expected).get(), RunObjective.lastWeight(p));
      assertTrue(p.namedParameters().containsKey("model.out_conv.weight"));
    }
    SongUNet.Config c = SongUNet.Config.fromKwargs(SMALL).withSEmbedding();
    try (SongUNet net = new SongUNet(c); CTMPrecond p = CTMPrecond.cifar(net)) {
      assertEquals("model.dec.8x8_aux_conv.weight", RunObjective.lastWeightName(p));
    }
  }
}
