package dev.cm4j.cli;

import dev.cm4j.bindings.NativeLibrary;
import dev.cm4j.tensor.Torch;
import java.io.PrintStream;

/** The {@code cm} command. Sub-commands so far: info. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /** Runs the command; returns the exit code. */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    boolean verbose = false;
    for (String a : args) if (a.equals("--verbose") || a.equals("-v")) verbose = true;
    String cmd = args.length == 0 ? "--help" : args[0];
    try {
      switch (cmd) {
        case "info":
          return info(out);
        case "--help":
        case "-h":
        case "help":
          out.println("usage: cm <command> [options]\n\ncommands:\n  info    cm4j and libtorch versions, devices, threads,"
              + " build configuration\n\nRun 'cm <command> --help' for a command's options.");
          return 0;
        default:
          err.println("cm: unknown command '" + cmd + "' (try 'cm --help')");
          return 2;
      }
    } catch (RuntimeException e) {
      err.println("cm: " + e.getMessage());
      if (verbose) e.printStackTrace(err);
      return 1;
    }
  }

  static int info(PrintStream out) {
    NativeLibrary.Info info = Torch.load();
    Package p = Main.class.getPackage();
    String version = p != null && p.getImplementationVersion() != null ? p.getImplementationVersion() : "dev";
    out.println("cm4j        " + version + " (C API " + Torch.apiVersion() + ")");
    out.println("libtorch    " + info.libtorchVersion() + " (" + info.libtorchLibrary() + ")");
    out.println("native      " + info.library() + " [" + info.source() + "]");
    out.println("java        " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")");
    out.println("threads     intra-op " + Torch.numThreads() + ", inter-op " + Torch.numInteropThreads());
    out.println("cuda        " + (Torch.cudaIsAvailable() ? Torch.cudaDeviceCount() + " device(s)" : "not available"));
    out.println("devices     cpu" + (Torch.cudaIsAvailable() ? ", cuda:0.." + (Torch.cudaDeviceCount() - 1) : ""));
    String cfg = Torch.buildConfig();
    for (String line : cfg.split("\n")) {
      String t = line.trim();
      if (t.startsWith("- BLAS") || t.startsWith("- LAPACK") || t.startsWith("- OpenMP") || t.startsWith("- CPU capability")
          || t.contains("BLAS_INFO") || t.contains("LAPACK_INFO")) {
        out.println("build       " + t.replaceFirst("^- ", ""));
      }
    }
    return 0;
  }
}
