// Elementwise, reduction, shape, indexing and neural-network ops of the C API.
#include "common.h"
#include <cmath>

using cm::T;
using cm::put;

namespace {

at::Tensor unary(int op, const at::Tensor& a) {
  switch (op) {
    case CM_UNARY_NEG: return at::neg(a);
    case CM_UNARY_SQRT: return at::sqrt(a);
    case CM_UNARY_RSQRT: return at::rsqrt(a);
    case CM_UNARY_EXP: return at::exp(a);
    case CM_UNARY_LOG: return at::log(a);
    case CM_UNARY_LOG1P: return at::log1p(a);
    case CM_UNARY_EXPM1: return at::expm1(a);
    case CM_UNARY_SIN: return at::sin(a);
    case CM_UNARY_COS: return at::cos(a);
    case CM_UNARY_TAN: return at::tan(a);
    case CM_UNARY_ATAN: return at::atan(a);
    case CM_UNARY_ABS: return at::abs(a);
    case CM_UNARY_SIGN: return at::sign(a);
    case CM_UNARY_SQUARE: return at::square(a);
    case CM_UNARY_RECIPROCAL: return at::reciprocal(a);
    case CM_UNARY_RELU: return at::relu(a);
    case CM_UNARY_SILU: return at::silu(a);
    case CM_UNARY_GELU: return at::gelu(a);
    case CM_UNARY_GELU_TANH: return at::gelu(a, "tanh");
    case CM_UNARY_SIGMOID: return at::sigmoid(a);
    case CM_UNARY_TANH: return at::tanh(a);
    case CM_UNARY_ISNAN: return at::isnan(a);
    case CM_UNARY_ISFINITE: return at::isfinite(a);
    case CM_UNARY_ISINF: return at::isinf(a);
    case CM_UNARY_CONTIGUOUS: return a.contiguous();
    case CM_UNARY_CLONE: return a.clone();
    case CM_UNARY_DETACH: return a.detach();
    case CM_UNARY_LOGICAL_NOT: return at::logical_not(a);
    case CM_UNARY_FLOOR: return at::floor(a);
    case CM_UNARY_CEIL: return at::ceil(a);
    case CM_UNARY_ROUND: return at::round(a);
    case CM_UNARY_ERF: return at::erf(a);
    case CM_UNARY_ASIN: return at::asin(a);
    case CM_UNARY_ACOS: return at::acos(a);
    default: throw cm::ArgError("unknown unary op " + std::to_string(op));
  }
}

void unary_(int op, at::Tensor a) {
  switch (op) {
    case CM_UNARY_NEG: a.neg_(); return;
    case CM_UNARY_SQRT: a.sqrt_(); return;
    case CM_UNARY_RSQRT: a.rsqrt_(); return;
    case CM_UNARY_EXP: a.exp_(); return;
    case CM_UNARY_LOG: a.log_(); return;
    case CM_UNARY_LOG1P: a.log1p_(); return;
    case CM_UNARY_EXPM1: a.expm1_(); return;
    case CM_UNARY_SIN: a.sin_(); return;
    case CM_UNARY_COS: a.cos_(); return;
    case CM_UNARY_TAN: a.tan_(); return;
    case CM_UNARY_ATAN: a.atan_(); return;
    case CM_UNARY_ABS: a.abs_(); return;
    case CM_UNARY_SIGN: a.sign_(); return;
    case CM_UNARY_SQUARE: a.square_(); return;
    case CM_UNARY_RECIPROCAL: a.reciprocal_(); return;
    case CM_UNARY_RELU: a.relu_(); return;
    case CM_UNARY_SILU: at::silu_(a); return;
    case CM_UNARY_SIGMOID: a.sigmoid_(); return;
    case CM_UNARY_TANH: a.tanh_(); return;
    case CM_UNARY_ZERO: a.zero_(); return;
    case CM_UNARY_FLOOR: a.floor_(); return;
    case CM_UNARY_CEIL: a.ceil_(); return;
    case CM_UNARY_ROUND: a.round_(); return;
    case CM_UNARY_ERF: a.erf_(); return;
    default: throw cm::ArgError("unary op " + std::to_string(op) + " has no in-place form");
  }
}

template <class B> at::Tensor binary(int op, const at::Tensor& a, const B& b) {
  switch (op) {
    case CM_BINARY_ADD: return at::add(a, b);
    case CM_BINARY_SUB: return at::sub(a, b);
    case CM_BINARY_MUL: return at::mul(a, b);
    case CM_BINARY_DIV: return at::div(a, b);
    case CM_BINARY_POW: return at::pow(a, b);
    case CM_BINARY_EQ: return at::eq(a, b);
    case CM_BINARY_NE: return at::ne(a, b);
    case CM_BINARY_LT: return at::lt(a, b);
    case CM_BINARY_LE: return at::le(a, b);
    case CM_BINARY_GT: return at::gt(a, b);
    case CM_BINARY_GE: return at::ge(a, b);
    case CM_BINARY_REMAINDER: return at::remainder(a, b);
    case CM_BINARY_FLOOR_DIVIDE: return at::floor_divide(a, b);
    default: break;
  }
  if constexpr (std::is_same_v<B, at::Tensor>) {
    switch (op) {
      case CM_BINARY_ATAN2: return at::atan2(a, b);
      case CM_BINARY_MINIMUM: return at::minimum(a, b);
      case CM_BINARY_MAXIMUM: return at::maximum(a, b);
      case CM_BINARY_MATMUL: return at::matmul(a, b);
      case CM_BINARY_BMM: return at::bmm(a, b);
      case CM_BINARY_LOGICAL_AND: return at::logical_and(a, b);
      case CM_BINARY_LOGICAL_OR: return at::logical_or(a, b);
      default: break;
    }
  } else {
    switch (op) {
      case CM_BINARY_RSUB: return at::rsub(a, b);
      case CM_BINARY_RDIV: return at::mul(at::reciprocal(a), b);
      case CM_BINARY_MINIMUM: return at::clamp_max(a, b);
      case CM_BINARY_MAXIMUM: return at::clamp_min(a, b);
      // The scalar becomes a 0-D tensor of the promoted type (not a's: an int tensor would truncate 0.5 to 0).
      case CM_BINARY_ATAN2: return at::atan2(a, at::scalar_tensor(b, a.options().dtype(at::result_type(a, b))));
      default: break;
    }
  }
  throw cm::ArgError("binary op " + std::to_string(op) + " is not defined for these operands");
}

template <class B> void binary_(int op, at::Tensor a, const B& b) {
  switch (op) {
    case CM_BINARY_ADD: a.add_(b); return;
    case CM_BINARY_SUB: a.sub_(b); return;
    case CM_BINARY_MUL: a.mul_(b); return;
    case CM_BINARY_DIV: a.div_(b); return;
    case CM_BINARY_POW: a.pow_(b); return;
    default: break;
  }
  if constexpr (std::is_same_v<B, at::Tensor>) {
    switch (op) {
      case CM_BINARY_COPY: a.copy_(b); return;
      case CM_BINARY_MINIMUM: at::minimum_out(a, a, b); return;
      case CM_BINARY_MAXIMUM: at::maximum_out(a, a, b); return;
      default: break;
    }
  } else {
    switch (op) {
      case CM_BINARY_FILL: a.fill_(b); return;
      default: break;
    }
  }
  throw cm::ArgError("binary op " + std::to_string(op) + " has no in-place form for these operands");
}

std::vector<int64_t> all_dims(const at::Tensor& x) {
  std::vector<int64_t> all(static_cast<size_t>(x.dim()));
  for (int64_t k = 0; k < x.dim(); k++) all[static_cast<size_t>(k)] = k;
  return all;
}

c10::OptionalIntArrayRef dims_opt(const int64_t* dims, size_t n) {
  if (n == 0) return c10::nullopt;
  return cm::ints(dims, n, "dims");
}

}  // namespace

extern "C" {

int cm_unary(int op, cm_tensor a, cm_tensor* out) { CM_TRY put(out, unary(op, T(a))); CM_CATCH }
int cm_unary_(int op, cm_tensor a) { CM_TRY unary_(op, T(a)); CM_CATCH }
int cm_binary(int op, cm_tensor a, cm_tensor b, cm_tensor* out) {
  CM_TRY put(out, binary(op, T(a, "a"), T(b, "b"))); CM_CATCH
}
int cm_binary_(int op, cm_tensor a, cm_tensor b) { CM_TRY binary_(op, T(a, "a"), T(b, "b")); CM_CATCH }
int cm_binary_scalar(int op, cm_tensor a, int kind, double d, int64_t i, cm_tensor* out) {
  CM_TRY put(out, binary(op, T(a), cm::scalar(kind, d, i))); CM_CATCH
}
int cm_binary_scalar_(int op, cm_tensor a, int kind, double d, int64_t i) {
  CM_TRY binary_(op, T(a), cm::scalar(kind, d, i)); CM_CATCH
}
int cm_add_scaled(cm_tensor a, cm_tensor b, double alpha, cm_tensor* out) {
  CM_TRY put(out, at::add(T(a, "a"), T(b, "b"), alpha)); CM_CATCH
}
int cm_add_scaled_(cm_tensor a, cm_tensor b, double alpha) {
  CM_TRY T(a, "a").add_(T(b, "b"), alpha); CM_CATCH
}
int cm_where(cm_tensor cond, cm_tensor a, cm_tensor b, cm_tensor* out) {
  CM_TRY put(out, at::where(T(cond, "cond"), T(a, "a"), T(b, "b"))); CM_CATCH
}
int cm_lerp(cm_tensor a, cm_tensor b, cm_tensor w, cm_tensor* out) {
  CM_TRY put(out, at::lerp(T(a, "a"), T(b, "b"), T(w, "weight"))); CM_CATCH
}
int cm_lerp_(cm_tensor a, cm_tensor b, cm_tensor w) {
  CM_TRY T(a, "a").lerp_(T(b, "b"), T(w, "weight")); CM_CATCH
}
int cm_lerp_scalar(cm_tensor a, cm_tensor b, double w, cm_tensor* out) {
  CM_TRY put(out, at::lerp(T(a, "a"), T(b, "b"), w)); CM_CATCH
}
int cm_lerp_scalar_(cm_tensor a, cm_tensor b, double w) {
  CM_TRY T(a, "a").lerp_(T(b, "b"), w); CM_CATCH
}

namespace {
using Bounds = std::pair<c10::optional<at::Scalar>, c10::optional<at::Scalar>>;
Bounds clamp_bounds(int has_min, double min, int has_max, double max) {
  c10::optional<at::Scalar> lo = has_min ? c10::optional<at::Scalar>(min) : c10::nullopt;
  c10::optional<at::Scalar> hi = has_max ? c10::optional<at::Scalar>(max) : c10::nullopt;
  if (!lo && !hi) throw cm::ArgError("clamp needs at least one bound");
  return {lo, hi};
}
c10::optional<double> opt_double(int has, double v) { return has ? c10::optional<double>(v) : c10::nullopt; }
}  // namespace

int cm_clamp(cm_tensor a, int has_min, double min, int has_max, double max, cm_tensor* out) {
  CM_TRY
  auto b = clamp_bounds(has_min, min, has_max, max);
  put(out, at::clamp(T(a), b.first, b.second));
  CM_CATCH
}
int cm_clamp_(cm_tensor a, int has_min, double min, int has_max, double max) {
  CM_TRY
  auto b = clamp_bounds(has_min, min, has_max, max);
  T(a).clamp_(b.first, b.second);
  CM_CATCH
}
int cm_nan_to_num(cm_tensor a, double nan, int has_posinf, double posinf, int has_neginf, double neginf,
                  cm_tensor* out) {
  CM_TRY put(out, at::nan_to_num(T(a), nan, opt_double(has_posinf, posinf), opt_double(has_neginf, neginf))); CM_CATCH
}
int cm_nan_to_num_(cm_tensor a, double nan, int has_posinf, double posinf, int has_neginf, double neginf) {
  CM_TRY T(a).nan_to_num_(nan, opt_double(has_posinf, posinf), opt_double(has_neginf, neginf)); CM_CATCH
}
int cm_addcmul_(cm_tensor a, cm_tensor t1, cm_tensor t2, double value) {
  CM_TRY T(a).addcmul_(T(t1, "t1"), T(t2, "t2"), value); CM_CATCH
}
int cm_addcdiv_(cm_tensor a, cm_tensor t1, cm_tensor t2, double value) {
  CM_TRY T(a).addcdiv_(T(t1, "t1"), T(t2, "t2"), value); CM_CATCH
}
int cm_masked_fill(cm_tensor a, cm_tensor mask, double value, cm_tensor* out) {
  CM_TRY put(out, at::masked_fill(T(a), T(mask, "mask"), value)); CM_CATCH
}
int cm_einsum(const char* eq, const cm_tensor* ts, size_t n, cm_tensor* out) {
  CM_TRY
  if (!eq) throw cm::ArgError("equation is NULL");
  put(out, at::einsum(eq, cm::tensors(ts, n)));
  CM_CATCH
}
int cm_linear(cm_tensor x, cm_tensor w, cm_tensor b, cm_tensor* out) {
  CM_TRY put(out, at::linear(T(x, "x"), T(w, "weight"), cm::opt(b))); CM_CATCH
}
int cm_eigh(cm_tensor a, cm_tensor* vals, cm_tensor* vecs) {
  CM_TRY
  if (!vals || !vecs) throw cm::ArgError("output pointer is NULL");
  auto r = at::linalg_eigh(T(a), "L");
  put(vals, std::get<0>(r));
  put(vecs, std::get<1>(r));
  CM_CATCH
}

// ---------------------------------------------------------------------------------------------- reductions

int cm_reduce(int op, cm_tensor a, const int64_t* dims, size_t n, int keepdim, int dtype, cm_tensor* out) {
  CM_TRY
  const auto& x = T(a);
  auto d = dims_opt(dims, n);
  c10::optional<at::ScalarType> st = dtype >= 0 ? c10::optional<at::ScalarType>(cm::dtype(dtype)) : c10::nullopt;
  bool kd = keepdim != 0;
  switch (op) {
    case CM_REDUCE_SUM: put(out, at::sum(x, d, kd, st)); break;
    case CM_REDUCE_MEAN: put(out, at::mean(x, d, kd, st)); break;
    case CM_REDUCE_AMAX: put(out, at::amax(x, n ? cm::ints(dims, n) : at::IntArrayRef{}, kd)); break;
    case CM_REDUCE_AMIN: put(out, at::amin(x, n ? cm::ints(dims, n) : at::IntArrayRef{}, kd)); break;
    case CM_REDUCE_LOGSUMEXP:
      if (n == 0) {
        put(out, x.dim() == 0 ? at::logsumexp(x.reshape({1}), {0}, false) : at::logsumexp(x, all_dims(x), kd));
      } else {
        put(out, at::logsumexp(x, cm::ints(dims, n), kd));
      }
      break;
    // any/all: an empty dim list means "no dims" to ATen (identity), so "all dims" is spelled out.
    case CM_REDUCE_ANY:
      if (n == 0) put(out, kd ? at::any(x, all_dims(x), true) : at::any(x));
      else put(out, at::any(x, cm::ints(dims, n), kd));
      break;
    case CM_REDUCE_ALL:
      if (n == 0) put(out, kd ? at::all(x, all_dims(x), true) : at::all(x));
      else put(out, at::all(x, cm::ints(dims, n), kd));
      break;
    case CM_REDUCE_PROD:
      if (n == 0) put(out, at::prod(x, st));
      else if (n == 1) put(out, at::prod(x, dims[0], kd, st));
      else throw cm::ArgError("prod reduces over one dimension or all");
      break;
    default: throw cm::ArgError("unknown reduction " + std::to_string(op));
  }
  CM_CATCH
}
int cm_var_std(int op, cm_tensor a, const int64_t* dims, size_t n, double correction, int keepdim,
               cm_tensor* out) {
  CM_TRY
  if (op != CM_VAR_STD_VAR && op != CM_VAR_STD_STD)
    throw cm::ArgError("unknown var/std op " + std::to_string(op) + " (CM_VAR_STD_VAR or CM_VAR_STD_STD)");
  auto d = dims_opt(dims, n);
  at::Scalar c(correction);
  put(out, op == CM_VAR_STD_STD ? at::std(T(a), d, c, keepdim != 0) : at::var(T(a), d, c, keepdim != 0));
  CM_CATCH
}
int cm_norm(cm_tensor a, double p, const int64_t* dims, size_t n, int keepdim, cm_tensor* out) {
  CM_TRY
  auto d = n ? cm::ints(dims, n) : at::IntArrayRef{};
  put(out, at::linalg_vector_norm(T(a), p, n ? c10::OptionalIntArrayRef(d) : c10::nullopt, keepdim != 0));
  CM_CATCH
}
int cm_arg(int op, cm_tensor a, int has_dim, int64_t dim, int keepdim, cm_tensor* out) {
  CM_TRY
  if (op != CM_ARG_MAX && op != CM_ARG_MIN)
    throw cm::ArgError("unknown arg op " + std::to_string(op) + " (CM_ARG_MAX or CM_ARG_MIN)");
  c10::optional<int64_t> d = has_dim ? c10::optional<int64_t>(dim) : c10::nullopt;
  put(out, op == CM_ARG_MIN ? at::argmin(T(a), d, keepdim != 0) : at::argmax(T(a), d, keepdim != 0));
  CM_CATCH
}
int cm_softmax(int op, cm_tensor a, int64_t dim, cm_tensor* out) {
  CM_TRY
  switch (op) {
    case CM_SOFTMAX_PLAIN: put(out, at::softmax(T(a), dim)); break;
    case CM_SOFTMAX_LOG: put(out, at::log_softmax(T(a), dim)); break;
    default: throw cm::ArgError("unknown softmax op " + std::to_string(op) + " (CM_SOFTMAX_PLAIN or CM_SOFTMAX_LOG)");
  }
  CM_CATCH
}

// ---------------------------------------------------------------------------------------------- shapes

int cm_shape_op(int op, cm_tensor a, const int64_t* values, size_t n, cm_tensor* out) {
  CM_TRY
  const auto& x = T(a);
  auto v = cm::ints(values, n, "values");
  switch (op) {
    case CM_SHAPE_RESHAPE: put(out, x.reshape(v)); break;
    case CM_SHAPE_VIEW: put(out, x.view(v)); break;
    case CM_SHAPE_EXPAND: put(out, x.expand(v)); break;
    case CM_SHAPE_REPEAT: put(out, x.repeat(v)); break;
    case CM_SHAPE_PERMUTE: put(out, x.permute(v)); break;
    case CM_SHAPE_FLIP: put(out, x.flip(v)); break;
    case CM_SHAPE_SQUEEZE: put(out, n == 0 ? x.squeeze() : x.squeeze(v)); break;
    default: throw cm::ArgError("unknown shape op " + std::to_string(op));
  }
  CM_CATCH
}
int cm_flatten(cm_tensor a, int64_t s, int64_t e, cm_tensor* out) { CM_TRY put(out, T(a).flatten(s, e)); CM_CATCH }
int cm_transpose(cm_tensor a, int64_t d0, int64_t d1, cm_tensor* out) {
  CM_TRY put(out, T(a).transpose(d0, d1)); CM_CATCH
}
int cm_unsqueeze(cm_tensor a, int64_t d, cm_tensor* out) { CM_TRY put(out, T(a).unsqueeze(d)); CM_CATCH }
int cm_narrow(cm_tensor a, int64_t dim, int64_t start, int64_t len, cm_tensor* out) {
  CM_TRY put(out, T(a).narrow(dim, start, len)); CM_CATCH
}
int cm_slice(cm_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step, cm_tensor* out) {
  CM_TRY
  if (step <= 0) throw cm::ArgError("slice step must be positive, got " + std::to_string(step));
  const auto& x = T(a);
  // A step beyond the dimension selects at most one element; clamping it keeps libtorch's stride·step from
  // overflowing (which surfaced as a confusing negative-stride error). dim is validated here too.
  int64_t n = x.dim() == 0 ? 0 : x.size(c10::maybe_wrap_dim(dim, x.dim()));
  step = std::min(step, std::max<int64_t>(n, 1));
  put(out, x.slice(dim, start, end, step));
  CM_CATCH
}
int cm_select(cm_tensor a, int64_t dim, int64_t index, cm_tensor* out) {
  CM_TRY put(out, T(a).select(dim, index)); CM_CATCH
}
int cm_index_select(cm_tensor a, int64_t dim, cm_tensor index, cm_tensor* out) {
  CM_TRY put(out, at::index_select(T(a), dim, T(index, "index"))); CM_CATCH
}
int cm_gather(cm_tensor a, int64_t dim, cm_tensor index, cm_tensor* out) {
  CM_TRY put(out, at::gather(T(a), dim, T(index, "index"))); CM_CATCH
}
static c10::List<c10::optional<at::Tensor>> index_list(const cm_tensor* idx, size_t n) {
  if (n > 0 && !idx) throw cm::ArgError("index array is NULL");
  c10::List<c10::optional<at::Tensor>> l;
  for (size_t i = 0; i < n; i++) l.push_back(cm::opt(idx[i]));
  return l;
}
int cm_index(cm_tensor a, const cm_tensor* idx, size_t n, cm_tensor* out) {
  CM_TRY put(out, at::index(T(a), index_list(idx, n))); CM_CATCH
}
int cm_index_put_(cm_tensor a, const cm_tensor* idx, size_t n, cm_tensor values, int accumulate) {
  CM_TRY T(a).index_put_(index_list(idx, n), T(values, "values"), accumulate != 0); CM_CATCH
}
int cm_cat(const cm_tensor* ts, size_t n, int64_t dim, cm_tensor* out) {
  CM_TRY put(out, at::cat(cm::tensors(ts, n), dim)); CM_CATCH
}
int cm_stack_tensors(const cm_tensor* ts, size_t n, int64_t dim, cm_tensor* out) {
  CM_TRY put(out, at::stack(cm::tensors(ts, n), dim)); CM_CATCH
}
static void put_many(const std::vector<at::Tensor>& r, cm_tensor* outs, size_t cap, size_t* n_out) {
  cm::put_val<size_t>(n_out, r.size());
  if (cap > 0 && !outs) throw cm::ArgError("output array is NULL");
  for (size_t i = 0; i < r.size() && i < cap; i++) outs[i] = new cm_tensor_s{r[i]};
}
int cm_chunk(cm_tensor a, int64_t chunks, int64_t dim, cm_tensor* outs, size_t cap, size_t* n_out) {
  CM_TRY put_many(T(a).chunk(chunks, dim), outs, cap, n_out); CM_CATCH
}
int cm_split(cm_tensor a, const int64_t* sizes, size_t n, int64_t dim, cm_tensor* outs, size_t cap, size_t* n_out) {
  CM_TRY put_many(T(a).split_with_sizes(cm::ints(sizes, n, "split sizes"), dim), outs, cap, n_out); CM_CATCH
}

// ---------------------------------------------------------------------------------------------- nn

int cm_conv2d(cm_tensor x, cm_tensor w, cm_tensor b, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
              int64_t dw, int64_t groups, cm_tensor* out) {
  CM_TRY
  put(out, at::conv2d(T(x, "input"), T(w, "weight"), cm::opt(b), {sh, sw}, {ph, pw}, {dh, dw}, groups));
  CM_CATCH
}
int cm_conv_transpose2d(cm_tensor x, cm_tensor w, cm_tensor b, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                        int64_t oph, int64_t opw, int64_t groups, int64_t dh, int64_t dw, cm_tensor* out) {
  CM_TRY
  put(out, at::conv_transpose2d(T(x, "input"), T(w, "weight"), cm::opt(b), {sh, sw}, {ph, pw}, {oph, opw}, groups,
                                {dh, dw}));
  CM_CATCH
}
int cm_group_norm(cm_tensor x, int64_t g, cm_tensor w, cm_tensor b, double eps, cm_tensor* out) {
  CM_TRY put(out, at::group_norm(T(x, "input"), g, cm::opt(w), cm::opt(b), eps)); CM_CATCH
}
int cm_layer_norm(cm_tensor x, const int64_t* shape, size_t n, cm_tensor w, cm_tensor b, double eps, cm_tensor* out) {
  CM_TRY
  put(out, at::layer_norm(T(x, "input"), cm::ints(shape, n, "normalized shape"), cm::opt(w), cm::opt(b), eps));
  CM_CATCH
}
int cm_dropout(cm_tensor x, double p, int train, cm_generator g, cm_tensor* out) {
  CM_TRY
  const auto& in = T(x, "input");
  if (!(p >= 0 && p <= 1)) throw cm::ArgError("dropout probability must be in [0, 1], got " + std::to_string(p));
  if (!train || p == 0) {
    put(out, in);
  } else if (p == 1) {
    put(out, in * at::zeros_like(in));
  } else {
    // Same formula and draw order as ATen's CPU dropout: bernoulli_(1-p), div_(1-p), multiply.
    at::Tensor noise = at::empty_like(in, at::MemoryFormat::Preserve).bernoulli_(1 - p, cm::gen(g));
    noise.div_(1 - p);
    put(out, in * noise);
  }
  CM_CATCH
}
int cm_avg_pool2d(cm_tensor x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int ceil_mode,
                  int count_include_pad, cm_tensor* out) {
  CM_TRY
  put(out, at::avg_pool2d(T(x, "input"), {kh, kw}, {sh, sw}, {ph, pw}, ceil_mode != 0, count_include_pad != 0));
  CM_CATCH
}
int cm_interpolate(cm_tensor x, int mode, int64_t oh, int64_t ow, int align_corners, cm_tensor* out) {
  CM_TRY
  const auto& in = T(x, "input");
  if (in.dim() != 4) throw cm::ArgError("interpolate expects an NCHW tensor, got " + std::to_string(in.dim()) + "-D");
  switch (mode) {
    case CM_INTERPOLATE_NEAREST: put(out, at::upsample_nearest2d(in, {oh, ow})); break;
    case CM_INTERPOLATE_BILINEAR: put(out, at::upsample_bilinear2d(in, {oh, ow}, align_corners != 0)); break;
    default:
      throw cm::ArgError("unknown interpolate mode " + std::to_string(mode) +
                         " (CM_INTERPOLATE_NEAREST or CM_INTERPOLATE_BILINEAR)");
  }
  CM_CATCH
}
int cm_pad(cm_tensor x, const int64_t* pads, size_t n, int mode, double value, cm_tensor* out) {
  CM_TRY
  static const char* modes[] = {"constant", "reflect", "replicate", "circular"};  // indexed by CM_PAD_*
  static_assert(CM_PAD_CONSTANT == 0 && CM_PAD_REFLECT == 1 && CM_PAD_REPLICATE == 2 && CM_PAD_CIRCULAR == 3,
                "modes[] follows the CM_PAD_* codes");
  if (mode < CM_PAD_CONSTANT || mode > CM_PAD_CIRCULAR)
    throw cm::ArgError("unknown pad mode " + std::to_string(mode) + " (CM_PAD_CONSTANT..CM_PAD_CIRCULAR)");
  c10::optional<double> v = mode == CM_PAD_CONSTANT ? c10::optional<double>(value) : c10::nullopt;
  put(out, at::pad(T(x, "input"), cm::ints(pads, n, "pads"), modes[mode], v));
  CM_CATCH
}
int cm_sdpa(cm_tensor q, cm_tensor k, cm_tensor v, cm_tensor mask, int is_causal, int has_scale, double scale,
            cm_tensor* out) {
  CM_TRY
  const auto &Q = T(q, "query"), &K = T(k, "key"), &V = T(v, "value");
  if (Q.dim() < 2 || K.dim() < 2 || V.dim() < 2) throw cm::ArgError("attention inputs need at least 2 dimensions");
  double s = has_scale ? scale : 1.0 / std::sqrt(static_cast<double>(Q.size(-1)));
  at::Tensor logits = at::matmul(Q, K.transpose(-2, -1)) * s;
  if (is_causal) {
    auto L = Q.size(-2), S = K.size(-2);
    auto keep = at::ones({L, S}, Q.options().dtype(at::kBool)).tril();
    logits = logits.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
  }
  if (mask) {
    const auto& m = mask->t;
    if (m.scalar_type() == at::kBool) logits = logits.masked_fill(m.logical_not(), -std::numeric_limits<double>::infinity());
    else logits = logits + m;
  }
  // _safe_softmax (as PyTorch's math attention): a row whose keys are all masked gives zeros, not NaN, and its
  // gradient and tangent are zero; it is differentiable in both modes.
  put(out, at::matmul(at::_safe_softmax(logits, -1), V));
  CM_CATCH
}
int cm_embedding(cm_tensor weight, cm_tensor indices, cm_tensor* out) {
  CM_TRY put(out, at::embedding(T(weight, "weight"), T(indices, "indices"))); CM_CATCH
}
int cm_loss(int op, cm_tensor a, cm_tensor b, int reduction, double delta, cm_tensor* out) {
  CM_TRY
  if (reduction < CM_REDUCTION_NONE || reduction > CM_REDUCTION_SUM)
    throw cm::ArgError("unknown reduction " + std::to_string(reduction) +
                       " (CM_REDUCTION_NONE, CM_REDUCTION_MEAN or CM_REDUCTION_SUM)");
  // The CM_REDUCTION_* codes are ATen's Reduction enum values (None = 0, Mean = 1, Sum = 2).
  static_assert(CM_REDUCTION_NONE == at::Reduction::None && CM_REDUCTION_MEAN == at::Reduction::Mean &&
                    CM_REDUCTION_SUM == at::Reduction::Sum,
                "CM_REDUCTION_* follow at::Reduction");
  switch (op) {
    case CM_LOSS_MSE: put(out, at::mse_loss(T(a, "input"), T(b, "target"), reduction)); break;
    case CM_LOSS_L1: put(out, at::l1_loss(T(a, "input"), T(b, "target"), reduction)); break;
    case CM_LOSS_HUBER: put(out, at::huber_loss(T(a, "input"), T(b, "target"), reduction, delta)); break;
    default: throw cm::ArgError("unknown loss " + std::to_string(op));
  }
  CM_CATCH
}

}  // extern "C"
