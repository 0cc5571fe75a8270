package dev.cm4j.bindings;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The loader's resolution order and its error messages, each in a fresh JVM (loading happens once per process). */
class NativeLibraryTest {
  static String probe(String... props) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
    cmd.addAll(List.of(props));
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), LoadProbe.class.getName()));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().remove("LIBTORCH");
    pb.environment().remove("CM4J_NATIVE_PATH");
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes());
    assertEquals(0, p.waitFor(), out);
    return out.trim();
  }

  @Test
  void packagedLibraryLoads() throws Exception {
    String out = probe();
    assertTrue(out.startsWith("LOADED 2.13.0 packaged"), out);
  }

  @Test
  void libtorchVersionMismatchFailsClearly() throws Exception {
    Path fake = Files.createTempDirectory("fake-libtorch");
    Path h = fake.resolve("include/torch/headeronly/version.h");
    Files.createDirectories(h.getParent());
    Files.writeString(h, "#define TORCH_VERSION_MAJOR 2\n#define TORCH_VERSION_MINOR 9\n#define TORCH_VERSION_PATCH 1\n");
    Files.createDirectories(fake.resolve("lib"));
    String out = probe("-Dcm4j.libtorch=" + fake);
    assertTrue(out.startsWith("FAILED libtorch version mismatch"), out);
    assertTrue(out.contains("2.9.1") && out.contains("2.13.0"), out);
  }

  @Test
  void notALibtorchDirectoryFailsClearly() throws Exception {
    Path empty = Files.createTempDirectory("not-libtorch");
    String out = probe("-Dcm4j.libtorch=" + empty);
    assertTrue(out.startsWith("FAILED") && out.contains("not a libtorch directory"), out);
  }

  @Test
  void explicitPathThatDoesNotExistFailsClearly() throws Exception {
    String out = probe("-Dcm4j.native.path=/nonexistent/libcm_torch.so");
    assertTrue(out.startsWith("FAILED cm4j native library not found at /nonexistent"), out);
  }

  @Test
  void explicitLibtorchOfTheSameVersionIsPreloaded() throws Exception {
    // The libtorch recorded at build time, passed explicitly: preloaded in dependency order, then the library.
    String lt = NativeLibrary.load().libtorchLibrary().getParent().getParent().toString();
    String out = probe("-Dcm4j.libtorch=" + lt);
    assertTrue(out.startsWith("LOADED 2.13.0"), out);
  }
}
