package dev.cm4j.cli;

import dev.cm4j.tensor.CpuAllocator;
import dev.cm4j.tensor.NativeInfo;
import dev.cm4j.tensor.Torch;
import dev.cm4j.train.Presets;
import dev.cm4j.train.Trainer;
import dev.cm4j.train.TrainingOptions;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.module.ModuleDescriptor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.DefaultParser;
import org.apache.commons.cli.HelpFormatter;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

/** The {@code cm} command: train, sample, eval, export, phema, info. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /** Runs the command; returns the exit code. Errors print one line (stack traces only with --verbose). */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    boolean verbose = Arrays.asList(args).contains("--verbose") || Arrays.asList(args).contains("-v");
    String cmd = args.length == 0 ? "--help" : args[0];
    String[] rest = args.length == 0 ? args : Arrays.copyOfRange(args, 1, args.length);
    try {
      switch (cmd) {
        case "info":
          return info(out);
        case "train":
          return train(rest, out, err);
        case "sample":
          return sample(rest, out);
        case "eval":
          return EvalCommand.run(rest, out);
        case "export":
          return ExportCommand.run(rest, out, err);
        case "phema":
          return PhemaCommand.run(rest, out);
        case "--help":
        case "-h":
        case "help":
          out.println("""
              usage: cm <command> [options]

              commands:
                train   train a consistency model (ECT, sCT/sCD, CTM, CD/CT/iCT; presets: %s)
                sample  sample a network snapshot: a PNG grid, a folder of PNGs or an .npz (1-step or multistep);
                        point snapshots: .npy/.npz (float32 [N, D]) or a scatter plot
                eval    FID, KID and FD-fmnist of a snapshot's samples or of images; reference statistics;
                        sliced Wasserstein (swd) of point samples
                export  PyTorch checkpoints (EDM/ECT/CTM .pkl/.pt) <-> cm4j safetensors
                phema   post-hoc EMA (EDM2): reconstruct any power-function EMA width from a run's stored snapshots
                info    cm4j and libtorch versions, devices, threads, build configuration

              Run 'cm <command> --help' for a command's options; --verbose shows stack traces."""
              .formatted(String.join(", ", Presets.names())));
          return 0;
        default:
          err.println("cm: unknown command '" + cmd + "' (try 'cm --help')");
          return 2;
      }
    } catch (ParseException e) {
      err.println("cm " + cmd + ": " + e.getMessage() + " (try 'cm " + cmd + " --help')");
      return 2;
    } catch (RuntimeException | Error e) {
      String msg = e.getMessage() != null ? e.getMessage() : e.toString();
      err.println("cm " + cmd + ": " + msg);
      if (verbose) e.printStackTrace(err);
      return 1;
    }
  }

  static Options trainOptions() {
    Options o = new Options();
    o.addOption(Option.builder().longOpt("preset").hasArg().argName("name")
        .desc("start from a preset: " + String.join(", ", Presets.names())).get());
    o.addOption(Option.builder().longOpt("options").hasArg().argName("file.json")
        .desc("start from a training_options.json").get());
    o.addOption(Option.builder().longOpt("outdir").hasArg().argName("dir").desc("where run directories go (runs)").get());
    o.addOption(Option.builder().longOpt("resume").hasArg().argName("run-dir|state")
        .desc("continue a run from its newest (or the given) training state").get());
    o.addOption(Option.builder().longOpt("set").hasArgs().argName("key=value")
        .desc("override any option by dotted path, e.g. --set objective.P_mean=-1.0, --set ema.0.beta=0.999 "
            + "(repeatable); unknown keys and bad values are errors").get());
    o.addOption(Option.builder().longOpt("data").hasArg().argName("path")
        .desc("train on this data; its kind follows the path: .npy/.npz/.safetensors point clouds, an image folder or "
            + ".zip, a CIFAR-10 binary directory, an MNIST-layout directory").get());
    o.addOption(Option.builder().longOpt("batch").hasArg().argName("N").desc("global batch size").get());
    o.addOption(Option.builder().longOpt("batch-gpu").hasArg().argName("N").desc("per-round batch (accumulation)").get());
    o.addOption(Option.builder().longOpt("duration").hasArg().argName("Mimg").desc("training length in Mimg").get());
    o.addOption(Option.builder().longOpt("lr").hasArg().argName("lr").desc("learning rate").get());
    o.addOption(Option.builder().longOpt("optim").hasArg().argName("name").desc("Adam, AdamW, RAdam or SGD").get());
    o.addOption(Option.builder().longOpt("ema_beta").hasArg().argName("beta").desc("fixed EMA decay").get());
    o.addOption(Option.builder().longOpt("dropout").hasArg().argName("p").desc("network dropout").get());
    o.addOption(Option.builder().longOpt("tick").hasArg().argName("kimg").desc("status interval in kimg").get());
    o.addOption(Option.builder().longOpt("snap").hasArg().argName("ticks").desc("snapshot interval in ticks").get());
    o.addOption(Option.builder().longOpt("dump").hasArg().argName("ticks").desc("training-state interval in ticks").get());
    o.addOption(Option.builder().longOpt("seed").hasArg().argName("N").desc("random seed").get());
    o.addOption(Option.builder().longOpt("threads").hasArg().argName("N").desc("intra-op threads").get());
    o.addOption(Option.builder().longOpt("desc").hasArg().argName("text").desc("run-directory description").get());
    o.addOption(Option.builder().longOpt("init-from").hasArg().argName("file.safetensors")
        .desc("initialise the network from matching weights (a snapshot, or an EDM/ECT checkpoint exported by tools/export_pytorch.py)").get());
    o.addOption(Option.builder().longOpt("transfer").hasArg().argName("file.safetensors").desc("ECT's name for --init-from").get());
    o.addOption(Option.builder().longOpt("precision").hasArg().argName("p").desc("fp32, bf16 (autocast) or fp16 (autocast + loss scaling)").get());
    o.addOption(deviceOption("train on it (the training option 'device'); auto = cuda:LOCAL_RANK with CUDA, else cpu"));
    o.addOption(Option.builder().longOpt("tf32").desc("CUDA: TF32 in float32 matmuls and cuDNN convolutions (off)").get());
    o.addOption(Option.builder().longOpt("bench").desc("CUDA: cuDNN autotuning of convolution algorithms (off)").get());
    o.addOption(Option.builder().longOpt("channels-last").desc("the network's activations in channels-last (NHWC) format").get());
    o.addOption(Option.builder().longOpt("nproc-per-node").hasArg().argName("N")
        .desc("start N worker processes on this node (data parallel over c10d: Gloo on CPU, NCCL on CUDA); default: "
            + "one per visible GPU with --device auto on a CUDA machine, else 1").get());
    o.addOption(Option.builder().longOpt("nnodes").hasArg().argName("M").desc("number of nodes (1)").get());
    o.addOption(Option.builder().longOpt("node-rank").hasArg().argName("R").desc("this node's rank (0)").get());
    o.addOption(Option.builder().longOpt("master-addr").hasArg().argName("host").desc("rank 0's address (127.0.0.1)").get());
    o.addOption(Option.builder().longOpt("master-port").hasArg().argName("port")
        .desc("rank 0's port (one node: a free port; several: 29500)").get());
    o.addOption(Option.builder("n").longOpt("dry-run").desc("print the bound options, every default filled in, and exit").get());
    o.addOption(Option.builder("v").longOpt("verbose").desc("stack traces on errors").get());
    o.addOption(Option.builder("h").longOpt("help").desc("this help").get());
    return o;
  }

  /** The --device option of train, sample and eval. */
  static Option deviceOption(String what) {
    return Option.builder().longOpt("device").hasArg().argName("auto|cpu|cuda|cuda:N").desc(what + " (auto)").get();
  }

  /** The --device value of a parsed command line (auto when absent); a bad value is a one-line error. */
  static DeviceSpec device(CommandLine cl) throws ParseException {
    if (!cl.hasOption("device")) return DeviceSpec.AUTO;
    try {
      return DeviceSpec.parse(cl.getOptionValue("device"));
    } catch (IllegalArgumentException e) {
      throw new ParseException(e.getMessage());
    }
  }

  /** An integer flag's value, or a one-line error naming the flag. */
  static Integer intFlag(CommandLine cl, String flag) throws ParseException {
    if (!cl.hasOption(flag)) return null;
    String v = cl.getOptionValue(flag);
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new ParseException("--" + flag + ": not an integer: '" + v + "'");
    }
  }

  static final java.util.Set<String> LAUNCHER_FLAGS =
      java.util.Set.of("--nproc-per-node", "--nnodes", "--node-rank", "--master-addr", "--master-port");

  static int train(String[] args, PrintStream out, PrintStream err) throws ParseException {
    Options spec = trainOptions();
    // a ct_train.py command line (ECT's option names) is translated first; cm train's process options remain
    CtTrainArgs.Translation ct = CtTrainArgs.applies(args) ? CtTrainArgs.translate(args) : null;
    if (ct != null && ct.seedDrawn()) {
      // every worker of a launch must train with the one seed drawn here (ct_train.py broadcasts rank 0's)
      args = Arrays.copyOf(args, args.length + 1);
      args[args.length - 1] = "--seed=" + ct.overrides().get("seed");
    }
    CommandLine cl = new DefaultParser().parse(spec, ct == null ? args : ct.cmArgs().toArray(String[]::new));
    boolean dryRun = cl.hasOption("dry-run") || (ct != null && ct.dryRun());
    DeviceSpec device = device(cl);
    CudaSwitches switches = CudaSwitches.of(cl);
    Integer nproc = intFlag(cl, "nproc-per-node");
    boolean inWorker = System.getenv("RANK") != null;
    if (nproc != null && inWorker && !cl.hasOption("help") && !dryRun) {
      throw new ParseException("--nproc-per-node inside a launched worker (RANK is set): run cm train without it "
          + "under torchrun/SLURM");
    }
    // Without --nproc-per-node, --device auto on a CUDA machine trains on every visible GPU, one process each.
    int workers = 1;
    if (!cl.hasOption("help") && !dryRun) {
      boolean probe = nproc == null && !inWorker && device.isAuto(); // only then does the GPU count matter
      workers = Launcher.workersPerNode(nproc, device, probe ? DeviceSpec.cudaCount() : 0,
          System.getenv("CUDA_VISIBLE_DEVICES"), inWorker);
    }
    if ((nproc != null || workers > 1) && !cl.hasOption("help") && !dryRun) {
      Launcher.Spec ls = new Launcher.Spec(workers,
          Integer.parseInt(cl.getOptionValue("nnodes", "1")), Integer.parseInt(cl.getOptionValue("node-rank", "0")),
          cl.getOptionValue("master-addr", "127.0.0.1"), Integer.parseInt(cl.getOptionValue("master-port", "0")));
      List<String> workerArgs = new ArrayList<>();
      workerArgs.add("train");
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        String flag = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
        if (LAUNCHER_FLAGS.contains(flag)) {
          if (!a.contains("=")) i++; // skip its value
          continue;
        }
        workerArgs.add(a);
      }
      return Launcher.launch(ls, workerArgs, out, err);
    }
    if (cl.hasOption("help") && ct == null) {
      PrintWriter pw = new PrintWriter(out);
      new HelpFormatter().printHelp(pw, 100, "cm train [--preset name | --options file] [options]",
          "Train a consistency model; writes NNNNN-desc/ under --outdir.", spec, 2, 2, "", false);
      pw.flush();
      return 0;
    }
    if (cl.hasOption("help")) {
      out.println("cm train with ct_train.py's options (ECT): " + String.join(" ", CtTrainArgs.names())
          + "; see docs/cli.md");
      return 0;
    }
    if (!dryRun) {
      String note = switches.noteFor(device.resolveHere());
      if (note != null) out.println("note: " + note);
      switches.apply(out);
    }
    if (ct != null) return trainCt(ct, cl, device, out, err);
    if (cl.hasOption("resume")) {
      if (cl.hasOption("data")) throw new ParseException("--data cannot change a resumed run's data (its training_options.json decides)");
      if (switches.channelsLast()) {
        out.println("note: --channels-last does not change a resumed run (its training_options.json's channels_last "
            + "decides)");
      }
      try (Trainer t = Trainer.resume(Path.of(cl.getOptionValue("resume")), out)) {
        t.installSignalHandler();
        t.run();
      }
      return 0;
    }
    TrainingOptions opts;
    if (cl.hasOption("options")) opts = TrainingOptions.read(Path.of(cl.getOptionValue("options")));
    else opts = Presets.get(cl.getOptionValue("preset", "fmnist-ect-tiny"));
    Map<String, String> ov = new LinkedHashMap<>();
    Map<String, String> sets = sets(cl);
    if (cl.hasOption("data")) ov.putAll(DataOption.overrides(opts, cl.getOptionValue("data"), sets, err));
    map(cl, ov, "batch", "batch", false);
    map(cl, ov, "batch-gpu", "batch_gpu", false);
    if (cl.hasOption("duration")) {
      ov.put("duration_kimg", Double.toString(Double.parseDouble(cl.getOptionValue("duration")) * 1000));
    }
    map(cl, ov, "lr", "optimizer.lr", false);
    map(cl, ov, "optim", "optimizer.kind", true);
    if (cl.hasOption("ema_beta")) ov.put("ema", "[{\"kind\": \"fixed\", \"beta\": " + cl.getOptionValue("ema_beta") + "}]");
    map(cl, ov, "dropout", "network.dropout", false);
    map(cl, ov, "tick", "tick_kimg", false);
    map(cl, ov, "snap", "snap_ticks", false);
    map(cl, ov, "dump", "state_ticks", false);
    map(cl, ov, "seed", "seed", false);
    map(cl, ov, "threads", "threads", false);
    map(cl, ov, "desc", "desc", true);
    map(cl, ov, "init-from", "init_from", true);
    map(cl, ov, "transfer", "init_from", true);
    map(cl, ov, "precision", "precision", true);
    if (cl.hasOption("device")) ov.put("device", "\"" + device + "\"");
    ov.putAll(switches.overrides()); // --channels-last: the training option channels_last
    ov.putAll(sets);
    opts = opts.with(ov);
    if (cl.hasOption("dry-run")) {
      DataOption.checkSigmaData(opts, err); // a run logs the same warning at its start (log.txt)
      out.println(opts.toJson());
      return 0;
    }
    try (Trainer t = Trainer.start(opts, Path.of(cl.getOptionValue("outdir", "runs")), out)) {
      t.installSignalHandler();
      Trainer.Result r = t.run();
      out.println("run directory: " + r.runDir());
    }
    return 0;
  }

  /** The options of a ct_train.py command line: ct_train.py's defaults and options, then --set, --device, --threads. */
  static TrainingOptions ctOptions(CtTrainArgs.Translation ct, CommandLine cl, PrintStream err) throws ParseException {
    TrainingOptions base = Presets.get("cifar10-ect"); // every key below replaces its value; only data is re-derived
    Map<String, String> sets = sets(cl);
    CtTrainArgs.checkSets(ct, sets);
    Map<String, String> ov = new LinkedHashMap<>(DataOption.overrides(base, ct.data(), sets, err));
    ov.putAll(ct.overrides());
    map(cl, ov, "threads", "threads", false);
    if (cl.hasOption("device")) ov.put("device", "\"" + device(cl) + "\"");
    ov.putAll(sets);
    return base.with(ov);
  }

  private static int trainCt(CtTrainArgs.Translation ct, CommandLine cl, DeviceSpec device, PrintStream out,
      PrintStream err) throws ParseException {
    TrainingOptions opts = ctOptions(ct, cl, err);
    if (ct.dryRun()) {
      out.println(opts.toJson());
      return 0;
    }
    String tr = ct.transfer();
    if (tr != null && (tr.contains("://") || tr.endsWith(".pkl") || tr.endsWith(".pt"))) {
      throw new ParseException("--transfer " + tr + ": cm4j reads .safetensors weights and fetches nothing; download "
          + "the checkpoint and convert it with tools/export_pytorch.py (or cm export), then pass the .safetensors");
    }
    if (ct.resume() != null) {
      Path r = Path.of(ct.resume());
      Path runDir = java.nio.file.Files.isDirectory(r) ? r : r.toAbsolutePath().getParent();
      TrainingOptions stored = TrainingOptions.read(runDir.resolve("training_options.json"));
      String diff = differences(stored, opts, ct.seedDrawn());
      if (diff != null) {
        throw new ParseException("--resume " + r + ": the command line's options differ from the run's "
            + "training_options.json at " + diff);
      }
      try (Trainer t = Trainer.resume(r, out)) {
        t.installSignalHandler();
        t.run();
      }
      return 0;
    }
    try (Trainer t = Trainer.start(opts, Path.of(ct.outdir()), out, !ct.nosubdir())) {
      t.installSignalHandler();
      Trainer.Result r = t.run();
      out.println("run directory: " + r.runDir());
    }
    return 0;
  }

  /** The options where two runs differ (desc, device and threads aside; seed too when drawn), or null. */
  static String differences(TrainingOptions a, TrainingOptions b, boolean ignoreSeed) {
    var ta = a.tree();
    var tb = b.tree();
    List<String> skip = new ArrayList<>(List.of("desc", "device", "threads"));
    if (ignoreSeed) skip.add("seed");
    List<String> keys = new ArrayList<>();
    for (var it = ta.fieldNames(); it.hasNext();) {
      String k = it.next();
      if (!skip.contains(k) && !ta.get(k).equals(tb.get(k))) keys.add(k);
    }
    return keys.isEmpty() ? null : String.join(", ", keys);
  }

  static int sample(String[] args, PrintStream out) throws ParseException {
    Options spec = new Options();
    spec.addOption(Option.builder().longOpt("snapshot").hasArg().argName("file").desc("network-snapshot-*.safetensors").get());
    spec.addOption(Option.builder().longOpt("n").hasArg().argName("N").desc("number of samples (64)").get());
    spec.addOption(Option.builder().longOpt("steps").hasArg().argName("K").desc("sampling steps: 1, or K with K - 1 --t-mid values (1)").get());
    spec.addOption(Option.builder().longOpt("t-mid").hasArgs().argName("t").desc("intermediate time(s), e.g. 0.821 (ECT) or 1.1 (sCM)").get());
    spec.addOption(Option.builder().longOpt("seed").hasArg().argName("N").desc("seed of latents and noise (0)").get());
    spec.addOption(Option.builder().longOpt("out").hasArg().argName("path")
        .desc("images: grid.png (a grid, default samples.png), a directory (one PNG per image), or file.npz (uint8 NHWC, "
            + "key 'samples'); points: file.npy or file.npz (float32 [N, D], key 'samples') or file.png (scatter plot)").get());
    spec.addOption(Option.builder().longOpt("batch").hasArg().argName("N")
        .desc("samples per sampling batch (images 250, points 8192)").get());
    spec.addOption(Option.builder().longOpt("class").hasArg().argName("K|K1,K2,..|balanced|random")
        .desc("class-conditional snapshots: one class, a list cycled over the images, 'balanced' (image i gets class "
            + "i mod C; the default) or 'random' (uniform per image)").get());
    spec.addOption(Option.builder().longOpt("guidance").hasArg().argName("w")
        .desc("guidance weight (1: none): D_guide + w·(D(x, c) − D_guide); without --guide classifier-free, the guide "
            + "being the model with the zero label (needs training with network.label_dropout > 0)").get());
    spec.addOption(Option.builder().longOpt("guide").hasArg().argName("file")
        .desc("autoguidance (Karras et al. 2024): a weaker snapshot of the same kind of run (earlier or smaller) as the "
            + "guide; --guidance sets w (default 2 with --guide). A guidance-conditioned ayf snapshot "
            + "(objective.guidance_cond) takes --guidance as the scale it samples at (default: its objective.guidance)")
        .get());
    spec.addOption(Option.builder().longOpt("gamma").hasArg().argName("g")
        .desc("ayf and ctm snapshots: γ-sampling in [0, 1] (CTM's; for flow maps docs/algorithms/ayf.md §3): 0 the "
            + "deterministic jump, 1 consistency-style (to the data and re-noised at each step); default: an ayf "
            + "snapshot's objective.sample_gamma, 0 for ctm").get());
    spec.addOption(deviceOption("load the network onto it and draw the latents and noise there"));
    spec.addOption(Option.builder("v").longOpt("verbose").desc("stack traces on errors").get());
    spec.addOption(Option.builder("h").longOpt("help").desc("this help").get());
    CommandLine cl = new DefaultParser().parse(spec, args);
    if (cl.hasOption("help") || !cl.hasOption("snapshot")) {
      PrintWriter pw = new PrintWriter(out);
      new HelpFormatter().printHelp(pw, 100, "cm sample --snapshot file [options]", "Sample a trained network.", spec, 2, 2,
          "", false);
      pw.flush();
      return cl.hasOption("help") ? 0 : 2;
    }
    DeviceSpec device = device(cl);
    int n = Integer.parseInt(cl.getOptionValue("n", "64"));
    if (n < 1) throw new ParseException("--n must be >= 1");
    double[] m = mids(cl);
    long seed = Long.parseLong(cl.getOptionValue("seed", "0"));
    Path target = Path.of(cl.getOptionValue("out", "samples.png"));
    String name = target.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
    dev.cm4j.sampling.ClassLabels classes = null;
    if (cl.hasOption("class")) {
      try {
        classes = dev.cm4j.sampling.ClassLabels.parse(cl.getOptionValue("class"));
      } catch (IllegalArgumentException e) {
        throw new ParseException(e.getMessage());
      }
    }
    Double w = cl.hasOption("guide") ? Double.valueOf(2) : null;
    if (cl.hasOption("guidance")) {
      try {
        w = Double.parseDouble(cl.getOptionValue("guidance"));
      } catch (NumberFormatException e) {
        throw new ParseException("--guidance takes a number, got '" + cl.getOptionValue("guidance") + "'");
      }
      if (!Double.isFinite(w)) throw new ParseException("--guidance must be finite, got " + cl.getOptionValue("guidance"));
    }
    Double gamma = null;
    if (cl.hasOption("gamma")) {
      try {
        gamma = Double.parseDouble(cl.getOptionValue("gamma"));
      } catch (NumberFormatException e) {
        throw new ParseException("--gamma takes a number in [0, 1], got '" + cl.getOptionValue("gamma") + "'");
      }
      if (!(gamma >= 0 && gamma <= 1)) throw new ParseException("--gamma must be in [0, 1], got " + cl.getOptionValue("gamma"));
    }
    try (dev.cm4j.train.Snapshot s = dev.cm4j.train.Snapshot.load(Path.of(cl.getOptionValue("snapshot")),
        device.resolveHere());
        dev.cm4j.train.Snapshot guide = cl.hasOption("guide")
            ? dev.cm4j.train.Snapshot.load(Path.of(cl.getOptionValue("guide")), device.resolveHere()) : null) {
      s.setSampling(classes, w != null ? w : s.defaultGuidance(), guide);
      if (gamma != null) s.setGamma(gamma);
      int batch = Integer.parseInt(cl.getOptionValue("batch", s.samplesPoints() ? "8192" : "250"));
      if (batch < 1) throw new ParseException("--batch must be >= 1");
      if (s.samplesPoints()) {
        if (name.endsWith(".npy") || name.endsWith(".npz")) {
          SampleWriter.writePoints(s, n, m, seed, batch, target);
        } else if (name.endsWith(".png")) {
          SampleWriter.scatter(s, n, m, seed, batch, target);
        } else {
          throw new IllegalArgumentException("this snapshot samples " + s.itemShape()[0] + "-D points: --out takes "
              + "file.npy or file.npz (float32 [N, D]) or file.png (a scatter plot), got " + target);
        }
      } else if (name.endsWith(".npy")) {
        throw new IllegalArgumentException("this snapshot samples images: --out takes grid.png, a directory or "
            + "file.npz (.npy is for point samples)");
      } else if (name.endsWith(".png")) {
        try (dev.cm4j.tensor.TensorScope scope = dev.cm4j.tensor.TensorScope.open()) {
          dev.cm4j.tensor.Tensor x = s.sample(n, m, seed);
          dev.cm4j.image.ImageGrid.save(x.clamp(-1, 1).to(dev.cm4j.tensor.Device.CPU), (int) Math.ceil(Math.sqrt(n)),
              target);
        }
      } else {
        SampleWriter.write(s, n, m, seed, batch, target);
      }
    }
    out.println("wrote " + target);
    return 0;
  }

  /** The --set key=value overrides, in order. */
  private static Map<String, String> sets(CommandLine cl) throws ParseException {
    Map<String, String> sets = new LinkedHashMap<>();
    if (cl.hasOption("set")) {
      for (String kv : cl.getOptionValues("set")) {
        int eq = kv.indexOf('=');
        if (eq <= 0) throw new ParseException("--set takes key=value, got '" + kv + "'");
        sets.put(kv.substring(0, eq), kv.substring(eq + 1));
      }
    }
    return sets;
  }

  /** The intermediate times of --steps/--t-mid (empty for 1 step). */
  static double[] mids(CommandLine cl) throws ParseException {
    int steps = Integer.parseInt(cl.getOptionValue("steps", "1"));
    String[] mids = cl.getOptionValues("t-mid");
    double[] m;
    if (mids != null) {
      m = Arrays.stream(mids).mapToDouble(Double::parseDouble).toArray();
    } else if (steps > 1) {
      throw new ParseException("--steps " + steps + " needs " + (steps - 1) + " --t-mid value(s)");
    } else {
      m = new double[0];
    }
    if (steps != m.length + 1) throw new ParseException("--steps " + steps + " does not match " + m.length + " --t-mid value(s)");
    return m;
  }

  private static void map(CommandLine cl, Map<String, String> ov, String flag, String key, boolean string) {
    if (!cl.hasOption(flag)) return;
    String v = cl.getOptionValue(flag);
    ov.put(key, string ? "\"" + v.replace("\"", "\\\"") + "\"" : v);
  }

  /** The jar manifest's version on the class path, the module's version on the module path, else "dev". */
  static String version() {
    Package p = Main.class.getPackage();
    if (p != null && p.getImplementationVersion() != null) return p.getImplementationVersion();
    ModuleDescriptor d = Main.class.getModule().getDescriptor();
    return d != null && d.rawVersion().isPresent() ? d.rawVersion().get() : "dev";
  }

  /** What libtorch was built with, from its build configuration: true for USE_CUDA=ON/1. */
  static boolean cudaBuild(String buildConfig) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("USE_CUDA=(\\w+)").matcher(buildConfig);
    if (!m.find()) return false;
    String v = m.group(1);
    return v.equalsIgnoreCase("ON") || v.equals("1") || v.equalsIgnoreCase("TRUE");
  }

  /** The value of cm info's cuda line. */
  static String cudaLine(int gpus, String buildConfig) {
    if (gpus > 0) return gpus + " device(s)";
    return cudaBuild(buildConfig) ? "not available (CUDA build of libtorch, but no GPU visible)"
        : "not available (CPU build of libtorch)";
  }

  /**
   * One GPU's facts for cm info.
   *
   * @param index the CUDA index
   * @param name the device name, or null when unknown
   * @param totalMemory bytes of device memory, or -1 when unknown
   * @param major compute capability, major (-1 when unknown)
   * @param minor compute capability, minor
   */
  record Gpu(int index, String name, long totalMemory, int major, int minor) {}

  /** A gpu line: "cuda:0  NVIDIA H100 80GB HBM3, 79.1 GiB, capability 9.0". */
  static String gpuLine(Gpu g) {
    if (g.name() == null) return "cuda:" + g.index() + "  (name, memory and capability not readable in this build)";
    return String.format(java.util.Locale.ROOT, "cuda:%d  %s, %.1f GiB, capability %d.%d", g.index(), g.name(),
        g.totalMemory() / (double) (1L << 30), g.major(), g.minor());
  }

  /**
   * The facts of CUDA device i.
   *
   * <p>COORDINATOR: the single call site for GPU facts. Device properties (name, total memory, compute capability)
   * come with branch cudaapi; wire them here, e.g. {@code var p = Torch.cudaDeviceProperties(i); return new
   * Gpu(i, p.name(), p.totalMemory(), p.major(), p.minor());}. Until then the line names the device only.
   */
  static Gpu gpu(int i) {
    dev.cm4j.tensor.Cuda.DeviceProperties p = dev.cm4j.tensor.Cuda.properties(i);
    return new Gpu(i, p.name(), p.totalMemory(), p.major(), p.minor());
  }

  static int info(PrintStream out) {
    NativeInfo info = Torch.load();
    String version = version();
    out.println("cm4j        " + version + " (C API " + Torch.apiVersion() + ")");
    out.println("libtorch    " + info.libtorchVersion() + " (" + info.libtorchLibrary() + ")");
    out.println("native      " + info.library() + " [" + info.source() + "]");
    out.println("java        " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")");
    out.println("threads     intra-op " + Torch.numThreads() + ", inter-op " + Torch.numInteropThreads());
    out.println("allocator   " + CpuAllocator.describe());
    int gpus = DeviceSpec.cudaCount();
    out.println("cuda        " + cudaLine(gpus, Torch.buildConfig()));
    out.println("devices     cpu" + (gpus > 0 ? ", cuda:0.." + (gpus - 1) : ""));
    for (int i = 0; i < gpus; i++) out.println("gpu         " + gpuLine(gpu(i)));
    for (String line : Torch.buildConfig().split("\n")) {
      String t = line.trim();
      if (t.startsWith("- OpenMP") || t.startsWith("- LAPACK") || t.startsWith("- CPU capability")) {
        out.println("build       " + t.replaceFirst("^- ", ""));
      } else if (t.contains("BLAS_INFO=")) {
        String blas = t.replaceAll(".*BLAS_INFO=([^,]*).*", "$1");
        out.println("build       BLAS " + blas);
      }
    }
    return 0;
  }
}
