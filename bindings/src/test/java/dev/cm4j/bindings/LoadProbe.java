package dev.cm4j.bindings;

/** Loads the library in a fresh JVM and prints the outcome (used by NativeLibraryTest). */
public final class LoadProbe {
  private LoadProbe() {}

  public static void main(String[] args) {
    try {
      NativeLibrary.Info i = NativeLibrary.load();
      System.out.println("LOADED " + i.libtorchVersion() + " " + i.source());
    } catch (NativeLoadException e) {
      System.out.println("FAILED " + e.getMessage());
    }
  }
}
