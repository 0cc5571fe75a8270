package dev.cm4j.io;

import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An open safetensors file: its validated header, and its data mapped into memory (not read into the Java heap).
 * Tensors are created on demand by copying their bytes from the mapping into libtorch.
 *
 * <p>Obtain one with {@link SafeTensors#read(Path)} and close it when done (the mapping is released then; tensors
 * already created stay valid, they own copies). Tensors made by {@link #tensor(String)} follow the usual ownership
 * rules: they belong to the current {@link dev.cm4j.tensor.TensorScope} if one is open, else to the caller.
 *
 * <p>Thread safety: the header accessors are safe from any thread, and so is {@link #tensor(String)} (the
 * mapping lives in a shared arena); {@link #close()} must not race with a {@code tensor} call. The file must not be
 * truncated or rewritten in place while it is open (as with any memory mapping, the operating system would then
 * fault on access); {@link SafeTensors#write} replaces files atomically, which is safe.
 */
public final class SafeTensorFile implements AutoCloseable {
  private final Path path;
  private final Header header;
  private final Arena arena;
  private final MemorySegment data; // the data section
  private final List<String> names;
  private volatile boolean closed;

  private SafeTensorFile(Path path, Header header, Arena arena, MemorySegment data) {
    this.path = path;
    this.header = header;
    this.arena = arena;
    this.data = data;
    this.names = List.copyOf(header.tensors.keySet());
  }

  /** Opens, maps and validates path. */
  static SafeTensorFile open(Path path) throws IOException {
    Arena arena = Arena.ofShared();
    boolean ok = false;
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) {
        throw new SafeTensorsException(path, null, "file has " + size + " bytes, fewer than the 8-byte header "
            + "length field");
      }
      MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
      long n = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
      if (n < 0 || n > Header.MAX_HEADER_BYTES) {
        throw new SafeTensorsException(path, null, "header length field says " + Long.toUnsignedString(n)
            + " bytes, more than the limit of " + Header.MAX_HEADER_BYTES);
      }
      if (n > size - 8) {
        throw new SafeTensorsException(path, null, "header length field says " + n + " bytes but only "
            + (size - 8) + " follow it (truncated file, or not a safetensors file)");
      }
      byte[] hb = all.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
      Header h = Header.parse(path, hb, size - 8 - n);
      SafeTensorFile f = new SafeTensorFile(path, h, arena, all.asSlice(8 + n));
      ok = true;
      return f;
    } finally {
      if (!ok) arena.close();
    }
  }

  /**
   * The path this file was opened with.
   *
   * @return the path
   */
  public Path path() {
    return path;
  }

  /**
   * The tensor names, sorted (as the reference implementation's {@code keys()}).
   *
   * @return an unmodifiable sorted list
   */
  public List<String> names() {
    return names;
  }

  /**
   * The number of tensors.
   *
   * @return the tensor count
   */
  public int size() {
    return names.size();
  }

  /**
   * Whether the file has a tensor called name.
   *
   * @param name a tensor name
   * @return true if it is present
   */
  public boolean contains(String name) {
    return header.tensors.containsKey(name);
  }

  /**
   * What the header says about one tensor.
   *
   * @param name a tensor name
   * @return its dtype, shape and data offsets
   * @throws SafeTensorsException if there is no such tensor
   */
  public TensorInfo info(String name) {
    TensorInfo i = name == null ? null : header.tensors.get(name);
    if (i == null) throw new SafeTensorsException(path, name, "no such tensor in the file");
    return i;
  }

  /**
   * Every tensor's header entry, sorted by name.
   *
   * @return an unmodifiable map from name to entry
   */
  public Map<String, TensorInfo> infos() {
    return header.tensors;
  }

  /**
   * The {@code __metadata__} string map (empty if the file has none), in file order.
   *
   * @return an unmodifiable map
   */
  public Map<String, String> metadata() {
    return header.metadata;
  }

  /**
   * The length of the data section (all tensor bytes).
   *
   * @return bytes after the header
   */
  public long dataBytes() {
    return header.dataBytes;
  }

  /**
   * Loads one tensor into a new CPU tensor.
   *
   * @param name a tensor name
   * @return a new tensor with a copy of the data (owned by the current scope, if any, else by the caller)
   * @throws SafeTensorsException if there is no such tensor or its dtype is not supported by cm4j
   * @throws IllegalStateException if this file was closed
   */
  public Tensor tensor(String name) {
    return tensor(name, Device.CPU);
  }

  /**
   * Loads one tensor onto a device.
   *
   * @param name a tensor name
   * @param device where the new tensor lives
   * @return a new tensor with a copy of the data (owned by the current scope, if any, else by the caller)
   * @throws SafeTensorsException if there is no such tensor or its dtype is not supported by cm4j
   * @throws IllegalStateException if this file was closed
   */
  public Tensor tensor(String name, Device device) {
    if (device == null) throw new NullPointerException("device is null");
    checkOpen();
    TensorInfo i = info(name);
    if (!i.isSupported()) {
      throw new SafeTensorsException(path, name, "dtype " + i.dtypeName() + " is not supported by cm4j");
    }
    return Tensor.fromBytes(data.asSlice(i.begin(), i.byteSize()), i.dtype(), i.shape(), device);
  }

  /**
   * Loads every tensor onto the CPU.
   *
   * @return a new map, in {@link #names()} order, of new tensors (owned by the current scope, if any, else by the
   *     caller)
   * @throws SafeTensorsException if a tensor's dtype is not supported by cm4j (the tensors already made are closed)
   * @throws IllegalStateException if this file was closed
   */
  public LinkedHashMap<String, Tensor> loadAll() {
    return loadAll(Device.CPU);
  }

  /**
   * Loads every tensor onto a device.
   *
   * @param device where the new tensors live
   * @return a new map, in {@link #names()} order, of new tensors (owned by the current scope, if any, else by the
   *     caller)
   * @throws SafeTensorsException if a tensor's dtype is not supported by cm4j (the tensors already made are closed)
   * @throws IllegalStateException if this file was closed
   */
  public LinkedHashMap<String, Tensor> loadAll(Device device) {
    LinkedHashMap<String, Tensor> r = new LinkedHashMap<>();
    boolean ok = false;
    try {
      for (String n : names) r.put(n, tensor(n, device));
      ok = true;
      return r;
    } finally {
      if (!ok) {
        for (Tensor t : new ArrayList<>(r.values())) t.close();
      }
    }
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("safetensors file " + path + " is closed");
  }

  /** Releases the mapping (idempotent). Tensors already loaded stay valid. */
  @Override
  public void close() {
    if (closed) return;
    synchronized (this) {
      if (closed) return;
      closed = true;
      arena.close();
    }
  }

  @Override
  public String toString() {
    return "SafeTensorFile[" + path + ", " + names.size() + " tensors" + (closed ? ", closed" : "") + "]";
  }
}
