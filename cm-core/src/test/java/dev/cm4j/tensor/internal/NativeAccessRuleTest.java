package dev.cm4j.tensor.internal;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.net.URISyntaxException;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The package rule of cm-core (docs/architecture.md), checked on its compiled classes: only dev.cm4j.tensor,
 * dev.cm4j.tensor.internal, dev.cm4j.dist and dev.cm4j.jit refer to the generated bindings or to NativeInterop;
 * only those and dev.cm4j.io refer to java.lang.foreign. JPMS cannot hide one package of a module from another, so
 * this test is what enforces the rule inside the module; the module descriptor enforces it outside.
 */
class NativeAccessRuleTest {
  /** Packages that may call the bindings and NativeInterop. */
  static final Set<String> NATIVE = Set.of("dev.cm4j.tensor", "dev.cm4j.tensor.internal", "dev.cm4j.dist",
      "dev.cm4j.jit");
  /** Packages that may use java.lang.foreign: the NATIVE ones and file I/O of tensor bytes. */
  static final Set<String> FOREIGN = union(NATIVE, Set.of("dev.cm4j.io"));

  private static final Pattern REF =
      Pattern.compile("(java/lang/foreign|dev/cm4j/bindings(?:/ffi)?|dev/cm4j/tensor/internal)/[A-Za-z0-9_$]+");

  private static Set<String> union(Set<String> a, Set<String> b) {
    Set<String> r = new TreeSet<>(a);
    r.addAll(b);
    return Set.copyOf(r);
  }

  /**
   * The restricted classes a class file refers to: every class it names appears as an internal name in a UTF-8
   * entry of its constant pool (class entries and member descriptors alike).
   */
  static Set<String> restrictedRefs(byte[] classFile) throws IOException {
    Set<String> refs = new TreeSet<>();
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(classFile))) {
      if (in.readInt() != 0xCAFEBABE) throw new IOException("not a class file");
      in.readUnsignedShort();
      in.readUnsignedShort();
      int n = in.readUnsignedShort();
      for (int i = 1; i < n; i++) {
        int tag = in.readUnsignedByte();
        switch (tag) {
          case 1 -> {
            Matcher m = REF.matcher(in.readUTF());
            while (m.find()) refs.add(m.group().replace('/', '.'));
          }
          case 3, 4 -> in.skipBytes(4); // Integer, Float
          case 5, 6 -> { // Long, Double take two slots
            in.skipBytes(8);
            i++;
          }
          case 7, 8, 16, 19, 20 -> in.skipBytes(2); // Class, String, MethodType, Module, Package
          case 9, 10, 11, 12, 17, 18 -> in.skipBytes(4); // member refs, NameAndType, (Invoke)Dynamic
          case 15 -> in.skipBytes(3); // MethodHandle
          default -> throw new IOException("unknown constant pool tag " + tag);
        }
      }
    }
    return refs;
  }

  /** The rule for one class: the restricted references its package may not make. */
  static List<String> violations(String pkg, Set<String> refs) {
    List<String> bad = new ArrayList<>();
    for (String r : refs) {
      boolean foreign = r.startsWith("java.lang.foreign.");
      if (foreign ? !FOREIGN.contains(pkg) : !NATIVE.contains(pkg)) bad.add(r);
    }
    return bad;
  }

  /** Root of cm-core's compiled main classes (a directory, or the jar in a reactor build past packaging). */
  private static Path classesRoot() throws URISyntaxException {
    return Path.of(NativeInterop.class.getProtectionDomain().getCodeSource().getLocation().toURI());
  }

  /** Every class of cm-core's main code, by name, with its restricted references. */
  private static Map<String, Set<String>> scan(Path root) throws IOException {
    Map<String, Set<String>> byClass = new TreeMap<>();
    FileSystem jar = Files.isDirectory(root) ? null : FileSystems.newFileSystem(root);
    try {
      Path base = jar == null ? root : jar.getPath("/");
      try (Stream<Path> files = Files.walk(base)) {
        for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
          String rel = base.relativize(f).toString().replace('\\', '/');
          if (rel.equals("module-info.class") || rel.startsWith("META-INF/")) continue;
          byClass.put(rel.substring(0, rel.length() - ".class".length()).replace('/', '.'),
              restrictedRefs(Files.readAllBytes(f)));
        }
      }
    } finally {
      if (jar != null) jar.close();
    }
    return byClass;
  }

  private static String packageOf(String className) {
    return className.substring(0, className.lastIndexOf('.'));
  }

  private static ModuleDescriptor descriptor(Path root) throws IOException {
    if (Files.isDirectory(root)) {
      try (InputStream in = Files.newInputStream(root.resolve("module-info.class"))) {
        return ModuleDescriptor.read(in);
      }
    }
    try (FileSystem jar = FileSystems.newFileSystem(root);
        InputStream in = Files.newInputStream(jar.getPath("/module-info.class"))) {
      return ModuleDescriptor.read(in);
    }
  }

  @Test
  void onlyTheNativePackagesTouchTheBindingsAndForeignMemory() throws Exception {
    Map<String, Set<String>> classes = scan(classesRoot());
    assertTrue(classes.size() > 100, "scanned too few classes: " + classes.size());
    List<String> problems = new ArrayList<>();
    Set<String> users = new TreeSet<>();
    classes.forEach((cls, refs) -> {
      if (!refs.isEmpty()) users.add(packageOf(cls));
      for (String r : violations(packageOf(cls), refs)) problems.add(cls + " uses " + r);
    });
    assertEquals(List.of(), problems, "native memory outside " + FOREIGN + " (see docs/architecture.md)");
    // The scan does see the allowed uses, so the empty list above does not come from a blind scanner.
    assertTrue(users.containsAll(Set.of("dev.cm4j.tensor", "dev.cm4j.dist", "dev.cm4j.jit", "dev.cm4j.io")),
        users.toString());
    assertTrue(classes.get("dev.cm4j.dist.Store").contains("dev.cm4j.bindings.ffi.CmTorch"));
    assertTrue(classes.get("dev.cm4j.jit.ScriptModule").contains("dev.cm4j.tensor.internal.NativeInterop"));
  }

  @Test
  void theRuleRejectsUsesOutsideTheNativePackages() throws Exception {
    Set<String> store;
    try (InputStream in = dev.cm4j.dist.Store.class.getResourceAsStream("Store.class")) {
      store = restrictedRefs(in.readAllBytes());
    }
    assertTrue(store.contains("java.lang.foreign.MemorySegment"), store.toString());
    assertEquals(List.of(), violations("dev.cm4j.dist", store));
    // The same references from a package that may not touch native memory break the rule, every one of them.
    assertEquals(List.copyOf(store), violations("dev.cm4j.train", store));
    // dev.cm4j.io may use foreign memory but not the bindings.
    assertEquals(List.of("dev.cm4j.bindings.ffi.CmTorch"),
        violations("dev.cm4j.io", Set.of("java.lang.foreign.Arena", "dev.cm4j.bindings.ffi.CmTorch")));
  }

  @Test
  void theModuleExportsEveryPackageButTheInternalOne() throws Exception {
    ModuleDescriptor d = descriptor(classesRoot());
    assertEquals("dev.cm4j.core", d.name());
    // javac writes no ModulePackages attribute, so the module's packages come from its classes.
    Set<String> expected = new TreeSet<>();
    for (String cls : scan(classesRoot()).keySet()) expected.add(packageOf(cls));
    Set<String> exported = new TreeSet<>();
    for (ModuleDescriptor.Exports e : d.exports()) {
      assertFalse(e.isQualified(), "qualified export of " + e.source());
      exported.add(e.source());
    }
    assertTrue(expected.remove("dev.cm4j.tensor.internal"), expected.toString());
    assertEquals(expected, exported);
    assertTrue(d.opens().stream().noneMatch(o -> o.source().startsWith("dev.cm4j.tensor")), d.opens().toString());
    assertTrue(d.requires().stream().anyMatch(r -> r.name().equals("dev.cm4j.bindings")
        && !r.modifiers().contains(ModuleDescriptor.Requires.Modifier.TRANSITIVE)), d.requires().toString());
  }
}
