package dev.cm4j.train;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.data.LoaderState;
import dev.cm4j.io.SafeTensorFile;
import dev.cm4j.io.SafeTensors;
import dev.cm4j.nn.Module;
import dev.cm4j.optim.EMA;
import dev.cm4j.optim.Optimizer;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Generator;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A training state file: everything needed to continue a run exactly, in one safetensors file written atomically.
 *
 * <p>Tensors: {@code model.*}, {@code optimizer.*}, {@code ema.*} (the state dicts), {@code objective.<module>.*}
 * (an objective's extra networks, e.g. a target network), {@code rng.cpu} (the CPU's default generator),
 * {@code rng.device.<type>} (the default generator of the run's device, when it is not the CPU, e.g.
 * {@code rng.device.cuda}), {@code rng.sample} (the sampler's generator, a generator of the run's device),
 * {@code rng.objective.<stream>} (the objective's random streams: uint8 states of generators of the run's device, or
 * one int64 SplitMix64 state). All generator states are uint8 tensors. Metadata: {@code format} = "cm4j training
 * state", {@code device} (the run's device type, "cpu" or "cuda"; absent in older files: "cpu"), {@code images},
 * {@code iteration}, {@code tick} (decimal counts), {@code loader} (the data sampler's position, JSON),
 * {@code history} (the tick records, JSON) and, for fp16, {@code loss_scale} ("scale,tracker"). Nothing is
 * Java-serialised, so the file reads the same on every JVM and outside Java.
 *
 * <p>Every tensor is written from the device as plain safetensors and read onto the CPU; restoring copies it to the
 * run's device. A state resumes bit-exactly on the device type that wrote it; on another type (a CUDA state resumed
 * on the CPU) the weights, optimizer and EMA carry over, the generator states cannot (each device type has its own
 * generator algorithm), so those streams start from the run's seed and a note says that the random streams differ.
 *
 * <p>{@link #open} reads and checks the whole file before anything is restored, so a truncated or corrupt file is
 * rejected (naming the file and what is wrong) with the run untouched; {@link #restore} then loads it.
 */
final class TrainingState implements AutoCloseable {
  static final String FORMAT = "cm4j training state";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The parts of a run a state holds (ema and scaler may be null). */
  record Parts(Device device, Module model, Optimizer optimizer, EMA ema, RunObjective objective,
      Generator sampleGen, LossScaler scaler) {}

  final Path file;
  final long images;
  final long iteration;
  final long tick;
  final LoaderState loader;
  final List<Map<String, Object>> history;
  private final double lossScale; // NaN: none stored
  private final int lossTracker;
  private final Map<String, Tensor> model = new LinkedHashMap<>();
  private final Map<String, Tensor> optimizer = new LinkedHashMap<>();
  private final Map<String, Tensor> ema = new LinkedHashMap<>();
  private final Map<String, Map<String, Tensor>> extra = new LinkedHashMap<>();
  private final Map<String, Tensor> objectiveRandom = new LinkedHashMap<>();
  private final List<Tensor> owned; // every tensor read, closed with this state
  private Tensor rngCpu;
  private Tensor rngSample;
  private final String deviceType; // the writer's device type ("cpu", "cuda")
  private Tensor rngDevice; // rng.device.<deviceType>, or null

  private TrainingState(Path file, SafeTensorFile f, List<Tensor> owned) {
    this.file = file;
    this.owned = owned;
    Map<String, String> meta = f.metadata();
    if (!FORMAT.equals(meta.get("format"))) throw new IllegalArgumentException(file + " is not a cm4j training state");
    images = count(meta, "images");
    iteration = count(meta, "iteration");
    tick = count(meta, "tick");
    deviceType = meta.getOrDefault("device", "cpu");
    if (!deviceType.matches("[a-z][a-z0-9_]{0,31}")) throw bad("device", "is '" + deviceType + "', not a device type");
    try {
      loader = LoaderState.fromJson(required(meta, "loader"));
    } catch (IllegalArgumentException e) {
      throw bad("loader", "is malformed: " + e.getMessage());
    }
    if (loader == null) throw bad("loader", "is null");
    try {
      history = JSON.readValue(required(meta, "history"), new TypeReference<List<Map<String, Object>>>() {});
    } catch (IOException e) {
      throw bad("history", "is not a JSON list of tick records");
    }
    if (history == null) throw bad("history", "is null");
    String ls = meta.get("loss_scale");
    if (ls == null) {
      lossScale = Double.NaN;
      lossTracker = 0;
    } else {
      String[] p = ls.split(",", -1);
      try {
        if (p.length != 2) throw new NumberFormatException();
        lossScale = Double.parseDouble(p[0]);
        lossTracker = Integer.parseInt(p[1]);
      } catch (NumberFormatException e) {
        throw bad("loss_scale", "is '" + ls + "', not \"scale,tracker\"");
      }
      if (!(lossScale > 0) || Double.isInfinite(lossScale)) {
        throw bad("loss_scale", "has the scale " + p[0] + ", not a positive number");
      }
    }
    for (String name : f.names()) {
      Tensor t = f.tensor(name);
      owned.add(t);
      if (name.startsWith("model.")) model.put(rest(name, "model."), t);
      else if (name.startsWith("optimizer.")) optimizer.put(rest(name, "optimizer."), t);
      else if (name.startsWith("ema.")) ema.put(rest(name, "ema."), t);
      else if (name.startsWith("rng.objective.")) objectiveRandom.put(rest(name, "rng.objective."), t);
      else if (name.equals("rng.cpu")) rngCpu = bytes(name, t);
      else if (name.equals("rng.sample")) rngSample = bytes(name, t);
      else if (name.equals("rng.device." + deviceType) && !deviceType.equals("cpu")) rngDevice = bytes(name, t);
      else if (name.startsWith("objective.")) {
        String r = rest(name, "objective.");
        int dot = r.indexOf('.');
        if (dot <= 0 || dot == r.length() - 1) {
          throw new IllegalArgumentException("tensor '" + name + "' in " + file + " is not objective.<module>.<name>");
        }
        extra.computeIfAbsent(r.substring(0, dot), k -> new LinkedHashMap<>()).put(r.substring(dot + 1), t);
      } else {
        throw new IllegalArgumentException("tensor '" + name + "' in " + file + " belongs to no part of a training "
            + "state (model., optimizer., ema., objective.<module>., rng.)");
      }
    }
    if (model.isEmpty()) throw new IllegalArgumentException(file + " holds no model.* tensors");
    if (rngCpu == null) throw new IllegalArgumentException(file + " lacks the tensor 'rng.cpu'");
    if (rngSample == null) throw new IllegalArgumentException(file + " lacks the tensor 'rng.sample'");
    if (objectiveRandom.isEmpty()) readOlderObjectiveRandom(meta);
  }

  /**
   * Reads and checks a training state; nothing is restored yet. The caller closes it.
   *
   * @throws IllegalArgumentException naming the file and the key if a metadata value or tensor name is malformed
   * @throws UncheckedIOException if the file cannot be read (truncated, not a safetensors file, missing)
   */
  static TrainingState open(Path file) {
    List<Tensor> owned = new ArrayList<>();
    try (SafeTensorFile f = SafeTensors.read(file)) {
      return new TrainingState(file, f, owned);
    } catch (RuntimeException | Error e) {
      for (Tensor t : owned) t.close();
      if (e instanceof dev.cm4j.io.SafeTensorsException) {
        throw new UncheckedIOException("cannot read the training state " + file + ": " + e.getMessage(),
            new IOException(e));
      }
      throw e;
    } catch (IOException e) {
      for (Tensor t : owned) t.close();
      throw new UncheckedIOException("cannot read the training state " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * The newest of the given states (newest first) that {@link #open}s cleanly; each one passed over is reported
   * with the reason.
   *
   * @throws IllegalArgumentException if none opens, listing each file's reason
   */
  static TrainingState openNewest(List<Path> newestFirst, Consumer<String> report) {
    List<String> reasons = new ArrayList<>();
    for (Path p : newestFirst) {
      try {
        return open(p);
      } catch (IllegalArgumentException | UncheckedIOException e) {
        reasons.add(e.getMessage());
        report.accept("training state " + p.getFileName() + " cannot be used (" + e.getMessage()
            + "); trying the one before it");
      }
    }
    throw new IllegalArgumentException("no usable training state: " + String.join("; ", reasons));
  }

  /**
   * Loads this state into the run's parts; a part that does not fit throws, naming the file. A state from another
   * device type reports through note that its random streams cannot continue.
   */
  void restore(Parts p, Consumer<String> note) {
    String here = typeName(p.device());
    boolean sameType = here.equals(deviceType);
    if (!sameType) {
      note.accept("training state " + file.getFileName() + " was written on " + deviceType + " and resumes on " + here
          + ": weights, optimizer and EMA carry over, but the random streams (noise, sampling, dropout) start from the "
          + "seed, so the run does not continue bit for bit");
    }
    try {
      p.model().loadStateDict(model, true);
      p.optimizer().loadStateDict(optimizer);
      if (p.ema() != null) p.ema().loadStateDict(ema);
      for (var x : p.objective().extraState().entrySet()) {
        Map<String, Tensor> sd = extra.get(x.getKey());
        if (sd == null) throw new IllegalArgumentException("it lacks the objective's " + x.getKey() + " network");
        x.getValue().loadStateDict(sd, true);
      }
      try (Generator g = Generator.defaultFor(Device.CPU)) {
        g.setState(rngCpu.toByteArray());
      }
      if (sameType) {
        p.sampleGen().setState(rngSample.toByteArray());
        if (rngDevice != null) {
          try (Generator g = Generator.defaultFor(p.device())) {
            g.setState(rngDevice.toByteArray());
          }
        }
      }
      p.objective().keepDeviceStreams = !sameType;
      try {
        p.objective().restoreRandomState(objectiveRandom);
      } finally {
        p.objective().keepDeviceStreams = false;
      }
      if (p.scaler() != null && !Double.isNaN(lossScale)) p.scaler().restore(lossScale, lossTracker);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("cannot restore the training state " + file + ": " + e.getMessage(), e);
    }
  }

  /** Writes the run's state at this point into file (atomically). */
  static void write(Path file, Parts p, long images, long iteration, long tick, LoaderState loader,
      List<Map<String, Object>> history) {
    Map<String, Tensor> t = new LinkedHashMap<>();
    try (TensorScope s = TensorScope.open()) {
      for (var e : p.model().stateDict().entrySet()) t.put("model." + e.getKey(), e.getValue());
      for (var e : p.optimizer().stateDict().entrySet()) t.put("optimizer." + e.getKey(), e.getValue());
      if (p.ema() != null) for (var e : p.ema().stateDict().entrySet()) t.put("ema." + e.getKey(), e.getValue());
      for (var m : p.objective().extraState().entrySet()) {
        for (var e : m.getValue().stateDict().entrySet()) {
          t.put("objective." + m.getKey() + "." + e.getKey(), e.getValue());
        }
      }
      try (Generator g = Generator.defaultFor(Device.CPU)) {
        t.put("rng.cpu", RunObjective.stateOf(g));
      }
      if (p.device().type() != Device.Type.CPU) {
        try (Generator g = Generator.defaultFor(p.device())) {
          t.put("rng.device." + typeName(p.device()), RunObjective.stateOf(g));
        }
      }
      t.put("rng.sample", RunObjective.stateOf(p.sampleGen()));
      for (var e : p.objective().randomState().entrySet()) t.put("rng.objective." + e.getKey(), e.getValue());
      Map<String, String> meta = new LinkedHashMap<>();
      meta.put("format", FORMAT);
      meta.put("device", typeName(p.device()));
      meta.put("images", Long.toString(images));
      meta.put("iteration", Long.toString(iteration));
      meta.put("tick", Long.toString(tick));
      meta.put("loader", loader.toJson());
      meta.put("history", TickReporter.json(history));
      if (p.scaler() != null) meta.put("loss_scale", p.scaler().scale() + "," + p.scaler().tracker());
      SafeTensors.write(file, t, meta);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the training state " + file, e);
    }
  }

  /**
   * States written before the objectives' streams were tensors kept the noise generator as base64 in
   * {@code objective_rng} (still usable) and the pair draws as a Java-serialised java.util.Random in
   * {@code objective_random} (not continuable by the SplitMix64 streams that replaced it).
   */
  private void readOlderObjectiveRandom(Map<String, String> meta) {
    String rngs = meta.get("objective_rng");
    if (rngs == null) return;
    Map<String, String> m;
    try {
      m = JSON.readValue(rngs, new TypeReference<Map<String, String>>() {});
      if (m == null || m.size() > 1) throw new IOException();
    } catch (IOException e) {
      throw bad("objective_rng", "is not a JSON object of one base64 generator state");
    }
    String random = meta.get("objective_random");
    if (random != null && !random.isBlank() && !random.strip().equals("{}")) {
      throw new IllegalArgumentException(file + " was written by an older cm4j: its pair draws ('objective_random') "
          + "are a Java-serialised java.util.Random that this version cannot continue; restart the run");
    }
    for (String b64 : m.values()) {
      byte[] b;
      try {
        b = Base64.getDecoder().decode(b64);
      } catch (IllegalArgumentException e) {
        throw bad("objective_rng", "is not base64");
      }
      Tensor t = Tensor.fromBytes(b, DType.UINT8, b.length);
      owned.add(t);
      objectiveRandom.put("noise", t);
    }
  }

  /** A device's type as the file names it: "cpu", "cuda", … */
  static String typeName(Device d) {
    return d.type().name().toLowerCase(java.util.Locale.ROOT);
  }

  private Tensor bytes(String name, Tensor t) {
    if (t.dtype() != DType.UINT8 || t.dim() != 1) {
      throw new IllegalArgumentException("tensor '" + name + "' in " + file + " is not a 1-d uint8 generator state");
    }
    return t;
  }

  private String rest(String name, String prefix) {
    String r = name.substring(prefix.length());
    if (r.isEmpty()) throw new IllegalArgumentException("tensor '" + name + "' in " + file + " has an empty name");
    return r;
  }

  private String required(Map<String, String> meta, String key) {
    String v = meta.get(key);
    if (v == null) throw bad(key, "is missing");
    return v;
  }

  private long count(Map<String, String> meta, String key) {
    String v = required(meta, key);
    try {
      long n = Long.parseLong(v);
      if (n < 0) throw new NumberFormatException();
      return n;
    } catch (NumberFormatException e) {
      throw bad(key, "is '" + v + "', not a count");
    }
  }

  private IllegalArgumentException bad(String key, String why) {
    return new IllegalArgumentException("training state " + file + ": metadata '" + key + "' " + why);
  }

  @Override
  public void close() {
    for (Tensor t : owned) t.close();
    owned.clear();
  }
}
