package dev.cm4j.image;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.testing.PythonRef;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PngTest {
  @TempDir Path dir;

  private static UInt8Image random(int c, int h, int w, long seed) {
    byte[] b = new byte[c * h * w];
    new Random(seed).nextBytes(b);
    return new UInt8Image(c, h, w, b);
  }

  @Test
  void roundTripsGrayRgbAndRgba() {
    for (int c : new int[] {1, 3, 4}) {
      UInt8Image im = random(c, 5, 7, c);
      assertEquals(im, Png.decode(Png.encode(im), "mem"), "channels " + c);
      Path f = dir.resolve("rt" + c + ".png");
      Png.write(im, f);
      assertEquals(im, Png.read(f));
    }
  }

  @Test
  void decodesEveryColourTypeAsAnIndependentDecoderDoes() throws Exception {
    // Python writes PNGs (with all five row filters) and the CHW samples it expects us to decode.
    PythonRef.run(PyPng.CODE + """
        import sys, os
        d = sys.argv[1]; rng = np.random.default_rng(7)
        def case(name, arr, ctype, chw, palette=None):
            enc(os.path.join(d, name + '.png'), arr, ctype, palette)
            open(os.path.join(d, name + '.raw'), 'wb').write(np.ascontiguousarray(chw).astype(np.uint8).tobytes())
        g = rng.integers(0, 256, (6, 9), dtype=np.uint8); case('gray', g, 0, g[None])
        rgb = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8); case('rgb', rgb, 2, rgb.transpose(2, 0, 1))
        la = rng.integers(0, 256, (6, 9, 2), dtype=np.uint8); case('la', la, 4, la.transpose(2, 0, 1))
        rgba = rng.integers(0, 256, (6, 9, 4), dtype=np.uint8); case('rgba', rgba, 6, rgba.transpose(2, 0, 1))
        pal = rng.integers(0, 256, (16, 3), dtype=np.uint8); idx = rng.integers(0, 16, (6, 9), dtype=np.uint8)
        case('palette', idx, 3, pal[idx].transpose(2, 0, 1), pal)
        gpal = np.repeat(np.arange(0, 256, 17, dtype=np.uint8)[:, None], 3, 1)
        case('graypalette', idx, 3, gpal[idx][:, :, 0][None], gpal)
        """, dir.toString());
    int[] channels = {1, 3, 2, 4, 3, 1};
    String[] names = {"gray", "rgb", "la", "rgba", "palette", "graypalette"};
    for (int k = 0; k < names.length; k++) {
      UInt8Image im = Png.read(dir.resolve(names[k] + ".png"));
      byte[] expected = Files.readAllBytes(dir.resolve(names[k] + ".raw"));
      assertEquals(channels[k], im.channels(), names[k]);
      assertEquals(6, im.height(), names[k]);
      assertEquals(9, im.width(), names[k]);
      assertArrayEquals(expected, im.data(), names[k]);
    }
  }

  @Test
  void writesPngsAnIndependentDecoderReads() throws Exception {
    UInt8Image[] ims = {random(1, 11, 13, 1), random(3, 11, 13, 2), random(4, 3, 2, 3)};
    for (int k = 0; k < ims.length; k++) Png.write(ims[k], dir.resolve("j" + k + ".png"));
    PythonRef.run(PyPng.CODE + """
        import sys, os
        d = sys.argv[1]
        for k in range(3):
            img = dec(os.path.join(d, 'j%d.png' % k))
            open(os.path.join(d, 'j%d.raw' % k), 'wb').write(np.ascontiguousarray(img.transpose(2, 0, 1)).tobytes())
        """, dir.toString());
    for (int k = 0; k < ims.length; k++) {
      assertArrayEquals(ims[k].data(), Files.readAllBytes(dir.resolve("j" + k + ".raw")), "image " + k);
    }
  }

  @Test
  void corruptOrMissingFilesAreNamedInTheError() throws Exception {
    Path junk = dir.resolve("junk.png");
    Files.write(junk, new byte[] {1, 2, 3, 4, 5});
    UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> Png.read(junk));
    assertTrue(e.getMessage().contains(junk.toString()), e.getMessage());

    byte[] good = Png.encode(random(3, 16, 16, 4));
    Path cut = dir.resolve("truncated.png");
    Files.write(cut, Arrays.copyOf(good, good.length / 2));
    e = assertThrows(UncheckedIOException.class, () -> Png.read(cut));
    assertTrue(e.getMessage().contains(cut.toString()), e.getMessage());

    Path missing = dir.resolve("missing.png");
    e = assertThrows(UncheckedIOException.class, () -> Png.read(missing));
    assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
  }

  @Test
  void twoChannelImagesCannotBeWritten() {
    assertThrows(IllegalArgumentException.class, () -> Png.encode(random(2, 2, 2, 0)));
  }
}
