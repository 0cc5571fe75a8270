package dev.cm4j.bindings;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.bindings.ffi.CmTorch;
import dev.cm4j.bindings.ffi.cm_allocator_stats;
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

  static String lastError() {
    return CmTorch.cm_last_error().reinterpret(4096).getString(0);
  }

  @Test
  void apiVersionIsTheOneTheHeaderStates() throws Exception {
    String header = Files.readString(root.resolve("native/include/cm_torch.h"));
    Matcher m = Pattern.compile("#define CM_API_VERSION (\\d+)").matcher(header);
    assertTrue(m.find(), "CM_API_VERSION is not defined in the header");
    int stated = Integer.parseInt(m.group(1));
    assertEquals(2, stated, "the conventions of version 2 are stated at the top of the header");
    assertEquals(stated, CmTorch.CM_API_VERSION());
    assertEquals(stated, CmTorch.cm_api_version());
  }

  @Test
  void headerPicksVariantsByCodeAndMarksInPlaceOnlyByName() throws Exception {
    String header = Files.readString(root.resolve("native/include/cm_torch.h"));
    Matcher decl = Pattern.compile("CM_API\\s+[^;(]*?\\b(cm_\\w+)\\s*\\(([^)]*)\\)").matcher(header);
    Pattern flag = Pattern.compile("\\b(inplace|in_place|is_std|is_min|is_max|is_log|device_type)\\b");
    int n = 0;
    while (decl.find()) {
      n++;
      assertFalse(flag.matcher(decl.group(2)).find(), decl.group(1) + " picks a variant or in-place mode by a flag");
    }
    assertTrue(n > 100);
  }

  @Test
  void unknownVariantCodesAreErrorsNamingTheCode() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      MemorySegment sizes = a.allocateFrom(ValueLayout.JAVA_LONG, 1, 1, 2, 2);
      int cpu = CmTorch.CM_DEVICE_CPU();
      assertEquals(CmTorch.CM_OK(), CmTorch.cm_ones(sizes, 4, CmTorch.CM_DTYPE_FLOAT32(), cpu, out));
      MemorySegment t = out.get(ValueLayout.ADDRESS, 0);
      MemorySegment res = a.allocate(ValueLayout.ADDRESS);
      try {
        assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_var_std(7, t, MemorySegment.NULL, 0, 1.0, 0, res));
        assertTrue(lastError().contains("var/std op 7"), lastError());
        assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_arg(-3, t, 0, 0, 0, res));
        assertTrue(lastError().contains("arg op -3"), lastError());
        assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_softmax(2, t, 0, res));
        assertTrue(lastError().contains("softmax op 2"), lastError());
        assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_interpolate(t, 5, 4, 4, 0, res));
        assertTrue(lastError().contains("interpolate mode 5"), lastError());
        MemorySegment pads = a.allocateFrom(ValueLayout.JAVA_LONG, 1, 1);
        assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_pad(t, pads, 2, 4, 0, res));
        assertTrue(lastError().contains("pad mode 4"), lastError());
        assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_loss(CmTorch.CM_LOSS_MSE(), t, t, 3, 1.0, res));
        assertTrue(lastError().contains("reduction 3"), lastError());
        assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_loss(9, t, t, CmTorch.CM_REDUCTION_MEAN(), 1.0, res));
        assertTrue(lastError().contains("loss 9"), lastError());
        // The codes select what they name: softmax over a size-2 dim of ones is 1/2, log_softmax log(1/2).
        MemorySegment d = a.allocate(ValueLayout.JAVA_DOUBLE);
        assertEquals(CmTorch.CM_OK(), CmTorch.cm_softmax(CmTorch.CM_SOFTMAX_LOG(), t, 3, res));
        MemorySegment r = res.get(ValueLayout.ADDRESS, 0);
        MemorySegment one = a.allocate(ValueLayout.ADDRESS);
        int mean = CmTorch.CM_REDUCE_MEAN();
        assertEquals(CmTorch.CM_OK(), CmTorch.cm_reduce(mean, r, MemorySegment.NULL, 0, 0, -1, one));
        assertEquals(CmTorch.CM_OK(), CmTorch.cm_item_double(one.get(ValueLayout.ADDRESS, 0), d));
        assertEquals(Math.log(0.5), d.get(ValueLayout.JAVA_DOUBLE, 0), 1e-6);
        CmTorch.cm_tensor_free(one.get(ValueLayout.ADDRESS, 0));
        CmTorch.cm_tensor_free(r);
      } finally {
        CmTorch.cm_tensor_free(t);
      }
    }
  }

  @Test
  void oneDeviceEncoding() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      MemorySegment sizes = a.allocateFrom(ValueLayout.JAVA_LONG, 3);
      assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_zeros(sizes, 1, CmTorch.CM_DTYPE_FLOAT32(), -2, out));
      assertTrue(lastError().contains("unknown device code -2"), lastError());
      int cpu = CmTorch.CM_DEVICE_CPU();
      assertEquals(CmTorch.CM_OK(), CmTorch.cm_zeros(sizes, 1, CmTorch.CM_DTYPE_FLOAT32(), cpu, out));
      MemorySegment t = out.get(ValueLayout.ADDRESS, 0);
      MemorySegment dev = a.allocateFrom(ValueLayout.JAVA_INT, 99);
      assertEquals(CmTorch.CM_OK(), CmTorch.cm_tensor_device(t, dev));
      assertEquals(CmTorch.CM_DEVICE_CPU(), dev.get(ValueLayout.JAVA_INT, 0));
      CmTorch.cm_tensor_free(t);
      // Autocast takes a device code too; a code that is neither CPU nor CUDA is refused.
      MemorySegment pe = a.allocate(ValueLayout.JAVA_INT), pd = a.allocate(ValueLayout.JAVA_INT);
      assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_autocast_set(-5, 1, CmTorch.CM_DTYPE_BFLOAT16(), pe, pd));
      assertTrue(lastError().contains("device code -5"), lastError());
      // Synchronizing is for CUDA devices only: the CPU code is an error, not "the current device".
      assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_cuda_synchronize(CmTorch.CM_DEVICE_CPU()));
      assertTrue(lastError().contains("CUDA device index"), lastError());
    }
  }

  @Test
  void errorMessageLivesUntilTheThreadsNextFailure() throws Exception {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_unary(CmTorch.CM_UNARY_EXP(), MemorySegment.NULL, out));
      MemorySegment p = CmTorch.cm_last_error();
      String text = lastError();
      assertTrue(text.contains("NULL"), text);
      // A successful call leaves pointer and text alone.
      MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
      assertEquals(CmTorch.CM_OK(), CmTorch.cm_get_num_threads(n));
      assertEquals(p.address(), CmTorch.cm_last_error().address());
      assertEquals(text, p.reinterpret(4096).getString(0));
      // Another thread's failure does not touch this thread's message.
      String[] other = new String[1];
      Thread th = new Thread(() -> {
        try (Arena b = Arena.ofConfined()) {
          MemorySegment sz = b.allocateFrom(ValueLayout.JAVA_LONG, -1);
          CmTorch.cm_zeros(sz, 1, CmTorch.CM_DTYPE_FLOAT32(), CmTorch.CM_DEVICE_CPU(), b.allocate(ValueLayout.ADDRESS));
          other[0] = lastError();
        }
      });
      th.start();
      th.join();
      assertTrue(other[0].contains("negative"), other[0]);
      assertEquals(text, lastError());
      // cm_clear_error empties it; it is never NULL.
      CmTorch.cm_clear_error();
      assertNotEquals(0, CmTorch.cm_last_error().address());
      assertEquals("", lastError());
    }
  }

  @Test
  void allocatorStatsAreANamedStruct() {
    var names = cm_allocator_stats.layout().memberLayouts().stream().map(l -> l.name().orElseThrow()).toList();
    assertEquals(java.util.List.of("allocated_bytes", "cached_bytes", "peak_allocated_bytes", "hits", "misses",
        "released_blocks", "live_blocks"), names);
    assertEquals(7 * 8, cm_allocator_stats.layout().byteSize());
    try (Arena a = Arena.ofConfined()) {
      MemorySegment st = cm_allocator_stats.allocate(a);
      st.fill((byte) 0xff);
      assertEquals(CmTorch.CM_OK(), CmTorch.cm_cpu_allocator_stats(st));
      assertTrue(cm_allocator_stats.allocated_bytes(st) >= 0);
      assertTrue(cm_allocator_stats.peak_allocated_bytes(st) >= cm_allocator_stats.allocated_bytes(st));
      assertTrue(cm_allocator_stats.live_blocks(st) >= 0 && cm_allocator_stats.hits(st) >= 0);
      assertEquals(CmTorch.CM_ERROR(), CmTorch.cm_cpu_allocator_stats(MemorySegment.NULL));
      assertTrue(lastError().contains("NULL"), lastError());
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
