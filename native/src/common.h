// Shared helpers of the cm4j C API implementation: handle casts, argument checks and the catch-all guard.
#pragma once
#include <torch/torch.h>
#include <string>
#include <vector>
#include <stdexcept>
#include "cm_torch.h"

struct cm_tensor_s { at::Tensor t; };
struct cm_generator_s { at::Generator g; };

namespace cm {

/// Records the message of a failed call for cm_last_error (thread-local).
void set_error(const char* msg);
void clear_error();

struct ArgError : std::invalid_argument { using std::invalid_argument::invalid_argument; };

inline const at::Tensor& T(cm_tensor h, const char* what = "tensor") {
  if (!h) throw ArgError(std::string(what) + " handle is NULL");
  return h->t;
}
inline c10::optional<at::Tensor> opt(cm_tensor h) {
  if (!h) return c10::nullopt;
  return h->t;
}
inline void put(cm_tensor* out, at::Tensor t) {
  if (!out) throw ArgError("output pointer is NULL");
  *out = new cm_tensor_s{std::move(t)};
}
template <class V> inline void put_val(V* out, V v) {
  if (!out) throw ArgError("output pointer is NULL");
  *out = v;
}
inline at::IntArrayRef ints(const int64_t* v, size_t n, const char* what = "list") {
  if (n > 0 && !v) throw ArgError(std::string(what) + " pointer is NULL with non-zero length");
  if (n > 64 * 1024) throw ArgError(std::string(what) + " is implausibly long");
  return at::IntArrayRef(v, n);
}
std::vector<at::Tensor> tensors(const cm_tensor* v, size_t n, const char* what = "tensor list");
at::ScalarType dtype(int code);
at::Device device(int code);
// The C API code of a device (the inverse of device()); a device type without a code is an ArgError.
int device_code(const at::Device& d);
at::Scalar scalar(int kind, double d, int64_t i);
c10::optional<at::Generator> gen(cm_generator g);
at::TensorOptions options(int dtype_code, int device_code);

}  // namespace cm

/// Wraps a C API body: returns CM_OK, or catches everything, records the message and returns CM_ERROR.
#define CM_TRY try {
#define CM_CATCH                                                                          \
  return CM_OK;                                                                           \
  }                                                                                       \
  catch (const c10::Error& e) { cm::set_error(e.what_without_backtrace()); }             \
  catch (const std::exception& e) { cm::set_error(e.what()); }                            \
  catch (...) { cm::set_error("unknown C++ exception"); }                                  \
  return CM_ERROR;
