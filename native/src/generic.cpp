// Generic operator call: any registered operator by name and overload, arguments on an IValue stack.
#include "common.h"
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/function_schema.h>
#include <mutex>
#include <unordered_map>
#include <cstring>

#include "stack.h"
struct cm_op_s { c10::OperatorHandle handle; };

namespace {

std::mutex ops_mutex;
std::unordered_map<std::string, cm_op_s*>& op_cache() {
  static auto* m = new std::unordered_map<std::string, cm_op_s*>();  // lives for the process
  return *m;
}

std::vector<c10::IValue>& S(cm_stack s) {
  if (!s) throw cm::ArgError("stack handle is NULL");
  return s->v;
}
const c10::IValue& at_index(cm_stack s, size_t i) {
  auto& v = S(s);
  if (i >= v.size()) throw cm::ArgError("stack index " + std::to_string(i) + " out of range (size " + std::to_string(v.size()) + ")");
  return v[i];
}

// Enum-valued arguments (ScalarType, Layout, MemoryFormat) travel as plain ints on the stack, and kernels cast
// them unchecked (static_cast to an int8_t enum): an out-of-range code indexes static tables out of bounds
// (c10::promoteTypes, TypeMeta lookups) and crashes the process. Reject such codes before the call.
void check_enum_arg(const c10::TypePtr& t, const c10::IValue& v, const c10::FunctionSchema& schema,
                    const c10::Argument& arg) {
  if (v.isNone()) return;
  const char* what = nullptr;
  int64_t limit = 0;
  switch (t->kind()) {
    case c10::TypeKind::OptionalType:
      check_enum_arg(t->castRaw<c10::OptionalType>()->getElementType(), v, schema, arg);
      return;
    case c10::TypeKind::ListType:
      if (v.isList()) {
        const auto& elem = t->castRaw<c10::ListType>()->getElementType();
        for (const auto& e : v.toListRef()) check_enum_arg(elem, e, schema, arg);
      }
      return;
    case c10::TypeKind::ScalarTypeType:
      what = "dtype (ScalarType)";
      limit = static_cast<int64_t>(c10::ScalarType::Undefined);
      break;
    case c10::TypeKind::LayoutType:
      what = "layout";
      limit = static_cast<int64_t>(c10::Layout::NumOptions);
      break;
    case c10::TypeKind::MemoryFormatType:
      what = "memory format";
      limit = static_cast<int64_t>(c10::MemoryFormat::NumOptions);
      break;
    default:
      return;
  }
  if (!v.isInt()) return;  // the schema check has already matched the type
  int64_t code = v.toInt();
  if (code < 0 || code >= limit)
    throw cm::ArgError(schema.name() + "(): argument '" + arg.name() + "' is not a valid " + what + " code: " +
                       std::to_string(code) + " (expected 0.." + std::to_string(limit - 1) + ")");
}

}  // namespace

extern "C" {

int cm_stack_new(cm_stack* out) {
  CM_TRY
  if (!out) throw cm::ArgError("output pointer is NULL");
  *out = new cm_stack_s{};
  CM_CATCH
}
int cm_stack_free(cm_stack s) { CM_TRY delete s; CM_CATCH }
int cm_stack_clear(cm_stack s) { CM_TRY S(s).clear(); CM_CATCH }
int cm_stack_size(cm_stack s, size_t* out) { CM_TRY cm::put_val<size_t>(out, S(s).size()); CM_CATCH }
int cm_stack_push_tensor(cm_stack s, cm_tensor t) {
  CM_TRY
  if (t) S(s).emplace_back(t->t);
  else S(s).emplace_back();
  CM_CATCH
}
int cm_stack_push_none(cm_stack s) { CM_TRY S(s).emplace_back(); CM_CATCH }
int cm_stack_push_double(cm_stack s, double v) { CM_TRY S(s).emplace_back(v); CM_CATCH }
int cm_stack_push_int(cm_stack s, int64_t v) { CM_TRY S(s).emplace_back(v); CM_CATCH }
int cm_stack_push_bool(cm_stack s, int v) { CM_TRY S(s).emplace_back(v != 0); CM_CATCH }
int cm_stack_push_string(cm_stack s, const char* v) {
  CM_TRY
  if (!v) throw cm::ArgError("string is NULL");
  S(s).emplace_back(std::string(v));
  CM_CATCH
}
int cm_stack_push_int_list(cm_stack s, const int64_t* v, size_t n) {
  CM_TRY
  auto r = cm::ints(v, n);
  S(s).emplace_back(c10::List<int64_t>(std::vector<int64_t>(r.begin(), r.end())));
  CM_CATCH
}
int cm_stack_push_double_list(cm_stack s, const double* v, size_t n) {
  CM_TRY
  if (n > 0 && !v) throw cm::ArgError("list pointer is NULL with non-zero length");
  S(s).emplace_back(c10::List<double>(std::vector<double>(v, v + n)));
  CM_CATCH
}
int cm_stack_push_tensor_list(cm_stack s, const cm_tensor* v, size_t n) {
  CM_TRY S(s).emplace_back(c10::List<at::Tensor>(cm::tensors(v, n))); CM_CATCH
}
int cm_stack_push_optional_tensor_list(cm_stack s, const cm_tensor* v, size_t n) {
  CM_TRY
  if (n > 0 && !v) throw cm::ArgError("list pointer is NULL with non-zero length");
  c10::List<c10::optional<at::Tensor>> l;
  for (size_t i = 0; i < n; i++) l.push_back(cm::opt(v[i]));
  S(s).emplace_back(l);
  CM_CATCH
}
int cm_stack_kind(cm_stack s, size_t i, int* out) {
  CM_TRY
  const auto& v = at_index(s, i);
  int k = v.isNone() ? CM_VALUE_NONE : v.isTensor() ? CM_VALUE_TENSOR : v.isDouble() ? CM_VALUE_DOUBLE
        : v.isInt() ? CM_VALUE_INT : v.isBool() ? CM_VALUE_BOOL : v.isTensorList() ? CM_VALUE_TENSOR_LIST
        : v.isIntList() ? CM_VALUE_INT_LIST : v.isString() ? CM_VALUE_STRING : CM_VALUE_OTHER;
  cm::put_val<int>(out, k);
  CM_CATCH
}
int cm_stack_get_tensor(cm_stack s, size_t i, cm_tensor* out) {
  CM_TRY
  const auto& v = at_index(s, i);
  if (!out) throw cm::ArgError("output pointer is NULL");
  if (v.isNone()) { *out = nullptr; return CM_OK; }
  if (!v.isTensor()) throw cm::ArgError("stack value " + std::to_string(i) + " is a " + v.tagKind() + ", not a Tensor");
  const auto& t = v.toTensor();
  *out = t.defined() ? new cm_tensor_s{t} : nullptr;
  CM_CATCH
}
int cm_stack_get_double(cm_stack s, size_t i, double* out) {
  CM_TRY
  const auto& v = at_index(s, i);
  if (v.isDouble()) cm::put_val<double>(out, v.toDouble());
  else if (v.isInt()) cm::put_val<double>(out, static_cast<double>(v.toInt()));
  else if (v.isBool()) cm::put_val<double>(out, v.toBool() ? 1.0 : 0.0);
  else throw cm::ArgError("stack value " + std::to_string(i) + " is a " + v.tagKind() + ", not a number");
  CM_CATCH
}
int cm_stack_get_int(cm_stack s, size_t i, int64_t* out) {
  CM_TRY
  const auto& v = at_index(s, i);
  if (v.isInt()) cm::put_val<int64_t>(out, v.toInt());
  else if (v.isBool()) cm::put_val<int64_t>(out, v.toBool() ? 1 : 0);
  else throw cm::ArgError("stack value " + std::to_string(i) + " is a " + v.tagKind() + ", not an int");
  CM_CATCH
}
int cm_stack_list_size(cm_stack s, size_t i, size_t* out) {
  CM_TRY
  const auto& v = at_index(s, i);
  if (v.isTensorList()) cm::put_val<size_t>(out, v.toTensorList().size());
  else if (v.isIntList()) cm::put_val<size_t>(out, v.toIntList().size());
  else if (v.isList()) cm::put_val<size_t>(out, v.toListRef().size());
  else throw cm::ArgError("stack value " + std::to_string(i) + " is a " + v.tagKind() + ", not a list");
  CM_CATCH
}
int cm_stack_list_tensor(cm_stack s, size_t i, size_t j, cm_tensor* out) {
  CM_TRY
  const auto& v = at_index(s, i);
  if (!v.isTensorList()) throw cm::ArgError("stack value " + std::to_string(i) + " is not a tensor list");
  auto l = v.toTensorList();
  if (j >= l.size()) throw cm::ArgError("list index " + std::to_string(j) + " out of range");
  at::Tensor t = l.get(j);
  if (!out) throw cm::ArgError("output pointer is NULL");
  *out = t.defined() ? new cm_tensor_s{t} : nullptr;
  CM_CATCH
}

int cm_op_find(const char* name, const char* overload, cm_op* out) {
  CM_TRY
  if (!name) throw cm::ArgError("operator name is NULL");
  if (!out) throw cm::ArgError("output pointer is NULL");
  std::string ov = overload ? overload : "";
  std::string key = std::string(name) + "." + ov;
  std::lock_guard<std::mutex> lock(ops_mutex);
  auto& cache = op_cache();
  auto it = cache.find(key);
  if (it != cache.end()) { *out = it->second; return CM_OK; }
  auto h = c10::Dispatcher::singleton().findSchema({name, ov});
  if (!h) throw cm::ArgError("no operator " + std::string(name) + (ov.empty() ? "" : "." + ov) + " is registered");
  auto* op = new cm_op_s{*h};
  cache.emplace(key, op);
  *out = op;
  CM_CATCH
}
int cm_op_schema(cm_op op, char* buf, size_t cap, size_t* len) {
  CM_TRY
  if (!op) throw cm::ArgError("operator handle is NULL");
  std::string s = c10::toString(op->handle.schema());
  cm::put_val<size_t>(len, s.size());
  if (buf && cap > 0) {
    std::strncpy(buf, s.c_str(), cap - 1);
    buf[cap - 1] = 0;
  }
  CM_CATCH
}
int cm_op_call(cm_op op, cm_stack s) {
  CM_TRY
  if (!op) throw cm::ArgError("operator handle is NULL");
  auto& st = S(s);
  const auto& schema = op->handle.schema();
  if (schema.is_vararg()) throw cm::ArgError("vararg operators are not supported: " + schema.name());
  // Type-check every argument and fill trailing defaults (throws c10::Error naming the argument on mismatch).
  schema.checkAndNormalizeInputs(st, {});
  const auto& args = schema.arguments();
  for (size_t i = 0; i < args.size() && i < st.size(); i++) check_enum_arg(args[i].real_type(), st[i], schema, args[i]);
  op->handle.callBoxed(&st);
  CM_CATCH
}

}  // extern "C"
