package dev.cm4j.image;

/**
 * A minimal, independent PNG encoder and decoder in pure Python (zlib + numpy; PIL is not in the reference venv),
 * prepended to test scripts. {@code enc(path, arr, ctype, palette=None)} writes an 8-bit non-interlaced PNG of an
 * HxW or HxWxC uint8 array with colour type ctype (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA), rows filtered
 * with filter 0..4 in turn; {@code dec(path)} reads such a PNG (all five filters) and returns HxWxC uint8.
 */
public final class PyPng {
  private PyPng() {}

  public static final String CODE = """
      import zlib, struct, numpy as np
      CH = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
      def _chunk(t, d):
          return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
      def _paeth(a, b, c):
          p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
          return a if pa <= pb and pa <= pc else (b if pb <= pc else c)
      def enc(path, arr, ctype, palette=None):
          arr = np.asarray(arr, dtype=np.uint8)
          if arr.ndim == 2: arr = arr[:, :, None]
          h, w, c = arr.shape
          assert c == CH[ctype]
          bpp = c
          raw = bytearray(); prev = bytes(w * c)
          for y in range(h):
              line = arr[y].tobytes(); f = y % 5; out = bytearray(len(line))
              for i in range(len(line)):
                  a = line[i - bpp] if i >= bpp else 0; b = prev[i]; cc = prev[i - bpp] if i >= bpp else 0
                  pred = [0, a, b, (a + b) // 2, _paeth(a, b, cc)][f]
                  out[i] = (line[i] - pred) & 0xff
              raw += bytes([f]) + out; prev = line
          data = b'\\x89PNG\\r\\n\\x1a\\n' + _chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, ctype, 0, 0, 0))
          if palette is not None:
              data += _chunk(b'PLTE', np.asarray(palette, dtype=np.uint8).tobytes())
          data += _chunk(b'IDAT', zlib.compress(bytes(raw))) + _chunk(b'IEND', b'')
          open(path, 'wb').write(data)
      def dec(path):
          d = open(path, 'rb').read()
          assert d[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
          p = 8; idat = b''; plte = None
          while p < len(d):
              n, = struct.unpack('>I', d[p:p + 4]); t = d[p + 4:p + 8]; body = d[p + 8:p + 8 + n]; p += 12 + n
              if t == b'IHDR': w, h, depth, ctype, _, _, inter = struct.unpack('>IIBBBBB', body)
              elif t == b'IDAT': idat += body
              elif t == b'PLTE': plte = np.frombuffer(body, np.uint8).reshape(-1, 3)
          assert depth == 8 and inter == 0, (depth, inter)
          c = CH[ctype]; raw = zlib.decompress(idat); stride = w * c
          out = np.zeros((h, stride), np.int64); prev = np.zeros(stride, np.int64)
          for y in range(h):
              f = raw[y * (stride + 1)]; line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
              cur = np.zeros(stride, np.int64)
              for i in range(stride):
                  a = cur[i - c] if i >= c else 0; b = prev[i]; cc = prev[i - c] if i >= c else 0
                  pred = [0, a, b, (a + b) // 2, _paeth(a, b, cc)][f]
                  cur[i] = (line[i] + pred) & 0xff
              out[y] = cur; prev = cur
          img = out.reshape(h, w, c).astype(np.uint8)
          if ctype == 3: img = plte[img[:, :, 0]]
          return img
      """;
}
