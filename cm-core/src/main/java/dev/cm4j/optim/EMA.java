package dev.cm4j.optim;

import dev.cm4j.nn.Module;
import dev.cm4j.nn.Param;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Exponential moving averages of a network's parameters, one or more tracks, updated after every optimizer step
 * with {@link #update(long)} (under no-grad, with multi-tensor ops). Each track follows a {@link Beta} rule:
 *
 * <ul>
 *   <li>{@link Fixed}: ECT's {@code ema_beta} (docs/algorithms/ect.md §3.2);
 *   <li>{@link HalfLife}: EDM's half-life in images with ramp-up, β = 0.5^(batch / max(h, 1e-8)),
 *       h = min(ema_halflife_kimg·1000, cur_nimg·ema_rampup_ratio);
 *   <li>{@link PowerFunction}: EDM2's power-function EMA, β_t = (1 − batch/cur_nimg)^(γ+1) with γ from σ_rel
 *       (Karras et al. 2024, Eq. 127 and Algorithm 2).
 * </ul>
 *
 * Fixed and HalfLife tracks update as EDM/ECT do, θ_ema ← lerp(θ, θ_ema, β) = β·θ_ema + (1−β)·θ; PowerFunction
 * tracks as EDM2 does, θ_ema ← lerp(θ_ema, θ, 1−β). Buffers are copied from the network at every update. The EMA
 * tensors are either the parameters and buffers of caller-provided module copies (same structure as the network)
 * or clones owned by this object (released by {@link #close()}).
 */
public final class EMA implements AutoCloseable {
  /** How a track chooses β for an update. */
  public sealed interface Beta permits Fixed, HalfLife, PowerFunction {
    /**
     * β for the update after a batch of batchSize images, when nimgBefore images had been seen before that batch.
     */
    double beta(long nimgBefore, long batchSize);
  }

  /**
   * A fixed decay, ECT's {@code ema_beta}: 0.9999 (run_ecm.sh), 0.9993 (run_ecm_1hour.sh).
   *
   * @param beta β ∈ [0, 1]
   */
  public record Fixed(double beta) implements Beta {
    public Fixed {
      if (!(beta >= 0 && beta <= 1)) throw new IllegalArgumentException("EMA beta must be in [0, 1]: " + beta);
    }

    @Override
    public double beta(long nimgBefore, long batchSize) {
      return beta;
    }
  }

  /**
   * EDM's EMA (Karras et al. 2022, training_loop.py): half-life {@code ema_halflife_kimg} thousand images, capped
   * during ramp-up at {@code cur_nimg·ema_rampup_ratio} (cur_nimg counted before the batch); NaN disables the
   * ramp-up. EDM's defaults: 500 kimg and 0.05.
   *
   * @param halflifeKimg the half-life in thousands of images
   * @param rampupRatio the ramp-up ratio, or NaN for none
   */
  public record HalfLife(double halflifeKimg, double rampupRatio) implements Beta {
    public HalfLife {
      if (!(halflifeKimg >= 0)) throw new IllegalArgumentException("invalid half-life: " + halflifeKimg);
      if (!Double.isNaN(rampupRatio) && !(rampupRatio >= 0)) {
        throw new IllegalArgumentException("invalid ramp-up ratio: " + rampupRatio);
      }
    }

    @Override
    public double beta(long nimgBefore, long batchSize) {
      double halflifeNimg = halflifeKimg * 1000;
      if (!Double.isNaN(rampupRatio)) halflifeNimg = Math.min(halflifeNimg, nimgBefore * rampupRatio);
      return Math.pow(0.5, batchSize / Math.max(halflifeNimg, 1e-8));
    }
  }

  /**
   * EDM2's power-function EMA profile (Karras et al. 2024, §3.1): averaging weights ∝ t^γ, so β_t = (1 − 1/t)^(γ+1)
   * per step; in images β = (1 − batch/cur_nimg)^(γ+1), cur_nimg counted after the batch.
   *
   * @param sigmaRel σ_rel, the width of the averaging profile relative to training time (EDM2: 0.05, 0.10)
   */
  public record PowerFunction(double sigmaRel) implements Beta {
    public PowerFunction {
      sigmaRelToGamma(sigmaRel); // validates
    }

    /** γ of this profile. */
    public double gamma() {
      return sigmaRelToGamma(sigmaRel);
    }

    @Override
    public double beta(long nimgBefore, long batchSize) {
      double nimg = (double) nimgBefore + batchSize;
      return Math.pow(1 - batchSize / nimg, gamma() + 1);
    }
  }

  /**
   * γ for σ_rel (EDM2 Eq. 126 and Algorithm 2, {@code std_to_exp}): the largest real root of
   * γ³ + 7γ² + (16 − σ_rel⁻²)γ + (12 − σ_rel⁻²) = 0, i.e. σ_rel² = (γ+1)/((γ+2)²(γ+3)).
   */
  public static double sigmaRelToGamma(double sigmaRel) {
    if (!(sigmaRel > 0)) throw new IllegalArgumentException("sigma_rel must be positive: " + sigmaRel);
    double t = 1 / (sigmaRel * sigmaRel);
    // f(γ) = (γ+2)²(γ+3) − t(γ+1) is convex for γ > −7/3: Newton from the right converges to the largest root.
    double g = Math.max(t, 10);
    for (int i = 0; i < 200; i++) {
      double f = ((g + 7) * g + (16 - t)) * g + (12 - t);
      double df = (3 * g + 14) * g + (16 - t);
      double next = g - f / df;
      if (!(next > -1) || !(df > 0)) break;
      if (Math.abs(next - g) <= 1e-15 * Math.max(1, Math.abs(g))) return next;
      g = next;
    }
    throw new IllegalArgumentException("sigma_rel " + sigmaRel + " has no power-function profile with γ > −1 "
        + "(σ_rel must be below about 0.28)");
  }

  /** σ_rel for γ (EDM2 Eq. 123, {@code exp_to_std}): √((γ+1)/((γ+2)²(γ+3))). */
  public static double gammaToSigmaRel(double gamma) {
    return Math.sqrt((gamma + 1) / ((gamma + 2) * (gamma + 2)) / (gamma + 3));
  }

  /**
   * The inner product of two power-function EMA profiles, one snapshot at time aOfs of profile aStd and one at bOfs
   * of bStd (EDM2 Eq. 151 and Algorithm 3, {@code power_function_correlation}): with γ_a, γ_b their exponents,
   * (γ_a + 1)(γ_b + 1)·(a/b)^e / ((γ_a + γ_b + 1)·max(a, b)), e = γ_b if a &lt; b else −γ_a.
   */
  public static double powerCorrelation(double aOfs, double aStd, double bOfs, double bStd) {
    double ga = sigmaRelToGamma(aStd);
    double gb = sigmaRelToGamma(bStd);
    double e = aOfs < bOfs ? gb : -ga;
    return (ga + 1) * (gb + 1) * Math.pow(aOfs / bOfs, e) / ((ga + gb + 1) * Math.max(aOfs, bOfs));
  }

  /**
   * Post-hoc EMA (EDM2 Algorithm 3, {@code solve_posthoc_coefficients}): the weights x[i][j] with which stored
   * power-function snapshots i (taken at inNimg[i] images with profile inStd[i]) combine into the profile outStd[j]
   * at outNimg images. It solves the least-squares normal equations A·X = B with A the snapshots' pairwise profile
   * inner products and B their inner products with the targets, then scales each column to sum to 1.
   *
   * @return x[in][out]
   */
  public static double[][] solvePosthoc(double[] inNimg, double[] inStd, double outNimg, double[] outStd) {
    int n = inNimg.length;
    if (n == 0 || inStd.length != n) {
      throw new IllegalArgumentException("post-hoc EMA needs one std per stored snapshot and at least one snapshot");
    }
    for (int i = 0; i < n; i++) {
      if (!(inNimg[i] > 0)) throw new IllegalArgumentException("snapshot time must be positive: " + inNimg[i]);
    }
    if (!(outNimg > 0)) throw new IllegalArgumentException("reconstruction time must be positive: " + outNimg);
    int m = outStd.length;
    double[][] a = new double[n][n];
    double[][] b = new double[n][m];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) a[i][j] = powerCorrelation(inNimg[i], inStd[i], inNimg[j], inStd[j]);
      for (int j = 0; j < m; j++) b[i][j] = powerCorrelation(inNimg[i], inStd[i], outNimg, outStd[j]);
    }
    double[][] x = solve(a, b);
    for (int j = 0; j < m; j++) {
      double sum = 0;
      for (int i = 0; i < n; i++) sum += x[i][j];
      for (int i = 0; i < n; i++) x[i][j] /= sum;
    }
    return x;
  }

  /** A·X = B by LU decomposition with partial pivoting (LAPACK's gesv, as numpy.linalg.solve); A is overwritten. */
  static double[][] solve(double[][] a, double[][] b) {
    int n = a.length;
    int m = b[0].length;
    double[][] x = new double[n][];
    for (int i = 0; i < n; i++) x[i] = b[i].clone();
    for (int k = 0; k < n; k++) {
      int piv = k;
      for (int i = k + 1; i < n; i++) if (Math.abs(a[i][k]) > Math.abs(a[piv][k])) piv = i;
      if (a[piv][k] == 0 || !Double.isFinite(a[piv][k])) {
        throw new IllegalArgumentException("post-hoc EMA: the stored profiles are linearly dependent (a snapshot "
            + "time and std appear twice?)");
      }
      double[] t = a[k];
      a[k] = a[piv];
      a[piv] = t;
      t = x[k];
      x[k] = x[piv];
      x[piv] = t;
      for (int i = k + 1; i < n; i++) {
        double f = a[i][k] / a[k][k];
        if (f == 0) continue;
        for (int j = k; j < n; j++) a[i][j] -= f * a[k][j];
        for (int j = 0; j < m; j++) x[i][j] -= f * x[k][j];
      }
    }
    for (int k = n - 1; k >= 0; k--) {
      for (int j = 0; j < m; j++) {
        double v = x[k][j];
        for (int i = k + 1; i < n; i++) v -= a[k][i] * x[i][j];
        x[k][j] = v / a[k][k];
      }
    }
    return x;
  }

  /** One averaged copy: its rule and its tensors, keyed like the network's. */
  private static final class Track {
    final Beta rule;
    final LinkedHashMap<String, Supplier<Tensor>> params;
    final LinkedHashMap<String, Supplier<Tensor>> buffers;
    final List<Tensor> owned;
    double lastBeta = Double.NaN;

    Track(Beta rule, LinkedHashMap<String, Supplier<Tensor>> params, LinkedHashMap<String, Supplier<Tensor>> buffers,
        List<Tensor> owned) {
      this.rule = rule;
      this.params = params;
      this.buffers = buffers;
      this.owned = owned;
    }
  }

  /** Largest total size of the temporaries of one multi-tensor EDM-form update. */
  private static final long CHUNK_BYTES = 64L << 20;

  private final LinkedHashMap<String, Supplier<Tensor>> netParams;
  private final LinkedHashMap<String, Supplier<Tensor>> netBuffers;
  private final List<Track> tracks = new ArrayList<>();
  private long nimg;
  private long steps;
  private boolean closed;

  private EMA(Map<String, Supplier<Tensor>> netParams, Map<String, Supplier<Tensor>> netBuffers) {
    this.netParams = new LinkedHashMap<>(netParams);
    this.netBuffers = new LinkedHashMap<>(netBuffers);
  }

  private static LinkedHashMap<String, Supplier<Tensor>> slots(Map<String, Param> named) {
    LinkedHashMap<String, Supplier<Tensor>> m = new LinkedHashMap<>();
    for (var e : named.entrySet()) m.put(e.getKey(), e.getValue()::get);
    return m;
  }

  private static LinkedHashMap<String, Supplier<Tensor>> fixed(Map<String, Tensor> named) {
    LinkedHashMap<String, Supplier<Tensor>> m = new LinkedHashMap<>();
    for (var e : named.entrySet()) {
      Tensor t = Objects.requireNonNull(e.getValue(), e.getKey());
      m.put(e.getKey(), () -> t);
    }
    return m;
  }

  /** Adds a track averaging into clones of the network's current tensors (owned by this EMA). */
  private void addOwnedTrack(Beta rule) {
    List<Tensor> owned = new ArrayList<>();
    LinkedHashMap<String, Supplier<Tensor>> ps = new LinkedHashMap<>();
    LinkedHashMap<String, Supplier<Tensor>> bs = new LinkedHashMap<>();
    try (GradMode ng = GradMode.noGrad()) {
      for (var pair : List.of(Map.entry(netParams, ps), Map.entry(netBuffers, bs))) {
        for (var e : pair.getKey().entrySet()) {
          Tensor c = TensorScope.release(e.getValue().get().detach().clone());
          owned.add(c);
          pair.getValue().put(e.getKey(), () -> c);
        }
      }
    }
    tracks.add(new Track(Objects.requireNonNull(rule, "rule"), ps, bs, owned));
  }

  /** Adds a track averaging into a caller-owned module copy with the network's structure. */
  private void addModuleTrack(Beta rule, Module copy) {
    LinkedHashMap<String, Supplier<Tensor>> ps = slots(copy.namedParameters());
    LinkedHashMap<String, Supplier<Tensor>> bs = slots(copy.namedBuffers());
    if (!ps.keySet().equals(netParams.keySet()) || !bs.keySet().equals(netBuffers.keySet())) {
      throw new IllegalArgumentException("the EMA module does not have the network's parameters and buffers");
    }
    tracks.add(new Track(Objects.requireNonNull(rule, "rule"), ps, bs, List.of()));
  }

  /**
   * EMA tracks of a module's parameters and buffers, averaged into clones this EMA owns (initialised with the
   * network's current values), one per rule.
   */
  public static EMA of(Module net, Beta... rules) {
    EMA ema = new EMA(slots(net.namedParameters()), slots(net.namedBuffers()));
    for (Beta r : rules) ema.addOwnedTrack(r);
    return ema;
  }

  /**
   * EMA tracks averaged into caller-provided module copies (e.g. a second network of the same configuration after
   * {@code copy.copyFrom(net)}), one per rule; the caller keeps ownership of the copies.
   */
  public static EMA of(Module net, List<? extends Module> copies, List<? extends Beta> rules) {
    if (copies.size() != rules.size()) throw new IllegalArgumentException("one module copy per rule is needed");
    EMA ema = new EMA(slots(net.namedParameters()), slots(net.namedBuffers()));
    for (int i = 0; i < rules.size(); i++) ema.addModuleTrack(rules.get(i), copies.get(i));
    return ema;
  }

  /** EMA tracks of plain named tensors (kept alive by the caller), averaged into owned clones, one per rule. */
  public static EMA ofTensors(Map<String, Tensor> params, Beta... rules) {
    EMA ema = new EMA(fixed(params), Map.of());
    for (Beta r : rules) ema.addOwnedTrack(r);
    return ema;
  }

  /** Number of tracks. */
  public int trackCount() {
    return tracks.size();
  }

  /** Track i's rule. */
  public Beta rule(int i) {
    return tracks.get(i).rule;
  }

  /** The β track i used in the latest update (NaN before the first). */
  public double lastBeta(int i) {
    return tracks.get(i).lastBeta;
  }

  /** Images seen so far (the sum of the batch sizes passed to {@link #update}). */
  public long nimg() {
    return nimg;
  }

  /** Updates applied so far. */
  public long steps() {
    return steps;
  }

  /**
   * Track i's averaged parameters and buffers by name: the EMA's own tensors (new handles owned by the current scope
   * or the caller), e.g. for {@code samplingNet.loadStateDict(ema.tensors(0), true)}.
   */
  public LinkedHashMap<String, Tensor> tensors(int i) {
    checkOpen();
    Track tr = tracks.get(i);
    LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
    for (var e : tr.params.entrySet()) m.put(e.getKey(), e.getValue().get().share());
    for (var e : tr.buffers.entrySet()) m.put(e.getKey(), e.getValue().get().share());
    return m;
  }

  /** Sets every track to the network's current values (EDM2's {@code reset}); the counters are kept. */
  public void reset() {
    checkOpen();
    try (GradMode ng = GradMode.noGrad(); TensorScope s = TensorScope.open()) {
      for (Track tr : tracks) {
        Foreach.copy_(current(tr.params), current(netParams));
        Foreach.copy_(current(tr.buffers), current(netBuffers));
      }
    }
  }

  private static List<Tensor> current(Map<String, Supplier<Tensor>> slots) {
    List<Tensor> l = new ArrayList<>(slots.size());
    for (Supplier<Tensor> s : slots.values()) l.add(s.get());
    return l;
  }

  /** Updates every track after an optimizer step that consumed batchSize images. */
  public void update(long batchSize) {
    checkOpen();
    if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive: " + batchSize);
    long before = nimg;
    try (GradMode ng = GradMode.noGrad(); TensorScope s = TensorScope.open()) {
      List<Tensor> net = current(netParams);
      List<Tensor> netB = current(netBuffers);
      for (Track tr : tracks) {
        double beta = tr.rule.beta(before, batchSize);
        List<Tensor> ema = current(tr.params);
        if (tr.rule instanceof PowerFunction) {
          Foreach.lerp_(ema, net, 1 - beta); // EDM2: p_ema.lerp_(p_net, 1 − β)
        } else {
          lerpIntoChunked(net, ema, beta); // EDM/ECT: p_ema.copy_(p_net.lerp(p_ema, β))
        }
        Foreach.copy_(current(tr.buffers), netB);
        tr.lastBeta = beta;
      }
    }
    nimg = before + batchSize;
    steps++;
  }

  /**
   * {@link #update(long)} decided on the device: where {@code skip} (a 0-dim boolean tensor on the averages' device)
   * is true, every average and copied buffer keeps its exact value, with no host read. The image and step counts
   * (which set the next β) advance either way, as the run's image count does over a skipped optimizer step. Null
   * {@code skip} is {@link #update(long)}.
   */
  public void update(long batchSize, Tensor skip) {
    if (skip == null) {
      update(batchSize);
      return;
    }
    checkOpen();
    try (GradMode ng = GradMode.noGrad(); TensorScope s = TensorScope.open()) {
      List<Tensor> all = new ArrayList<>();
      for (Track tr : tracks) {
        all.addAll(current(tr.params));
        all.addAll(current(tr.buffers));
      }
      List<Tensor> before = new ArrayList<>(all.size());
      for (Tensor t : all) before.add(t.clone());
      update(batchSize);
      List<Tensor> after = new ArrayList<>(all.size());
      for (Track tr : tracks) { // the slots hold the same tensors: update writes in place
        after.addAll(current(tr.params));
        after.addAll(current(tr.buffers));
      }
      for (int i = 0; i < after.size(); i++) after.get(i).copy_(Tensor.where(skip, before.get(i), after.get(i)));
    }
  }

  /** ema[i] ← lerp(net[i], ema[i], β), in chunks bounding the temporaries. */
  private static void lerpIntoChunked(List<Tensor> net, List<Tensor> ema, double beta) {
    int start = 0;
    while (start < net.size()) {
      int end = start;
      long bytes = 0;
      while (end < net.size() && (end == start || bytes < CHUNK_BYTES)) {
        Tensor t = ema.get(end);
        bytes += t.numel() * t.dtype().byteSize();
        end++;
      }
      try (TensorScope s = TensorScope.open()) {
        List<Tensor> mixed = Foreach.lerp(net.subList(start, end), ema.subList(start, end), beta);
        Foreach.copy_(ema.subList(start, end), mixed);
      }
      start = end;
    }
  }

  // ------------------------------------------------------------------------------------------ state dict

  /**
   * The checkpointable state: {@code nimg} and {@code steps} (int64 0-D) and {@code ema.<track>.<name>} for every
   * averaged parameter and buffer (new handles sharing the EMA's storage, owned by the current scope or the caller).
   */
  public LinkedHashMap<String, Tensor> stateDict() {
    checkOpen();
    LinkedHashMap<String, Tensor> sd = new LinkedHashMap<>();
    sd.put("nimg", Tensor.of(new long[] {nimg}, new long[0]));
    sd.put("steps", Tensor.of(new long[] {steps}, new long[0]));
    for (int i = 0; i < tracks.size(); i++) {
      for (var e : tensors(i).entrySet()) sd.put("ema." + i + "." + e.getKey(), e.getValue());
    }
    return sd;
  }

  /**
   * Restores a {@link #stateDict()} (values copied into this EMA's tensors). Missing, unexpected or mis-shaped
   * entries throw IllegalArgumentException before anything is changed.
   */
  public void loadStateDict(Map<String, Tensor> sd) {
    checkOpen();
    List<String> errors = new ArrayList<>();
    Set<String> expected = new HashSet<>(List.of("nimg", "steps"));
    for (int i = 0; i < tracks.size(); i++) {
      Track tr = tracks.get(i);
      for (var slots : List.of(tr.params, tr.buffers)) {
        for (var e : slots.entrySet()) {
          String k = "ema." + i + "." + e.getKey();
          expected.add(k);
          Tensor src = sd.get(k);
          if (src == null) {
            errors.add("missing " + k);
          } else if (!Arrays.equals(src.shape(), e.getValue().get().shape())) {
            errors.add(k + " has shape " + Arrays.toString(src.shape()) + ", expected "
                + Arrays.toString(e.getValue().get().shape()));
          }
        }
      }
    }
    if (!sd.containsKey("nimg")) errors.add("missing nimg");
    if (!sd.containsKey("steps")) errors.add("missing steps");
    for (String k : sd.keySet()) if (!expected.contains(k)) errors.add("unexpected " + k);
    if (!errors.isEmpty()) throw new IllegalArgumentException("EMA state dict does not match: " + errors);
    try (GradMode ng = GradMode.noGrad(); TensorScope s = TensorScope.open()) {
      for (int i = 0; i < tracks.size(); i++) {
        Track tr = tracks.get(i);
        for (var slots : List.of(tr.params, tr.buffers)) {
          for (var e : slots.entrySet()) e.getValue().get().copy_(sd.get("ema." + i + "." + e.getKey()));
        }
      }
      nimg = sd.get("nimg").to(DType.INT64).itemLong();
      steps = sd.get("steps").to(DType.INT64).itemLong();
    }
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("EMA was closed");
  }

  /** Releases the tensors this EMA owns (caller-provided module copies are left alone). */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    for (Track tr : tracks) tr.owned.forEach(Tensor::close);
  }
}
