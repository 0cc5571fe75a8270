package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.image.Png;
import dev.cm4j.image.PyPng;
import dev.cm4j.image.UInt8Image;
import dev.cm4j.testing.PythonRef;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The direct PNG decoder against an independent Python decoder and against javax.imageio. */
class PngDecoderTest {
  @TempDir Path dir;

  @Test
  void everyColourTypeAndFilterMatchesPythonAndImageIo() throws Exception {
    // PyPng filters row y with filter y % 5, so every image uses all five filter types.
    PythonRef.run(PyPng.CODE + """
        import sys, os
        d = sys.argv[1]; rng = np.random.default_rng(7)
        def both(name, arr, ctype, palette=None):
            enc(os.path.join(d, name + '.png'), arr, ctype, palette)
            open(os.path.join(d, name + '.raw'), 'wb').write(dec(os.path.join(d, name + '.png')).transpose(2, 0, 1).tobytes())
        yy, xx = np.mgrid[0:64, 0:64]
        smooth = np.stack([(xx * 4) % 256, (yy * 4) % 256, ((xx + yy) * 2) % 256], -1).astype(np.uint8)
        noisy = np.clip(smooth.astype(int) + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)
        both('rgb-smooth', smooth, 2)
        both('rgb-noisy', noisy, 2)
        both('rgb-odd', rng.integers(0, 256, (5, 7, 3), dtype=np.uint8), 2)
        both('gray', rng.integers(0, 256, (9, 6), dtype=np.uint8), 0)
        both('gray-alpha', rng.integers(0, 256, (6, 9, 2), dtype=np.uint8), 4)
        both('rgba', rng.integers(0, 256, (8, 8, 4), dtype=np.uint8), 6)
        pal = rng.integers(0, 256, (13, 3), dtype=np.uint8)
        both('palette', rng.integers(0, 13, (10, 11), dtype=np.uint8), 3, pal)
        gpal = np.repeat(rng.integers(0, 256, (6, 1), dtype=np.uint8), 3, axis=1)
        enc(os.path.join(d, 'palette-gray.png'), rng.integers(0, 6, (4, 5), dtype=np.uint8), 3, gpal)
        idx = dec(os.path.join(d, 'palette-gray.png'))[:, :, :1]
        open(os.path.join(d, 'palette-gray.raw'), 'wb').write(idx.transpose(2, 0, 1).tobytes())
        """, dir.toString());
    for (String name : new String[] {"rgb-smooth", "rgb-noisy", "rgb-odd", "gray", "gray-alpha", "rgba", "palette",
        "palette-gray"}) {
      byte[] png = Files.readAllBytes(dir.resolve(name + ".png"));
      UInt8Image im = new PngDecoder().decodeDirect(png, name);
      assertNotNull(im, name + " should take the direct path");
      assertArrayEquals(Files.readAllBytes(dir.resolve(name + ".raw")), im.data(), name + " vs Python");
      UInt8Image io = Png.decode(png, name);
      assertArrayEquals(io.shape(), im.shape(), name);
      assertArrayEquals(io.data(), im.data(), name + " vs ImageIO");
    }
  }

  @Test
  void imageIoWrittenPngsIncludingLowBitPalettesMatchImageIo() {
    Random rnd = new Random(11);
    PngDecoder dec = new PngDecoder(); // reused across images, as on a worker thread
    for (int trial = 0; trial < 6; trial++) {
      int h = 1 + rnd.nextInt(70);
      int w = 1 + rnd.nextInt(70);
      int c = new int[] {1, 3, 4}[trial % 3];
      byte[] px = new byte[c * h * w];
      for (int i = 0; i < px.length; i++) px[i] = (byte) (trial % 2 == 0 ? rnd.nextInt(256) : (i % w) * 3 + i / 97);
      byte[] png = Png.encode(new UInt8Image(c, h, w, px)); // ImageIO picks filters adaptively per row
      UInt8Image im = dec.decodeDirect(png, "t" + trial);
      assertNotNull(im);
      assertArrayEquals(Png.decode(png, "t").data(), im.data(), "trial " + trial);
      assertArrayEquals(px, im.data(), "round trip " + trial);
    }
    for (int bits : new int[] {1, 2, 4, 8}) {
      int n = 1 << bits;
      byte[] r = new byte[n];
      byte[] g = new byte[n];
      byte[] b = new byte[n];
      for (int i = 0; i < n; i++) {
        r[i] = (byte) rnd.nextInt(256);
        g[i] = (byte) rnd.nextInt(256);
        b[i] = (byte) rnd.nextInt(256);
      }
      IndexColorModel icm = new IndexColorModel(bits, n, r, g, b);
      BufferedImage bi = bits == 8 ? new BufferedImage(13, 9, BufferedImage.TYPE_BYTE_INDEXED, icm)
          : new BufferedImage(13, 9, BufferedImage.TYPE_BYTE_BINARY, icm);
      for (int y = 0; y < 9; y++) for (int x = 0; x < 13; x++) bi.getRaster().setSample(x, y, 0, rnd.nextInt(n));
      byte[] png = write(bi, false);
      assertEquals(bits, png[24], "bit depth written"); // IHDR's bit depth byte
      assertEquals(3, png[25], "palette colour type");
      UInt8Image im = dec.decodeDirect(png, bits + "-bit palette");
      assertNotNull(im);
      assertArrayEquals(Png.decode(png, "p").data(), im.data(), bits + "-bit palette");
    }
  }

  @Test
  void pngsOutsideTheDirectPathFallBackToImageIo() {
    UInt8Image src = new UInt8Image(3, 20, 17, randomBytes(3 * 20 * 17, 5));
    byte[] interlaced = write(Png.toBufferedImage(src), true);
    assertEquals(1, interlaced[28], "Adam7 interlace flag");
    assertNull(new PngDecoder().decodeDirect(interlaced, "i"));
    assertArrayEquals(src.data(), new PngDecoder().decode(interlaced, "i").data());
    BufferedImage u16 = new BufferedImage(4, 4, BufferedImage.TYPE_USHORT_GRAY);
    byte[] deep = write(u16, false);
    assertNull(new PngDecoder().decodeDirect(deep, "d"));
    DataException e = assertThrows(DataException.class, () -> new PngDecoder().decode(deep, "deep.png"));
    assertTrue(e.getMessage().contains("deep.png"), e.getMessage());
    // Not a PNG at all: a JPEG goes to ImageIO.
    BufferedImage rgb = Png.toBufferedImage(src);
    ByteArrayOutputStream jpg = new ByteArrayOutputStream();
    try {
      assertTrue(ImageIO.write(rgb, "jpeg", jpg));
    } catch (java.io.IOException ex) {
      throw new AssertionError(ex);
    }
    assertArrayEquals(Png.decode(jpg.toByteArray(), "j").data(), new PngDecoder().decode(jpg.toByteArray(), "j").data());
  }

  @Test
  void corruptOrTruncatedPngsThrowNamingTheFile() {
    byte[] png = Png.encode(new UInt8Image(3, 16, 16, randomBytes(768, 3)));
    PngDecoder dec = new PngDecoder();
    for (int cut : new int[] {8, 20, 40, png.length - 20, png.length - 13}) {
      byte[] t = java.util.Arrays.copyOf(png, cut);
      DataException e = assertThrows(DataException.class, () -> dec.decode(t, "cut.png"), "cut at " + cut);
      assertTrue(e.getMessage().contains("cut.png"), e.getMessage());
    }
    byte[] flipped = png.clone();
    flipped[50] ^= 0x10; // inside IDAT: the CRC no longer matches
    DataException e = assertThrows(DataException.class, () -> dec.decode(flipped, "bad.png"));
    assertTrue(e.getMessage().contains("CRC"), e.getMessage());
    // After failures the same decoder still decodes correctly.
    assertArrayEquals(Png.decode(png, "ok").data(), dec.decode(png, "ok").data());
    assertThrows(DataException.class, () -> dec.decode(new byte[] {1, 2, 3}, "junk.png"));
  }

  private static byte[] randomBytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  private static byte[] write(BufferedImage bi, boolean interlaced) {
    try {
      ImageWriter w = ImageIO.getImageWritersByFormatName("png").next();
      ByteArrayOutputStream bos = new ByteArrayOutputStream();
      try (MemoryCacheImageOutputStream out = new MemoryCacheImageOutputStream(bos)) {
        w.setOutput(out);
        ImageWriteParam p = w.getDefaultWriteParam();
        p.setProgressiveMode(interlaced ? ImageWriteParam.MODE_DEFAULT : ImageWriteParam.MODE_DISABLED);
        w.write(null, new IIOImage(bi, null, null), p);
      } finally {
        w.dispose();
      }
      return bos.toByteArray();
    } catch (java.io.IOException e) {
      throw new AssertionError(e);
    }
  }
}
