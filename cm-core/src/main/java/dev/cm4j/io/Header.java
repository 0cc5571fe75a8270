package dev.cm4j.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cm4j.tensor.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Parses and validates a safetensors header, following the reference implementation (huggingface/safetensors):
 * the JSON must be an object whose values are tensor entries {dtype, shape, data_offsets} plus an optional
 * {@code __metadata__} object of strings; sorted by offsets, the tensors must tile the data section exactly (no
 * gap, no overlap, nothing left over) and each must hold exactly product(shape) × element size bytes. Unknown
 * fields inside a tensor entry are ignored, as upstream does. Stricter than upstream: duplicate keys at any level
 * are rejected (upstream keeps the last duplicate tensor entry).
 */
final class Header {
  /** The reference implementation's cap on the header length. */
  static final long MAX_HEADER_BYTES = 100_000_000L;

  /** The name of the optional metadata entry. */
  static final String METADATA_KEY = "__metadata__";

  /** Every dtype of the format: name → (bits per element, cm4j dtype or null when cm4j has none). */
  private record Kind(int bits, DType dtype) {}

  private static final Map<String, Kind> KINDS = new LinkedHashMap<>();

  static {
    for (DType d : DType.values()) KINDS.put(d.safetensorsName(), new Kind(d.byteSize() * 8, d));
    KINDS.put("U16", new Kind(16, null));
    KINDS.put("U32", new Kind(32, null));
    KINDS.put("U64", new Kind(64, null));
    KINDS.put("C64", new Kind(64, null));
    KINDS.put("F8_E5M2", new Kind(8, null));
    KINDS.put("F8_E4M3", new Kind(8, null));
    KINDS.put("F8_E8M0", new Kind(8, null));
    KINDS.put("F8_E4M3FNUZ", new Kind(8, null));
    KINDS.put("F8_E5M2FNUZ", new Kind(8, null));
    KINDS.put("F6_E2M3", new Kind(6, null));
    KINDS.put("F6_E3M2", new Kind(6, null));
    KINDS.put("F4", new Kind(4, null));
  }

  static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
          .streamReadConstraints(StreamReadConstraints.builder()
              .maxStringLength((int) MAX_HEADER_BYTES)
              .maxNameLength((int) MAX_HEADER_BYTES)
              .maxNestingDepth(64)
              .build())
          .build())
      .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
      .build();

  final Map<String, TensorInfo> tensors; // sorted by name
  final Map<String, String> metadata; // file order
  final long dataBytes;

  private Header(Map<String, TensorInfo> tensors, Map<String, String> metadata, long dataBytes) {
    this.tensors = Collections.unmodifiableMap(tensors);
    this.metadata = Collections.unmodifiableMap(metadata);
    this.dataBytes = dataBytes;
  }

  /**
   * The header as text; rejects bytes that are not UTF-8, naming the first invalid byte and its offset in the header
   * and in the file (the header starts after the 8-byte length).
   */
  private static String decodeUtf8(Path file, byte[] bytes) {
    CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    ByteBuffer in = ByteBuffer.wrap(bytes);
    CharBuffer out = CharBuffer.allocate(bytes.length);
    CoderResult r = decoder.decode(in, out, true);
    if (!r.isError()) r = decoder.flush(out);
    if (r.isError()) {
      int at = in.position(); // the decoder stops at the first byte of the invalid sequence
      throw new SafeTensorsException(file, null, String.format(
          "header is not valid UTF-8: invalid sequence at header offset %d (file offset %d), byte 0x%02X", at, at + 8L,
          bytes[at] & 0xFF));
    }
    return out.flip().toString();
  }

  /**
   * Parses header bytes of a file whose data section is dataBytes long.
   *
   * @throws SafeTensorsException on any violation of the format
   */
  static Header parse(Path file, byte[] bytes, long dataBytes) {
    String json = decodeUtf8(file, bytes);
    Map<String, TensorInfo> byName = new TreeMap<>();
    Map<String, String> metadata = new LinkedHashMap<>();
    String current = null;
    try (JsonParser p = MAPPER.createParser(json)) {
      JsonToken t = p.nextToken();
      if (t != JsonToken.START_OBJECT) {
        throw new SafeTensorsException(file, null, "header must be a JSON object, found "
            + (t == null ? "nothing" : describe(t)));
      }
      Set<String> seen = new HashSet<>();
      while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
        String key = p.currentName();
        current = key;
        if (!seen.add(key)) {
          throw new SafeTensorsException(file, key.equals(METADATA_KEY) ? null : key,
              "duplicate key '" + SafeTensorsException.shorten(key) + "' in the header");
        }
        JsonNode value = p.nextToken() == null ? null : p.readValueAsTree();
        if (value == null) throw new SafeTensorsException(file, null, "header JSON ends early");
        if (key.equals(METADATA_KEY)) {
          readMetadata(file, value, metadata);
        } else {
          byName.put(key, readTensor(file, key, value));
        }
        current = null;
      }
      if (t != JsonToken.END_OBJECT) throw new SafeTensorsException(file, null, "header JSON ends early");
      if (p.nextToken() != null) {
        throw new SafeTensorsException(file, null, "header has content after its JSON object (only spaces may "
            + "pad it)");
      }
    } catch (JsonProcessingException e) {
      JsonLocation l = e.getLocation();
      String where = l == null ? "" : " (line " + l.getLineNr() + ", column " + l.getColumnNr() + ")";
      String tensor = current == null || current.equals(METADATA_KEY) ? null : current;
      String in = current != null && current.equals(METADATA_KEY) ? " in __metadata__" : "";
      throw new SafeTensorsException(file, tensor, "header is not valid JSON" + in + ": "
          + jacksonMessage(e.getOriginalMessage()) + where, e);
    } catch (IOException e) {
      throw new SafeTensorsException(file, null, "cannot parse the header: " + e.getMessage(), e);
    }
    validateLayout(file, byName, dataBytes);
    return new Header(byName, metadata, dataBytes);
  }

  /** Jackson's message without its hints about Jackson's own configuration. */
  static String jacksonMessage(String m) {
    if (m == null) return "malformed";
    return m.replaceAll("Duplicate field '(.*)' for `ObjectNode`.*", "duplicate key '$1'")
        .replaceAll("\\[Source: [^;\\]]*; ", "[")
        .replaceAll(": enable `[^`]*` to allow", "")
        .replaceAll(", from `StreamReadConstraints[^`]*`", "");
  }

  private static String describe(JsonToken t) {
    return switch (t) {
      case START_OBJECT -> "an object";
      case START_ARRAY -> "an array";
      case VALUE_STRING -> "a string";
      case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
      case VALUE_TRUE, VALUE_FALSE -> "a boolean";
      case VALUE_NULL -> "null";
      default -> t.toString();
    };
  }

  private static String describe(JsonNode n) {
    if (n == null || n.isMissingNode()) return "nothing";
    if (n.isObject()) return "an object";
    if (n.isArray()) return "an array";
    if (n.isTextual()) return "a string";
    if (n.isIntegralNumber()) return "the integer " + n.asText();
    if (n.isNumber()) return "the number " + n.asText();
    if (n.isBoolean()) return "a boolean";
    if (n.isNull()) return "null";
    return n.getNodeType().toString();
  }

  private static void readMetadata(Path file, JsonNode v, Map<String, String> out) {
    if (v.isNull()) return; // upstream: Option<HashMap<String, String>>
    if (!v.isObject()) {
      throw new SafeTensorsException(file, null, "__metadata__ must be an object of strings, found " + describe(v));
    }
    for (Map.Entry<String, JsonNode> e : v.properties()) {
      if (!e.getValue().isTextual()) {
        throw new SafeTensorsException(file, null, "__metadata__ value of '" + SafeTensorsException.shorten(
            e.getKey()) + "' must be a string, found " + describe(e.getValue()));
      }
      out.put(e.getKey(), e.getValue().textValue());
    }
  }

  private static TensorInfo readTensor(Path file, String name, JsonNode v) {
    if (!v.isObject()) {
      throw new SafeTensorsException(file, name, "entry must be an object {dtype, shape, data_offsets}, found "
          + describe(v));
    }
    JsonNode dt = v.get("dtype");
    if (dt == null) throw new SafeTensorsException(file, name, "missing field 'dtype'");
    if (!dt.isTextual()) throw new SafeTensorsException(file, name, "'dtype' must be a string, found " + describe(dt));
    String dtypeName = dt.textValue();
    Kind kind = KINDS.get(dtypeName);
    if (kind == null) {
      throw new SafeTensorsException(file, name, "unknown dtype '" + SafeTensorsException.shorten(dtypeName)
          + "' (the format knows " + String.join(", ", KINDS.keySet()) + ")");
    }
    long[] shape = naturals(file, name, v, "shape", -1);
    long[] off = naturals(file, name, v, "data_offsets", 2);
    long begin = off[0], end = off[1];
    if (begin > end) {
      throw new SafeTensorsException(file, name, "data_offsets [" + begin + ", " + end + "] end before they begin");
    }
    long numel = 1;
    for (long d : shape) {
      try {
        numel = Math.multiplyExact(numel, d);
      } catch (ArithmeticException e) {
        throw new SafeTensorsException(file, name, "shape " + java.util.Arrays.toString(shape)
            + " has more elements than fit in 64 bits");
      }
    }
    long bytes;
    try {
      long bits = Math.multiplyExact(numel, (long) kind.bits());
      if (bits % 8 != 0) {
        throw new SafeTensorsException(file, name, "shape " + java.util.Arrays.toString(shape) + " of " + dtypeName
            + " does not fill a whole number of bytes");
      }
      bytes = bits / 8;
    } catch (ArithmeticException e) {
      throw new SafeTensorsException(file, name, "shape " + java.util.Arrays.toString(shape) + " of " + dtypeName
          + " has more bytes than fit in 64 bits");
    }
    if (end - begin != bytes) {
      throw new SafeTensorsException(file, name, "data_offsets [" + begin + ", " + end + "] hold " + (end - begin)
          + " bytes but shape " + java.util.Arrays.toString(shape) + " of " + dtypeName + " needs " + bytes);
    }
    return new TensorInfo(name, dtypeName, kind.dtype(), shape, begin, end);
  }

  /** A field holding an array of non-negative integers (of exactly len entries unless len is -1). */
  private static long[] naturals(Path file, String name, JsonNode entry, String field, int len) {
    JsonNode a = entry.get(field);
    if (a == null) throw new SafeTensorsException(file, name, "missing field '" + field + "'");
    if (!a.isArray()) {
      throw new SafeTensorsException(file, name, "'" + field + "' must be an array of non-negative integers, found "
          + describe(a));
    }
    if (len >= 0 && a.size() != len) {
      throw new SafeTensorsException(file, name, "'" + field + "' must have " + len + " entries, found " + a.size());
    }
    long[] r = new long[a.size()];
    for (int i = 0; i < r.length; i++) {
      JsonNode x = a.get(i);
      if (!x.isIntegralNumber()) {
        throw new SafeTensorsException(file, name, "'" + field + "' entry " + i + " must be a non-negative integer, "
            + "found " + describe(x));
      }
      if (!x.canConvertToLong() || x.longValue() < 0) {
        String why = x.bigIntegerValue().signum() < 0 ? "is negative" : "is too large";
        throw new SafeTensorsException(file, name, "'" + field + "' entry " + i + " (" + x.asText() + ") " + why);
      }
      r[i] = x.longValue();
    }
    return r;
  }

  /** Sorted by offsets, the tensors must tile [0, dataBytes) exactly (upstream: InvalidOffset, MetadataIncompleteBuffer). */
  private static void validateLayout(Path file, Map<String, TensorInfo> byName, long dataBytes) {
    List<TensorInfo> order = new ArrayList<>(byName.values());
    order.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end)
        .thenComparing(TensorInfo::name));
    long at = 0;
    String prev = null;
    for (TensorInfo t : order) {
      if (t.begin() != at) {
        String problem = t.begin() < at
            ? "data_offsets [" + t.begin() + ", " + t.end() + "] overlap tensor '" + SafeTensorsException.shorten(prev)
                + "' (which ends at " + at + ")"
            : prev == null
                ? "data_offsets [" + t.begin() + ", " + t.end() + "] leave a gap: the first tensor must start at 0"
                : "data_offsets [" + t.begin() + ", " + t.end() + "] leave a gap: the previous tensor ('"
                    + SafeTensorsException.shorten(prev) + "') ends at " + at;
        throw new SafeTensorsException(file, t.name(), problem + " (tensors must tile the data section)");
      }
      if (t.end() > dataBytes) {
        throw new SafeTensorsException(file, t.name(), "data_offsets [" + t.begin() + ", " + t.end() + "] go past "
            + "the end of the data section (" + dataBytes + " bytes after the header; truncated file?)");
      }
      at = t.end();
      prev = t.name();
    }
    if (at != dataBytes) {
      throw new SafeTensorsException(file, null, at > dataBytes
          ? "tensor data needs " + at + " bytes but the file has " + dataBytes + " after the header (truncated?)"
          : dataBytes > 0 && at == 0 && byName.isEmpty()
              ? "the header lists no tensors but " + dataBytes + " data bytes follow it"
              : "the file has " + dataBytes + " bytes after the header but the tensors cover only " + at
              + " (trailing bytes)");
    }
  }
}
