package dev.cm4j.cli;

import dev.cm4j.train.PosthocEma;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.DefaultParser;
import org.apache.commons.cli.HelpFormatter;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

/**
 * {@code cm phema}: EDM2's post-hoc EMA reconstruction (reconstruct_phema.py). Reads the power-function EMA snapshots
 * a run stored ({@code network-snapshot-IIIIIIIII-S.SSS.safetensors}, written by power EMA tracks with snapshot_kimg
 * &gt; 0) and writes one network snapshot per requested σ_rel ({@code phema-IIIIIIIII-S.SSS.safetensors}), loadable by
 * {@code cm sample} and {@code cm eval}.
 */
final class PhemaCommand {
  private PhemaCommand() {}

  static int run(String[] args, PrintStream out) throws ParseException {
    Options spec = new Options();
    spec.addOption(Option.builder().longOpt("in").hasArg().argName("run-dir").desc("run directory with the stored snapshots").get());
    spec.addOption(Option.builder().longOpt("std").hasArgs().argName("sigma_rel")
        .desc("relative width of the profile to reconstruct, in (0, 0.28]; repeatable or comma-separated").get());
    spec.addOption(Option.builder().longOpt("out").hasArg().argName("dir").desc("where the reconstructions go").get());
    spec.addOption(Option.builder().longOpt("kimg").hasArg().argName("K")
        .desc("reconstruct at the stored snapshot of this many images / 1000 (default: the latest)").get());
    spec.addOption(Option.builder("v").longOpt("verbose").desc("stack traces on errors").get());
    spec.addOption(Option.builder("h").longOpt("help").desc("this help").get());
    CommandLine cl = new DefaultParser().parse(spec, args);
    if (cl.hasOption("help") || !cl.hasOption("in") || !cl.hasOption("std") || !cl.hasOption("out")) {
      PrintWriter pw = new PrintWriter(out);
      new HelpFormatter().printHelp(pw, 100, "cm phema --in RUN_DIR --std S [--std S ...] --out DIR [--kimg K]", """
          Post-hoc EMA (EDM2): reconstruct any power-function EMA profile from the snapshots stored during training
          (options ema: [{"kind": "power", "sigma_rel": 0.05, "snapshot_kimg": 8192}, {... 0.10 ...}]):
            cm phema --in runs/00000-x --std 0.07 --std 0.12 --out runs/00000-x/phema""", spec, 2, 2, "", false);
      pw.flush();
      return cl.hasOption("help") ? 0 : 2;
    }
    double[] std = cl.getOptionValues("std").length == 0 ? new double[0]
        : java.util.Arrays.stream(cl.getOptionValues("std")).flatMap(s -> java.util.Arrays.stream(s.split(",")))
            .map(String::trim).filter(s -> !s.isEmpty()).mapToDouble(s -> parseStd(s)).distinct().sorted().toArray();
    long outNimg = 0;
    if (cl.hasOption("kimg")) {
      try {
        double k = Double.parseDouble(cl.getOptionValue("kimg"));
        if (!(k > 0)) throw new NumberFormatException();
        outNimg = Math.round(k * 1000);
      } catch (NumberFormatException e) {
        throw new ParseException("--kimg must be a positive number, got '" + cl.getOptionValue("kimg") + "'");
      }
    }
    List<PosthocEma.Input> in = PosthocEma.list(Path.of(cl.getOptionValue("in")));
    List<Path> written = PosthocEma.reconstruct(in, std, outNimg, Path.of(cl.getOptionValue("out")));
    out.printf(Locale.ROOT, "post-hoc EMA from %d stored snapshots:%n", in.size());
    for (Path p : written) out.println("  " + p);
    return 0;
  }

  private static double parseStd(String s) {
    double v;
    try {
      v = Double.parseDouble(s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--std must be a number, got '" + s + "'");
    }
    if (!(v > 0 && v < 0.289)) throw new IllegalArgumentException("--std must be in (0, 0.289) as EDM2 requires, got " + v);
    return v;
  }
}
