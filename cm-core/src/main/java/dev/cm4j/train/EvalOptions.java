package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * In-training evaluation (options.eval): the metrics computed from the sampled model every {@code every_ticks} ticks
 * and appended to {@code metric-<name>.jsonl} in the run directory ({@link InTrainingEval}).
 *
 * <p>A metric name is an optional {@code two_step_} prefix (sampling with the times of {@code sample_steps}; more
 * than one time: {@code K_step_}) and a base: EDM's {@code fid50k_full} / {@code kid50k_full} (Inception features
 * from {@code detector}; the reference is the whole training set, or {@code ref} when given) or ours: {@code fid},
 * {@code kid}, {@code fd-fmnist} (the Fashion-MNIST classifier in {@code fmnist_net}) and {@code swd} (point data:
 * sliced Wasserstein-2 against the training points). An EDM name carries its image count (50k); ours use 10,000
 * images; {@code num_images} replaces either.
 *
 * @param metrics metric names (empty: no in-training evaluation)
 * @param everyTicks evaluate every N ticks (ECT's --eval_every), and at the end of the run
 * @param numImages generated images per metric (0: the metric name's count)
 * @param batch images per sampling batch
 * @param seed the first image's seed: image i is drawn from seed + i alone (EDM's per-image seeds)
 * @param detector TorchScript Inception-v3 file (StyleGAN2-ADA's inception-2015-12-05.pt) for fid/kid
 * @param ref reference statistics (.npz, mu/sigma) for fid; null: computed once from the training data
 * @param fmnistNet the FD-fmnist classifier (.safetensors) for fd-fmnist
 * @param projections swd: random directions
 */
public record EvalOptions(
    @JsonProperty("metrics") List<String> metrics,
    @JsonProperty("every_ticks") int everyTicks,
    @JsonProperty("num_images") int numImages,
    @JsonProperty("batch") int batch,
    @JsonProperty("seed") long seed,
    @JsonProperty("detector") String detector,
    @JsonProperty("ref") String ref,
    @JsonProperty("fmnist_net") String fmnistNet,
    @JsonProperty("projections") int projections) {

  private static final Pattern NAME = Pattern.compile("(?:(two|\\d+)_step_)?(fid50k_full|kid50k_full|fid|kid|fd-fmnist|swd)");

  public EvalOptions {
    if (metrics == null) throw new OptionException("metrics", "required");
    metrics = List.copyOf(metrics);
    for (int i = 0; i < metrics.size(); i++) {
      if (parse(metrics.get(i)) == null) {
        throw new OptionException("metrics." + i, "unknown metric '" + metrics.get(i) + "' (fid50k_full, kid50k_full, "
            + "fid, kid, fd-fmnist, swd, each optionally prefixed two_step_)");
      }
    }
    OptionException.atLeast("every_ticks", everyTicks, 1);
    OptionException.atLeast("num_images", numImages, 0);
    OptionException.atLeast("batch", batch, 1);
    OptionException.atLeast("projections", projections, 1);
  }

  static EvalOptions defaults() {
    return new EvalOptions(List.of(), 50, 0, 250, 0, null, null, null, 200);
  }

  /**
   * A parsed metric name.
   *
   * @param name the full name (the file is metric-name.jsonl)
   * @param steps sampling steps (1, or 2 for two_step_)
   * @param base fid, kid, fd-fmnist or swd
   * @param images the name's own image count
   */
  record Metric(String name, int steps, String base, int images) {}

  /** The metric of a name, or null when the name is not one. */
  static Metric parse(String name) {
    if (name == null) return null;
    Matcher m = NAME.matcher(name);
    if (!m.matches()) return null;
    int steps = m.group(1) == null ? 1 : m.group(1).equals("two") ? 2 : Integer.parseInt(m.group(1));
    if (steps < 1) return null;
    String base = switch (m.group(2)) {
      case "fid50k_full" -> "fid";
      case "kid50k_full" -> "kid";
      default -> m.group(2);
    };
    int images = m.group(2).contains("50k") ? 50_000 : 10_000;
    return new Metric(name, steps, base, images);
  }
}
