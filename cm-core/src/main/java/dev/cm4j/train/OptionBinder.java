package dev.cm4j.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Binds a JSON options tree to {@link TrainingOptions}, section by section, before Jackson builds the records:
 * <ul>
 *   <li>a polymorphic section ({@code @JsonTypeInfo}) is bound to the record of its kind (its arch for the network),
 *       named in {@code @JsonSubTypes}; keys of another kind are unknown;</li>
 *   <li>a record's defaults are its static {@code defaults(kind)} (top level: {@link TrainingOptions#DEFAULTS}); the
 *       keys given replace them, so the bound options are complete;</li>
 *   <li>a key that is no record component is an error naming the closest valid key; a value of the wrong JSON type
 *       is an error naming the expected type; the records' constructors check ranges, and their errors get the
 *       section's path.</li>
 * </ul>
 * Every error is an {@link OptionException} with the dotted path of the option.
 *
 * <p>Older options files: {@code precond.kind} was removed (each objective implies its preconditioning); a file that
 * names the objective's own preconditioning still loads, any other value is an error.
 */
final class OptionBinder {
  private OptionBinder() {}

  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  /** Binds a whole options tree. */
  static TrainingOptions bind(JsonNode root) {
    if (root == null || !root.isObject()) throw new OptionException("options", "expected a JSON object, got " + show(root));
    ObjectNode user = migrate((ObjectNode) root.deepCopy());
    ObjectNode bound = section(user, TrainingOptions.class, "");
    return construct(bound, TrainingOptions.class, "");
  }

  /** Rewrites keys of older options files into the current form. */
  private static ObjectNode migrate(ObjectNode root) {
    if (root.get("precond") instanceof ObjectNode pc && pc.has("kind")) {
      JsonNode kindNode = root.path("objective").path("kind");
      String expected = null;
      if (kindNode.isTextual()) {
        Class<?> impl = subtypes(ObjectiveOptions.class).get(kindNode.asText().toLowerCase(Locale.ROOT));
        if (impl != null) {
          expected = ((ObjectiveOptions) defaults(impl, kindNode.asText().toLowerCase(Locale.ROOT))).precondition();
        }
      }
      JsonNode k = pc.get("kind");
      if (expected == null || !k.isTextual() || !k.asText().equalsIgnoreCase(expected)) {
        throw new OptionException("precond.kind", "no longer an option (the objective picks the preconditioning"
            + (expected == null ? "" : "; objective " + kindNode.asText() + " uses " + expected) + "), got " + show(k));
      }
      pc.remove("kind");
    }
    return root;
  }

  // ------------------------------------------------------------------------------------------------ sections

  /** Binds a section: the defaults of its record (by kind) with the given keys checked and put in. */
  private static ObjectNode section(JsonNode user, Class<?> declared, String path) {
    if (!user.isObject()) throw new OptionException(name(path), "expected an object, got " + show(user));
    Class<?> impl = declared;
    String kind = null;
    String selector = null;
    JsonTypeInfo ti = declared.getAnnotation(JsonTypeInfo.class);
    if (ti != null) {
      selector = ti.property();
      Map<String, Class<?>> kinds = subtypes(declared);
      String at = join(path, selector);
      JsonNode k = user.get(selector);
      if (k == null || k.isNull()) {
        throw new OptionException(at, "required, one of " + String.join(", ", kinds.keySet()));
      }
      if (!k.isTextual()) throw new OptionException(at, "expected a string, got " + show(k));
      kind = k.asText().toLowerCase(Locale.ROOT);
      impl = kinds.get(kind);
      if (impl == null) {
        throw new OptionException(at, "must be one of " + String.join(", ", kinds.keySet()) + ", got " + show(k));
      }
    }
    Map<String, RecordComponent> comps = components(impl);
    ObjectNode base = impl == TrainingOptions.class ? topDefaults()
        : TrainingOptions.JSON.valueToTree(defaults(impl, kind));
    var it = user.fields();
    while (it.hasNext()) {
      var e = it.next();
      String key = e.getKey();
      String at = join(path, key);
      if (!comps.containsKey(key)) throw new OptionException(at, unknown(path, key, comps.keySet()));
      if (key.equals(selector)) {
        base.put(key, kind);
        continue;
      }
      base.set(key, value(e.getValue(), comps.get(key).getGenericType(), at));
    }
    for (var c : comps.entrySet()) {
      JsonNode v = base.get(c.getKey());
      if (v == null) throw new OptionException(join(path, c.getKey()), "required");
      if (!user.has(c.getKey()) && v.isObject() && isSection(c.getValue().getType())) {
        base.set(c.getKey(), section(v, c.getValue().getType(), join(path, c.getKey()))); // a default section
      }
    }
    construct(base, impl, path); // range checks, with this section's path
    return base;
  }

  private static <T> T construct(ObjectNode bound, Class<T> type, String path) {
    try {
      return TrainingOptions.JSON.treeToValue(bound, type);
    } catch (JacksonException e) {
      for (Throwable c = e; c != null; c = c.getCause()) {
        if (c instanceof OptionException oe) throw oe.under(path);
      }
      throw new OptionException(name(path), "cannot be bound: " + e.getOriginalMessage());
    }
  }

  // ------------------------------------------------------------------------------------------------ values

  /** Checks one value against the record component's type; returns the value to bind. */
  private static JsonNode value(JsonNode v, Type type, String at) {
    if (type instanceof ParameterizedType pt && pt.getRawType() == List.class) {
      if (!v.isArray()) throw new OptionException(at, "expected a list, got " + show(v));
      ArrayNode out = NODES.arrayNode();
      for (int i = 0; i < v.size(); i++) out.add(value(v.get(i), pt.getActualTypeArguments()[0], at + "." + i));
      return out;
    }
    Class<?> c = (Class<?>) type;
    if (isSection(c)) {
      if (v.isNull()) return v;
      return section(v, c, at);
    }
    if (c == int.class || c == long.class) {
      if (v.isNumber() && Double.isFinite(v.asDouble()) && v.asDouble() == Math.rint(v.asDouble())
          && (v.isIntegralNumber() || Math.abs(v.asDouble()) < 9e15)) {
        long x = v.isIntegralNumber() && v.canConvertToLong() ? v.asLong() : (long) v.asDouble();
        if (v.isIntegralNumber() && !v.canConvertToLong() || c == int.class && x != (int) x) {
          throw new OptionException(at, "expected a " + (c == int.class ? "32" : "64") + "-bit integer, got " + show(v));
        }
        return c == int.class ? NODES.numberNode((int) x) : NODES.numberNode(x);
      }
      throw new OptionException(at, "expected an integer, got " + show(v));
    }
    if (c == double.class) {
      if (!v.isNumber()) throw new OptionException(at, "expected a number, got " + show(v));
      return v;
    }
    if (c == boolean.class) {
      if (!v.isBoolean()) throw new OptionException(at, "expected true or false, got " + show(v));
      return v;
    }
    if (c == String.class) {
      if (v.isNull() || v.isTextual()) return v;
      if (v.isValueNode()) return NODES.textNode(v.asText());
      throw new OptionException(at, "expected a string, got " + show(v));
    }
    if (c.isEnum()) {
      List<String> names = new ArrayList<>();
      for (Object k : c.getEnumConstants()) names.add(((Enum<?>) k).name().toLowerCase(Locale.ROOT));
      String s = v.isTextual() ? v.asText().toLowerCase(Locale.ROOT).replace('-', '_') : null;
      if (s == null || !names.contains(s)) {
        throw new OptionException(at, "must be one of " + String.join(", ", names) + ", got " + show(v));
      }
      return NODES.textNode(s);
    }
    if (c == int[].class || c == double[].class) {
      boolean ints = c == int[].class;
      if (!v.isArray()) {
        throw new OptionException(at, "expected a list of " + (ints ? "integers" : "numbers") + ", got " + show(v));
      }
      ArrayNode out = NODES.arrayNode();
      for (int i = 0; i < v.size(); i++) out.add(value(v.get(i), ints ? int.class : double.class, at + "." + i));
      return out;
    }
    throw new IllegalStateException("no binding for option type " + c + " at " + at);
  }

  // ------------------------------------------------------------------------------------------------ schema

  static boolean isSection(Class<?> c) {
    return c.isRecord() || c.isAnnotationPresent(JsonTypeInfo.class);
  }

  /** The kinds of a polymorphic section, in declaration order, and their records. */
  static Map<String, Class<?>> subtypes(Class<?> declared) {
    Map<String, Class<?>> m = new LinkedHashMap<>();
    for (JsonSubTypes.Type t : declared.getAnnotation(JsonSubTypes.class).value()) {
      if (!t.name().isEmpty()) m.put(t.name(), t.value());
      for (String n : t.names()) m.put(n, t.value());
    }
    return m;
  }

  /** A record's JSON keys and components, in order. */
  static Map<String, RecordComponent> components(Class<?> record) {
    Map<String, RecordComponent> m = new LinkedHashMap<>();
    for (RecordComponent c : record.getRecordComponents()) {
      JsonProperty p = c.getAccessor().getAnnotation(JsonProperty.class);
      if (p == null) p = c.getAnnotation(JsonProperty.class);
      m.put(p != null ? p.value() : c.getName(), c);
    }
    return m;
  }

  /** The record's defaults: its static defaults(kind) or defaults(). */
  static Object defaults(Class<?> record, String kind) {
    try {
      Method m;
      try {
        m = record.getDeclaredMethod("defaults", String.class);
        m.setAccessible(true);
        return m.invoke(null, kind);
      } catch (NoSuchMethodException e) {
        m = record.getDeclaredMethod("defaults");
        m.setAccessible(true);
        return m.invoke(null);
      }
    } catch (NoSuchMethodException | IllegalAccessException e) {
      throw new IllegalStateException(record + " has no defaults()", e);
    } catch (InvocationTargetException e) {
      throw new IllegalStateException("defaults of " + record + " failed", e.getCause());
    }
  }

  private static ObjectNode topDefaults() {
    try {
      return (ObjectNode) TrainingOptions.JSON.readTree(TrainingOptions.DEFAULTS);
    } catch (JacksonException e) {
      throw new IllegalStateException(e);
    }
  }

  // ------------------------------------------------------------------------------------------------ messages

  /** "unknown; did you mean path.closest?" (or the valid keys when none is close). */
  static String unknown(String path, String key, java.util.Collection<String> valid) {
    String best = null;
    int bestD = Integer.MAX_VALUE;
    for (String v : valid) {
      int d = distance(key.toLowerCase(Locale.ROOT), v.toLowerCase(Locale.ROOT));
      if (d < bestD) {
        bestD = d;
        best = v;
      }
    }
    if (best != null && bestD <= Math.max(2, Math.min(key.length(), best.length()) / 2)) {
      return "unknown; did you mean " + join(path, best) + "?";
    }
    return "unknown; valid keys" + (path.isEmpty() ? "" : " of " + path) + ": " + String.join(", ", valid);
  }

  /** Levenshtein distance. */
  static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) prev[j] = j;
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  static String show(JsonNode v) {
    if (v == null || v.isMissingNode()) return "nothing";
    if (v.isArray()) return v.size() == 0 ? "[]" : "a list";
    if (v.isObject()) return "an object";
    return v.toString();
  }

  private static String join(String path, String key) {
    return path.isEmpty() ? key : path + "." + key;
  }

  private static String name(String path) {
    return path.isEmpty() ? "options" : path;
  }

  static List<String> keys(Class<?> record) {
    return new ArrayList<>(components(record).keySet());
  }
}
