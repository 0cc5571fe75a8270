// Errors, versions, tensor lifetime/metadata, creation, host transfer, RNG, modes, threads and devices.
#include "common.h"
#include <ATen/autocast_mode.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/forward_grad.h>
#include <torch/version.h>
#include <dlfcn.h>
#include <cstring>
#include <cmath>

namespace cm {

static thread_local std::string last_error;

void set_error(const char* msg) {
  try {
    last_error = msg ? msg : "";
  } catch (...) {
    // Allocation failed while recording an error: keep whatever fits.
    last_error.clear();
  }
}
void clear_error() { last_error.clear(); }

std::vector<at::Tensor> tensors(const cm_tensor* v, size_t n, const char* what) {
  if (n > 0 && !v) throw ArgError(std::string(what) + " pointer is NULL with non-zero length");
  std::vector<at::Tensor> r;
  r.reserve(n);
  for (size_t i = 0; i < n; i++) {
    if (!v[i]) throw ArgError(std::string(what) + " entry " + std::to_string(i) + " is NULL");
    r.push_back(v[i]->t);
  }
  return r;
}

at::ScalarType dtype(int code) {
  switch (code) {
    case CM_DTYPE_UINT8: case CM_DTYPE_INT8: case CM_DTYPE_INT16: case CM_DTYPE_INT32: case CM_DTYPE_INT64:
    case CM_DTYPE_FLOAT16: case CM_DTYPE_FLOAT32: case CM_DTYPE_FLOAT64: case CM_DTYPE_BOOL: case CM_DTYPE_BFLOAT16:
      return static_cast<at::ScalarType>(code);
    default:
      throw ArgError("unknown dtype code " + std::to_string(code));
  }
}

at::Device device(int code) {
  if (code == CM_DEVICE_CPU) return at::Device(at::kCPU);
  if (code >= 0 && code < 128) return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(code));
  if (code <= CM_DEVICE_PRIVATEUSE1_BASE && code > CM_DEVICE_PRIVATEUSE1_BASE - 128)
    return at::Device(at::kPrivateUse1, static_cast<c10::DeviceIndex>(CM_DEVICE_PRIVATEUSE1_BASE - code));
  throw ArgError("unknown device code " + std::to_string(code) +
                 " (CM_DEVICE_CPU = -1, a CUDA device index 0..127, or CM_DEVICE_PRIVATEUSE1_BASE - n for "
                 "PrivateUse1 device n)");
}

int device_code(const at::Device& d) {
  if (d.is_cpu()) return CM_DEVICE_CPU;
  if (d.is_cuda() && d.index() >= 0) return d.index();
  if (d.is_privateuseone() && d.index() >= 0) return CM_DEVICE_PRIVATEUSE1_BASE - d.index();
  throw ArgError("tensor is on device '" + d.str() +
                 "', which the C API has no code for (CPU, CUDA or PrivateUse1 only)");
}

at::Scalar scalar(int kind, double d, int64_t i) {
  switch (kind) {
    case CM_SCALAR_DOUBLE: return at::Scalar(d);
    case CM_SCALAR_INT: return at::Scalar(i);
    case CM_SCALAR_BOOL: return at::Scalar(i != 0);
    default: throw ArgError("unknown scalar kind " + std::to_string(kind));
  }
}

c10::optional<at::Generator> gen(cm_generator g) {
  if (!g) return c10::nullopt;
  return g->g;
}

at::TensorOptions options(int dtype_code, int device_code) {
  return at::TensorOptions().dtype(dtype(dtype_code)).device(device(device_code));
}

static void check_sizes(at::IntArrayRef s) {
  for (auto v : s)
    if (v < 0) throw ArgError("negative size " + std::to_string(v) + " in shape " + c10::str(s));
}

}  // namespace cm

using cm::T;
using cm::put;
using cm::put_val;

extern "C" {

const char* cm_last_error(void) { return cm::last_error.c_str(); }
void cm_clear_error(void) { cm::clear_error(); }
int cm_api_version(void) { return CM_API_VERSION; }
const char* cm_torch_version(void) { return TORCH_VERSION; }

int cm_torch_library_path(char* buf, size_t cap) {
  CM_TRY
  if (!buf || cap == 0) throw cm::ArgError("buffer is NULL or empty");
  Dl_info info{};
  // Any symbol defined in libtorch_cpu: at::show_config.
  if (!dladdr(reinterpret_cast<void*>(&at::show_config), &info) || !info.dli_fname)
    throw std::runtime_error("dladdr could not locate libtorch_cpu");
  std::strncpy(buf, info.dli_fname, cap - 1);
  buf[cap - 1] = 0;
  CM_CATCH
}

int cm_torch_config(char* buf, size_t cap, size_t* len) {
  CM_TRY
  std::string s = at::show_config();
  put_val(len, s.size());
  if (buf && cap > 0) {
    std::strncpy(buf, s.c_str(), cap - 1);
    buf[cap - 1] = 0;
  }
  CM_CATCH
}

// ---------------------------------------------------------------------------------------------- lifetime

int cm_tensor_free(cm_tensor t) {
  CM_TRY
  delete t;
  CM_CATCH
}
int cm_tensor_free_many(const cm_tensor* ts, size_t n) {
  CM_TRY
  if (n > 0 && !ts) throw cm::ArgError("handle array is NULL");
  for (size_t i = 0; i < n; i++) delete ts[i];
  CM_CATCH
}
int cm_tensor_share(cm_tensor t, cm_tensor* out) { CM_TRY put(out, T(t)); CM_CATCH }
int cm_tensor_dim(cm_tensor t, int64_t* out) { CM_TRY put_val<int64_t>(out, T(t).dim()); CM_CATCH }

static void copy_list(at::IntArrayRef v, int64_t* buf, size_t cap, size_t* n) {
  put_val<size_t>(n, v.size());
  if (cap > 0 && !buf) throw cm::ArgError("buffer is NULL");
  for (size_t i = 0; i < v.size() && i < cap; i++) buf[i] = v[i];
}
int cm_tensor_sizes(cm_tensor t, int64_t* buf, size_t cap, size_t* ndim) {
  CM_TRY copy_list(T(t).sizes(), buf, cap, ndim); CM_CATCH
}
int cm_tensor_strides(cm_tensor t, int64_t* buf, size_t cap, size_t* ndim) {
  CM_TRY copy_list(T(t).strides(), buf, cap, ndim); CM_CATCH
}
int cm_tensor_dtype(cm_tensor t, int* out) { CM_TRY put_val<int>(out, static_cast<int>(T(t).scalar_type())); CM_CATCH }
int cm_tensor_device(cm_tensor t, int* out) {
  CM_TRY put_val<int>(out, cm::device_code(T(t).device())); CM_CATCH
}
int cm_tensor_data_ptr(cm_tensor t, void** out) {
  CM_TRY const at::Tensor& x = T(t);
  put_val<void*>(out, x.defined() && x.numel() > 0 ? x.data_ptr() : nullptr);
  CM_CATCH
}
int cm_tensor_numel(cm_tensor t, int64_t* out) { CM_TRY put_val<int64_t>(out, T(t).numel()); CM_CATCH }
int cm_tensor_defined(cm_tensor t, int* out) { CM_TRY put_val<int>(out, T(t).defined() ? 1 : 0); CM_CATCH }
int cm_tensor_requires_grad(cm_tensor t, int* out) { CM_TRY put_val<int>(out, T(t).requires_grad()); CM_CATCH }
int cm_tensor_set_requires_grad(cm_tensor t, int rg) { CM_TRY T(t).requires_grad_(rg != 0); CM_CATCH }
int cm_tensor_is_leaf(cm_tensor t, int* out) { CM_TRY put_val<int>(out, T(t).is_leaf()); CM_CATCH }
int cm_tensor_grad(cm_tensor t, cm_tensor* out) {
  CM_TRY
  const auto& g = T(t).grad();
  if (!out) throw cm::ArgError("output pointer is NULL");
  *out = g.defined() ? new cm_tensor_s{g} : nullptr;
  CM_CATCH
}
int cm_tensor_set_grad(cm_tensor t, cm_tensor g) {
  CM_TRY
  at::Tensor x = T(t);
  if (g) {
    // The checks of torch.Tensor.grad's setter: a mismatched grad would only fail (or silently broadcast) later,
    // inside backward's accumulation.
    const at::Tensor& n = g->t;
    if (!n.defined()) throw cm::ArgError("assigned grad is undefined");
    if (n.is_same(x)) throw cm::ArgError("can't assign a tensor as its own grad");
    if (n.scalar_type() != x.scalar_type())
      throw cm::ArgError(std::string("assigned grad has data of a different type (") + c10::toString(n.scalar_type()) +
                         ", expected " + c10::toString(x.scalar_type()) + ")");
    if (n.device() != x.device())
      throw cm::ArgError("assigned grad has data located on a different device (" + n.device().str() + ", expected " +
                         x.device().str() + ")");
    if (n.sizes() != x.sizes())
      throw cm::ArgError("assigned grad has data of a different size (" + c10::str(n.sizes()) + ", expected " +
                         c10::str(x.sizes()) + ")");
  }
  x.mutable_grad() = g ? g->t : at::Tensor();
  CM_CATCH
}
int cm_tensor_is_contiguous(cm_tensor t, int* out) { CM_TRY put_val<int>(out, T(t).is_contiguous()); CM_CATCH }
int cm_tensor_element_size(cm_tensor t, int64_t* out) { CM_TRY put_val<int64_t>(out, T(t).element_size()); CM_CATCH }

// ---------------------------------------------------------------------------------------------- creation

int cm_from_data(const void* data, size_t nbytes, const int64_t* sizes, size_t ndim, int dtype, int device,
                 cm_tensor* out) {
  CM_TRY
  auto s = cm::ints(sizes, ndim, "sizes");
  cm::check_sizes(s);
  auto st = cm::dtype(dtype);
  int64_t numel = 1;
  for (auto v : s) {
    if (v != 0 && numel > INT64_MAX / v) throw cm::ArgError("shape " + c10::str(s) + " overflows");
    numel *= v;
  }
  size_t es = c10::elementSize(st);
  if (numel > 0 && static_cast<uint64_t>(numel) > SIZE_MAX / es)
    throw cm::ArgError("shape " + c10::str(s) + " of " + c10::toString(st) + " needs more bytes than fit in size_t");
  size_t need = static_cast<size_t>(numel) * es;
  if (need != nbytes)
    throw cm::ArgError("data has " + std::to_string(nbytes) + " bytes but shape " + c10::str(s) + " of " +
                       c10::toString(st) + " needs " + std::to_string(need));
  if (nbytes > 0 && !data) throw cm::ArgError("data pointer is NULL");
  at::Tensor t = at::empty(s, at::TensorOptions().dtype(st));
  if (nbytes > 0) std::memcpy(t.data_ptr(), data, nbytes);
  if (device != CM_DEVICE_CPU) t = t.to(cm::device(device));
  put(out, t);
  CM_CATCH
}

#define CM_FACTORY(name, expr)                                                           \
  int name(const int64_t* sizes, size_t ndim, int dtype, int device, cm_tensor* out) {  \
    CM_TRY auto s = cm::ints(sizes, ndim, "sizes");                                      \
    cm::check_sizes(s);                                                                  \
    put(out, expr(s, cm::options(dtype, device)));                                       \
    CM_CATCH                                                                             \
  }
CM_FACTORY(cm_empty, at::empty)
CM_FACTORY(cm_zeros, at::zeros)
CM_FACTORY(cm_ones, at::ones)

int cm_full(const int64_t* sizes, size_t ndim, int kind, double d, int64_t i, int dtype, int device,
            cm_tensor* out) {
  CM_TRY
  auto s = cm::ints(sizes, ndim, "sizes");
  cm::check_sizes(s);
  put(out, at::full(s, cm::scalar(kind, d, i), cm::options(dtype, device)));
  CM_CATCH
}
int cm_arange(double start, double end, double step, int dtype, int device, cm_tensor* out) {
  CM_TRY
  auto o = cm::options(dtype, device);
  // libtorch rejects a step that truncates to 0 for int64 but silently fills other integral dtypes with garbage
  // (and aten::range even divides by zero): reject it for every integral dtype.
  if (c10::isIntegralType(o.dtype().toScalarType(), /*includeBool=*/true) && std::isfinite(step) &&
      std::trunc(step) == 0)
    throw cm::ArgError("arange step " + std::to_string(step) + " truncates to 0 for the integral dtype " +
                       c10::toString(o.dtype().toScalarType()) + "; step must be nonzero");
  put(out, at::arange(start, end, step, o));
  CM_CATCH
}
int cm_linspace(double start, double end, int64_t steps, int dtype, int device, cm_tensor* out) {
  CM_TRY put(out, at::linspace(start, end, steps, cm::options(dtype, device))); CM_CATCH
}
int cm_randn(const int64_t* sizes, size_t ndim, int dtype, int device, cm_generator g, cm_tensor* out) {
  CM_TRY
  auto s = cm::ints(sizes, ndim, "sizes");
  cm::check_sizes(s);
  put(out, at::randn(s, cm::gen(g), cm::options(dtype, device)));
  CM_CATCH
}
int cm_rand(const int64_t* sizes, size_t ndim, int dtype, int device, cm_generator g, cm_tensor* out) {
  CM_TRY
  auto s = cm::ints(sizes, ndim, "sizes");
  cm::check_sizes(s);
  put(out, at::rand(s, cm::gen(g), cm::options(dtype, device)));
  CM_CATCH
}
int cm_randint(int64_t low, int64_t high, const int64_t* sizes, size_t ndim, int dtype, int device, cm_generator g,
               cm_tensor* out) {
  CM_TRY
  auto s = cm::ints(sizes, ndim, "sizes");
  cm::check_sizes(s);
  put(out, at::randint(low, high, s, cm::gen(g), cm::options(dtype, device)));
  CM_CATCH
}
int cm_normal(double mean, double std, const int64_t* sizes, size_t ndim, int dtype, int device, cm_generator g,
              cm_tensor* out) {
  CM_TRY
  auto s = cm::ints(sizes, ndim, "sizes");
  cm::check_sizes(s);
  put(out, at::normal(mean, std, s, cm::gen(g), cm::options(dtype, device)));
  CM_CATCH
}
int cm_randperm(int64_t n, int device, cm_generator g, cm_tensor* out) {
  CM_TRY put(out, at::randperm(n, cm::gen(g), cm::options(CM_DTYPE_INT64, device))); CM_CATCH
}
int cm_like(int op, cm_tensor a, cm_generator g, cm_tensor* out) {
  CM_TRY
  const auto& x = T(a);
  switch (op) {
    case CM_LIKE_EMPTY: put(out, at::empty_like(x)); break;
    case CM_LIKE_ZEROS: put(out, at::zeros_like(x)); break;
    case CM_LIKE_ONES: put(out, at::ones_like(x)); break;
    case CM_LIKE_RANDN: put(out, at::empty_like(x).normal_(0, 1, cm::gen(g))); break;
    case CM_LIKE_RAND: put(out, at::empty_like(x).uniform_(0, 1, cm::gen(g))); break;
    default: throw cm::ArgError("unknown like op " + std::to_string(op));
  }
  CM_CATCH
}

// ---------------------------------------------------------------------------------------------- host transfer

int cm_copy_to_host(cm_tensor t, void* dst, size_t nbytes) {
  CM_TRY
  at::Tensor x = T(t).detach();
  if (x.is_conj()) x = x.resolve_conj();
  size_t need = static_cast<size_t>(x.numel()) * x.element_size();
  if (need != nbytes)
    throw cm::ArgError("tensor has " + std::to_string(need) + " bytes, destination " + std::to_string(nbytes));
  if (nbytes > 0 && !dst) throw cm::ArgError("destination pointer is NULL");
  x = x.to(at::kCPU).contiguous();
  if (nbytes > 0) std::memcpy(dst, x.data_ptr(), nbytes);
  CM_CATCH
}
int cm_item_double(cm_tensor t, double* out) { CM_TRY put_val<double>(out, T(t).item<double>()); CM_CATCH }
int cm_item_int64(cm_tensor t, int64_t* out) { CM_TRY put_val<int64_t>(out, T(t).item<int64_t>()); CM_CATCH }
int cm_to(cm_tensor t, int dtype, int device, int non_blocking, int copy, cm_tensor* out) {
  CM_TRY
  const auto& x = T(t);
  auto st = dtype < 0 ? x.scalar_type() : cm::dtype(dtype);
  put(out, x.to(cm::device(device), st, non_blocking != 0, copy != 0));
  CM_CATCH
}

// ---------------------------------------------------------------------------------------------- RNG

int cm_manual_seed(uint64_t seed) { CM_TRY at::manual_seed(seed); CM_CATCH }
int cm_generator_new(int device, uint64_t seed, cm_generator* out) {
  CM_TRY
  if (!out) throw cm::ArgError("output pointer is NULL");
  at::Generator g;
  if (device == CM_DEVICE_CPU) {
    g = at::detail::createCPUGenerator(seed);
  } else {
    auto d = cm::device(device);
    if (d.is_cuda() && !at::globalContext().hasCUDA())
      throw std::runtime_error("CUDA is not available for a generator on " + d.str());
    if (d.is_privateuseone() && !at::isPrivateUse1HooksRegistered())
      throw std::runtime_error("no PrivateUse1 backend is registered for a generator on " + d.str());
    g = at::globalContext().defaultGenerator(d).clone();
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(seed);
  }
  *out = new cm_generator_s{g};
  CM_CATCH
}
int cm_generator_default(int device, cm_generator* out) {
  CM_TRY
  if (!out) throw cm::ArgError("output pointer is NULL");
  auto d = cm::device(device);
  if (d.is_cuda() && !at::globalContext().hasCUDA()) throw std::runtime_error("CUDA is not available");
  if (d.is_privateuseone() && !at::isPrivateUse1HooksRegistered())
    throw std::runtime_error("no PrivateUse1 backend is registered for " + d.str());
  *out = new cm_generator_s{at::globalContext().defaultGenerator(d)};
  CM_CATCH
}
int cm_generator_free(cm_generator g) { CM_TRY delete g; CM_CATCH }
int cm_generator_set_seed(cm_generator g, uint64_t seed) {
  CM_TRY
  if (!g) throw cm::ArgError("generator handle is NULL");
  std::lock_guard<std::mutex> lock(g->g.mutex());
  g->g.set_current_seed(seed);
  CM_CATCH
}
int cm_generator_seed(cm_generator g, uint64_t* out) {
  CM_TRY
  if (!g) throw cm::ArgError("generator handle is NULL");
  std::lock_guard<std::mutex> lock(g->g.mutex());
  put_val<uint64_t>(out, g->g.current_seed());
  CM_CATCH
}
int cm_generator_get_state(cm_generator g, uint8_t* buf, size_t cap, size_t* len) {
  CM_TRY
  if (!g) throw cm::ArgError("generator handle is NULL");
  at::Tensor st;
  {
    std::lock_guard<std::mutex> lock(g->g.mutex());
    st = g->g.get_state();
  }
  size_t n = static_cast<size_t>(st.numel());
  put_val<size_t>(len, n);
  if (cap > 0) {
    if (!buf) throw cm::ArgError("buffer is NULL");
    if (cap < n) throw cm::ArgError("buffer of " + std::to_string(cap) + " bytes is smaller than the state (" +
                                    std::to_string(n) + ")");
    std::memcpy(buf, st.data_ptr(), n);
  }
  CM_CATCH
}
int cm_generator_set_state(cm_generator g, const uint8_t* buf, size_t len) {
  CM_TRY
  if (!g) throw cm::ArgError("generator handle is NULL");
  if (len > 0 && !buf) throw cm::ArgError("buffer is NULL");
  at::Tensor st = at::empty({static_cast<int64_t>(len)}, at::kByte);
  if (len > 0) std::memcpy(st.data_ptr(), buf, len);
  std::lock_guard<std::mutex> lock(g->g.mutex());
  g->g.set_state(st);
  CM_CATCH
}
int cm_normal_(cm_tensor a, double mean, double std, cm_generator g) {
  CM_TRY T(a).normal_(mean, std, cm::gen(g)); CM_CATCH
}
int cm_uniform_(cm_tensor a, double from, double to, cm_generator g) {
  CM_TRY T(a).uniform_(from, to, cm::gen(g)); CM_CATCH
}
int cm_bernoulli_(cm_tensor a, double p, cm_generator g) { CM_TRY T(a).bernoulli_(p, cm::gen(g)); CM_CATCH }
int cm_bernoulli(cm_tensor probs, cm_generator g, cm_tensor* out) {
  CM_TRY put(out, at::bernoulli(T(probs), cm::gen(g))); CM_CATCH
}

// ---------------------------------------------------------------------------------------------- modes

int cm_set_grad_enabled(int enabled, int* prev) {
  CM_TRY
  put_val<int>(prev, at::GradMode::is_enabled() ? 1 : 0);
  at::GradMode::set_enabled(enabled != 0);
  CM_CATCH
}
int cm_is_grad_enabled(int* out) { CM_TRY put_val<int>(out, at::GradMode::is_enabled()); CM_CATCH }

struct cm_guard_s {
  std::unique_ptr<c10::InferenceMode> mode;
};
int cm_inference_mode_enter(int enabled, cm_guard* out) {
  CM_TRY
  if (!out) throw cm::ArgError("output pointer is NULL");
  auto g = std::make_unique<cm_guard_s>();
  g->mode = std::make_unique<c10::InferenceMode>(enabled != 0);
  *out = g.release();
  CM_CATCH
}
int cm_guard_exit(cm_guard g) { CM_TRY delete g; CM_CATCH }
int cm_is_inference_mode(int* out) { CM_TRY put_val<int>(out, c10::InferenceMode::is_enabled()); CM_CATCH }

int cm_fw_enter_dual_level(int64_t* level) {
  CM_TRY put_val<int64_t>(level, static_cast<int64_t>(torch::autograd::ForwardADLevel::get_next_idx())); CM_CATCH
}
int cm_fw_exit_dual_level(int64_t level) {
  CM_TRY
  if (level < 0) throw cm::ArgError("negative dual level");
  torch::autograd::ForwardADLevel::release_idx(static_cast<uint64_t>(level));
  CM_CATCH
}
int cm_fw_make_dual(cm_tensor primal, cm_tensor tangent, int64_t level, cm_tensor* out) {
  CM_TRY
  const auto &p = T(primal, "primal"), &tg = T(tangent, "tangent");
  // libtorch only asserts this (an INTERNAL ASSERT telling the user to report a PyTorch bug).
  auto fp = [](const at::Tensor& x) { return x.is_floating_point() || x.is_complex(); };
  if (!fp(p) || !fp(tg))
    throw cm::ArgError(std::string("forward AD needs floating-point primal and tangent, got ") +
                       c10::toString(p.scalar_type()) + " and " + c10::toString(tg.scalar_type()));
  put(out, at::_make_dual(p, tg, level));
  CM_CATCH
}
int cm_fw_unpack_dual(cm_tensor t, int64_t level, cm_tensor* primal, cm_tensor* tangent) {
  CM_TRY
  if (!primal || !tangent) throw cm::ArgError("output pointer is NULL");
  auto r = at::_unpack_dual(T(t), level);
  at::Tensor p = std::get<0>(r), tg = std::get<1>(r);
  *primal = new cm_tensor_s{p};
  *tangent = tg.defined() ? new cm_tensor_s{tg} : nullptr;
  CM_CATCH
}

int cm_autocast_set(int device, int enabled, int dtype, int* prev_enabled, int* prev_dtype) {
  CM_TRY
  at::DeviceType dt = cm::device(device).type();
  auto st = cm::dtype(dtype);
  if (st != at::kBFloat16 && st != at::kHalf) throw cm::ArgError("autocast dtype must be bfloat16 or float16");
  if (!prev_enabled || !prev_dtype) throw cm::ArgError("output pointer is NULL");
  bool was = at::autocast::is_autocast_enabled(dt);
  *prev_enabled = was ? 1 : 0;
  *prev_dtype = static_cast<int>(at::autocast::get_autocast_dtype(dt));
  at::autocast::set_autocast_dtype(dt, st);
  at::autocast::set_autocast_enabled(dt, enabled != 0);
  if (enabled && !was) at::autocast::increment_nesting();
  if (!enabled && was && at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  CM_CATCH
}

int cm_set_num_threads(int n) {
  CM_TRY
  if (n <= 0) throw cm::ArgError("number of threads must be positive, got " + std::to_string(n));
  at::set_num_threads(n);
  CM_CATCH
}
int cm_get_num_threads(int* out) { CM_TRY put_val<int>(out, at::get_num_threads()); CM_CATCH }
int cm_set_num_interop_threads(int n) {
  CM_TRY
  if (n <= 0) throw cm::ArgError("number of threads must be positive, got " + std::to_string(n));
  at::set_num_interop_threads(n);
  CM_CATCH
}
int cm_get_num_interop_threads(int* out) { CM_TRY put_val<int>(out, at::get_num_interop_threads()); CM_CATCH }
int cm_cuda_is_available(int* out) { CM_TRY put_val<int>(out, torch::cuda::is_available() ? 1 : 0); CM_CATCH }
int cm_cuda_device_count(int* out) { CM_TRY put_val<int>(out, static_cast<int>(torch::cuda::device_count())); CM_CATCH }
int cm_cuda_synchronize(int device) {
  CM_TRY
  if (!cm::device(device).is_cuda())
    throw cm::ArgError("cm_cuda_synchronize needs a CUDA device index >= 0, got " + std::to_string(device));
  if (!torch::cuda::is_available()) throw std::runtime_error("CUDA is not available");
  torch::cuda::synchronize(device);
  CM_CATCH
}

}  // extern "C"
