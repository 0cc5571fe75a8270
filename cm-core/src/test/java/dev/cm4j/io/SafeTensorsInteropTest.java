package dev.cm4j.io;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.Fixtures;
import dev.cm4j.testing.PythonRef;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Interop with the reference implementation (the Python safetensors package) in both directions. */
class SafeTensorsInteropTest {
  @TempDir Path dir;

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Python helpers: the safetensors name of a torch dtype, and a tensor's raw little-endian bytes as hex. */
  private static final String PY_COMMON = """
      import sys, json, hashlib, struct, torch
      NAMES = {torch.float64: 'F64', torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16',
               torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
               torch.bool: 'BOOL'}
      def raw(t):
          return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
      """;

  @Test
  void javaReadsWhatPythonWrites() throws IOException {
    Path f = dir.resolve("from-python.safetensors");
    String out = PythonRef.run(PY_COMMON + """
        from safetensors.torch import save_file
        g = torch.Generator().manual_seed(0)
        t = {
            'f64': torch.randn(3, 4, dtype=torch.float64, generator=g),
            'f32': torch.randn(2, 3, 4, generator=g),
            'f16': torch.randn(5, generator=g).half(),
            'bf16': torch.randn(2, 2, generator=g).bfloat16(),
            'i64': torch.randint(-2**62, 2**62, (7,), generator=g, dtype=torch.int64),
            'i32': torch.randint(-2**31, 2**31 - 1, (2, 3), generator=g, dtype=torch.int32),
            'i16': torch.randint(-2**15, 2**15 - 1, (4,), generator=g, dtype=torch.int16),
            'i8': torch.randint(-128, 127, (3, 3), generator=g, dtype=torch.int8),
            'u8': torch.randint(0, 255, (6,), generator=g, dtype=torch.uint8),
            'bool': torch.rand(2, 5, generator=g) > 0.5,
            'scalar': torch.tensor(3.5, dtype=torch.float64),
            'empty': torch.zeros(0, 3),
            'special': torch.tensor([float('nan'), float('inf'), -float('inf'), -0.0, 1e-45]),
            'nested.name/with:chars ✓': torch.arange(4, dtype=torch.int32),
        }
        meta = {'format': 'pt', 'note': 'héllo ✓ "quoted"\\n newline', 'empty': ''}
        save_file(t, sys.argv[1], metadata=meta)
        print(json.dumps({'metadata': meta, 'tensors': {k: {'dtype': NAMES[v.dtype], 'shape': list(v.shape),
                          'hex': raw(v).hex()} for k, v in t.items()}}))
        """, f.toString());
    JsonNode want = JSON.readTree(out);
    try (SafeTensorFile r = SafeTensors.read(f); TensorScope scope = TensorScope.open()) {
      Map<String, String> meta = new TreeMap<>();
      want.get("metadata").properties().forEach(e -> meta.put(e.getKey(), e.getValue().textValue()));
      assertEquals(meta, new TreeMap<>(r.metadata()));
      List<String> names = new ArrayList<>();
      want.get("tensors").fieldNames().forEachRemaining(names::add);
      assertEquals(names.stream().sorted().toList(), r.names());
      Map<String, Tensor> all = r.loadAll();
      for (String name : names) {
        JsonNode w = want.get("tensors").get(name);
        Tensor t = all.get(name);
        assertEquals(w.get("dtype").textValue(), t.dtype().safetensorsName(), name);
        long[] shape = new long[w.get("shape").size()];
        for (int i = 0; i < shape.length; i++) shape[i] = w.get("shape").get(i).longValue();
        assertArrayEquals(shape, t.shape(), name);
        assertEquals(w.get("hex").textValue(), HexFormat.of().formatHex(t.toByteArray()), name);
      }
    }
  }

  @Test
  void pythonReadsWhatJavaWrites() throws IOException {
    Path f = dir.resolve("from-java.safetensors");
    Path expected = dir.resolve("expected.json");
    Random rnd = new Random(11);
    Map<String, Object> exp = new LinkedHashMap<>();
    Map<String, Object> tensors = new LinkedHashMap<>();
    Map<String, String> meta = Map.of("format", "pt", "unicode", "héllo ✓ 𝄞", "json", "{\"a\": [1, 2]}", "", "");
    try (TensorScope scope = TensorScope.open()) {
      Map<String, Tensor> in = new LinkedHashMap<>();
      for (DType d : DType.values()) {
        String n = d.safetensorsName().toLowerCase();
        in.put(n, SafeTensorsTest.random(d, rnd, 3, 5));
        in.put(n + ".scalar", SafeTensorsTest.random(d, rnd));
        in.put(n + ".empty", SafeTensorsTest.random(d, rnd, 2, 0));
        in.put(n + ".t", SafeTensorsTest.random(d, rnd, 4, 3).transpose(0, 1));
      }
      // Floats with NaN payloads, infinities, signed zeros and subnormals go through bit-exactly.
      in.put("special", Tensor.of(new float[] {Float.NaN, Float.intBitsToFloat(0x7fc00123), Float.POSITIVE_INFINITY,
          Float.NEGATIVE_INFINITY, -0f, Float.MIN_VALUE}));
      SafeTensors.write(f, in, meta);
      for (Map.Entry<String, Tensor> e : in.entrySet()) {
        Tensor t = e.getValue();
        tensors.put(e.getKey(), Map.of("dtype", t.dtype().safetensorsName(), "shape", t.shape(), "hex",
            HexFormat.of().formatHex(t.contiguous().toByteArray())));
      }
    }
    exp.put("metadata", meta);
    exp.put("tensors", tensors);
    JSON.writeValue(expected.toFile(), exp);
    String out = PythonRef.run(PY_COMMON + """
        from safetensors.torch import load_file
        from safetensors import safe_open
        exp = json.load(open(sys.argv[2], encoding='utf-8'))
        t = load_file(sys.argv[1])
        assert sorted(t) == sorted(exp['tensors']), (sorted(t), sorted(exp['tensors']))
        for k, e in exp['tensors'].items():
            v = t[k]
            assert NAMES[v.dtype] == e['dtype'], (k, v.dtype, e['dtype'])
            assert list(v.shape) == e['shape'], (k, list(v.shape), e['shape'])
            assert raw(v).hex() == e['hex'], (k, raw(v).hex(), e['hex'])
        with safe_open(sys.argv[1], 'pt') as g:
            assert g.metadata() == exp['metadata'], (g.metadata(), exp['metadata'])
            assert list(g.keys()) == sorted(exp['tensors'])
        data = open(sys.argv[1], 'rb').read()
        n = struct.unpack('<Q', data[:8])[0]
        assert n % 8 == 0, n
        print('OK', len(t))
        """, f.toString(), expected.toString());
    assertEquals("OK " + tensors.size(), out.strip());
  }

  @Test
  void referenceCheckpointMatchesThePythonReader() throws IOException, NoSuchAlgorithmException {
    Path f = Fixtures.reference("songunet-ddpmpp-small.safetensors");
    assertTrue(Files.isRegularFile(f), f::toString);
    String out = PythonRef.run(PY_COMMON + """
        from safetensors import safe_open
        with safe_open(sys.argv[1], 'pt') as g:
            r = {'metadata': g.metadata(), 'tensors': {}}
            for k in g.keys():
                s = g.get_slice(k)
                r['tensors'][k] = {'dtype': s.get_dtype(), 'shape': list(s.get_shape()),
                                   'sha256': hashlib.sha256(raw(g.get_tensor(k))).hexdigest()}
        print(json.dumps(r))
        """, f.toString());
    JsonNode want = JSON.readTree(out);
    JsonNode wt = want.get("tensors");
    try (SafeTensorFile r = SafeTensors.read(f)) {
      assertEquals(wt.size(), r.size());
      Map<String, String> meta = new LinkedHashMap<>();
      want.get("metadata").properties().forEach(e -> meta.put(e.getKey(), e.getValue().textValue()));
      assertFalse(meta.isEmpty());
      assertEquals(meta, r.metadata());
      List<String> names = new ArrayList<>();
      wt.fieldNames().forEachRemaining(names::add);
      assertEquals(names, r.names(), "both list names sorted");
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      for (String name : names) {
        JsonNode w = wt.get(name);
        TensorInfo i = r.info(name);
        assertEquals(w.get("dtype").textValue(), i.dtypeName(), name);
        long[] shape = new long[w.get("shape").size()];
        for (int k = 0; k < shape.length; k++) shape[k] = w.get("shape").get(k).longValue();
        assertArrayEquals(shape, i.shape(), name);
        try (Tensor t = r.tensor(name)) {
          assertArrayEquals(shape, t.shape(), name);
          assertEquals(w.get("sha256").textValue(), HexFormat.of().formatHex(sha.digest(t.toByteArray())), name);
        }
      }
    }
  }
}
