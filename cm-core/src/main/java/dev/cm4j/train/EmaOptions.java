package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.cm4j.optim.EMA;
import java.util.List;

/** One EMA track (an element of options.ema), chosen by {@code kind}. */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.EXISTING_PROPERTY, property = "kind", visible = true)
@JsonSubTypes({
    @JsonSubTypes.Type(value = EmaOptions.Fixed.class, name = "fixed"),
    @JsonSubTypes.Type(value = EmaOptions.HalfLife.class, name = "halflife"),
    @JsonSubTypes.Type(value = EmaOptions.Power.class, name = "power")})
public sealed interface EmaOptions {
  /** fixed | halflife | power. */
  String kind();

  /** The library's decay rule. */
  EMA.Beta rule();

  /** A fixed decay β per step (ECT's ema_beta; 0.9999 as run_ecm.sh). */
  record Fixed(@JsonProperty("kind") String kind, @JsonProperty("beta") double beta) implements EmaOptions {
    public Fixed {
      OptionException.oneOf("kind", kind, List.of("fixed"));
      OptionException.within("beta", beta, 0, 1);
    }

    static Fixed defaults(String kind) {
      return new Fixed("fixed", 0.9999);
    }

    @Override
    public EMA.Beta rule() {
      return new EMA.Fixed(beta);
    }
  }

  /** EDM's half-life in kimg with a ramp-up ratio (EDM: 500 and 0.05). */
  record HalfLife(@JsonProperty("kind") String kind, @JsonProperty("halflife_kimg") double halflifeKimg,
      @JsonProperty("rampup_ratio") double rampupRatio) implements EmaOptions {
    public HalfLife {
      OptionException.oneOf("kind", kind, List.of("halflife"));
      OptionException.atLeast("halflife_kimg", halflifeKimg, 0);
      OptionException.atLeast("rampup_ratio", rampupRatio, 0);
    }

    static HalfLife defaults(String kind) {
      return new HalfLife("halflife", 500, 0.05);
    }

    @Override
    public EMA.Beta rule() {
      return new EMA.HalfLife(halflifeKimg, rampupRatio);
    }
  }

  /**
   * EDM2's power-function profile of relative width σ_rel (EDM2 trains with two, 0.05 and 0.10). With snapshot_kimg
   * &gt; 0 the track is also stored every snapshot_kimg thousand images as
   * {@code network-snapshot-IIIIIIIII-S.SSS.safetensors} (images, σ_rel; EDM2's naming), the input of post-hoc EMA
   * ({@link PosthocEma}, {@code cm phema}); 0 stores nothing beyond the regular snapshots.
   */
  record Power(@JsonProperty("kind") String kind, @JsonProperty("sigma_rel") double sigmaRel,
      @JsonProperty("snapshot_kimg") double snapshotKimg) implements EmaOptions {
    public Power {
      OptionException.oneOf("kind", kind, List.of("power"));
      OptionException.positive("sigma_rel", sigmaRel);
      OptionException.finite("snapshot_kimg", snapshotKimg);
      OptionException.atLeast("snapshot_kimg", snapshotKimg, 0);
      try {
        new EMA.PowerFunction(sigmaRel);
      } catch (IllegalArgumentException e) {
        throw new OptionException("sigma_rel", e.getMessage());
      }
    }

    static Power defaults(String kind) {
      return new Power("power", 0.05, 0);
    }

    @Override
    public EMA.Beta rule() {
      return new EMA.PowerFunction(sigmaRel);
    }
  }
}
