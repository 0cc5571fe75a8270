package dev.cm4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.commons.cli.ParseException;

/**
 * ECT's {@code ct_train.py} command line (locuslab/ect, main branch at 4311059) read by {@code cm train}: each option
 * keeps its name, short form, default and meaning, and becomes typed training options (dotted-path overrides over
 * {@link dev.cm4j.train.TrainingOptions}). Units follow ct_train.py: {@code --duration} in Mimg, {@code --tick} in
 * kimg, {@code --snap}, {@code --dump}, {@code --double} and {@code --eval_every} in ticks (so {@code --double} becomes
 * objective.double_kimg = double × tick).
 *
 * <p>A command line is read this way when it names an option only ct_train.py has (e.g. {@code --cond}, {@code
 * --arch}, {@code -q}, {@code --double}, {@code --metrics}) or gives {@code --tf32}/{@code --bench} a value. Then
 * every option ct_train.py knows takes ct_train.py's meaning and omitted ones its defaults, as in ECT; the options
 * both styles share ({@code --batch}, {@code --lr}, {@code --duration}, {@code --tick}, ...) mean the same in both.
 * cm4j's own options that have a ct_train.py counterpart ({@code --preset}, {@code --options}, {@code --precision},
 * {@code --init-from}) are errors naming the counterpart; {@code --set} still applies after the translation, but a
 * {@code --set} of a key that an option given on the command line also sets is an error. cm4j's process options
 * ({@code --device}, {@code --threads}, the launcher's, {@code --channels-last}, {@code -v}) pass through. An option
 * whose meaning cm4j cannot honour is an error naming it, never ignored (see docs/cli.md).
 */
final class CtTrainArgs {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** How a ct_train.py option takes its value. */
  private enum Type { FLOAT, INT, BOOL, STR, FLAG, LIST, MULTI }

  /** ct_train.py's options (main branch): name → type and default (null: none). */
  private record Spec(Type type, String def) {}

  private static final Map<String, Spec> SPECS = new LinkedHashMap<>();
  /** Short forms → long names. */
  private static final Map<String, String> ALIASES = Map.of("-n", "--dry_run", "--dry-run", "--dry_run");

  static {
    spec("--outdir", Type.STR, null);
    spec("--data", Type.STR, null);
    spec("--cond", Type.BOOL, "False");
    spec("--arch", Type.STR, "ddpmpp");
    spec("--precond", Type.STR, "ect");
    spec("--duration", Type.FLOAT, "200");
    spec("--batch", Type.INT, "512");
    spec("--batch-gpu", Type.INT, null);
    spec("--cbase", Type.INT, null);
    spec("--cres", Type.STR, null);
    spec("--optim", Type.STR, "Adam");
    spec("--lr", Type.FLOAT, "10e-4");
    spec("--ema", Type.FLOAT, null);
    spec("--ema_beta", Type.FLOAT, "0.9999");
    spec("--dropout", Type.FLOAT, "0.13");
    spec("--augment", Type.FLOAT, "0.12");
    spec("--xflip", Type.BOOL, "False");
    spec("--mean", Type.FLOAT, "-1.1");
    spec("--std", Type.FLOAT, "2.0");
    spec("--mapping", Type.STR, "sigmoid");
    spec("--double", Type.INT, "500");
    spec("-q", Type.FLOAT, "2.0");
    spec("-k", Type.FLOAT, "8.0");
    spec("-b", Type.FLOAT, "1.0");
    spec("-c", Type.FLOAT, "0.0");
    spec("--fp16", Type.BOOL, "False");
    spec("--tf32", Type.BOOL, "False");
    spec("--ls", Type.FLOAT, "1");
    spec("--bench", Type.BOOL, "True");
    spec("--cache", Type.BOOL, "True");
    spec("--workers", Type.INT, "1");
    spec("--desc", Type.STR, null);
    spec("--nosubdir", Type.FLAG, null);
    spec("--tick", Type.FLOAT, "50");
    spec("--snap", Type.INT, "500");
    spec("--dump", Type.INT, "500");
    spec("--ckpt", Type.INT, "50");
    spec("--seed", Type.INT, null);
    spec("--transfer", Type.STR, null);
    spec("--resume", Type.STR, null);
    spec("--resume-tick", Type.INT, null);
    spec("--dry_run", Type.FLAG, null);
    spec("--mid_t", Type.MULTI, "0.821");
    spec("--metrics", Type.LIST, "fid50k_full");
    spec("--sample_every", Type.INT, "10");
    spec("--eval_every", Type.INT, "50");
  }

  private static void spec(String name, Type t, String def) {
    SPECS.put(name, new Spec(t, def));
  }

  /** ct_train.py's names that cm train's own options do not have: any of them selects this translation. */
  static final Set<String> CT_ONLY = Set.of("--cond", "--arch", "--precond", "--cbase", "--cres", "--ema",
      "--augment", "--xflip", "--mean", "--std", "--mapping", "--double", "-q", "-k", "-b", "-c", "--fp16", "--ls",
      "--cache", "--workers", "--nosubdir", "--ckpt", "--resume-tick", "--dry_run", "--mid_t", "--metrics",
      "--sample_every", "--eval_every");

  /** Options of ECT's imgnet branch that the main branch's ct_train.py lacks: recognised, and refused by name. */
  static final Set<String> IMGNET_ONLY = Set.of("--scheme", "--wt", "--decay", "--betas", "--dropres", "--wandb");

  /** cm4j options with a ct_train.py counterpart: in a ct_train.py command line they are errors naming it. */
  private static final Map<String, String> COUNTERPARTS = Map.of(
      "--preset", "a ct_train.py command line starts from ct_train.py's defaults; adjust it with its own options or --set",
      "--options", "a ct_train.py command line starts from ct_train.py's defaults; adjust it with its own options or --set",
      "--precision", "use ct_train.py's --fp16=1 (or --set precision=...)",
      "--init-from", "use ct_train.py's --transfer",
      "--optimizer", "use --optim");

  /** cm4j options that pass through a ct_train.py command line (process options); true: takes a value. */
  private static final Map<String, Boolean> PASS = Map.ofEntries(Map.entry("--set", true), Map.entry("--device", true),
      Map.entry("--threads", true), Map.entry("--nproc-per-node", true), Map.entry("--nnodes", true),
      Map.entry("--node-rank", true), Map.entry("--master-addr", true), Map.entry("--master-port", true),
      Map.entry("--channels-last", false), Map.entry("-v", false), Map.entry("--verbose", false),
      Map.entry("-h", false), Map.entry("--help", false));

  /**
   * A translated command line.
   *
   * @param overrides dotted-path overrides, in order, that turn any options into ct_train.py's (data excluded)
   * @param explicit the override keys that an option given on the command line set, with that option's name
   * @param data the --data path
   * @param outdir the --outdir directory
   * @param resume --resume, or null
   * @param nosubdir --nosubdir
   * @param dryRun -n/--dry_run
   * @param seedDrawn whether --seed was absent (ct_train.py then draws a random seed, as here)
   * @param transfer --transfer, or null
   * @param cmArgs cm train's own options left to parse (process options, --tf32/--bench flags as set, --set)
   */
  record Translation(Map<String, String> overrides, Map<String, String> explicit, String data, String outdir,
      String resume, boolean nosubdir, boolean dryRun, boolean seedDrawn, String transfer, List<String> cmArgs) {}

  private CtTrainArgs() {}

  /** The option name of an argument ("--lr=1" → "--lr"), or null for a non-option. */
  private static String name(String a) {
    String n = rawName(a);
    return n == null ? null : ALIASES.getOrDefault(n, n);
  }

  /** The option name as written (-n and --dry-run stay themselves: they are cm's dry-run flag too). */
  private static String rawName(String a) {
    if (!a.startsWith("-") || a.equals("-") || a.length() < 2) return null;
    if (a.matches("-\\d.*")) return null; // a negative number
    int eq = a.indexOf('=');
    String n = eq > 0 ? a.substring(0, eq) : a;
    if (!n.startsWith("--") && n.length() > 2) n = n.substring(0, 2); // -q256
    return n;
  }

  /** Whether the argument list is a ct_train.py command line (see the class comment). */
  static boolean applies(String[] args) {
    for (String a : args) {
      String n = rawName(a);
      if (n == null) continue;
      if (CT_ONLY.contains(n) || IMGNET_ONLY.contains(n)) return true;
      if ((n.equals("--tf32") || n.equals("--bench")) && a.contains("=")) return true;
    }
    return false;
  }

  /** Reads a ct_train.py command line; options ct_train.py cannot honour here are errors naming them. */
  static Translation translate(String[] args) throws ParseException {
    Map<String, String> given = new LinkedHashMap<>(); // long name -> raw value ("" for flags)
    Map<String, List<String>> multi = new LinkedHashMap<>();
    List<String> cm = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String n = name(a);
      if (n == null) throw new ParseException("unexpected argument '" + a + "' (ct_train.py takes options only)");
      if (IMGNET_ONLY.contains(n)) {
        throw new ParseException(n + ": an option of ECT's imgnet branch, not of ct_train.py on main; not supported"
            + (n.equals("--decay") ? " (its lr decay is the option lr_decay_batches: --set lr_decay_batches=N, or "
                + "--preset imagenet64-ect-s)" : ""));
      }
      if (COUNTERPARTS.containsKey(n)) {
        throw new ParseException(n + " cannot be combined with ct_train.py options: " + COUNTERPARTS.get(n));
      }
      if (PASS.containsKey(n)) {
        if (PASS.get(n) && !a.contains("=")) {
          if (i + 1 >= args.length) throw new ParseException(n + " needs a value");
          cm.add(a);
          cm.add(args[++i]);
        } else {
          cm.add(a);
        }
        continue;
      }
      Spec s = SPECS.get(n);
      if (s == null) throw new ParseException("unknown option " + n + " (ct_train.py's options and cm train's process "
          + "options --set, --device, --threads, --nproc-per-node, ... apply)");
      String value;
      int eq = a.indexOf('=');
      boolean shortJoined = !a.startsWith("--") && a.length() > 2 && eq < 0;
      if (s.type() == Type.FLAG) {
        if (eq > 0) throw new ParseException(n + " is a flag and takes no value");
        value = "";
      } else if (eq > 0) {
        value = a.substring(eq + 1);
      } else if (shortJoined) {
        value = a.substring(2);
      } else if ((n.equals("--tf32") || n.equals("--bench"))
          && (i + 1 >= args.length || parseBoolOrNull(args[i + 1]) == null)) {
        value = "true"; // cm's flag form
      } else {
        if (i + 1 >= args.length) throw new ParseException(n + " needs a value");
        value = args[++i];
      }
      if (s.type() == Type.MULTI) multi.computeIfAbsent(n, k -> new ArrayList<>()).add(value);
      else given.put(n, value); // the last occurrence wins, as with click
    }
    return build(given, multi, cm);
  }

  private static Translation build(Map<String, String> given, Map<String, List<String>> multi, List<String> cm)
      throws ParseException {
    Map<String, String> ov = new LinkedHashMap<>();
    Map<String, String> explicit = new LinkedHashMap<>();
    Values v = new Values(given);
    if (!given.containsKey("--outdir")) throw new ParseException("missing option --outdir (ct_train.py requires it)");
    if (!given.containsKey("--data")) throw new ParseException("missing option --data (ct_train.py requires it)");

    // Main options.
    boolean cond = v.bool("--cond");
    String arch = v.str("--arch").toLowerCase(Locale.ROOT);
    if (!List.of("ddpmpp", "ncsnpp", "adm", "edm2").contains(arch)) {
      throw new ParseException("--arch: must be one of ddpmpp, ncsnpp, adm, edm2, got '" + v.str("--arch") + "'");
    }
    if (!v.str("--precond").equals("ect")) {
      throw new ParseException("--precond: ct_train.py knows only 'ect', got '" + v.str("--precond") + "'");
    }
    if (cond) put(ov, explicit, "cond", "true", "--cond");

    // Network.
    ObjectNode net = JSON.createObjectNode();
    net.put("arch", arch);
    double dropout = v.num("--dropout");
    if (dropout < 0 || dropout > 1) throw new ParseException("--dropout: must be in [0, 1], got " + dropout);
    net.put("dropout", dropout);
    if (given.containsKey("--cbase")) net.put("model_channels", v.integer("--cbase"));
    if (given.containsKey("--cres")) {
      ArrayNode mult = net.putArray("channel_mult");
      for (int m : intList(v.str("--cres"))) mult.add(m);
    }
    double augment = v.num("--augment");
    if (augment < 0 || augment > 1) throw new ParseException("--augment: must be in [0, 1], got " + augment);
    if (augment > 0) net.put("augment_dim", 9); // ct_train.py: the pipe's 9 augmentation labels feed the network
    ov.put("network", net.toString());
    explicitAll(given, explicit, "network.", "--arch", "arch", "--dropout", "dropout", "--cbase", "model_channels",
        "--cres", "channel_mult", "--augment", "augment_dim");
    if (augment > 0) put(ov, explicit, "augment.p", num(augment), "--augment"); // 0: no augmentation pipe

    // Preconditioning and loss (ECMPrecond's σ constants; ECMLoss's parameters).
    ov.put("precond", "{\"sigma_data\": 0.5, \"sigma_min\": 0.003, \"sigma_max\": 80}");
    double tick = v.num("--tick");
    if (tick < 1) throw new ParseException("--tick: must be >= 1 kimg, got " + num(tick));
    int doubleTicks = v.integer("--double");
    if (doubleTicks < 1) throw new ParseException("--double: must be >= 1 tick, got " + doubleTicks);
    String mapping = v.str("--mapping");
    if (!mapping.equals("sigmoid") && !mapping.equals("const")) {
      throw new ParseException("--mapping: must be const or sigmoid, got '" + mapping + "'");
    }
    ObjectNode obj = JSON.createObjectNode();
    obj.put("kind", "ect");
    obj.put("P_mean", v.num("--mean"));
    obj.put("P_std", v.num("--std"));
    obj.put("q", v.num("-q"));
    obj.put("k", v.num("-k"));
    obj.put("b", v.num("-b"));
    obj.put("c", v.num("-c"));
    obj.put("mapping", mapping);
    obj.put("weighting", "inverse_gap");
    obj.put("denoise_kimg", 0);
    obj.put("double_kimg", doubleTicks * tick);
    ov.put("objective", obj.toString());
    explicitAll(given, explicit, "objective.", "--mean", "P_mean", "--std", "P_std", "-q", "q", "-k", "k", "-b", "b",
        "-c", "c", "--mapping", "mapping", "--double", "double_kimg");

    // Optimizer: torch.optim.<optim>(lr, betas=[0.9, 0.999], eps=1e-8).
    String optim = v.str("--optim");
    String kind = switch (optim) {
      case "Adam" -> "adam";
      case "AdamW" -> "adamw";
      case "RAdam" -> "radam";
      case "SGD" -> throw new ParseException("--optim SGD: ct_train.py passes betas and eps, which torch.optim.SGD "
          + "does not take; use --set optimizer.kind=sgd");
      default -> throw new ParseException("--optim: torch.optim." + optim + " is not available (Adam, AdamW, RAdam)");
    };
    double lr = v.num("--lr");
    if (!(lr > 0)) throw new ParseException("--lr: must be > 0, got " + num(lr));
    ov.put("optimizer", "{\"kind\": \"" + kind + "\", \"lr\": " + num(lr) + ", \"betas\": [0.9, 0.999], \"eps\": 1e-8}");
    explicitAll(given, explicit, "optimizer.", "--optim", "kind", "--lr", "lr");
    ov.put("lr_rampup_kimg", "0");

    // EMA.
    if (given.containsKey("--ema")) {
      throw new ParseException("--ema: ct_train.py's half-life EMA has no ramp-up with a fixed start, which cm4j's "
          + "halflife EMA cannot express; use --ema_beta, or --set ema=[{\"kind\": \"halflife\", ...}]");
    }
    double beta = v.num("--ema_beta");
    if (!(beta >= 0 && beta <= 1)) throw new ParseException("--ema_beta: must be in [0, 1], got " + num(beta));
    put(ov, explicit, "ema", "[{\"kind\": \"fixed\", \"beta\": " + num(beta) + "}]",
        given.containsKey("--ema_beta") ? "--ema_beta" : null);

    // Data.
    boolean xflip = v.bool("--xflip");
    if (!v.bool("--cache")) {
      throw new ParseException("--cache=0: cm4j's loaders keep the data as they do (no uncached mode); drop the option");
    }
    int workers = v.integer("--workers");
    if (workers < 1) throw new ParseException("--workers: must be >= 1, got " + workers);
    if (workers != 1) put(ov, explicit, "data.workers", Integer.toString(workers), "--workers");

    // Training length and batch.
    int batch = v.integer("--batch");
    if (batch < 1) throw new ParseException("--batch: must be >= 1, got " + batch);
    put(ov, explicit, "batch", Integer.toString(batch), given.containsKey("--batch") ? "--batch" : null);
    if (given.containsKey("--batch-gpu")) {
      int bg = v.integer("--batch-gpu");
      if (bg < 1) throw new ParseException("--batch-gpu: must be >= 1, got " + bg);
      put(ov, explicit, "batch_gpu", Integer.toString(bg), "--batch-gpu");
    } else {
      ov.put("batch_gpu", "0");
    }
    double duration = v.num("--duration");
    if (!(duration > 0)) throw new ParseException("--duration: must be > 0 Mimg, got " + num(duration));
    put(ov, explicit, "duration_kimg", Long.toString(Math.max((long) (duration * 1000), 1)),
        given.containsKey("--duration") ? "--duration" : null); // ct_train.py: max(int(duration * 1000), 1)
    put(ov, explicit, "tick_kimg", num(tick), given.containsKey("--tick") ? "--tick" : null);
    int snap = v.integer("--snap");
    int dump = v.integer("--dump");
    if (snap < 1) throw new ParseException("--snap: must be >= 1 tick, got " + snap);
    if (dump < 1) throw new ParseException("--dump: must be >= 1 tick, got " + dump);
    put(ov, explicit, "snap_ticks", Integer.toString(snap), given.containsKey("--snap") ? "--snap" : null);
    put(ov, explicit, "state_ticks", Integer.toString(dump), given.containsKey("--dump") ? "--dump" : null);
    if (given.containsKey("--ckpt")) {
      throw new ParseException("--ckpt: network-snapshot-latest and training-state-latest follow every snapshot "
          + "(--snap) and state (--dump) here; there is no separate interval");
    }
    if (given.containsKey("--sample_every") && v.integer("--sample_every") != snap) {
      throw new ParseException("--sample_every " + v.integer("--sample_every") + ": cm4j writes the sample grids with "
          + "each snapshot, every --snap ticks (" + snap + "); give --sample_every equal to --snap, or leave it out");
    }

    // Performance.
    boolean fp16 = v.bool("--fp16");
    put(ov, explicit, "precision", fp16 ? "\"fp16\"" : "\"fp32\"", given.containsKey("--fp16") ? "--fp16" : null);
    if (v.num("--ls") != 1) {
      throw new ParseException("--ls " + v.str("--ls") + ": a fixed loss-scaling factor is not available; --fp16=1 "
          + "trains with dynamic loss scaling");
    }
    if (v.bool("--tf32")) cm.add("--tf32");
    if (v.bool("--bench")) cm.add("--bench");
    ov.put("nan_guard", "\"sanitize\""); // ct_train.py replaces non-finite gradients (nan_to_num) before each step
    ov.put("clip_grad_norm", "0");

    // Seed: ct_train.py draws a random one unless --seed is given.
    boolean seedDrawn = !given.containsKey("--seed");
    long seed = seedDrawn ? new java.security.SecureRandom().nextInt(Integer.MAX_VALUE)
        : v.integer("--seed");
    put(ov, explicit, "seed", Long.toString(seed), seedDrawn ? null : "--seed");

    // Transfer and resume.
    String transfer = given.get("--transfer");
    String resume = given.get("--resume");
    if (transfer != null && resume != null) {
      throw new ParseException("--transfer and --resume cannot be specified at the same time");
    }
    put(ov, explicit, "init_from", transfer == null ? "null" : quote(transfer), transfer == null ? null : "--transfer");
    if (given.containsKey("--resume-tick")) {
      throw new ParseException("--resume-tick: a cm4j training state carries its own position (images, tick); "
          + "resume with --resume alone");
    }

    // Evaluation.
    List<String> mids = multi.getOrDefault("--mid_t", List.of(SPECS.get("--mid_t").def()));
    StringBuilder steps = new StringBuilder("[");
    for (String m : mids) {
      double t = parseNum("--mid_t", m);
      if (steps.length() > 1) steps.append(", ");
      steps.append(num(t));
    }
    put(ov, explicit, "sample_steps", steps.append(']').toString(), multi.containsKey("--mid_t") ? "--mid_t" : null);
    String metrics = v.str("--metrics");
    List<String> names = new ArrayList<>();
    if (!metrics.isEmpty() && !metrics.equalsIgnoreCase("none")) names.addAll(List.of(metrics.split(",")));
    put(ov, explicit, "eval.metrics", JSON.valueToTree(names).toString(),
        given.containsKey("--metrics") ? "--metrics" : null);
    int every = v.integer("--eval_every");
    if (every < 1) throw new ParseException("--eval_every: must be >= 1 tick, got " + every);
    put(ov, explicit, "eval.every_ticks", Integer.toString(every), given.containsKey("--eval_every") ? "--eval_every" : null);

    // Description: ct_train.py's {dataset}-{cond}-{arch}-{precond}-{optim}-{lr}-batch{N}-{dtype}[-desc]; the number of
    // GPUs (gpusN) is left out, as the launcher decides it after this.
    String dataName = java.nio.file.Path.of(given.get("--data")).getFileName().toString().replaceFirst("\\.[^.]*$", "");
    String desc = String.format(Locale.ROOT, "%s-%s-%s-ect-%s-%f-batch%d-%s", dataName, cond ? "cond" : "uncond", arch,
        optim, lr, batch, fp16 ? "fp16" : "fp32");
    if (given.containsKey("--desc")) desc += "-" + given.get("--desc");
    put(ov, explicit, "desc", quote(desc), given.containsKey("--desc") ? "--desc" : null);

    if (given.containsKey("--xflip")) explicit.put("data.xflip", "--xflip");
    Map<String, String> data = new LinkedHashMap<>();
    data.put("data.xflip", Boolean.toString(xflip));
    ov.putAll(data);
    return new Translation(ov, explicit, given.get("--data"), given.get("--outdir"), resume,
        given.containsKey("--nosubdir"), given.containsKey("--dry_run"), seedDrawn, transfer, List.copyOf(cm));
  }

  /** Pairs of (option, key under prefix): each option given on the command line owns its key. */
  private static void explicitAll(Map<String, String> given, Map<String, String> explicit, String prefix,
      String... pairs) {
    for (int i = 0; i < pairs.length; i += 2) if (given.containsKey(pairs[i])) explicit.put(prefix + pairs[i + 1], pairs[i]);
  }

  /** Records an override, and the option that set it when given on the command line (null: a default). */
  private static void put(Map<String, String> ov, Map<String, String> explicit, String key, String value, String option) {
    ov.put(key, value);
    if (option != null) explicit.put(key, option);
  }

  /**
   * The --set overrides checked against the translation: a key (or a key inside a section) that an option given on
   * the command line also sets is an error naming both.
   */
  static void checkSets(Translation t, Map<String, String> sets) throws ParseException {
    for (String key : sets.keySet()) {
      for (var e : t.explicit().entrySet()) {
        String k = e.getKey();
        if (key.equals(k) || key.startsWith(k + ".") || k.startsWith(key + ".")) {
          throw new ParseException("--set " + key + " conflicts with " + e.getValue() + " (both set " + k + ")");
        }
      }
    }
  }

  /** ct_train.py's parse_int_list: "1,2,5-10" → [1, 2, 5, 6, 7, 8, 9, 10]. */
  static List<Integer> intList(String s) throws ParseException {
    List<Integer> out = new ArrayList<>();
    for (String p : s.split(",")) {
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(\\d+)-(\\d+)$").matcher(p);
      try {
        if (m.matches()) {
          for (int i = Integer.parseInt(m.group(1)); i <= Integer.parseInt(m.group(2)); i++) out.add(i);
        } else {
          out.add(Integer.parseInt(p.trim()));
        }
      } catch (NumberFormatException e) {
        throw new ParseException("--cres: not a list of integers or ranges: '" + s + "'");
      }
    }
    return out;
  }

  /** click's BOOL: 1/0, true/false, t/f, yes/no, y/n, on/off (any case); null when none. */
  static Boolean parseBoolOrNull(String s) {
    return switch (s.trim().toLowerCase(Locale.ROOT)) {
      case "1", "true", "t", "yes", "y", "on" -> true;
      case "0", "false", "f", "no", "n", "off" -> false;
      default -> null;
    };
  }

  private static double parseNum(String option, String s) throws ParseException {
    try {
      double d = Double.parseDouble(s.trim());
      if (!Double.isFinite(d)) throw new NumberFormatException();
      return d;
    } catch (NumberFormatException e) {
      throw new ParseException(option + ": not a number: '" + s + "'");
    }
  }

  /** A number as JSON, integral values without a fraction ("12.8", "250"). */
  private static String num(double d) {
    return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
  }

  private static String quote(String s) {
    return JSON.getNodeFactory().textNode(s).toString();
  }

  /** Typed reads of the given options, with ct_train.py's defaults for absent ones. */
  private record Values(Map<String, String> given) {
    String str(String n) {
      String s = given.containsKey(n) ? given.get(n) : SPECS.get(n).def();
      return s == null ? "" : s;
    }

    double num(String n) throws ParseException {
      return parseNum(n, str(n));
    }

    int integer(String n) throws ParseException {
      String s = str(n);
      try {
        return Integer.parseInt(s.trim());
      } catch (NumberFormatException e) {
        throw new ParseException(n + ": not an integer: '" + s + "'");
      }
    }

    boolean bool(String n) throws ParseException {
      Boolean b = parseBoolOrNull(str(n));
      if (b == null) throw new ParseException(n + ": not a boolean (1/0, true/false, yes/no): '" + str(n) + "'");
      return b;
    }
  }

  /** Names of the ct_train.py options, for the help text. */
  static Set<String> names() {
    Set<String> s = new LinkedHashSet<>(SPECS.keySet());
    s.add("-n");
    return s;
  }
}
