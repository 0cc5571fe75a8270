package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.EnumFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A training run's whole configuration, as data (EDM's {@code training_options.json}): a run can be re-created from
 * this file alone. Progress is counted in images. Each section is a typed record ({@link NetworkOptions},
 * {@link PrecondOptions}, {@link ObjectiveOptions}, {@link OptimizerOptions}, {@link EmaOptions}, {@link DataOptions});
 * {@link OptionBinder} binds JSON to them, filling every default and rejecting unknown keys and bad values with the
 * option's path. The JSON written is complete: every default is in it.
 *
 * @param desc description appended to the run directory name (null: none)
 * @param network raw network, by arch
 * @param precond the preconditioning's σ constants (the objective picks the preconditioning)
 * @param objective the objective, by kind, with its parameters
 * @param optimizer the optimizer, by kind
 * @param lrRampupKimg linear learning-rate warm-up in kimg (0: none)
 * @param lrDecayBatches EDM2's inverse-square-root decay as ECT's imgnet branch uses it ({@code --decay},
 *     {@code learning_rate_schedule(ref_batches=decay)}): lr / √max(images / (lr_decay_batches · batch), 1), i.e. the
 *     rate halves at 4 × lr_decay_batches iterations (0: none)
 * @param ema EMA tracks, each by kind
 * @param data the training data, by kind
 * @param cond class-conditional training (ECT's {@code --cond}): the loader delivers the data's labels (one-hot), and
 *     network.label_dim is set to the data's number of classes when it is 0 ({@link Trainer#conditioned}); unlabelled
 *     data is then an error
 * @param batch global batch size
 * @param batchGpu per-process batch per accumulation round (0: batch / world size)
 * @param durationKimg training length in kimg
 * @param tickKimg images per status tick (kimg)
 * @param snapTicks network snapshot + sample grids every N ticks
 * @param stateTicks training-state checkpoint every N ticks
 * @param seed random seed
 * @param threads intra-op threads (0: libtorch's default)
 * @param clipGradNorm global gradient-norm clipping (0: off)
 * @param nanGuard "sanitize" gradients (ECT) | "stop" on a non-finite loss | "skip" the step
 * @param precision fp32 | bf16 (autocast) | fp16 (autocast with dynamic loss scaling)
 * @param sampleSteps times for the sample grids' multistep sampler (after the first), e.g. [0.821]
 * @param initFrom safetensors file whose matching weights initialise the network (ECT's --transfer), or null
 * @param device where the run computes: "auto" (cuda:LOCAL_RANK when CUDA is available, else the CPU), "cpu",
 *     "cuda" or "cuda:N" ({@link Devices#resolve})
 * @param channelsLast lay out the network's 4-D weights and the image batches channels-last (NHWC), as EDM's and
 *     ECT's {@code --channels-last}; results equal the default layout's up to rounding (default false)
 * @param augment EDM's augmentation pipeline ({@link AugmentOptions}; p = 0: off); with p > 0 the network's
 *     augment_dim is fitted to it
 * @param eval in-training evaluation ({@link EvalOptions}; no metrics: none)
 */
public record TrainingOptions(
    @JsonProperty("desc") String desc,
    @JsonProperty("network") NetworkOptions network,
    @JsonProperty("precond") PrecondOptions precond,
    @JsonProperty("objective") ObjectiveOptions objective,
    @JsonProperty("optimizer") OptimizerOptions optimizer,
    @JsonProperty("lr_rampup_kimg") double lrRampupKimg,
    @JsonProperty("lr_decay_batches") double lrDecayBatches,
    @JsonProperty("ema") List<EmaOptions> ema,
    @JsonProperty("data") DataOptions data,
    @JsonProperty("cond") boolean cond,
    @JsonProperty("batch") int batch,
    @JsonProperty("batch_gpu") int batchGpu,
    @JsonProperty("duration_kimg") double durationKimg,
    @JsonProperty("tick_kimg") double tickKimg,
    @JsonProperty("snap_ticks") int snapTicks,
    @JsonProperty("state_ticks") int stateTicks,
    @JsonProperty("seed") long seed,
    @JsonProperty("threads") int threads,
    @JsonProperty("clip_grad_norm") double clipGradNorm,
    @JsonProperty("nan_guard") String nanGuard,
    @JsonProperty("precision") String precision,
    @JsonProperty("sample_steps") double[] sampleSteps,
    @JsonProperty("init_from") String initFrom,
    @JsonProperty("device") String device,
    @JsonProperty("channels_last") boolean channelsLast,
    @JsonProperty("augment") AugmentOptions augment,

    @JsonProperty("eval") EvalOptions eval) {

  /** The mapper of options files: indented, enums written in lower case (as they are read). */
  static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT)
      .enable(EnumFeature.WRITE_ENUMS_TO_LOWERCASE)
      .enable(com.fasterxml.jackson.databind.MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS)
      .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();

  /**
   * Values of the top-level options a file may leave out (EDM's train.py defaults for the tick, snapshot and state
   * intervals); network, objective, optimizer, data, batch and duration_kimg have none.
   */
  static final String DEFAULTS = """
      {"desc": null, "precond": {}, "lr_rampup_kimg": 0, "lr_decay_batches": 0, "ema": [], "batch_gpu": 0, "tick_kimg": 50,
       "snap_ticks": 50, "state_ticks": 500, "seed": 0, "threads": 0, "clip_grad_norm": 0, "nan_guard": "stop",
       "precision": "fp32", "sample_steps": [], "init_from": null, "device": "auto",
       "channels_last": false, "augment": {}, "cond": false, "eval": {}}""";

  public TrainingOptions {
    for (var e : new Object[][] {{"network", network}, {"precond", precond}, {"objective", objective},
        {"optimizer", optimizer}, {"data", data}, {"ema", ema}, {"nan_guard", nanGuard}, {"precision", precision},
        {"sample_steps", sampleSteps}, {"device", device}, {"augment", augment}, {"eval", eval}}) {
      if (e[1] == null) throw new OptionException((String) e[0], "required");
    }
    ema = List.copyOf(ema);
    network = augment.fit(network, objective);
    OptionException.atLeast("lr_rampup_kimg", lrRampupKimg, 0);
    OptionException.finite("lr_decay_batches", lrDecayBatches);
    OptionException.atLeast("lr_decay_batches", lrDecayBatches, 0);
    if (precond.sigmaMin() == 0 && !objective.kind().equals("ect")) {
      throw new OptionException("precond.sigma_min", "0 (EDM's boundary in eval mode, as ECT's imgnet branch) is only for "
          + "objective ect; " + objective.kind() + " needs sigma_min > 0");
    }
    OptionException.atLeast("batch", batch, 1);
    if (batchGpu < 0 || (batchGpu > 0 && batch % batchGpu != 0)) {
      throw new OptionException("batch_gpu", "must divide batch (" + batch + ") or be 0, got " + batchGpu);
    }
    OptionException.positive("duration_kimg", durationKimg);
    OptionException.positive("tick_kimg", tickKimg);
    OptionException.atLeast("snap_ticks", snapTicks, 1);
    OptionException.atLeast("state_ticks", stateTicks, 1);
    OptionException.atLeast("threads", threads, 0);
    OptionException.atLeast("clip_grad_norm", clipGradNorm, 0);
    OptionException.oneOf("nan_guard", nanGuard, List.of("sanitize", "stop", "skip"));
    OptionException.oneOf("precision", precision, List.of("fp32", "bf16", "fp16"));
    Devices.check("device", device);
    for (int i = 0; i < sampleSteps.length; i++) OptionException.positive("sample_steps." + i, sampleSteps[i]);
    for (int i = 0; i < eval.metrics().size(); i++) {
      int steps = EvalOptions.parse(eval.metrics().get(i)).steps();
      if (steps > 1 && sampleSteps.length != steps - 1) {
        throw new OptionException("eval.metrics." + i, eval.metrics().get(i) + " samples in " + steps
            + " steps: sample_steps must hold " + (steps - 1) + " time(s), has " + sampleSteps.length);
      }
    }
    if (precond.timeLabel().equals("edm") && !objective.precondition().equals("trigflow")) {
      throw new OptionException("precond.time_label", "\"edm\" is only for the TrigFlow objectives (sct, scd)");
    }
  }

  /** The options as pretty JSON, every default included. */
  public String toJson() {
    try {
      return JSON.writeValueAsString(this);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The options as a JSON tree (a copy). */
  public ObjectNode tree() {
    return JSON.valueToTree(this);
  }

  /**
   * Binds options from JSON: a complete file, or one that leaves defaults out; files written by older cm4j versions
   * load too. Bad options throw {@link OptionException} naming the option's path.
   */
  public static TrainingOptions fromJson(String json) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new IllegalArgumentException("bad training options JSON: " + e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return OptionBinder.bind(root);
  }

  /** Reads options from a JSON file. */
  public static TrainingOptions read(Path file) {
    String json;
    try {
      json = Files.readString(file);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read options file " + file + ": " + e.getMessage(), e);
    }
    try {
      return fromJson(json);
    } catch (OptionException e) {
      throw new OptionException(e.key(), e.problem() + " (in " + file + ")");
    }
  }

  /**
   * A copy with overrides applied: each key is a dotted path ("objective.P_mean", "batch", "data.path", "ema.0.beta")
   * and each value is parsed as JSON when it is valid JSON (numbers, true/false, arrays, objects) and taken as a
   * string otherwise. A whole section may be replaced ("objective" = {...}). Setting a section's kind (or a network's
   * arch) to another value starts that section from the new kind's defaults, since the other keys belong to the old
   * kind; such overrides apply first. Unknown keys and bad values throw {@link OptionException}.
   */
  public TrainingOptions with(Map<String, String> overrides) {
    ObjectNode root = tree();
    List<Map.Entry<String, String>> ordered = new ArrayList<>();
    for (var e : overrides.entrySet()) if (isSelector(e.getKey())) ordered.add(e);
    for (var e : overrides.entrySet()) if (!isSelector(e.getKey())) ordered.add(e);
    for (var e : ordered) {
      String[] path = e.getKey().split("\\.", -1);
      JsonNode node = root;
      StringBuilder at = new StringBuilder();
      for (int i = 0; i < path.length - 1; i++) {
        if (node instanceof ArrayNode a && child(a, path[i]) == null) {
          throw new OptionException(e.getKey(), "unknown; " + at + " has " + a.size()
              + (a.size() == 1 ? " entry" : " entries"));
        }
        if (i > 0) at.append('.');
        at.append(path[i]);
        JsonNode next = child(node, path[i]);
        if (next == null && node instanceof ObjectNode o) next = o.putObject(path[i]); // the binder names it unknown
        if (next == null || !next.isContainerNode()) {
          throw new OptionException(e.getKey(), "unknown; " + at + " is not a section");
        }
        node = next;
      }
      String leaf = path[path.length - 1];
      JsonNode value = parse(e.getValue());
      if (node instanceof ObjectNode o) {
        JsonNode old = o.get(leaf);
        if (isSelector(e.getKey()) && old != null && !old.asText().equalsIgnoreCase(value.asText())) o.removeAll();
        o.set(leaf, value);
      } else {
        ArrayNode a = (ArrayNode) node;
        int i = index(leaf);
        if (i >= 0 && i < a.size()) a.set(i, value);
        else if (i == a.size()) a.add(value);
        else {
          throw new OptionException(e.getKey(), "unknown; " + at + " has " + a.size()
              + (a.size() == 1 ? " entry" : " entries"));
        }
      }
    }
    return OptionBinder.bind(root);
  }

  private static boolean isSelector(String key) {
    return key.endsWith(".kind") || key.endsWith(".arch");
  }

  private static JsonNode child(JsonNode node, String name) {
    if (node instanceof ArrayNode a) {
      int i = index(name);
      return i >= 0 && i < a.size() ? a.get(i) : null;
    }
    return node.get(name);
  }

  private static int index(String s) {
    return s.matches("\\d{1,9}") ? Integer.parseInt(s) : -1;
  }

  private static JsonNode parse(String text) {
    try {
      JsonNode v = JSON.readTree(text);
      if (v != null && !v.isMissingNode()) return v;
    } catch (IOException ignored) {
      // not JSON: a plain string
    }
    return JSON.getNodeFactory().textNode(text);
  }
}
