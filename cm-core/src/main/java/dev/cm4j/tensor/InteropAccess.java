package dev.cm4j.tensor;

import dev.cm4j.tensor.internal.NativeInterop;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.ToIntFunction;

/** The tensor layer's side of {@link NativeInterop}: installed by {@link Native} as the library loads. */
final class InteropAccess implements NativeInterop.Access {
  @Override
  public MemorySegment handle(Tensor t) {
    return t.handle();
  }

  @Override
  public Tensor wrap(MemorySegment h) {
    return Tensor.wrap(h);
  }

  @Override
  public void check(int rc) {
    Native.check(rc);
  }

  @Override
  public List<Object> callOnStack(String what, Object[] args, ToIntFunction<MemorySegment> call) {
    return Op.callOnStack(what, args, call);
  }
}
