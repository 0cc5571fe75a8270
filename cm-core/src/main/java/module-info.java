/**
 * cm4j's Java API: tensors over libtorch, networks, objectives, optimisers, samplers, data, evaluation and training.
 *
 * <p><b>Who may touch native memory.</b> Only the packages that own a native resource call the generated bindings
 * ({@code dev.cm4j.bindings.ffi}, which the bindings module exports to this module alone) or use
 * {@code java.lang.foreign}:
 *
 * <ul>
 *   <li>{@code dev.cm4j.tensor}: tensors, operators, autograd, generators, the allocator, the library itself;
 *   <li>{@code dev.cm4j.tensor.internal}: {@code NativeInterop}, the tensor layer's handle/wrap/check plumbing for
 *       the two packages below; not exported, so nothing outside this module can use it;
 *   <li>{@code dev.cm4j.dist}: process groups and stores (c10d);
 *   <li>{@code dev.cm4j.jit}: TorchScript modules.
 * </ul>
 *
 * <p>{@code dev.cm4j.io} may use {@code java.lang.foreign} (memory-mapped safetensors files, write buffers) but not
 * the bindings. Every other package (data, eval, image, nn, objectives, optim, precond, sampling, train) works with
 * tensors and Java arrays only ({@code Tensor.fromBytes(byte[], ...)}, {@code Tensor.toByteArray()},
 * {@code HostStaging}). JPMS cannot hide one package of a module from another, so this rule is checked by
 * {@code NativeAccessRuleTest}, which reads this module's class files.
 *
 * <p>The API packages are opened to Jackson, which binds the configuration records and run metadata by
 * reflection. Native access: {@code --enable-native-access=dev.cm4j.bindings,dev.cm4j.core} on the module path.
 */
module dev.cm4j.core {
  requires dev.cm4j.bindings;
  requires transitive com.fasterxml.jackson.databind;
  requires java.desktop; // PNG encoding and plots (javax.imageio, java.awt.image)
  requires java.management; // heap figures in the training log
  requires jdk.management; // physical memory size for the CPU allocator's default cap

  exports dev.cm4j.data;
  exports dev.cm4j.dist;
  exports dev.cm4j.eval;
  exports dev.cm4j.image;
  exports dev.cm4j.io;
  exports dev.cm4j.jit;
  exports dev.cm4j.nn;
  exports dev.cm4j.nn.mp;
  exports dev.cm4j.objectives;
  exports dev.cm4j.optim;
  exports dev.cm4j.precond;
  exports dev.cm4j.sampling;
  exports dev.cm4j.tensor;
  exports dev.cm4j.train;

  opens dev.cm4j.data to com.fasterxml.jackson.databind;
  opens dev.cm4j.eval to com.fasterxml.jackson.databind;
  opens dev.cm4j.io to com.fasterxml.jackson.databind;
  opens dev.cm4j.nn to com.fasterxml.jackson.databind;
  opens dev.cm4j.objectives to com.fasterxml.jackson.databind;
  opens dev.cm4j.optim to com.fasterxml.jackson.databind;
  opens dev.cm4j.precond to com.fasterxml.jackson.databind;
  opens dev.cm4j.sampling to com.fasterxml.jackson.databind;
  opens dev.cm4j.train to com.fasterxml.jackson.databind;
}
