package dev.cm4j.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input to the public tensor API: every call must end in a Java exception with a meaningful message — never a
 * crash of the JVM, an abort in libtorch or an out-of-memory kill. Sizes that must fail allocation are chosen above
 * 2^48 bytes (beyond the x86-64 user address space), so they fail even where memory overcommit is unlimited.
 */
class BadInputSweepTest {
  /** The exceptions the API documents for bad input. */
  private static final List<Class<? extends Throwable>> ALLOWED = List.of(TorchException.class,
      IllegalArgumentException.class, IllegalStateException.class, NullPointerException.class,
      IndexOutOfBoundsException.class, ArithmeticException.class, UnsupportedOperationException.class);

  private TensorScope scope;

  @BeforeEach
  void open() {
    scope = TensorScope.open();
  }

  @AfterEach
  void close() {
    scope.close();
  }

  interface Call {
    Object run() throws Throwable;
  }

  /**
   * Asserts that call throws one of the documented exceptions whose message contains one of words (ignoring case).
   */
  private static Throwable bad(Call call, String... words) {
    Throwable t;
    try {
      Object r = call.run();
      fail("expected an exception, got " + r);
      return null;
    } catch (Throwable e) {
      t = e;
    }
    Throwable e = t;
    assertTrue(ALLOWED.stream().anyMatch(c -> c.isInstance(e)), () -> "unexpected exception type: " + e);
    String m = e.getMessage();
    assertNotNull(m, () -> e.getClass().getSimpleName() + " without a message");
    String lm = m.toLowerCase(Locale.ROOT);
    assertTrue(Arrays.stream(words).anyMatch(w -> lm.contains(w.toLowerCase(Locale.ROOT))),
        () -> "message lacks any of " + Arrays.toString(words) + ": " + m);
    return e;
  }

  private static Tensor f32(long... shape) {
    return Tensor.randn(shape);
  }

  private static final Device CPU = Device.CPU;

  // ------------------------------------------------------------------------------------------ shapes

  @Test
  void shapeMismatches() {
    Tensor a = f32(3, 4), b = f32(2, 3, 5), x = f32(2, 3, 8, 8);
    bad(() -> a.add(b), "size of tensor");
    bad(() -> a.mul(f32(5)), "size of tensor");
    bad(() -> a.sub(f32(4, 3)), "size of tensor");
    bad(() -> a.add_(f32(2, 3, 4)), "broadcast shape");
    bad(() -> f32(3).copy_(f32(4)), "size of tensor");
    bad(() -> a.matmul(a), "shapes cannot be multiplied");
    bad(() -> Tensor.scalar(1).matmul(a), "at least 1d");
    bad(() -> a.bmm(a), "3d");
    bad(() -> f32(2, 3, 4).bmm(f32(3, 4, 5)), "size");
    bad(() -> F.conv2d(x, f32(4, 5, 3, 3), null, 1, 1, 1, 1), "channels");
    bad(() -> F.conv2d(a, f32(4, 3, 3, 3), null, 1, 1, 1, 1), "input");
    bad(() -> F.conv2d(x, f32(4, 3, 3, 3), f32(7), 1, 1, 1, 1), "bias");
    bad(() -> F.conv2d(x, f32(4, 3, 9, 9), null, 1, 0, 1, 1), "kernel size");
    bad(() -> F.conv2d(x, f32(4, 3, 3, 3), null, 1, 1, 1, 2), "groups", "channels");
    bad(() -> Tensor.cat(List.of(a, f32(3, 5)), 0), "sizes of tensors must match");
    bad(() -> Tensor.cat(List.of(a, b), 0), "same number of dimensions");
    bad(() -> Tensor.cat(List.of(), 0), "non-empty");
    bad(() -> Tensor.cat(List.of(Tensor.scalar(1), Tensor.scalar(2)), 0), "zero-dimensional");
    bad(() -> Tensor.stack(List.of(a, f32(3, 5)), 0), "equal size");
    bad(() -> Tensor.where(Tensor.of(new boolean[] {true, false}), a, a), "size of tensor");
    bad(() -> a.maskedFill(Tensor.of(new boolean[] {true, false}), 1), "size of tensor");
    bad(() -> a.view(5, -1), "invalid for input of size");
    bad(() -> a.reshape(-1, -1), "only one dimension");
    bad(() -> a.view(-2, 6), "invalid shape dimension");
    bad(() -> a.expand(2, 3), "expanded size");
    bad(() -> a.expand(-1, -1, -1), "expanded size");
    bad(() -> a.repeat(2), "repeat dims");
    bad(() -> a.permute(0), "permute", "dimensions");
    bad(() -> a.permute(0, 0), "duplicate");
    bad(() -> a.flatten(1, 0), "start_dim");
    bad(() -> a.split(new long[] {1, 1}, 0), "sum exactly");
    bad(() -> a.split(new long[] {4, -1}, 0), "non-negative");
    bad(() -> a.chunk(0, 0), "chunks");
    bad(() -> F.linear(a, f32(2, 5), null), "shapes cannot be multiplied");
    bad(() -> F.layerNorm(a, new long[] {5}, null, null, 1e-5), "normalized_shape");
    bad(() -> F.groupNorm(x, 2, null, null, 1e-5), "divisible");
    bad(() -> F.mseLoss(a, b, F.Reduction.MEAN), "size of tensor");
    bad(() -> F.embedding(f32(3), Tensor.of(new long[] {1})), "2-d");
    bad(() -> F.interpolate(a, 2, 2, F.Interpolation.NEAREST, false), "nchw");
    bad(() -> F.pad(x, new long[] {1}, F.PadMode.CONSTANT, 0), "divisible by 2");
    bad(() -> F.scaledDotProductAttention(f32(3), f32(3), f32(3), null, false, Double.NaN), "2 dimensions");
    bad(() -> a.eigh(), "square");
    bad(() -> Tensor.einsum("ij,jk->ik", a), "operands");
    bad(() -> Tensor.einsum("ij,ij->i", a, b), "subscripts", "dimensions");
    bad(() -> Tensor.einsum("!!", a), "invalid subscript");
    bad(() -> Tensor.of(new float[5], 2, 3), "does not fit");
    bad(() -> Tensor.fromBytes(MemorySegment.ofArray(new byte[3]), DType.FLOAT32, 1), "bytes");
    bad(() -> {
      a.copyTo(MemorySegment.ofArray(new byte[5]));
      return null;
    }, "bytes");
  }

  // ------------------------------------------------------------------------------------------ dtypes

  @Test
  void wrongDtypes() {
    Tensor b = Tensor.of(new boolean[] {true, false, true});
    Tensor i = Tensor.of(new int[] {1, 4, 9});
    Tensor f = f32(3, 4);
    bad(() -> b.sub(b), "bool");
    bad(() -> b.neg(), "bool");
    bad(() -> b.matmul(b), "bool");
    bad(() -> i.clone().sqrt_(), "can't be cast");
    bad(() -> i.clone().div_(2.0), "can't be cast");
    bad(() -> i.clone().add_(Tensor.of(new float[] {.5f, .5f, .5f})), "can't be cast");
    bad(() -> i.clone().fill_(Double.NaN), "overflow");
    bad(() -> f.indexSelect(0, Tensor.of(new float[] {0, 1})), "int32 or int64");
    bad(() -> f.gather(0, Tensor.of(new float[] {0}, 1, 1)), "int64", "index");
    bad(() -> f.index(Tensor.of(new float[] {0})), "indices must be long");
    bad(() -> Tensor.where(f, f, f), "boolean");
    bad(() -> f.maskedFill(f, 1), "boolean");
    bad(() -> f.matmul(Tensor.zeros(new long[] {4, 2}, DType.FLOAT64, CPU)), "dtype");
    bad(() -> F.conv2d(f32(1, 3, 4, 4), f32(2, 3, 3, 3).to(DType.FLOAT64), null, 1, 1, 1, 1), "type");
    bad(() -> F.conv2d(f32(1, 3, 4, 4).to(DType.BOOL), f32(2, 3, 3, 3).to(DType.BOOL), null, 1, 1, 1, 1), "bool");
    bad(() -> F.embedding(f, Tensor.of(new float[] {0})), "indices");
    bad(() -> F.mseLoss(i, i, F.Reduction.MEAN), "int");
    bad(() -> i.softmax(0), "int");
    bad(() -> i.mean(), "dtype");
    bad(() -> i.var(), "floating point");
    bad(() -> i.norm(), "floating point");
    bad(() -> Tensor.ones(new long[] {2, 2}, DType.INT32, CPU).eigh(), "int");
    bad(() -> i.clone().requiresGrad_(true), "floating point");
    bad(() -> i.clone().normal_(0, 1, null), "int");
    bad(() -> i.randLike(), "int");
    bad(() -> b.randnLike(), "bool");
    bad(() -> Tensor.randn(new long[] {3}, DType.INT32, CPU, null), "int");
    bad(() -> Tensor.arange(0, 10, 1, DType.BOOL, CPU), "bool");
    bad(() -> Tensor.randint(0, 5, new long[] {3}, DType.BOOL, CPU, null), "bool");
    bad(() -> i.lerp(i, .5), "int");
    bad(() -> i.clone().addcdiv_(i, i, 1), "integer division");
    bad(() -> Tensor.scalar(Double.NaN).itemLong(), "overflow");
    bad(() -> f.item(), "elements");
    bad(() -> DType.ofCode(99), "dtype code");
    bad(() -> DType.ofSafetensorsName("F31"), "F31");
  }

  // ------------------------------------------------------------------------------------------ factories

  @Test
  void negativeAndHugeSizesInFactories() {
    long huge = 1L << 50; // 2^50 elements: at least 2^50 bytes, beyond any address space
    bad(() -> Tensor.zeros(-1), "negative");
    bad(() -> Tensor.zeros(2, -3), "negative");
    bad(() -> Tensor.ones(new long[] {-1}, DType.INT8, CPU), "negative");
    bad(() -> Tensor.empty(new long[] {Long.MIN_VALUE}, DType.FLOAT32, CPU), "negative");
    bad(() -> Tensor.randn(new long[] {-5}, DType.FLOAT32, CPU, null), "negative");
    bad(() -> Tensor.full(new long[] {3, -1}, 1, DType.FLOAT32, CPU), "negative");
    bad(() -> Tensor.zeros(1L << 40, 1L << 40), "overflow");
    bad(() -> Tensor.zeros(1L << 62), "overflow");
    bad(() -> Tensor.ones(Long.MAX_VALUE), "overflow");
    bad(() -> Tensor.full(new long[] {Long.MAX_VALUE, 2}, 1, DType.FLOAT32, CPU), "overflow");
    bad(() -> Tensor.zeros(huge), "allocate", "memory");
    bad(() -> Tensor.empty(new long[] {huge}, DType.UINT8, CPU), "allocate", "memory");
    bad(() -> Tensor.randn(huge), "allocate", "memory");
    bad(() -> Tensor.randint(0, 5, new long[] {huge}, DType.INT64, CPU, null), "allocate", "memory");
    bad(() -> Tensor.fromBytes(MemorySegment.ofArray(new byte[0]), DType.FLOAT64, 1L << 61), "overflow", "size_t");
    bad(() -> Tensor.fromBytes(MemorySegment.ofArray(new byte[0]), DType.INT8, 1L << 62, 4), "overflow");
    bad(() -> Tensor.of(new float[1], 1L << 32, 1L << 32), "overflow");
    bad(() -> Tensor.arange(0, 1e300, 1, DType.FLOAT32, CPU), "overflow", "size");
    bad(() -> Tensor.arange(0, Double.NaN, 1, DType.FLOAT32, CPU), "range");
    bad(() -> Tensor.arange(0, 10, 0, DType.FLOAT32, CPU), "step");
    bad(() -> Tensor.arange(0, 10, -1, DType.FLOAT32, CPU), "range", "bound");
    for (DType d : List.of(DType.INT8, DType.INT32, DType.INT64, DType.UINT8)) {
      bad(() -> Tensor.arange(0.5, -5, -0.5, d, CPU), "step"); // used to give zeros (INT8/INT32/UINT8)
    }
    assertArrayEquals(new long[] {0, 2, 4}, Tensor.arange(0, 5, 2.5, DType.INT64, CPU).toLongArray());
    bad(() -> Tensor.linspace(0, 1, -1, DType.FLOAT32, CPU), "steps");
    bad(() -> Tensor.linspace(0, 1, huge, DType.FLOAT32, CPU), "allocate", "memory");
    bad(() -> Tensor.randperm(-1, CPU, null), "negative");
    bad(() -> Tensor.randperm(huge, CPU, null), "allocate", "memory");
    bad(() -> Tensor.randint(5, 5, new long[] {3}, DType.INT64, CPU, null), "from", "to");
    bad(() -> Tensor.normal(0, -1, new long[] {3}, DType.FLOAT32, CPU, null), "std");
    bad(() -> f32(3).repeat(1L << 40, 1L << 40), "overflow");
    bad(() -> f32(3).repeat(huge), "allocate", "memory");
    bad(() -> Tensor.ones(1).expand(huge).contiguous(), "allocate", "memory");
    bad(() -> Tensor.ones(0).reshape(1L << 62, 1L << 62, 0), "overflow");
    bad(() -> F.pad(f32(1, 1, 2, 2), new long[] {huge, 0}, F.PadMode.CONSTANT, 0), "allocate", "memory");
    bad(() -> F.interpolate(f32(1, 1, 2, 2), 1L << 40, 1L << 40, F.Interpolation.NEAREST, false), "overflow");
    bad(() -> F.interpolate(f32(1, 1, 2, 2), -1, 2, F.Interpolation.NEAREST, false), "greater than 0");
    bad(() -> F.conv2d(f32(1, 1, 4, 4), f32(1, 1, 1, 1), null, 1, 1 << 30, 1, 1), "memory", "descriptor", "size");
    bad(() -> F.avgPool2d(f32(1, 1, 4, 4), Integer.MAX_VALUE, 1, 0, false, true), "size");
    bad(() -> Tensor.ones(1).expand(1L << 40).toFloatArray(), "overflow");
  }

  // ------------------------------------------------------------------------------------------ indices

  @Test
  void outOfRangeIndicesAndDims() {
    Tensor a = f32(3, 4);
    bad(() -> a.select(0, 3), "out of range");
    bad(() -> a.select(0, -4), "out of range");
    bad(() -> a.select(2, 0), "dimension out of range");
    bad(() -> Tensor.scalar(1).select(0, 0), "0-dim");
    bad(() -> a.narrow(0, 2, 2), "exceeds");
    bad(() -> a.narrow(0, 0, -1), "non-negative");
    bad(() -> a.narrow(0, Long.MAX_VALUE, 1), "out of range");
    bad(() -> a.narrow(0, Long.MIN_VALUE, 1), "out of range");
    bad(() -> a.narrow(5, 0, 1), "dimension out of range");
    bad(() -> a.indexSelect(0, Tensor.of(new long[] {0, 5})), "out of range");
    bad(() -> a.indexSelect(0, Tensor.of(new long[] {-1})), "out of range");
    bad(() -> a.indexSelect(5, Tensor.of(new long[] {0})), "dimension out of range");
    bad(() -> a.gather(1, Tensor.of(new long[] {0, 1, 2, 99, 0, 0, 0, 0, 0, 0, 0, 0}, 3, 4)), "out of bounds");
    bad(() -> a.gather(1, Tensor.of(new long[] {Long.MIN_VALUE}, 1, 1)), "out of bounds");
    bad(() -> a.gather(0, Tensor.of(new long[] {0}, 1)), "dimensions");
    bad(() -> a.gather(7, Tensor.of(new long[] {0}, 1, 1)), "dimension out of range");
    bad(() -> a.slice(3, 0, 1, 1), "dimension out of range");
    bad(() -> a.slice(0, 0, 3, 0), "step");
    bad(() -> a.slice(0, 0, 3, -2), "step");
    bad(() -> a.index(Tensor.of(new long[] {7})), "out of bounds");
    bad(() -> a.index(Tensor.of(new long[] {-7})), "out of bounds");
    bad(() -> a.index(Tensor.of(new long[] {0}), Tensor.of(new long[] {0}), Tensor.of(new long[] {0})), "too many");
    bad(() -> a.index(Tensor.of(new boolean[] {true, false})), "shape of the mask");
    bad(() -> a.clone().indexPut_(new Tensor[] {Tensor.of(new long[] {10})}, Tensor.scalar(1), true), "out of bounds");
    bad(() -> a.clone().indexPut_(new Tensor[] {Tensor.of(new long[] {0, 1})}, f32(5), false), "shape mismatch");
    bad(() -> F.embedding(a, Tensor.of(new long[] {5})), "out of range");
    bad(() -> F.embedding(a, Tensor.of(new long[] {-1})), "out of range");
    bad(() -> a.transpose(0, 2), "dimension out of range");
    bad(() -> a.unsqueeze(5), "dimension out of range");
    bad(() -> a.squeeze(4), "dimension out of range");
    bad(() -> a.flip(9), "dimension out of range");
    bad(() -> a.sum(false, 9), "dimension out of range");
    bad(() -> a.sum(false, 0, 0), "multiple times");
    bad(() -> a.softmax(5), "dimension out of range");
    bad(() -> a.argmax(5, false), "dimension out of range");
    bad(() -> a.chunk(2, 5), "dimension out of range");
    bad(() -> Tensor.cat(List.of(a, a), 7), "dimension out of range");
    bad(() -> Tensor.stack(List.of(a, a), 4), "dimension out of range");
    bad(() -> a.size(2), "out of range");
    bad(() -> Tensor.zeros(0).argmax(), "numel() == 0");
    bad(() -> Tensor.zeros(0).item(), "0 elements");
  }

  @Test
  void sliceWithAHugeStepIsOneElementNotAnOverflow() {
    Tensor a = Tensor.arange(12).reshape(3, 4);
    assertArrayEquals(new long[] {1, 4}, a.slice(0, 0, 3, Long.MAX_VALUE).shape());
    assertArrayEquals(new long[] {0, 1, 2, 3}, a.slice(0, 0, 3, Long.MAX_VALUE).toLongArray());
    assertArrayEquals(new long[] {3, 1}, a.slice(1, 1, Long.MAX_VALUE, 1L << 62).shape());
    assertArrayEquals(new long[] {3, 4}, a.slice(0, Long.MIN_VALUE, Long.MAX_VALUE, 1).shape());
  }

  // ------------------------------------------------------------------------------------------ lifetime, nulls

  @Test
  void releasedTensorsAsArguments() {
    Tensor ok = f32(3);
    Tensor r = f32(3);
    r.close();
    List<Call> calls = List.of(() -> ok.add(r), () -> r.add(ok), () -> ok.mul_(r), () -> ok.copy_(r),
        () -> Tensor.cat(List.of(ok, r), 0), () -> Tensor.stack(List.of(r), 0), () -> Tensor.where(r, ok, ok),
        () -> ok.indexSelect(0, r), () -> ok.gather(0, r), () -> ok.index(r), () -> ok.lerp(r, .5),
        () -> ok.addcmul_(r, ok, 1), () -> F.linear(ok, r, null), () -> F.conv2d(r, r, null, 1, 0, 1, 1),
        () -> F.groupNorm(ok, 1, r, null, 1e-5), () -> F.mseLoss(ok, r, F.Reduction.SUM),
        () -> Tensor.einsum("i,i->", ok, r), () -> Op.of("aten::add", "Tensor").call(ok, r), r::shape, r::dtype,
        r::toFloatArray, r::sum, r::clone, () -> {
          ok.setGrad(r);
          return null;
        }, () -> {
          Autograd.backward(List.of(r), null, false, false);
          return null;
        });
    for (Call c : calls) bad(c, "released");
    assertEquals("Tensor(released)", r.toString());
    try (Generator g = Generator.cpu(1)) {
      g.close();
      bad(() -> Tensor.randn(new long[] {3}, DType.FLOAT32, CPU, g), "closed");
      bad(() -> ok.clone().normal_(0, 1, g), "closed");
      bad(g::getState, "closed");
    }
    ForwardAD.DualLevel level = ForwardAD.DualLevel.enter();
    level.close();
    bad(() -> level.makeDual(ok, ok), "exited");
  }

  @Test
  void nullArguments() {
    Tensor a = f32(3);
    bad(() -> a.add((Tensor) null), "other");
    bad(() -> a.add_((Tensor) null), "other");
    bad(() -> a.matmul(null), "other");
    bad(() -> a.lerp(null, .5), "end");
    bad(() -> Tensor.where(null, a, a), "cond");
    bad(() -> a.maskedFill(null, 1), "mask");
    bad(() -> a.indexSelect(0, null), "index");
    bad(() -> a.gather(0, null), "index");
    bad(() -> a.indexPut_(new Tensor[] {Tensor.of(new long[] {0})}, null, false), "values");
    bad(() -> Tensor.cat(null, 0), "tensors");
    bad(() -> Tensor.stack(null, 0), "tensors");
    bad(() -> Tensor.cat(Arrays.asList(a, null), 0), "tensors entry 1");
    bad(() -> Tensor.einsum(null, a), "equation");
    bad(() -> Tensor.einsum("i->i", (Tensor) null), "tensors");
    bad(() -> a.split(null, 0), "sizes");
    bad(() -> a.reshape((long[]) null), "shape");
    bad(() -> Tensor.zeros((long[]) null), "shape");
    bad(() -> Tensor.zeros(new long[] {2}, null, CPU), "dtype");
    bad(() -> Tensor.zeros(new long[] {2}, DType.FLOAT32, null), "device");
    bad(() -> a.to((DType) null), "dtype");
    bad(() -> a.to((Device) null), "device");
    bad(() -> Tensor.fromBytes((MemorySegment) null, DType.FLOAT32, 1), "data");
    bad(() -> Tensor.fromBytes((byte[]) null, DType.FLOAT32, 1), "data");
    bad(() -> Tensor.fromBytes(new byte[8], 4, 8, DType.FLOAT32, new long[] {2}, CPU), "out of bounds");
    bad(() -> Tensor.fromBytes(new byte[8], 0, 4, DType.FLOAT32, new long[] {2}, CPU), "bytes");
    bad(() -> Tensor.of((float[]) null), "data");
    bad(() -> {
      a.copyTo(null);
      return null;
    }, "segment");
    bad(() -> F.linear(null, a, null), "input");
    bad(() -> F.conv2d(f32(1, 1, 2, 2), null, null, 1, 0, 1, 1), "weight");
    bad(() -> F.mseLoss(a, null, F.Reduction.MEAN), "target");
    bad(() -> F.embedding(null, a), "weight");
    bad(() -> F.scaledDotProductAttention(a, null, a, null, false, 1), "key");
    bad(() -> {
      Autograd.backward(null, null, false, false);
      return null;
    }, "outputs");
    assertThrows(NullPointerException.class, () -> Op.of(null, "")); // (no message: see the report)
    bad(() -> a.index((Tensor[]) null), "indices");
    bad(() -> Tensor.einsum("i", (Tensor[]) null), "tensors");
    try (Generator g = Generator.cpu(1)) {
      bad(() -> {
        g.setState(null);
        return null;
      }, "state");
    }
    bad(() -> new Device(null, -1), "device type");
    bad(() -> Device.parse("gpu"), "bad device");
  }

  // ------------------------------------------------------------------------------------------ generators

  @Test
  void badGeneratorStates() {
    try (Generator g = Generator.cpu(7)) {
      byte[] good = g.getState();
      bad(() -> {
        g.setState(new byte[0]);
        return null;
      }, "size");
      bad(() -> {
        g.setState(Arrays.copyOf(good, good.length + 1));
        return null;
      }, "size");
      bad(() -> {
        g.setState(Arrays.copyOf(good, good.length - 1));
        return null;
      }, "size");
      bad(() -> {
        g.setState(new byte[good.length]);
        return null;
      }, "invalid", "state");
      Random rnd = new Random(3);
      for (int i = 0; i < 20; i++) {
        byte[] s = good.clone();
        rnd.nextBytes(s);
        bad(() -> {
          g.setState(s);
          return null;
        }, "invalid", "state");
      }
      // A rejected state leaves the generator usable and unchanged.
      g.setState(good);
      float[] x = Tensor.randn(new long[] {4}, DType.FLOAT32, CPU, g).toFloatArray();
      g.setState(good);
      assertArrayEquals(x, Tensor.randn(new long[] {4}, DType.FLOAT32, CPU, g).toFloatArray());
    }
    if (!Torch.cudaIsAvailable()) {
      bad(() -> Generator.create(Device.cuda(0), 1), "cuda");
      bad(() -> Tensor.zeros(new long[] {2}, DType.FLOAT32, Device.cuda(0)), "cuda");
    }
  }

  // ------------------------------------------------------------------------------------------ autograd

  @Test
  void autogradMisuse() {
    Tensor p = Tensor.ones(3).requiresGrad_(true);
    bad(() -> {
      p.mul(2).backward();
      return null;
    }, "scalar outputs");
    bad(() -> {
      Tensor.ones(1).sum().backward();
      return null;
    }, "does not require grad");
    bad(() -> p.mul(2).requiresGrad_(false), "leaf");
    bad(() -> p.add_(1.0), "leaf");
    bad(() -> Autograd.grad(p.sum(), List.of(Tensor.ones(3).requiresGrad_(true))), "not have been used");
    bad(() -> Autograd.grad(p.sum(), List.of()), "at least one input");
    bad(() -> {
      p.setGrad(Tensor.ones(4));
      return null;
    }, "different size");
    bad(() -> {
      p.setGrad(Tensor.ones(new long[] {3}, DType.FLOAT64, CPU));
      return null;
    }, "different type");
    bad(() -> {
      p.setGrad(p);
      return null;
    }, "own grad");
    p.setGrad(Tensor.full(new long[] {3}, 5, DType.FLOAT32, CPU)); // a matching grad is accepted
    p.mul(2).sum().backward();
    assertArrayEquals(new float[] {7, 7, 7}, p.grad().toFloatArray());
    try (ForwardAD.DualLevel level = ForwardAD.DualLevel.enter()) {
      bad(() -> level.makeDual(Tensor.ones(3), Tensor.ones(4)), "size");
      bad(() -> level.makeDual(Tensor.ones(3), Tensor.ones(new long[] {3}, DType.INT64, CPU)), "floating-point");
      bad(() -> level.makeDual(Tensor.of(new int[] {1}), Tensor.of(new int[] {1})), "floating-point");
      bad(ForwardAD.DualLevel::enter, "nested");
    }
    try (ForwardAD.DualLevel level = ForwardAD.DualLevel.enter()) { // the failed enter left nothing behind
      assertNotNull(level.unpack(level.makeDual(Tensor.ones(2), Tensor.ones(2))).tangent());
    }
  }

  // ------------------------------------------------------------------------------------------ Op

  @Test
  void opCallsWithWrongArguments() {
    Tensor m = f32(3, 4);
    Op add = Op.of("aten::add", "Tensor");
    bad(() -> Op.of("aten::nonexistent", ""), "no operator");
    bad(() -> Op.of("aten::add", "Nope"), "no operator");
    bad(add::call, "missing value");
    bad(() -> add.call(m, m, 1, 2, 3), "at most");
    bad(() -> add.call("x", m), "expected a value of type");
    bad(() -> add.call(5L, m), "expected a value of type");
    bad(() -> add.call(null, m), "expected a value of type");
    bad(() -> add.call(m, m, m), "expected a value of type");
    bad(() -> add.call(List.of(m), m), "expected a value of type");
    bad(() -> add.call(new long[] {1}, m), "expected a value of type");
    bad(() -> add.call(new double[] {1}, m), "expected a value of type");
    bad(() -> add.call(m, m, true), "expected a value of type");
    bad(() -> add.call(new Object(), m), "unsupported type");
    bad(() -> add.call(List.of("a"), m), "lists must hold tensors");
    bad(() -> add.callTensor(m), "missing value");
    Op cat = Op.of("aten::cat", "");
    bad(() -> cat.call(Arrays.asList(m, null), 0L), "expected a value of type");
    bad(() -> cat.call(m, 0L), "expected a value of type");
    bad(() -> cat.call(List.of(m, m), 0.5), "expected a value of type");
    bad(() -> Op.of("aten::split", "Tensor").callTensor(m, 1L, 0L), "exactly one tensor");
    bad(() -> Op.of("aten::item", "").call(Op.of("aten::to", "dtype").callTensor(Tensor.scalar(2), 9L)),
        "does not convert");
    bad(() -> Op.of("aten::sum", "").callTensor(m, 9L).dtype(), "unsupported dtype code");
  }

  /** Enum codes (ScalarType, Layout, MemoryFormat) are cast unchecked by kernels: out-of-range ones used to crash. */
  @Test
  void opRejectsOutOfRangeEnumCodes() {
    Tensor m = f32(3, 4);
    long[] codes = {-1, -128, 46, 99, 127, 128, 255, 1L << 40, Long.MIN_VALUE};
    for (long c : codes) {
      bad(() -> Op.of("aten::promote_types", "").call(c, 6L), "not a valid dtype");
      bad(() -> Op.of("aten::promote_types", "").call(6L, c), "not a valid dtype");
      bad(() -> Op.of("aten::can_cast", "").call(c, 6L), "not a valid dtype");
      bad(() -> Op.of("aten::empty", "memory_format").call(new long[] {2}, c), "not a valid dtype");
      bad(() -> Op.of("aten::sum", "").call(m, c), "not a valid dtype");
      bad(() -> Op.of("aten::to", "dtype").call(m, c), "not a valid dtype");
      bad(() -> Op.of("aten::zeros", "").call(new long[] {2}, null, c), "not a valid layout");
      bad(() -> Op.of("aten::contiguous", "").call(Tensor.ones(1, 1, 2, 2), c), "not a valid memory format");
    }
    // In-range codes still work (or fail with libtorch's own message), and never crash.
    for (long c = 0; c < 46; c++) {
      long cc = c;
      try {
        Op.of("aten::promote_types", "").call(cc, 6L);
        Op.of("aten::empty", "memory_format").call(new long[] {2}, cc);
      } catch (TorchException e) {
        assertNotNull(e.getMessage());
      }
    }
    assertEquals(List.of((long) DType.FLOAT64.code()), Op.of("aten::promote_types", "").call(DType.FLOAT32,
        DType.FLOAT64));
  }

  // ------------------------------------------------------------------------------------------ host memory

  @Test
  void readOnlyDestinationsAreRefused(@TempDir Path dir) throws Exception {
    Tensor t = f32(12);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment ro = arena.allocate(48).asReadOnly();
      bad(() -> {
        t.copyTo(ro);
        return null;
      }, "read-only");
      Path f = Files.write(dir.resolve("ro.bin"), new byte[48]);
      try (FileChannel ch = FileChannel.open(f)) {
        MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, 48, arena);
        bad(() -> {
          t.copyTo(mapped); // used to write into a read-only mapping: SIGSEGV
          return null;
        }, "read-only");
      }
      bad(() -> {
        t.copyTo(MemorySegment.ofArray(new float[12]).asReadOnly());
        return null;
      }, "read-only");
      bad(() -> t.toSegment((size, align) -> arena.allocate(size, align).asReadOnly()), "read-only");
    }
  }

  @Test
  void manyDimensions() {
    long[] shape = new long[70];
    Arrays.fill(shape, 1);
    Tensor t = Tensor.zeros(shape);
    assertEquals(70, t.shape().length);
    assertEquals(70, t.strides().length);
    bad(t::sum, "64 dims");
  }

  // ------------------------------------------------------------------------------------------ random sweep

  private static final long[] LONGS = {Long.MIN_VALUE, -(1L << 48), -5, -2, -1, 0, 1, 2, 3, 5, 7, 1L << 48, 1L << 62,
      Long.MAX_VALUE};
  private static final int[] INTS = {Integer.MIN_VALUE, -9, -3, -2, -1, 0, 1, 2, 3, 4, 9, Integer.MAX_VALUE};
  /** arange ends and steps: tiny results, or ones of at least 2^62 elements (which cannot be allocated). */
  private static final double[] ARANGE_ENDS = {Double.NaN, Double.POSITIVE_INFINITY, -1e300, 1e300, -10, 10,
      0x1p62};
  private static final double[] ARANGE_STEPS = {1e-300, -1, 0, 1, Double.NaN, 3};
  /** Small convolution parameters for transposed convolutions (whose output grows with stride and padding). */
  private static final int[] SMALL = {-1, 0, 1, 2, 3};
  private static final double[] DOUBLES = {Double.NaN, Double.NEGATIVE_INFINITY, -1e300, -1, -0.5, 0, 0.5, 1, 2, 1e300,
      Double.POSITIVE_INFINITY};

  /** Random operands: every dtype, ranks 0–4 with sizes 0–4, random bytes (bools 0/1), some non-contiguous. */
  private static Tensor randomTensor(Random r) {
    DType d = DType.values()[r.nextInt(DType.values().length)];
    int rank = r.nextInt(5);
    long[] shape = new long[rank];
    long n = 1;
    for (int i = 0; i < rank; i++) {
      shape[i] = r.nextInt(8) == 0 ? 0 : 1 + r.nextInt(4);
      n *= shape[i];
    }
    byte[] b = new byte[(int) (n * d.byteSize())];
    r.nextBytes(b);
    if (d == DType.BOOL) for (int i = 0; i < b.length; i++) b[i] &= 1;
    Tensor t = Tensor.fromBytes(MemorySegment.ofArray(b), d, shape);
    return rank >= 2 && r.nextBoolean() ? t.transpose(0, rank - 1) : t;
  }

  private static long[] randomLongs(Random r) {
    long[] v = new long[r.nextInt(5)];
    for (int i = 0; i < v.length; i++) v[i] = r.nextInt(3) == 0 ? LONGS[r.nextInt(LONGS.length)] : r.nextInt(5) - 1;
    return v;
  }

  /** Bounded sizes (or ones beyond any address space), so that no random call can exhaust memory. */
  private static long[] randomShape(Random r) {
    long[] v = new long[r.nextInt(4)];
    for (int i = 0; i < v.length; i++) {
      v[i] = r.nextInt(6) == 0 ? LONGS[r.nextInt(LONGS.length)] : r.nextInt(5);
    }
    return v;
  }

  private static final List<Function<Random, Call>> TEMPLATES = new ArrayList<>();

  private static void op(Function<Random, Call> f) {
    TEMPLATES.add(f);
  }

  static {
    op(r -> {
      Tensor a = randomTensor(r), b = randomTensor(r);
      int k = r.nextInt(12);
      return () -> switch (k) {
        case 0 -> a.add(b);
        case 1 -> a.sub(b);
        case 2 -> a.mul(b);
        case 3 -> a.div(b);
        case 4 -> a.matmul(b);
        case 5 -> a.bmm(b);
        case 6 -> a.pow(b);
        case 7 -> a.atan2(b);
        case 8 -> a.maximum(b);
        case 9 -> a.logicalAnd(b);
        case 10 -> a.eq(b);
        default -> a.lt(b);
      };
    });
    op(r -> {
      Tensor a = randomTensor(r), b = randomTensor(r);
      int k = r.nextInt(6);
      return () -> switch (k) {
        case 0 -> a.add_(b);
        case 1 -> a.mul_(b);
        case 2 -> a.copy_(b);
        case 3 -> a.div_(b);
        case 4 -> a.sub_(b);
        default -> a.lerp_(b, .5);
      };
    });
    op(r -> {
      Tensor a = randomTensor(r);
      double v = DOUBLES[r.nextInt(DOUBLES.length)];
      int k = r.nextInt(14);
      return () -> switch (k) {
        case 0 -> a.sqrt_();
        case 1 -> a.neg_();
        case 2 -> a.fill_(v);
        case 3 -> a.clamp_(v, -v);
        case 4 -> a.nanToNum_(v, v, v);
        case 5 -> a.normal_(v, v, null);
        case 6 -> a.uniform_(v, 1, null);
        case 7 -> a.bernoulli_(v, null);
        case 8 -> a.div_(v);
        case 9 -> a.add_(v);
        case 10 -> a.zero_();
        case 11 -> a.fill_((long) v);
        case 12 -> a.bernoulli(null);
        default -> a.pow(v);
      };
    });
    op(r -> {
      Tensor a = randomTensor(r);
      int k = r.nextInt(16);
      return () -> switch (k) {
        case 0 -> a.sqrt();
        case 1 -> a.log();
        case 2 -> a.neg();
        case 3 -> a.logicalNot();
        case 4 -> a.sigmoid();
        case 5 -> a.gelu();
        case 6 -> a.round();
        case 7 -> a.isnan();
        case 8 -> a.erf();
        case 9 -> a.sign();
        case 10 -> a.abs();
        case 11 -> a.floor();
        case 12 -> a.reciprocal();
        case 13 -> a.item();
        case 14 -> a.itemLong();
        default -> a.eigh();
      };
    });
    op(r -> {
      Tensor a = randomTensor(r);
      long[] v = randomLongs(r);
      int k = r.nextInt(7);
      return () -> switch (k) {
        case 0 -> a.reshape(v);
        case 1 -> a.view(v);
        case 2 -> a.expand(v);
        case 3 -> a.repeat(v);
        case 4 -> a.permute(v);
        case 5 -> a.flip(v);
        default -> a.squeeze(v);
      };
    });
    op(r -> {
      Tensor a = randomTensor(r);
      int d = INTS[r.nextInt(INTS.length)], e = INTS[r.nextInt(INTS.length)];
      long s = LONGS[r.nextInt(LONGS.length)], l = LONGS[r.nextInt(LONGS.length)];
      boolean kd = r.nextBoolean();
      int k = r.nextInt(16);
      return () -> switch (k) {
        case 0 -> a.select(d, s);
        case 1 -> a.narrow(d, s, l);
        case 2 -> a.slice(d, s, l, Math.max(1, Math.abs(e)));
        case 3 -> a.transpose(d, e);
        case 4 -> a.unsqueeze(d);
        case 5 -> a.flatten(d, e);
        case 6 -> a.sum(kd, d, e);
        case 7 -> a.mean(kd, d);
        case 8 -> a.amax(kd, d);
        case 9 -> a.softmax(d);
        case 10 -> a.argmax(d, kd);
        case 11 -> a.chunk(d, e);
        case 12 -> a.std(s, kd, d);
        case 13 -> a.norm(s, kd, d);
        case 14 -> a.logsumexp(kd, d);
        default -> a.size(d);
      };
    });
    op(r -> {
      Tensor a = randomTensor(r), i = randomTensor(r);
      int d = INTS[r.nextInt(INTS.length)];
      Tensor v = randomTensor(r);
      boolean acc = r.nextBoolean();
      int k = r.nextInt(6);
      return () -> switch (k) {
        case 0 -> a.indexSelect(d, i);
        case 1 -> a.gather(d, i);
        case 2 -> a.index(i);
        case 3 -> a.indexPut_(new Tensor[] {i}, v, acc);
        case 4 -> F.embedding(a, i);
        default -> a.maskedFill(i, 1);
      };
    });
    op(r -> {
      List<Tensor> ts = new ArrayList<>();
      for (int n = r.nextInt(4); n > 0; n--) ts.add(randomTensor(r));
      int d = INTS[r.nextInt(INTS.length)];
      boolean stack = r.nextBoolean();
      return () -> stack ? Tensor.stack(ts, d) : Tensor.cat(ts, d);
    });
    op(r -> {
      long[] shape = randomShape(r);
      DType d = DType.values()[r.nextInt(DType.values().length)];
      double v = DOUBLES[r.nextInt(DOUBLES.length)];
      long lo = LONGS[r.nextInt(LONGS.length)], hi = LONGS[r.nextInt(LONGS.length)];
      int k = r.nextInt(10);
      return () -> switch (k) {
        case 0 -> Tensor.zeros(shape, d, CPU);
        case 1 -> Tensor.ones(shape, d, CPU);
        case 2 -> Tensor.empty(shape, d, CPU);
        case 3 -> Tensor.full(shape, v, d, CPU);
        case 4 -> Tensor.randn(shape, d, CPU, null);
        case 5 -> Tensor.randint(lo, hi, shape, d, CPU, null);
        case 6 -> Tensor.normal(v, v, shape, d, CPU, null);
        case 7 -> Tensor.arange(v, ARANGE_ENDS[(int) Math.floorMod(lo, ARANGE_ENDS.length)],
            ARANGE_STEPS[(int) Math.floorMod(hi, ARANGE_STEPS.length)], d, CPU);
        case 8 -> Tensor.linspace(v, v, lo, d, CPU);
        default -> Tensor.randperm(lo, CPU, null);
      };
    });
    op(r -> {
      Tensor x = randomTensor(r), w = randomTensor(r), b = r.nextBoolean() ? null : randomTensor(r);
      int s = INTS[r.nextInt(INTS.length)], p = INTS[r.nextInt(INTS.length)], dl = INTS[r.nextInt(INTS.length)];
      int g = INTS[r.nextInt(INTS.length)];
      long oh = LONGS[r.nextInt(LONGS.length)];
      double eps = DOUBLES[r.nextInt(DOUBLES.length)];
      int k = r.nextInt(12);
      return () -> switch (k) {
        case 0 -> F.conv2d(x, w, b, s, p, dl, g);
        case 1 -> F.convTranspose2d(x, w, b, SMALL[Math.floorMod(s, 5)], SMALL[Math.floorMod(p, 5)], 0,
            SMALL[Math.floorMod(g, 5)], SMALL[Math.floorMod(dl, 5)]);
        case 2 -> F.linear(x, w, b);
        case 3 -> F.groupNorm(x, g, w, b, eps);
        case 4 -> F.layerNorm(x, randomLongs(r), w, b, eps);
        case 5 -> F.avgPool2d(x, s, p, dl, r.nextBoolean(), r.nextBoolean());
        case 6 -> F.interpolate(x, oh, 2, F.Interpolation.values()[r.nextInt(2)], r.nextBoolean());
        case 7 -> F.pad(x, randomShape(r), F.PadMode.values()[r.nextInt(4)], eps);
        case 8 -> F.dropout(x, eps, true, null);
        case 9 -> F.scaledDotProductAttention(x, w, x, b, r.nextBoolean(), eps);
        case 10 -> F.huberLoss(x, w, F.Reduction.values()[r.nextInt(3)], eps);
        default -> F.mseLoss(x, w, F.Reduction.values()[r.nextInt(3)]);
      };
    });
    op(r -> {
      Tensor a = randomTensor(r), b = randomTensor(r);
      String[] names = {"aten::add.Tensor", "aten::mul.Tensor", "aten::sum.dim_IntList", "aten::index_select.",
          "aten::cat.", "aten::zeros.", "aten::to.dtype", "aten::promote_types.", "aten::clone.", "aten::narrow.",
          "aten::where.self", "aten::softmax.int", "aten::empty.memory_format", "aten::contiguous."};
      String n = names[r.nextInt(names.length)];
      int dot = n.indexOf('.');
      Object[] pool = {a, b, null, 0L, 1L, -1L, 99L, 1L << 48, 2.5, Double.NaN, true, "x", new long[] {2, -1},
          new long[] {1L << 48}, new double[] {1}, List.of(a, b), new Tensor[] {a}, DType.BOOL};
      Object[] args = new Object[r.nextInt(5)];
      for (int i = 0; i < args.length; i++) args[i] = pool[r.nextInt(pool.length)];
      return () -> Op.of(n.substring(0, dot), n.substring(dot + 1)).call(args);
    });
  }

  /**
   * Operators called through {@link Op} with loosely typed random arguments. Left out on purpose: operators whose
   * output size comes from tensor values (bincount, one_hot, repeat_interleave.Tensor), as random values could ask
   * for tens of gigabytes that the allocator would grant.
   */
  private static final String[] OPS = {"aten::add.Tensor", "aten::mul.Tensor", "aten::sum.dim_IntList",
      "aten::index_select.", "aten::cat.", "aten::zeros.", "aten::to.dtype", "aten::promote_types.", "aten::clone.",
      "aten::narrow.", "aten::where.self", "aten::softmax.int", "aten::empty.memory_format", "aten::contiguous.",
      "aten::gather.", "aten::scatter.value", "aten::index_add.", "aten::take.", "aten::put_.", "aten::unfold.",
      "aten::as_strided.", "aten::diagonal.", "aten::roll.", "aten::topk.", "aten::kthvalue.", "aten::cumsum.",
      "aten::repeat_interleave.self_int", "aten::pixel_shuffle.", "aten::multinomial.", "aten::histc.",
      "aten::nonzero.", "aten::unique_consecutive.", "aten::max_pool2d.", "aten::adaptive_avg_pool2d.",
      "aten::im2col.", "aten::col2im.", "aten::embedding_bag.", "aten::nll_loss.", "aten::cross_entropy_loss.",
      "aten::tril.", "aten::eye.", "aten::full.", "aten::resize_.", "aten::view.dtype", "aten::sort.",
      "aten::searchsorted.Tensor", "aten::grid_sampler.", "aten::upsample_nearest2d.vec", "aten::_pad_enum.",
      "aten::linalg_solve.", "aten::cdist.", "aten::tensor_split.sections", "aten::movedim.int",
      "aten::select_scatter.", "aten::slice_scatter.", "aten::masked_select.", "aten::index_put.",
      "aten::index.Tensor", "aten::empty_like.", "aten::_to_copy.", "aten::can_cast.", "aten::expand.",
      "aten::permute.", "aten::split_with_sizes.", "aten::tril_indices.", "aten::std.correction"};

  static {
    op(r -> {
      String n = OPS[r.nextInt(OPS.length)];
      int dot = n.indexOf('.');
      Object[] args = new Object[r.nextInt(7)];
      for (int i = 0; i < args.length; i++) {
        args[i] = switch (r.nextInt(12)) {
          case 0, 1, 2 -> randomTensor(r);
          case 3 -> Tensor.of(new long[] {r.nextInt(5) - 1, r.nextInt(5)});
          case 4, 5 -> LONGS[r.nextInt(LONGS.length)];
          case 6 -> (long) r.nextInt(5);
          case 7 -> DOUBLES[r.nextInt(DOUBLES.length)];
          case 8 -> randomShape(r);
          case 9 -> r.nextBoolean() ? List.of(randomTensor(r), randomTensor(r)) : Arrays.asList(randomTensor(r), null);
          case 10 -> r.nextBoolean();
          default -> r.nextBoolean() ? null : DType.values()[r.nextInt(DType.values().length)];
        };
      }
      return () -> Op.of(n.substring(0, dot), n.substring(dot + 1)).call(args);
    });
  }

  /** Splits a schema's argument list at top-level commas. */
  private static List<String> schemaArgs(String schema) {
    String a = schema.substring(schema.indexOf('(') + 1, schema.lastIndexOf(") ->"));
    List<String> r = new ArrayList<>();
    int depth = 0, start = 0;
    for (int i = 0; i < a.length(); i++) {
      char c = a.charAt(i);
      if (c == '[' || c == '(') depth++;
      else if (c == ']' || c == ')') depth--;
      else if (c == ',' && depth == 0) {
        r.add(a.substring(start, i).trim());
        start = i + 1;
      }
    }
    if (!a.isBlank()) r.add(a.substring(start).trim());
    r.removeIf(x -> x.equals("*"));
    return r;
  }

  /** A random value for a schema type: usually of that type, with bad values; sometimes of another type. */
  private static Object valueFor(String type, Random r) {
    if (r.nextInt(10) == 0) return new Object[] {null, 3L, 2.5, "x", true, Tensor.ones(1)}[r.nextInt(6)];
    boolean optional = type.endsWith("?");
    String t = optional ? type.substring(0, type.length() - 1) : type;
    if (optional && r.nextInt(3) == 0) return null;
    t = t.replaceAll("\\([a-z!|]*\\)", ""); // alias annotations: Tensor(a!)
    if (t.startsWith("Tensor?[")) return Arrays.asList(randomTensor(r), r.nextBoolean() ? null : randomTensor(r));
    if (t.startsWith("Tensor[")) return List.of(randomTensor(r), randomTensor(r));
    if (t.startsWith("int[") || t.startsWith("SymInt[")) return r.nextBoolean() ? randomShape(r) : randomLongs(r);
    if (t.startsWith("float[")) return new double[] {DOUBLES[r.nextInt(DOUBLES.length)], 1};
    if (t.startsWith("bool[")) return null;
    return switch (t) {
      case "Tensor" -> r.nextInt(4) == 0 ? Tensor.of(new long[] {r.nextInt(4) - 1, r.nextInt(4)}) : randomTensor(r);
      case "int", "SymInt" -> r.nextBoolean() ? (long) (r.nextInt(6) - 1) : LONGS[r.nextInt(LONGS.length)];
      case "float" -> DOUBLES[r.nextInt(DOUBLES.length)];
      case "Scalar" -> r.nextBoolean() ? DOUBLES[r.nextInt(DOUBLES.length)] : LONGS[r.nextInt(LONGS.length)];
      case "bool" -> r.nextBoolean();
      case "str" -> new String[] {"sum", "mean", "none", "left", "right", "reflect", "trunc", "", "x"}[r.nextInt(9)];
      case "ScalarType", "Layout", "MemoryFormat" -> r.nextBoolean() ? (long) r.nextInt(8) : LONGS[r.nextInt(
          LONGS.length)];
      default -> null; // Device, Generator, Dimname, ...: None
    };
  }

  static {
    op(r -> {
      String n = OPS[r.nextInt(OPS.length)];
      int dot = n.indexOf('.');
      Op op = Op.of(n.substring(0, dot), n.substring(dot + 1));
      List<String> params = schemaArgs(op.schema());
      int count = params.isEmpty() ? 0 : r.nextInt(params.size() + 1);
      Object[] args = new Object[count];
      for (int i = 0; i < count; i++) args[i] = valueFor(params.get(i).split(" ")[0], r);
      return () -> op.call(args);
    });
  }

  @Test
  void randomizedBadCallsOnlyThrowJavaExceptions() {
    // -Dcm4j.sweep.seed / .calls / .template run other, longer or single-template sweeps (crash hunting).
    Random r = new Random(Long.getLong("cm4j.sweep.seed", 20261122L));
    int failed = 0, passed = 0;
    final int calls = Integer.getInteger("cm4j.sweep.calls", 800);
    for (int i = 0; i < calls; i++) {
      try (TensorScope s = TensorScope.open()) {
        int only = Integer.getInteger("cm4j.sweep.template", -1);
        int t = only >= 0 ? only : r.nextInt(TEMPLATES.size());
        Call c = TEMPLATES.get(t).apply(r);
        try {
          c.run();
          passed++;
        } catch (Throwable e) {
          if (ALLOWED.stream().noneMatch(k -> k.isInstance(e)) || e.getMessage() == null
              || e.getMessage().isBlank()) {
            throw new AssertionError("call " + i + " (template " + t + ") threw " + e, e);
          }
          failed++;
        }
      }
    }
    System.out.println("random sweep: " + failed + " rejected, " + passed + " accepted");
    assertEquals(calls, failed + passed);
    assertTrue(failed > calls / 2, "most random calls are bad: " + failed);
  }
}
