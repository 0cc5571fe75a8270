package dev.cm4j.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * NumPy's {@code .npz} archives: a zip file of {@code .npy} members, one per array, named {@code <key>.npy} — what
 * {@code np.savez} (stored members) and {@code np.savez_compressed} (deflated members) write. EDM keeps FID reference
 * statistics in this format ({@code mu} and {@code sigma}, float64) and its sampler writes images as one uint8
 * array (N, H, W, C).
 *
 * <p>Reading accepts stored and deflated members; each member must be a valid {@code .npy} file of a dtype
 * {@link Npy} reads, and anything else (not a zip file, a member that is not {@code .npy}, a duplicate key) throws
 * {@link DataException} naming the file and member. Writing is atomic (temporary file, fsync, rename).
 */
public final class Npz {
  private Npz() {}

  /** Reads every array of an {@code .npz} file, keyed by member name without {@code .npy}, in archive order. */
  public static Map<String, Npy.Array> read(Path file) {
    byte[] raw = Npy.readBytes(file);
    if (raw.length < 4 || raw[0] != 'P' || raw[1] != 'K') {
      throw new DataException(file.toString(), "not an .npz file (not a zip archive)");
    }
    Map<String, Npy.Array> out = new LinkedHashMap<>();
    try (ZipInputStream zin = new ZipInputStream(new java.io.ByteArrayInputStream(raw))) {
      ZipEntry e;
      while ((e = zin.getNextEntry()) != null) {
        if (e.isDirectory()) continue;
        String name = e.getName();
        if (!name.endsWith(".npy")) {
          throw new DataException(file.toString(), "member '" + name + "' is not a .npy file");
        }
        String key = name.substring(0, name.length() - 4);
        byte[] bytes = readAll(zin);
        Npy.Array a = Npy.parse(bytes, file + ":" + name);
        if (out.putIfAbsent(key, a) != null) {
          throw new DataException(file.toString(), "duplicate member '" + name + "'");
        }
      }
    } catch (ZipException e) {
      throw new DataException(file.toString(), "corrupt zip archive: " + e.getMessage(), e);
    } catch (IOException e) {
      throw new DataException(file.toString(), "cannot read: " + e, e);
    }
    if (out.isEmpty()) throw new DataException(file.toString(), "the archive holds no arrays");
    return out;
  }

  /** Reads one array by key; a missing key throws {@link DataException} listing the keys present. */
  public static Npy.Array read(Path file, String key) {
    Map<String, Npy.Array> all = read(file);
    Npy.Array a = all.get(key);
    if (a == null) throw new DataException(file.toString(), "no array '" + key + "' (has " + all.keySet() + ")");
    return a;
  }

  /**
   * Writes arrays as an {@code .npz} file atomically: stored members like {@code np.savez}, or deflated like
   * {@code np.savez_compressed}.
   */
  public static void write(Path file, Map<String, Npy.Array> arrays, boolean compressed) {
    if (arrays.isEmpty()) throw new IllegalArgumentException("an .npz file needs at least one array");
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    try (ZipOutputStream zos = new ZipOutputStream(bos)) {
      for (var en : arrays.entrySet()) {
        String key = en.getKey();
        if (key.isEmpty() || key.contains("/")) throw new IllegalArgumentException("bad array name '" + key + "'");
        byte[] npy = Npy.encode(en.getValue());
        ZipEntry ze = new ZipEntry(key + ".npy");
        if (compressed) {
          ze.setMethod(ZipEntry.DEFLATED);
        } else {
          ze.setMethod(ZipEntry.STORED);
          ze.setSize(npy.length);
          ze.setCompressedSize(npy.length);
          CRC32 crc = new CRC32();
          crc.update(npy);
          ze.setCrc(crc.getValue());
        }
        zos.putNextEntry(ze);
        zos.write(npy);
        zos.closeEntry();
      }
    } catch (IOException e) {
      throw new DataException(file.toString(), "cannot encode: " + e, e);
    }
    dev.cm4j.train.Atomic.write(file, bos.toByteArray());
  }

  private static byte[] readAll(InputStream in) throws IOException {
    return in.readAllBytes();
  }
}
