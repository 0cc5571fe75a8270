package dev.cm4j.bindings;

import dev.cm4j.bindings.ffi.CmTorch;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Loads the cm_torch native library (and, when asked, a specific libtorch) so that the generated bindings in
 * {@code dev.cm4j.bindings.ffi} resolve their symbols through the loader lookup.
 *
 * <p>Resolution of the cm_torch library, in order:
 *
 * <ol>
 *   <li>an explicit path: system property {@value #PROP_NATIVE_PATH} or environment variable {@code
 *       CM4J_NATIVE_PATH} (the library file, or a directory holding it and its {@code native.properties});
 *   <li>the library packaged in this jar under {@code dev/cm4j/bindings/native/<platform>/}, extracted once into a
 *       versioned cache directory ({@code ~/.cache/cm4j/native/<version>-<sha>-<platform>/}) with an atomic move;
 *   <li>otherwise a {@link NativeLoadException} saying how to provide one.
 * </ol>
 *
 * <p>libtorch is found through the library's RPATH (the libtorch it was built against). To run on another
 * libtorch of the same version (a CUDA build, say) set {@code LIBTORCH} or the system property {@value
 * #PROP_LIBTORCH}: its libraries are then loaded first, in dependency order. The libtorch version recorded at
 * build time is checked against the one actually loaded; a mismatch fails with a clear message.
 */
public final class NativeLibrary {
  /** System property: path of libcm_torch.so (or its directory). */
  public static final String PROP_NATIVE_PATH = "cm4j.native.path";
  /** System property: a libtorch directory to load instead of the one recorded at build time. */
  public static final String PROP_LIBTORCH = "cm4j.libtorch";
  /** System property: the cache directory (default {@code $CM4J_CACHE}, else {@code ~/.cache/cm4j}). */
  public static final String PROP_CACHE = "cm4j.cache";

  static final String LIB_NAME = "libcm_torch.so";
  static final String RESOURCE_DIR = "/dev/cm4j/bindings/native/";

  private static volatile Info loaded;

  /** What was loaded, from where. */
  public record Info(Path library, String libtorchVersion, Path libtorchLibrary, String source) {}

  private NativeLibrary() {}

  /** Loads the library once (thread-safe); later calls return the same {@link Info}. */
  public static Info load() {
    Info i = loaded;
    if (i != null) return i;
    synchronized (NativeLibrary.class) {
      if (loaded == null) loaded = doLoad();
      return loaded;
    }
  }

  /** The platform directory name used for packaged libraries, e.g. {@code linux-x86_64}. */
  public static String platform() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
    String o = os.contains("linux") ? "linux" : os.contains("mac") ? "macos" : os.contains("win") ? "windows" : os;
    String a = arch.equals("amd64") || arch.equals("x86_64") ? "x86_64" : arch.equals("aarch64") ? "aarch64" : arch;
    return o + "-" + a;
  }

  private static Info doLoad() {
    String source;
    Path lib;
    Properties props = new Properties();
    String explicit = firstNonEmpty(System.getProperty(PROP_NATIVE_PATH), System.getenv("CM4J_NATIVE_PATH"));
    if (explicit != null) {
      Path p = Path.of(explicit);
      if (Files.isDirectory(p)) p = p.resolve(LIB_NAME);
      if (!Files.isRegularFile(p)) {
        throw new NativeLoadException("cm4j native library not found at " + p + " (from " + PROP_NATIVE_PATH
            + " / CM4J_NATIVE_PATH)");
      }
      lib = p;
      Path pp = p.resolveSibling("native.properties");
      if (Files.isRegularFile(pp)) readProps(pp, props);
      source = "explicit path";
    } else {
      String dir = RESOURCE_DIR + platform() + "/";
      URL propsUrl = NativeLibrary.class.getResource(dir + "native.properties");
      URL libUrl = NativeLibrary.class.getResource(dir + LIB_NAME);
      if (propsUrl == null || libUrl == null) {
        throw new NativeLoadException("no cm4j native library is packaged for platform " + platform()
            + "; build one with native/build.sh and point " + PROP_NATIVE_PATH + " (or CM4J_NATIVE_PATH) at it");
      }
      try (InputStream in = propsUrl.openStream()) {
        props.load(in);
      } catch (IOException e) {
        throw new NativeLoadException("cannot read " + propsUrl + ": " + e.getMessage(), e);
      }
      lib = extract(libUrl, props);
      source = "packaged (" + libUrl + ")";
    }
    String recordedTorch = props.getProperty("libtorch.version");

    // libtorch: an explicit directory is preloaded; otherwise the RPATH recorded at build time must still exist.
    String ltDir = firstNonEmpty(System.getProperty(PROP_LIBTORCH), System.getenv("LIBTORCH"));
    if (ltDir != null) {
      Path lt = Path.of(ltDir);
      String v = libtorchVersion(lt);
      if (recordedTorch != null && v != null && !sameVersion(v, recordedTorch)) {
        throw new NativeLoadException("libtorch version mismatch: " + lib + " was built against libtorch "
            + recordedTorch + " but LIBTORCH=" + lt + " is libtorch " + v + "; rebuild (native/build.sh with that"
            + " LIBTORCH) or point LIBTORCH at libtorch " + recordedTorch);
      }
      preloadLibtorch(lt);
    } else {
      String recordedPath = props.getProperty("libtorch.path");
      if (recordedPath != null && !Files.isDirectory(Path.of(recordedPath, "lib"))) {
        throw new NativeLoadException("the libtorch this library was built against (" + recordedPath
            + ") is not on this machine; set LIBTORCH (or -D" + PROP_LIBTORCH + ") to a libtorch " + recordedTorch
            + " directory");
      }
    }
    try {
      System.load(lib.toAbsolutePath().toString());
    } catch (UnsatisfiedLinkError e) {
      throw new NativeLoadException("cannot load " + lib + ": " + e.getMessage()
          + " (is libtorch present? set LIBTORCH to a libtorch " + recordedTorch + " directory)", e);
    }

    int api = CmTorch.cm_api_version();
    if (api != CmTorch.CM_API_VERSION()) {
      throw new NativeLoadException("C API version mismatch: " + lib + " implements version " + api
          + " but the bindings expect " + CmTorch.CM_API_VERSION() + "; rebuild the native library");
    }
    Path torchLib = loadedLibtorchPath();
    String loadedVersion = torchLib == null ? null : libtorchVersion(torchLib.getParent().getParent());
    String compiled = CmTorch.cm_torch_version().reinterpret(64).getString(0);
    String expected = recordedTorch != null ? recordedTorch : compiled;
    if (loadedVersion != null && !sameVersion(loadedVersion, expected)) {
      throw new NativeLoadException("libtorch version mismatch: " + lib + " was built against libtorch " + expected
          + " but the process loaded " + torchLib + " (libtorch " + loadedVersion + ")");
    }
    return new Info(lib, loadedVersion != null ? loadedVersion : compiled, torchLib, source);
  }

  private static Path loadedLibtorchPath() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment buf = a.allocate(4096);
      if (CmTorch.cm_torch_library_path(buf, 4096) != 0) return null;
      return Path.of(buf.getString(0));
    }
  }

  /** Loads a libtorch directory's libraries in dependency order (CUDA ones only if present). */
  private static void preloadLibtorch(Path lt) {
    Path libDir = lt.resolve("lib");
    if (!Files.isRegularFile(libDir.resolve("libtorch_cpu.so"))) {
      throw new NativeLoadException("LIBTORCH=" + lt + " is not a libtorch directory (no lib/libtorch_cpu.so)");
    }
    List<String> order = List.of("libc10.so", "libc10_cuda.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so");
    for (String n : order) {
      Path p = libDir.resolve(n);
      if (!Files.isRegularFile(p)) continue;
      try {
        System.load(p.toString());
      } catch (UnsatisfiedLinkError e) {
        throw new NativeLoadException("cannot load " + p + " from LIBTORCH: " + e.getMessage(), e);
      }
    }
  }

  private static final Pattern VERSION_DEFINE =
      Pattern.compile("#define\\s+TORCH_VERSION_(MAJOR|MINOR|PATCH)\\s+(\\d+)");
  private static final Pattern PY_VERSION = Pattern.compile("__version__\\s*=\\s*'([0-9]+\\.[0-9]+\\.[0-9]+)");

  /** libtorch's version read from a distribution directory (its headers, version.py or build-version), or null. */
  public static String libtorchVersion(Path dir) {
    for (String rel : List.of("include/torch/headeronly/version.h", "include/torch/csrc/api/include/torch/version.h")) {
      Path f = dir.resolve(rel);
      if (!Files.isRegularFile(f)) continue;
      try {
        Matcher m = VERSION_DEFINE.matcher(Files.readString(f));
        String[] parts = new String[3];
        while (m.find()) {
          int i = switch (m.group(1)) { case "MAJOR" -> 0; case "MINOR" -> 1; default -> 2; };
          parts[i] = m.group(2);
        }
        if (parts[0] != null && parts[1] != null && parts[2] != null) return String.join(".", parts);
      } catch (IOException ignored) {
        // fall through to the next source
      }
    }
    try {
      Path py = dir.resolve("version.py");
      if (Files.isRegularFile(py)) {
        Matcher m = PY_VERSION.matcher(Files.readString(py));
        if (m.find()) return m.group(1);
      }
      Path bv = dir.resolve("build-version");
      if (Files.isRegularFile(bv)) return Files.readString(bv).trim().replaceAll("[+].*$", "");
    } catch (IOException ignored) {
      return null;
    }
    return null;
  }

  /** Compares major.minor.patch, ignoring local suffixes such as {@code +cpu}. */
  static boolean sameVersion(String a, String b) {
    return stripLocal(a).equals(stripLocal(b));
  }

  private static String stripLocal(String v) {
    return v.replaceAll("[+].*$", "").trim();
  }

  private static Path extract(URL libUrl, Properties props) {
    if ("file".equals(libUrl.getProtocol())) {
      try {
        return Path.of(libUrl.toURI()); // running from a build directory: no copy needed
      } catch (URISyntaxException e) {
        throw new NativeLoadException("bad library URL " + libUrl, e);
      }
    }
    String version = props.getProperty("cm4j.version", "unknown");
    String sha = props.getProperty("library.sha256", "nosha");
    Path dir = cacheDir().resolve("native").resolve(version + "-" + sha + "-" + platform());
    Path target = dir.resolve(LIB_NAME);
    if (Files.isRegularFile(target)) return target;
    try {
      Files.createDirectories(dir);
      Path tmp = Files.createTempFile(dir, LIB_NAME, ".tmp");
      try (InputStream in = libUrl.openStream()) {
        Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
      return target;
    } catch (IOException e) {
      throw new NativeLoadException("cannot extract the cm4j native library into " + dir + ": " + e.getMessage()
          + " (set -D" + PROP_CACHE + " or CM4J_CACHE to a writable directory)", e);
    }
  }

  /** The cm4j cache directory. */
  public static Path cacheDir() {
    String p = firstNonEmpty(System.getProperty(PROP_CACHE), System.getenv("CM4J_CACHE"));
    if (p != null) return Path.of(p);
    String xdg = System.getenv("XDG_CACHE_HOME");
    return (xdg != null && !xdg.isEmpty() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache"))
        .resolve("cm4j");
  }

  private static void readProps(Path p, Properties props) {
    try (InputStream in = Files.newInputStream(p)) {
      props.load(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String firstNonEmpty(String... vs) {
    List<String> l = new ArrayList<>();
    for (String v : vs) if (v != null && !v.isBlank()) l.add(v);
    return l.isEmpty() ? null : l.get(0);
  }
}
