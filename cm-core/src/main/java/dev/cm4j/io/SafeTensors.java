package dev.cm4j.io;

import com.fasterxml.jackson.core.JsonGenerator;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Reads and writes the safetensors format (huggingface/safetensors): an 8-byte little-endian header length N, N
 * bytes of UTF-8 JSON {@code {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}}, then the
 * data section, each tensor's bytes row-major and little-endian at its offsets.
 *
 * <pre>{@code
 * try (SafeTensorFile f = SafeTensors.read(path); TensorScope scope = TensorScope.open()) {
 *   Tensor w = f.tensor("net.weight");
 *   ...
 * }
 * SafeTensors.write(out, Map.of("w", w), Map.of("note", "step 1000"));
 * }</pre>
 *
 * <p>Reading maps the file instead of loading it into the Java heap and validates the header as strictly as the
 * reference implementation (see {@link SafeTensorsException}); writing streams each tensor to a temporary file in
 * the target directory, syncs it and renames it over the target, so readers never see a partial file.
 */
public final class SafeTensors {
  private SafeTensors() {}

  /** The largest header accepted (as the reference implementation: 100,000,000 bytes). */
  public static final long MAX_HEADER_BYTES = Header.MAX_HEADER_BYTES;

  /** Tensors larger than this are written in pieces of this size, bounding the off-heap staging buffer. */
  static final long CHUNK_BYTES = 16L << 20;

  /**
   * Opens a safetensors file: maps it, and parses and validates its header.
   *
   * @param path the file
   * @return the open file (close it to release the mapping)
   * @throws IOException if the file cannot be opened or mapped
   * @throws SafeTensorsException if it is not a valid safetensors file (the message names the file and tensor)
   */
  public static SafeTensorFile read(Path path) throws IOException {
    if (path == null) throw new NullPointerException("path is null");
    return SafeTensorFile.open(path);
  }

  /**
   * Loads every tensor of a file onto the CPU (a shortcut for {@link #read} + {@link SafeTensorFile#loadAll()}).
   *
   * @param path the file
   * @return a new map, sorted by name, of new tensors (owned by the current scope, if any, else by the caller)
   * @throws IOException if the file cannot be opened or mapped
   * @throws SafeTensorsException if it is not a valid safetensors file or holds a dtype cm4j does not support
   */
  public static Map<String, Tensor> loadAll(Path path) throws IOException {
    try (SafeTensorFile f = read(path)) {
      return f.loadAll();
    }
  }

  /**
   * Writes tensors without metadata; see {@link #write(Path, Map, Map)}.
   *
   * @param path the target file (replaced atomically if it exists)
   * @param tensors the tensors by name
   * @throws IOException if writing fails (the target is then left as it was)
   */
  public static void write(Path path, Map<String, Tensor> tensors) throws IOException {
    write(path, tensors, Map.of());
  }

  /**
   * Writes tensors and string metadata to a safetensors file, atomically: the data goes to a temporary file in
   * the same directory, which is flushed to disk and then renamed over path. Tensors are written sorted by name,
   * contiguously, each from its device via a bounded off-heap buffer (non-contiguous tensors are written in
   * row-major order); the header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
   *
   * @param path the target file (replaced atomically if it exists)
   * @param tensors the tensors by name (not {@code __metadata__}); none may be null or released
   * @param metadata string metadata for {@code __metadata__} (null or empty: none is written)
   * @throws IOException if writing fails (the target is then left as it was)
   * @throws NullPointerException if path, tensors, a name, a tensor or a metadata key or value is null
   * @throws IllegalArgumentException if a tensor is named {@code __metadata__}
   * @throws IllegalStateException if a tensor was released
   * @throws SafeTensorsException if the header would exceed {@link #MAX_HEADER_BYTES}
   */
  public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
    write(path, tensors, metadata, CHUNK_BYTES);
  }

  /** {@link #write(Path, Map, Map)} with a given staging-buffer size (tests use small ones). */
  static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata, long chunkBytes)
      throws IOException {
    if (path == null) throw new NullPointerException("path is null");
    if (tensors == null) throw new NullPointerException("tensors map is null");
    TreeMap<String, Tensor> sorted = new TreeMap<>();
    for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
      String name = e.getKey();
      if (name == null) throw new NullPointerException("a tensor name is null");
      if (name.equals(Header.METADATA_KEY)) {
        throw new IllegalArgumentException("'" + Header.METADATA_KEY + "' is reserved and cannot name a tensor");
      }
      if (e.getValue() == null) throw new NullPointerException("tensor '" + name + "' is null");
      if (e.getValue().released()) throw new IllegalStateException("tensor '" + name + "' was released");
      sorted.put(name, e.getValue());
    }
    TreeMap<String, String> meta = new TreeMap<>();
    if (metadata != null) {
      for (Map.Entry<String, String> e : metadata.entrySet()) {
        if (e.getKey() == null) throw new NullPointerException("a metadata key is null");
        if (e.getValue() == null) throw new NullPointerException("metadata value of '" + e.getKey() + "' is null");
        meta.put(e.getKey(), e.getValue());
      }
    }

    // Layout.
    int n = sorted.size();
    String[] names = sorted.keySet().toArray(new String[0]);
    Tensor[] ts = new Tensor[n];
    DType[] dtypes = new DType[n];
    long[][] shapes = new long[n][];
    long[] sizes = new long[n];
    long maxBytes = 0;
    for (int i = 0; i < n; i++) {
      ts[i] = sorted.get(names[i]);
      dtypes[i] = ts[i].dtype();
      shapes[i] = ts[i].shape();
      long numel = 1;
      for (long d : shapes[i]) numel = Math.multiplyExact(numel, d);
      sizes[i] = Math.multiplyExact(numel, (long) dtypes[i].byteSize());
      maxBytes = Math.max(maxBytes, sizes[i]);
    }
    byte[] header = header(path, names, dtypes, shapes, sizes, meta);

    Path abs = path.toAbsolutePath();
    Path dir = abs.getParent();
    Path tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
    boolean done = false;
    try {
      setPermissions(tmp, abs);
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
          Arena arena = Arena.ofConfined()) {
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
        writeFully(ch, len);
        writeFully(ch, ByteBuffer.wrap(header));
        long bufBytes = Math.min(maxBytes, Math.max(chunkBytes, 8));
        MemorySegment buf = bufBytes == 0 ? MemorySegment.NULL : arena.allocate(bufBytes, 16);
        for (int i = 0; i < n; i++) writeTensor(ch, ts[i], dtypes[i], sizes[i], buf);
        ch.force(true);
      }
      try {
        Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
      }
      done = true;
      syncDirectory(dir);
    } finally {
      if (!done) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
          // the original failure matters more
        }
      }
    }
  }

  private static void writeTensor(FileChannel ch, Tensor t, DType dtype, long bytes, MemorySegment buf)
      throws IOException {
    if (bytes == 0) return;
    if (bytes <= buf.byteSize()) {
      MemorySegment s = buf.asSlice(0, bytes);
      t.copyTo(s);
      writeFully(ch, s);
      return;
    }
    // Large tensor: stream row-major pieces of a flattened view through the staging buffer.
    long perChunk = buf.byteSize() / dtype.byteSize();
    long numel = bytes / dtype.byteSize();
    try (Tensor flat = t.reshape(-1)) {
      for (long start = 0; start < numel; start += perChunk) {
        long len = Math.min(perChunk, numel - start);
        try (Tensor piece = flat.narrow(0, start, len)) {
          MemorySegment s = buf.asSlice(0, len * dtype.byteSize());
          piece.copyTo(s);
          writeFully(ch, s);
        }
      }
    }
  }

  private static void writeFully(FileChannel ch, MemorySegment s) throws IOException {
    for (long off = 0; off < s.byteSize(); off += Integer.MAX_VALUE) {
      writeFully(ch, s.asSlice(off, Math.min(Integer.MAX_VALUE, s.byteSize() - off)).asByteBuffer());
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) ch.write(b);
  }

  /** The JSON header, padded with spaces to a multiple of 8 bytes. */
  static byte[] header(Path path, String[] names, DType[] dtypes, long[][] shapes, long[] sizes,
      Map<String, String> meta) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (JsonGenerator g = Header.MAPPER.createGenerator(out)) {
      g.writeStartObject();
      if (!meta.isEmpty()) {
        g.writeObjectFieldStart(Header.METADATA_KEY);
        for (Map.Entry<String, String> e : meta.entrySet()) g.writeStringField(e.getKey(), e.getValue());
        g.writeEndObject();
      }
      long offset = 0;
      for (int i = 0; i < names.length; i++) {
        g.writeObjectFieldStart(names[i]);
        g.writeStringField("dtype", dtypes[i].safetensorsName());
        g.writeArrayFieldStart("shape");
        for (long d : shapes[i]) g.writeNumber(d);
        g.writeEndArray();
        g.writeArrayFieldStart("data_offsets");
        g.writeNumber(offset);
        g.writeNumber(offset + sizes[i]);
        g.writeEndArray();
        g.writeEndObject();
        offset += sizes[i];
      }
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // in-memory: does not happen
    }
    int pad = (8 - out.size() % 8) % 8;
    for (int i = 0; i < pad; i++) out.write(' ');
    if (out.size() > MAX_HEADER_BYTES) {
      throw new SafeTensorsException(path, null, "header would be " + out.size() + " bytes, more than the limit of "
          + MAX_HEADER_BYTES + " (too many tensors or too much metadata)");
    }
    return out.toByteArray();
  }

  /** The new file gets the target's permissions if it exists, else rw-r--r-- (temp files start as rw-------). */
  private static void setPermissions(Path tmp, Path target) {
    try {
      Set<PosixFilePermission> p = Files.exists(target)
          ? Files.getPosixFilePermissions(target)
          : PosixFilePermissions.fromString("rw-r--r--");
      Files.setPosixFilePermissions(tmp, p);
    } catch (UnsupportedOperationException | IOException ignored) {
      // not a POSIX file system, or not permitted: keep the defaults
    }
  }

  /** Makes the rename durable (best effort: not every platform can open a directory). */
  private static void syncDirectory(Path dir) {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    } catch (IOException | UnsupportedOperationException ignored) {
      // the data itself is already synced
    }
  }
}
