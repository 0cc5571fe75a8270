package dev.cm4j.bindings;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.bindings.ffi.CmTorch;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class BindingsTest {
  static Path root = Path.of(System.getProperty("cm4j.root", ".."));

  @BeforeAll
  static void load() {
    NativeLibrary.load();
  }

  @Test
  void headerMatchesRecordedHashSoBindingsAreRegenerated() throws Exception {
    Path header = root.resolve("native/include/cm_torch.h");
    String actual = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(header)));
    String recorded;
    try (var in = BindingsTest.class.getResourceAsStream("/dev/cm4j/bindings/cm_torch.h.sha256")) {
      assertNotNull(in, "recorded header hash is missing");
      recorded = new String(in.readAllBytes()).trim();
    }
    assertEquals(recorded, actual,
        "native/include/cm_torch.h changed without regenerating the bindings: run bindings/regenerate.sh");
  }

  @Test
  void everyHeaderFunctionIsBoundAndResolves() throws Exception {
    String header = Files.readString(root.resolve("native/include/cm_torch.h"));
    Matcher m = Pattern.compile("CM_API\\s+[^;(]*?\\b(cm_\\w+)\\s*\\(").matcher(header);
    SymbolLookup lookup = SymbolLookup.loaderLookup();
    int n = 0;
    while (m.find()) {
      String fn = m.group(1);
      boolean bound = false;
      for (Method meth : CmTorch.class.getMethods()) {
        if (meth.getName().equals(fn) && Modifier.isStatic(meth.getModifiers())) bound = true;
      }
      assertTrue(bound, "no generated binding for " + fn);
      assertTrue(lookup.find(fn).isPresent(), "symbol " + fn + " does not resolve in the loaded library");
      n++;
    }
    assertTrue(n > 100, "parsed only " + n + " functions from the header");
  }

  @Test
  void loadedLibtorchMatchesRecordedVersion() {
    NativeLibrary.Info info = NativeLibrary.load();
    assertTrue(NativeLibrary.sameVersion(info.libtorchVersion(), CmTorch.cm_torch_version().reinterpret(64).getString(0)));
    assertNotNull(info.libtorchLibrary());
    assertTrue(info.libtorchLibrary().getFileName().toString().startsWith("libtorch_cpu"));
    assertEquals(CmTorch.CM_API_VERSION(), CmTorch.cm_api_version());
  }

  @Test
  void errorsComeBackAsStatusAndMessage() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_unary(CmTorch.CM_UNARY_EXP(), MemorySegment.NULL, out));
      assertTrue(CmTorch.cm_last_error().reinterpret(4096).getString(0).contains("NULL"));
      MemorySegment sizes = a.allocateFrom(ValueLayout.JAVA_LONG, 2, -3);
      assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_zeros(sizes, 2, CmTorch.CM_DTYPE_FLOAT32(), -1, out));
      assertTrue(CmTorch.cm_last_error().reinterpret(4096).getString(0).contains("negative"), CmTorch.cm_last_error().reinterpret(4096).getString(0));
    }
  }

  @Test
  void versionParsingOfLibtorchDirectories() throws Exception {
    Path dir = Files.createTempDirectory("lt");
    Path h = dir.resolve("include/torch/headeronly/version.h");
    Files.createDirectories(h.getParent());
    Files.writeString(h, "#define TORCH_VERSION_MAJOR 2\n#define TORCH_VERSION_MINOR 9\n#define TORCH_VERSION_PATCH 1\n");
    assertEquals("2.9.1", NativeLibrary.libtorchVersion(dir));
    assertFalse(NativeLibrary.sameVersion("2.9.1", "2.13.0"));
    assertTrue(NativeLibrary.sameVersion("2.13.0+cpu", "2.13.0"));
    Path empty = Files.createTempDirectory("lt2");
    assertNull(NativeLibrary.libtorchVersion(empty));
    Files.writeString(empty.resolve("build-version"), "2.13.0+cu130\n");
    assertEquals("2.13.0", NativeLibrary.libtorchVersion(empty));
  }
}
