package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.module.Configuration;
import java.lang.module.ModuleFinder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.spi.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The layering of cm4j's modules, checked on the real module graph (the other tests run on the class path, where
 * module descriptors are ignored): dev.cm4j.bindings exports its packages to dev.cm4j.core only, dev.cm4j.core
 * keeps dev.cm4j.tensor.internal to itself, dev.cm4j.cli reads cm-core only; javac refuses code that reaches past
 * that; and the cm command runs from the module path with native access granted to the two modules that need it.
 */
class ModuleGraphTest {
  private static final Set<String> ROOTS = Set.of("dev.cm4j.cli");
  private static List<Path> modulePath;

  /** The module path: this build's classes/jars of bindings, core, cli and their runtime dependencies. */
  @BeforeAll
  static void modulePath() {
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<Path> mp = new ArrayList<>();
    for (String e : cp.split(File.pathSeparator)) {
      if (e.isEmpty()) continue;
      Path p = Path.of(e);
      String name = p.getFileName().toString();
      boolean ours = Files.isDirectory(p) && Files.exists(p.resolve("module-info.class"));
      boolean jar = name.endsWith(".jar") && (name.startsWith("cm4j-") || name.startsWith("jackson-")
          || name.startsWith("commons-cli-"));
      if (ours || jar) mp.add(p);
    }
    modulePath = List.copyOf(mp);
  }

  private static ModuleLayer layer() {
    ModuleFinder finder = ModuleFinder.of(modulePath.toArray(Path[]::new));
    Configuration cf = ModuleLayer.boot().configuration().resolve(finder, ModuleFinder.of(), ROOTS);
    return ModuleLayer.boot().defineModulesWithOneLoader(cf, ClassLoader.getPlatformClassLoader());
  }

  @Test
  void theBindingsAreExportedToCoreOnlyAndTheInteropPackageToNoOne() {
    ModuleLayer layer = layer();
    Module bindings = layer.findModule("dev.cm4j.bindings").orElseThrow(() -> new AssertionError(modulePath));
    Module core = layer.findModule("dev.cm4j.core").orElseThrow();
    Module cli = layer.findModule("dev.cm4j.cli").orElseThrow();
    Module jackson = layer.findModule("com.fasterxml.jackson.databind").orElseThrow();

    for (String pkg : List.of("dev.cm4j.bindings", "dev.cm4j.bindings.ffi")) {
      assertTrue(bindings.getPackages().contains(pkg), pkg);
      assertTrue(bindings.isExported(pkg, core), pkg + " to core");
      assertFalse(bindings.isExported(pkg), pkg + " exported to everyone");
      assertFalse(bindings.isExported(pkg, cli), pkg + " to cli");
      assertFalse(bindings.isOpen(pkg, cli), pkg + " open to cli");
    }
    assertTrue(core.getPackages().contains("dev.cm4j.tensor.internal"), core.getPackages().toString());
    assertFalse(core.isExported("dev.cm4j.tensor.internal", cli));
    assertFalse(core.isOpen("dev.cm4j.tensor.internal", jackson));
    for (String pkg : List.of("dev.cm4j.tensor", "dev.cm4j.train", "dev.cm4j.dist", "dev.cm4j.jit")) {
      assertTrue(core.isExported(pkg), pkg);
    }
    assertTrue(core.isOpen("dev.cm4j.train", jackson), "options are bound by Jackson");
    assertTrue(cli.canRead(core));
    assertFalse(cli.canRead(bindings), "cm-cli must depend on cm-core only");
    assertTrue(core.canRead(bindings));
  }

  /**
   * Compiles one class in a module {@code probe} (requiring core and bindings) against the module path; returns
   * javac's output, empty when it compiled cleanly.
   */
  private static String compileProbe(Path dir, String imports) throws IOException {
    Path src = Files.createDirectories(dir.resolve("src/p"));
    Path info = Files.writeString(dir.resolve("src/module-info.java"),
        "module probe { requires dev.cm4j.core; requires dev.cm4j.bindings; }\n");
    Path probe = Files.writeString(src.resolve("Probe.java"), "package p;\n" + imports + "\nclass Probe {}\n");
    ToolProvider javac = ToolProvider.findFirst("javac").orElseThrow(() -> new AssertionError("no javac"));
    StringWriter out = new StringWriter();
    int rc;
    try (PrintWriter w = new PrintWriter(out)) {
      rc = javac.run(w, w, "--module-path", joined(), "-d", dir.resolve("out").toString(), "-proc:none",
          info.toString(), probe.toString());
    }
    assertEquals(out.toString().isEmpty(), rc == 0, "javac exit " + rc + ": " + out);
    return out.toString();
  }

  private static String joined() {
    return String.join(File.pathSeparator, modulePath.stream().map(Path::toString).toList());
  }

  @Test
  void javacRejectsTheBindingsAndTheInteropPackageOutsideCore(@TempDir Path dir) throws IOException {
    // Control: the same setup compiles against cm-core's API, so the failures below are about access.
    assertEquals("", compileProbe(dir.resolve("ok"), "import dev.cm4j.tensor.Tensor;"));
    String ffi = compileProbe(dir.resolve("ffi"), "import dev.cm4j.bindings.ffi.CmTorch;");
    assertTrue(ffi.contains("dev.cm4j.bindings.ffi") && ffi.contains("not visible"), ffi);
    String loader = compileProbe(dir.resolve("loader"), "import dev.cm4j.bindings.NativeLibrary;");
    assertTrue(loader.contains("dev.cm4j.bindings") && loader.contains("not visible"), loader);
    String interop = compileProbe(dir.resolve("interop"), "import dev.cm4j.tensor.internal.NativeInterop;");
    assertTrue(interop.contains("dev.cm4j.tensor.internal") && interop.contains("not visible"), interop);
  }

  record Run(int code, String out) {}

  private static Run cm(Path workDir, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=dev.cm4j.bindings,dev.cm4j.core", "-Xss4m"));
    String nativePath = System.getProperty("cm4j.native.path");
    if (nativePath != null) cmd.add("-Dcm4j.native.path=" + nativePath);
    cmd.addAll(List.of("--module-path", joined(), "-m", "dev.cm4j.cli/dev.cm4j.cli.Main"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).directory(workDir.toFile()).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "cm did not finish");
    return new Run(p.exitValue(), out);
  }

  @Test
  void cmRunsFromTheModulePathWithNativeAccessForBindingsAndCore(@TempDir Path dir) throws Exception {
    Run info = cm(dir, "info");
    assertEquals(0, info.code(), info.out());
    assertTrue(info.out().contains("libtorch    "), info.out());
    // On the module path the version comes from the module descriptor (the class path reads the jar manifest).
    assertTrue(info.out().startsWith("cm4j        0."), info.out());
    // A module without native access would make the JVM warn about a restricted method (or fail with it denied).
    assertFalse(info.out().contains("restricted method"), info.out());

    // Options are bound by Jackson (packages opened to it), snapshots written through dev.cm4j.io.
    Run train = cm(dir, "train", "--preset", "toy2d-ect", "--outdir", dir.resolve("runs").toString(), "--duration",
        "0.000128", "--set", "tick_kimg=0.064", "--set", "network.hidden=16", "--set", "data.size=500", "--batch",
        "64", "--threads", "1");
    assertEquals(0, train.code(), train.out());
    assertTrue(train.out().contains("run directory:"), train.out());
    assertFalse(train.out().contains("restricted method"), train.out());
  }
}
