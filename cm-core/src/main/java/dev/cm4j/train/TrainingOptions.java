package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A training run's whole configuration, as data (EDM's {@code training_options.json}): a run can be re-created from
 * this file alone. Progress is counted in images. Bound from JSON (a preset, a file, then {@code key.path=value}
 * overrides) and written to the run directory.
 *
 * @param desc description appended to the run directory name
 * @param network raw network: "arch" (ddpmpp | ncsnpp | songunet | mlp) plus EDM-style kwargs
 * @param precond preconditioning: "kind" (ect | edm | cm | trigflow | ctm), sigma_data, sigma_min, sigma_max
 * @param objective "kind" (ect | sct | ict | ctm) plus the objective's parameters (see {@link Builders})
 * @param optimizer "kind" (adam | adamw | radam | sgd), lr, betas, eps, weight_decay
 * @param lrRampupKimg linear learning-rate warm-up in kimg (0: none)
 * @param ema EMA tracks: {"kind": "fixed", "beta": ...} or {"kind": "halflife", "halflife_kimg", "rampup_ratio"}
 * @param data "kind" (fashion-mnist | cifar10 | folder | toy2d | npy), "path", "resolution", "xflip", ...
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
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record TrainingOptions(
    @JsonProperty("desc") String desc,
    @JsonProperty("network") ObjectNode network,
    @JsonProperty("precond") ObjectNode precond,
    @JsonProperty("objective") ObjectNode objective,
    @JsonProperty("optimizer") ObjectNode optimizer,
    @JsonProperty("lr_rampup_kimg") double lrRampupKimg,
    @JsonProperty("ema") List<ObjectNode> ema,
    @JsonProperty("data") ObjectNode data,
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
    @JsonProperty("init_from") String initFrom) {

  static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** The top-level option names (JSON keys), including those that are null and so absent from the JSON. */
  static final java.util.Set<String> KEYS = java.util.Arrays.stream(TrainingOptions.class.getRecordComponents())
      .map(c -> c.getAccessor().getAnnotation(JsonProperty.class).value()).collect(java.util.stream.Collectors.toUnmodifiableSet());

  public TrainingOptions {
    if (network == null || precond == null || objective == null || optimizer == null || data == null) {
      throw new IllegalArgumentException("network, precond, objective, optimizer and data are required");
    }
    if (batch < 1) throw new IllegalArgumentException("batch must be >= 1: " + batch);
    if (batchGpu < 0 || (batchGpu > 0 && batch % batchGpu != 0)) {
      throw new IllegalArgumentException("batch_gpu must divide batch (" + batch + "): " + batchGpu);
    }
    if (!(durationKimg > 0) || !(tickKimg > 0)) throw new IllegalArgumentException("duration and tick must be > 0");
    if (snapTicks < 1 || stateTicks < 1) throw new IllegalArgumentException("snap_ticks and state_ticks must be >= 1");
    if (nanGuard == null) nanGuard = "stop";
    if (!List.of("sanitize", "stop", "skip").contains(nanGuard)) {
      throw new IllegalArgumentException("nan_guard must be sanitize, stop or skip: " + nanGuard);
    }
    if (precision == null) precision = "fp32";
    if (!List.of("fp32", "bf16", "fp16").contains(precision)) {
      throw new IllegalArgumentException("precision must be fp32, bf16 or fp16: " + precision);
    }
    if (ema == null) ema = List.of();
    if (sampleSteps == null) sampleSteps = new double[0];
  }

  /** The options as pretty JSON. */
  public String toJson() {
    try {
      return JSON.writeValueAsString(this);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Parses options from JSON. */
  public static TrainingOptions fromJson(String json) {
    try {
      return JSON.readValue(json, TrainingOptions.class);
    } catch (com.fasterxml.jackson.databind.exc.ValueInstantiationException e) {
      Throwable c = e.getCause() != null ? e.getCause() : e;
      throw new IllegalArgumentException("bad training options: " + c.getMessage(), e);
    } catch (IOException e) {
      throw new IllegalArgumentException("bad training options JSON: " + e.getMessage(), e);
    }
  }

  /** Reads options from a JSON file. */
  public static TrainingOptions read(Path file) {
    try {
      return fromJson(Files.readString(file));
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read options file " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * A copy with overrides applied: each key is a dotted path ("objective.P_mean", "batch", "data.path") and each value
   * is parsed as JSON when it is valid JSON (numbers, true/false, arrays) and taken as a string otherwise.
   */
  public TrainingOptions with(Map<String, String> overrides) {
    ObjectNode root = JSON.valueToTree(this);
    for (var e : overrides.entrySet()) {
      String[] path = e.getKey().split("\\.");
      ObjectNode node = root;
      for (int i = 0; i < path.length - 1; i++) {
        JsonNode next = node.get(path[i]);
        if (next == null || !next.isObject()) {
          if (next != null) throw new IllegalArgumentException("option " + e.getKey() + ": " + path[i] + " is not an object");
          next = node.putObject(path[i]);
        }
        node = (ObjectNode) next;
      }
      String leaf = path[path.length - 1];
      JsonNode value;
      try {
        value = JSON.readTree(e.getValue());
        if (value == null || value.isMissingNode()) value = JSON.getNodeFactory().textNode(e.getValue());
      } catch (IOException ex) {
        value = JSON.getNodeFactory().textNode(e.getValue());
      }
      if (path.length == 1 && !root.has(leaf) && !KEYS.contains(leaf)) {
        throw new IllegalArgumentException("unknown option '" + leaf + "'");
      }
      node.set(leaf, value);
    }
    try {
      return JSON.treeToValue(root, TrainingOptions.class);
    } catch (IOException ex) {
      Throwable c = ex.getCause() != null ? ex.getCause() : ex;
      throw new IllegalArgumentException("bad option override: " + c.getMessage(), ex);
    }
  }
}
