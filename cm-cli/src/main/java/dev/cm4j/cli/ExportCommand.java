package dev.cm4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.DefaultParser;
import org.apache.commons.cli.HelpFormatter;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

/**
 * {@code cm export}: PyTorch checkpoints ⇄ cm4j safetensors through {@code tools/export_pytorch.py} (shipped in this
 * jar), run with the user's own Python and PyTorch (and, for EDM pickles, EDM's code via --code-dir).
 */
final class ExportCommand {
  private ExportCommand() {}

  static int run(String[] args, PrintStream out, PrintStream err) throws ParseException {
    Options spec = new Options();
    spec.addOption(Option.builder().longOpt("to").hasArg().argName("safetensors|pytorch")
        .desc("direction: safetensors (from .pkl/.pt) or pytorch (from .safetensors to a .pt state dict)").get());
    spec.addOption(Option.builder().longOpt("key").hasArg().argName("K").desc("checkpoint entry holding the network (ema, net, ...)").get());
    spec.addOption(Option.builder().longOpt("code-dir").hasArg().argName("dir").desc("code the pickle needs (EDM/ECT repository)").get());
    spec.addOption(Option.builder().longOpt("strip-prefix").hasArg().argName("p").desc("keep tensors starting with p, without it").get());
    spec.addOption(Option.builder().longOpt("add-prefix").hasArg().argName("p").desc("prepend p to every tensor name").get());
    spec.addOption(Option.builder().longOpt("python").hasArg().argName("exe").desc("Python with torch and safetensors (python3)").get());
    spec.addOption(Option.builder("v").longOpt("verbose").desc("stack traces on errors").get());
    spec.addOption(Option.builder("h").longOpt("help").desc("this help").get());
    CommandLine cl = new DefaultParser().parse(spec, args);
    if (cl.hasOption("help") || cl.getArgList().size() != 2 || !cl.hasOption("to")) {
      PrintWriter pw = new PrintWriter(out);
      new HelpFormatter().printHelp(pw, 100, "cm export --to safetensors|pytorch IN OUT [options]", """
          Convert weights between PyTorch and cm4j:
            cm export --to safetensors network-snapshot-200000.pkl edm.safetensors --code-dir ~/edm
            cm export --to safetensors training-state-100000.pt net.safetensors --key net
            cm export --to pytorch runs/00000-x/network-snapshot-000032000.safetensors net.pt""", spec, 2, 2, "", false);
      pw.flush();
      return cl.hasOption("help") ? 0 : 2;
    }
    String to = cl.getOptionValue("to");
    if (!to.equals("safetensors") && !to.equals("pytorch")) throw new ParseException("--to must be safetensors or pytorch");
    Path script = extractTool();
    List<String> cmd = new ArrayList<>(List.of(cl.getOptionValue("python", "python3"), script.toString(),
        "to-" + to, cl.getArgList().get(0), cl.getArgList().get(1)));
    for (String o : List.of("key", "code-dir", "strip-prefix", "add-prefix")) {
      if (cl.hasOption(o)) {
        cmd.add("--" + o);
        cmd.add(cl.getOptionValue(o));
      }
    }
    try {
      Process p = new ProcessBuilder(cmd).start();
      byte[] o = p.getInputStream().readAllBytes();
      byte[] e = p.getErrorStream().readAllBytes();
      int code = p.waitFor();
      out.print(new String(o, StandardCharsets.UTF_8));
      if (code != 0) {
        String msg = new String(e, StandardCharsets.UTF_8).strip();
        String last = msg.isEmpty() ? "exit code " + code : msg.substring(msg.lastIndexOf('\n') + 1);
        throw new IllegalStateException(last.replaceFirst("^export_pytorch: ", ""));
      }
      return 0;
    } catch (IOException e) {
      throw new IllegalStateException("cannot run " + cmd.get(0) + " (set --python to a Python with torch): "
          + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 130;
    } finally {
      try {
        Files.deleteIfExists(script);
      } catch (IOException ignored) {
        // a temp file
      }
    }
  }

  private static Path extractTool() {
    try (InputStream in = ExportCommand.class.getResourceAsStream("tools/export_pytorch.py")) {
      if (in == null) throw new IllegalStateException("export_pytorch.py is missing from the cm4j-cli jar");
      Path f = Files.createTempFile("cm4j-export", ".py");
      Files.write(f, in.readAllBytes());
      return f;
    } catch (IOException e) {
      throw new IllegalStateException("cannot extract export_pytorch.py: " + e.getMessage(), e);
    }
  }
}
