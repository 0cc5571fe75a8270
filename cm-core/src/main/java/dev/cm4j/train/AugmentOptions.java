package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cm4j.data.AugmentPipe;
import java.util.List;

/**
 * options.augment: EDM's augmentation pipeline ({@link AugmentPipe}), with EDM's keyword names. {@code p} is the
 * overall probability (ECT's and EDM's {@code --augment}; 0, the default, turns augmentation off); each transform's
 * multiplier scales it, and the defaults are the set EDM's train.py and ECT's ct_train.py use (xflip 1e8, yflip,
 * scale, rotate_frac, aniso and translate_frac 1, the rest 0: 9 labels). With p > 0 the network's augment_dim is set
 * to the pipe's label count when it is 0; another value is an error.
 */
public record AugmentOptions(
    @JsonProperty("p") double p,
    @JsonProperty("xflip") double xflip,
    @JsonProperty("yflip") double yflip,
    @JsonProperty("rotate_int") double rotateInt,
    @JsonProperty("translate_int") double translateInt,
    @JsonProperty("translate_int_max") double translateIntMax,
    @JsonProperty("scale") double scale,
    @JsonProperty("rotate_frac") double rotateFrac,
    @JsonProperty("aniso") double aniso,
    @JsonProperty("translate_frac") double translateFrac,
    @JsonProperty("scale_std") double scaleStd,
    @JsonProperty("rotate_frac_max") double rotateFracMax,
    @JsonProperty("aniso_std") double anisoStd,
    @JsonProperty("aniso_rotate_prob") double anisoRotateProb,
    @JsonProperty("translate_frac_std") double translateFracStd,
    @JsonProperty("brightness") double brightness,
    @JsonProperty("contrast") double contrast,
    @JsonProperty("lumaflip") double lumaflip,
    @JsonProperty("hue") double hue,
    @JsonProperty("saturation") double saturation,
    @JsonProperty("brightness_std") double brightnessStd,
    @JsonProperty("contrast_std") double contrastStd,
    @JsonProperty("hue_max") double hueMax,
    @JsonProperty("saturation_std") double saturationStd) {

  private static final List<String> KEYS = OptionBinder.keys(AugmentOptions.class);

  public AugmentOptions {
    double[] v = values(p, xflip, yflip, rotateInt, translateInt, translateIntMax, scale, rotateFrac, aniso,
        translateFrac, scaleStd, rotateFracMax, anisoStd, anisoRotateProb, translateFracStd, brightness, contrast,
        lumaflip, hue, saturation, brightnessStd, contrastStd, hueMax, saturationStd);
    for (int i = 0; i < v.length; i++) {
      OptionException.finite(KEYS.get(i), v[i]);
      OptionException.atLeast(KEYS.get(i), v[i], 0);
    }
    OptionException.within("aniso_rotate_prob", anisoRotateProb, 0, 1);
  }

  private static double[] values(double... v) {
    return v;
  }

  /** Off (p = 0), with EDM's training multipliers ready for a p. */
  static AugmentOptions defaults() {
    AugmentPipe.Config c = AugmentPipe.Config.edm(0);
    return new AugmentOptions(c.p(), c.xflip(), c.yflip(), c.rotateInt(), c.translateInt(), c.translateIntMax(),
        c.scale(), c.rotateFrac(), c.aniso(), c.translateFrac(), c.scaleStd(), c.rotateFracMax(), c.anisoStd(),
        c.anisoRotateProb(), c.translateFracStd(), c.brightness(), c.contrast(), c.lumaflip(), c.hue(), c.saturation(),
        c.brightnessStd(), c.contrastStd(), c.hueMax(), c.saturationStd());
  }

  /** Whether augmentation is on (p > 0). */
  public boolean enabled() {
    return p > 0;
  }

  /** The library's configuration. */
  public AugmentPipe.Config config() {
    return new AugmentPipe.Config(p, xflip, yflip, rotateInt, translateInt, translateIntMax, scale, rotateFrac, aniso,
        translateFrac, scaleStd, rotateFracMax, anisoStd, anisoRotateProb, translateFracStd, brightness, contrast,
        lumaflip, hue, saturation, brightnessStd, contrastStd, hueMax, saturationStd);
  }

  /** The number of augmentation labels the pipe produces. */
  public int labelDim() {
    return config().labelDim();
  }

  /**
   * The objectives that augment and pass the augmentation labels to all their network calls (EDM-, TrigFlow- and
   * CTM-preconditioned; MeanFlow's two-time network has no augmentation input).
   */
  static final List<String> OBJECTIVES = List.of("ect", "ict", "cd", "ct", "sct", "scd", "ctm");

  /**
   * The network options with augment_dim fitted to this pipe: unchanged when augmentation is off; with p > 0 an
   * augment_dim of 0 becomes {@link #labelDim()}, the same value stays, any other value or a network without
   * augmentation labels is an error, as is an objective that does not pass them on.
   */
  NetworkOptions fit(NetworkOptions network, ObjectiveOptions objective) {
    if (!enabled()) return network;
    if (!OBJECTIVES.contains(objective.kind())) {
      throw new OptionException("augment.p", "augmentation is implemented for the objectives " + OBJECTIVES
          + ", not " + objective.kind() + "; set augment.p to 0");
    }
    ObjectNode tree = TrainingOptions.JSON.valueToTree(network);
    JsonNode dim = tree.get("augment_dim");
    if (dim == null) {
      throw new OptionException("augment.p", "network.arch " + network.arch() + " takes no augmentation labels (no "
          + "augment_dim); augmentation needs an image network, or set augment.p to 0");
    }
    int n = labelDim();
    if (dim.asInt() == n) return network;
    if (dim.asInt() != 0) {
      throw new OptionException("network.augment_dim", "is " + dim.asInt() + " but the augmentation pipe gives " + n
          + " labels (augment.*); set it to " + n + " or 0");
    }
    tree.put("augment_dim", n);
    try {
      return TrainingOptions.JSON.treeToValue(tree, NetworkOptions.class);
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new IllegalStateException("cannot set network.augment_dim: " + e.getOriginalMessage(), e);
    }
  }
}
