package dev.cm4j.testing;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.cm4j.bindings.NativeLibrary;
import dev.cm4j.tensor.Device;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The test device: a device that is not the CPU, for tests on a machine without a GPU. It is libtorch's
 * PrivateUse1 backend as registered by the test-only native library libcm_testdevice.so (native/testdevice):
 * host memory underneath, CPU kernels through libtorch's CPU fallback, but tensors on it report
 * {@code privateuseone:0}, an operation mixing them with CPU tensors (other than 0-dim scalars) fails naming the
 * operation, as on CUDA, and its default generator has its own state.
 *
 * <p>The library is found through the system property {@value #PROPERTY} (cm-core's surefire configuration sets
 * it: bindings/target/test-device/libcm_testdevice.so, which native/build.sh writes) or, when that is unset, the
 * environment variable {@value #ENV}. A missing library fails the test; it is never skipped.
 *
 * <p>Load it before the process's first backward pass: libtorch's autograd engine sizes its per-device queues once,
 * at the first backward, from the device types registered then, so a backward on a device registered later fails
 * inside the engine. (A JUnit extension that calls {@link #device()} before the first test class does it.)
 *
 * <p>The library also counts host round trips made by the caller (device-to-host copies, item() reads and
 * operations whose result the host has to wait for, such as nonzero): {@link #hostSyncs()}.
 */
public final class TestDevice {
  /** System property naming libcm_testdevice.so. */
  public static final String PROPERTY = "cm4j.testDevice.library";
  /** Environment variable naming libcm_testdevice.so, used when the property is unset. */
  public static final String ENV = "CM4J_TEST_DEVICE_LIBRARY";

  private TestDevice() {}

  private record Lib(MethodHandle hostSyncs, MethodHandle d2h, MethodHandle h2d, MethodHandle scalarReads,
      MethodHandle reset, MethodHandle lastSync, MethodHandle pinnedAsync, MethodHandle uploadStream,
      MethodHandle streamWaits) {}

  private static Lib lib;
  private static AssertionError failure;

  private static synchronized Lib lib() {
    if (lib != null) return lib;
    if (failure != null) throw failure;
    try {
      lib = load();
      return lib;
    } catch (RuntimeException | LinkageError e) {
      failure = new AssertionError("cannot load the test device: " + e.getMessage(), e);
      throw failure;
    }
  }

  /**
   * The library named by a system property value or, when that is unset or blank, an environment value; an
   * IllegalStateException naming both settings when neither names an existing file.
   */
  public static Path libraryPath(String property, String env) {
    String p = property;
    String from = "system property " + PROPERTY;
    if (p == null || p.isBlank()) {
      p = env;
      from = "environment variable " + ENV;
    }
    if (p == null || p.isBlank()) {
      throw new IllegalStateException("no test device library: set the system property " + PROPERTY
          + " or the environment variable " + ENV + " to libcm_testdevice.so (native/build.sh writes it into"
          + " bindings/target/test-device)");
    }
    Path path = Path.of(p).toAbsolutePath();
    if (!Files.isRegularFile(path)) {
      throw new IllegalStateException("the test device library " + path + " (from the " + from + ") does not exist;"
          + " build it with native/build.sh, or set " + PROPERTY + " or " + ENV + " to a built libcm_testdevice.so");
    }
    return path;
  }

  private static Lib load() {
    Path path = libraryPath(System.getProperty(PROPERTY), System.getenv(ENV));
    NativeLibrary.load(); // libtorch first, as cm4j loads it; the test library then shares it
    System.load(path.toString());
    SymbolLookup syms = SymbolLookup.libraryLookup(path, Arena.global());
    Linker linker = Linker.nativeLinker();
    FunctionDescriptor counter = FunctionDescriptor.of(JAVA_LONG);
    java.util.function.Function<String, MemorySegment> sym = n -> syms.find(n)
        .orElseThrow(() -> new IllegalStateException(path + " has no symbol " + n + " (not the test device library?)"));
    return new Lib(
        linker.downcallHandle(sym.apply("cm_testdevice_host_syncs"), counter),
        linker.downcallHandle(sym.apply("cm_testdevice_device_to_host_copies"), counter),
        linker.downcallHandle(sym.apply("cm_testdevice_host_to_device_copies"), counter),
        linker.downcallHandle(sym.apply("cm_testdevice_scalar_reads"), counter),
        linker.downcallHandle(sym.apply("cm_testdevice_reset_counters"), FunctionDescriptor.ofVoid()),
        linker.downcallHandle(sym.apply("cm_testdevice_last_sync"), FunctionDescriptor.of(JAVA_LONG, ADDRESS,
            JAVA_LONG)),
        optional(syms, linker, "cm_testdevice_pinned_async_uploads"),
        optional(syms, linker, "cm_testdevice_last_upload_stream"),
        optional(syms, linker, "cm_testdevice_stream_waits"));
  }

  /** A counter of a newer library, or null in an older build (its accessor then fails, naming the rebuild). */
  private static MethodHandle optional(SymbolLookup syms, Linker linker, String name) {
    return syms.find(name).map(a -> linker.downcallHandle(a, FunctionDescriptor.of(JAVA_LONG))).orElse(null);
  }

  /** The test device (privateuseone:0), loading its library on first use. */
  public static Device device() {
    lib();
    return Device.privateUse1(0);
  }

  /** The test device's second device (privateuseone:1), for cross-device checks. */
  public static Device secondDevice() {
    lib();
    return Device.privateUse1(1);
  }

  private static long call(MethodHandle h) {
    if (h == null) {
      throw new AssertionError("this libcm_testdevice.so predates the upload and stream counters: rebuild it "
          + "(native/build.sh)");
    }
    try {
      return (long) h.invokeExact();
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** Host round trips counted since the last reset: device-to-host copies, item() reads, waiting operations. */
  public static long hostSyncs() {
    return call(lib().hostSyncs());
  }

  /** Device-to-host copies counted since the last reset. */
  public static long deviceToHostCopies() {
    return call(lib().d2h());
  }

  /** Host-to-device copies counted since the last reset. */
  public static long hostToDeviceCopies() {
    return call(lib().h2d());
  }

  /**
   * Host-to-device copies counted since the last reset that were non-blocking and read pinned host memory (the kind
   * of upload that overlaps compute on CUDA).
   */
  public static long pinnedAsyncUploads() {
    return call(lib().pinnedAsync());
  }

  /** The id of the stream that was current on the destination device when the last host-to-device copy was issued. */
  public static long lastUploadStream() {
    return call(lib().uploadStream());
  }

  /** Stream waits (one stream waiting for an event of another) counted since the last reset. */
  public static long streamWaits() {
    return call(lib().streamWaits());
  }

  /** item() reads of device tensors counted since the last reset. */
  public static long scalarReads() {
    return call(lib().scalarReads());
  }

  /** Sets every counter to zero. */
  public static void resetCounters() {
    try {
      lib().reset().invokeExact();
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** What the most recent counted host round trip was ("" if none since the last reset), for failure messages. */
  public static String lastSync() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment buf = a.allocate(512);
      long n = (long) lib().lastSync().invokeExact(buf, 512L);
      String s = buf.getString(0);
      return n > 511 ? s + "..." : s;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }
}
