/**
 * The generated FFM bindings of {@code native/include/cm_torch.h} ({@code dev.cm4j.bindings.ffi}) and the loader
 * of the native library ({@code dev.cm4j.bindings}).
 *
 * <p>Both packages are exported to {@code dev.cm4j.core} only: the bindings are raw, unchecked downcalls, and the
 * safe API over them lives in cm-core's {@code dev.cm4j.tensor}, {@code dev.cm4j.dist} and {@code dev.cm4j.jit}
 * (see {@code docs/architecture.md}). Code in any other module fails to compile against them. This module calls
 * restricted methods (library lookup, downcall handles), so it needs native access: {@code
 * --enable-native-access=dev.cm4j.bindings,dev.cm4j.core} on the module path ({@code ALL-UNNAMED} on the class
 * path).
 */
module dev.cm4j.bindings {
  exports dev.cm4j.bindings to dev.cm4j.core;
  exports dev.cm4j.bindings.ffi to dev.cm4j.core;
}
