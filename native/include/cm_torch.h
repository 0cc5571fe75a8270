/*
 * cm_torch.h — the cm4j C API over libtorch.
 *
 * Plain C (C99). No entry point lets a C++ exception escape or aborts the process on bad input: null handles,
 * wrong shapes, wrong dtypes, unknown codes and out-of-range values are errors.
 *
 * Conventions (they hold for every function below; CM_API_VERSION 2 is the first version that states them)
 *  - Status. Every function returns a status (CM_OK = 0, CM_ERROR = 1) unless its comment says otherwise
 *    (cm_last_error, cm_clear_error, cm_api_version, cm_torch_version). Results come back through
 *    out-parameters (the last arguments).
 *  - Error message. A call that returns CM_ERROR records a message (libtorch's text without backtrace, or ours)
 *    for its thread. cm_last_error() returns it; the pointer and its text stay valid and unchanged until the
 *    same thread makes another call that returns CM_ERROR, or calls cm_clear_error(). Calls that succeed never
 *    touch it, so after a success it may still hold an older failure's text: read it only after CM_ERROR.
 *    Another thread's calls never affect it; it ends with its thread. Copy the text if it must outlive that
 *    window. Before any failure on a thread (and after cm_clear_error) it is "" (never NULL).
 *  - In place. A tensor operation that writes into its first tensor argument instead of returning a new tensor
 *    ends in '_' (cm_unary_, cm_clamp_, cm_lerp_, cm_normal_, ...), as in ATen; no function takes an "in place"
 *    flag. Where both forms exist, the out-of-place one has the same name without '_' and returns its result
 *    through `cm_tensor* out`. Setters (cm_tensor_set_*) and the collectives (cm_dist_allreduce,
 *    cm_dist_broadcast, which work in place on every tensor given, as torch.distributed does) have no
 *    out-of-place form, and their names say what they change.
 *  - Variants. A family of related operations is one function taking `int op`, whose values are the
 *    CM_<FAMILY>_* codes defined beside it (CM_UNARY_*, CM_BINARY_*, CM_REDUCE_*, CM_VAR_STD_*, CM_ARG_*,
 *    CM_SOFTMAX_*, CM_SHAPE_*, CM_LIKE_*, CM_LOSS_*); likewise a mode or kind argument takes its named codes
 *    (CM_INTERPOLATE_*, CM_PAD_*, CM_REDUCTION_*, CM_DIST_*, CM_SCALAR_*, and CM_VALUE_* for results). No
 *    operation is picked by a boolean flag. An unknown code is an error that names the code, never undefined
 *    behaviour.
 *  - Device. Every argument or result that is a device uses one encoding: CM_DEVICE_CPU (-1) is the CPU,
 *    n >= 0 is CUDA device n, and CM_DEVICE_PRIVATEUSE1_BASE - n (-16 - n, n >= 0) is device n of the
 *    PrivateUse1 backend (an out-of-tree device type; cm4j's tests register one, see native/testdevice). Nothing
 *    else is valid; a tensor on any other device type (meta, MPS, ...) makes cm_tensor_device fail rather than
 *    return a code. Where only a device type matters (autocast) any code of a type selects that type.
 *  - dtype: the c10::ScalarType code (CM_DTYPE_*).
 *  - Handles are opaque pointers. A cm_tensor owns one reference to a libtorch tensor; release it with
 *    cm_tensor_free / cm_tensor_free_many. Tensors, generators and guards must not be used after they are
 *    freed; the caller (cm-core) enforces it.
 *  - Lists are (pointer, length). An optional tensor is a possibly-NULL cm_tensor; an optional number comes
 *    with an explicit has_x flag. A scalar is (kind, double, int64): CM_SCALAR_DOUBLE uses the double,
 *    CM_SCALAR_INT and CM_SCALAR_BOOL the int64 (so integer tensors stay integer).
 *  - Records. A result made of several named numbers is a struct filled through a pointer
 *    (cm_allocator_stats), never an array read by position.
 *  - Strings returned by a function (cm_torch_version) are static and live for the process.
 */
#ifndef CM_TORCH_H
#define CM_TORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define CM_API __declspec(dllexport)
#else
#define CM_API __attribute__((visibility("default")))
#endif

/** Version of this C API; bumped whenever a signature, a code's meaning or a convention above changes.
 * 2: the conventions above (in-place '_' functions, CM_VAR_STD_/CM_ARG_/CM_SOFTMAX_ codes, one device encoding,
 * the stated error-message lifetime, cm_allocator_stats). */
#define CM_API_VERSION 2

/* Status codes. */
#define CM_OK 0
#define CM_ERROR 1

/* dtype codes (c10::ScalarType). */
#define CM_DTYPE_UINT8 0
#define CM_DTYPE_INT8 1
#define CM_DTYPE_INT16 2
#define CM_DTYPE_INT32 3
#define CM_DTYPE_INT64 4
#define CM_DTYPE_FLOAT16 5
#define CM_DTYPE_FLOAT32 6
#define CM_DTYPE_FLOAT64 7
#define CM_DTYPE_BOOL 11
#define CM_DTYPE_BFLOAT16 15

/* device codes: CM_DEVICE_CPU, n >= 0 for CUDA device n, CM_DEVICE_PRIVATEUSE1_BASE - n for PrivateUse1 device n */
#define CM_DEVICE_CPU (-1)
#define CM_DEVICE_PRIVATEUSE1_BASE (-16)

/* scalar kinds */
#define CM_SCALAR_DOUBLE 0
#define CM_SCALAR_INT 1
#define CM_SCALAR_BOOL 2

typedef struct cm_tensor_s* cm_tensor;       /* one reference to an at::Tensor */
typedef struct cm_generator_s* cm_generator; /* an at::Generator (CPU or CUDA) */
typedef struct cm_guard_s* cm_guard;         /* a scoped libtorch mode (inference mode) */
typedef struct cm_stack_s* cm_stack;         /* an argument/result stack for the generic operator call */
typedef struct cm_op_s* cm_op;               /* a cached ATen operator handle (never freed) */
typedef struct cm_store_s* cm_store;         /* a c10d key-value store (TCPStore) used for rendezvous */
typedef struct cm_process_group_s* cm_process_group; /* a c10d process group backend (Gloo or NCCL) */
typedef struct cm_jit_module_s* cm_jit_module; /* a loaded TorchScript module */

/* ---------------------------------------------------------------------------------------------------------
 * Errors and versions
 * ------------------------------------------------------------------------------------------------------- */

/** Message of this thread's last failed call ("" if none); never NULL. Lifetime: see "Error message" above. */
CM_API const char* cm_last_error(void);
/** Clears this thread's last error (the pointer cm_last_error returned before is then invalid). */
CM_API void cm_clear_error(void);
/** The C API version (CM_API_VERSION) this library implements. */
CM_API int cm_api_version(void);
/** The libtorch version this library was compiled against, e.g. "2.13.0" (a static string). */
CM_API const char* cm_torch_version(void);
/** Path of the loaded libtorch_cpu shared library (via dladdr), into buf (NUL-terminated, truncated to cap). */
CM_API int cm_torch_library_path(char* buf, size_t cap);
/** Text of at::show_config() (build flags, BLAS, OpenMP) into buf (NUL-terminated, truncated); *len gets the full length. */
CM_API int cm_torch_config(char* buf, size_t cap, size_t* len);

/* ---------------------------------------------------------------------------------------------------------
 * Tensor lifetime and metadata
 * ------------------------------------------------------------------------------------------------------- */

/** Releases one tensor handle (NULL is ignored). */
CM_API int cm_tensor_free(cm_tensor t);
/** Releases n handles in one call (NULL entries are ignored). */
CM_API int cm_tensor_free_many(const cm_tensor* ts, size_t n);
/** A second handle to the same tensor (shares storage and autograd identity). */
CM_API int cm_tensor_share(cm_tensor t, cm_tensor* out);
/** Number of dimensions. */
CM_API int cm_tensor_dim(cm_tensor t, int64_t* out);
/** Sizes into buf (up to cap entries); *ndim gets the true dimension count. */
CM_API int cm_tensor_sizes(cm_tensor t, int64_t* buf, size_t cap, size_t* ndim);
/** Strides into buf (up to cap entries); *ndim gets the true dimension count. */
CM_API int cm_tensor_strides(cm_tensor t, int64_t* buf, size_t cap, size_t* ndim);
/** dtype code (CM_DTYPE_*). */
CM_API int cm_tensor_dtype(cm_tensor t, int* out);
/** Device code (see Device above); a tensor on a device type without a code is an error. */
CM_API int cm_tensor_device(cm_tensor t, int* out);
/** Number of elements. */
CM_API int cm_tensor_numel(cm_tensor t, int64_t* out);
/** 1 if the tensor is defined (not an empty handle), else 0. */
CM_API int cm_tensor_defined(cm_tensor t, int* out);
/** 1 if the tensor requires grad. */
CM_API int cm_tensor_requires_grad(cm_tensor t, int* out);
/** Sets requires_grad in place (leaf tensors only, as in PyTorch). */
CM_API int cm_tensor_set_requires_grad(cm_tensor t, int requires_grad);
/** 1 if the tensor is an autograd leaf. */
CM_API int cm_tensor_is_leaf(cm_tensor t, int* out);
/** The accumulated .grad; *out is NULL when it is undefined. */
CM_API int cm_tensor_grad(cm_tensor t, cm_tensor* out);
/** Sets .grad (g may be NULL to clear it). */
CM_API int cm_tensor_set_grad(cm_tensor t, cm_tensor g);
/** 1 if the tensor is contiguous. */
CM_API int cm_tensor_is_contiguous(cm_tensor t, int* out);
/** Element size in bytes. */
CM_API int cm_tensor_element_size(cm_tensor t, int64_t* out);
/** *out = the address of the tensor's first element (NULL for an empty or undefined tensor); valid while the
 * tensor's storage lives. For diagnostics and zero-copy reads; never write through it while autograd holds the
 * tensor. */
CM_API int cm_tensor_data_ptr(cm_tensor t, void** out);

/* ---------------------------------------------------------------------------------------------------------
 * Creation. `device` as above; `gen` is an optional generator (NULL = the default one).
 * ------------------------------------------------------------------------------------------------------- */

/** New tensor with a copy of nbytes of host memory at data (nbytes must equal numel * element size). */
CM_API int cm_from_data(const void* data, size_t nbytes, const int64_t* sizes, size_t ndim, int dtype, int device,
                        cm_tensor* out);
/** Uninitialised tensor. */
CM_API int cm_empty(const int64_t* sizes, size_t ndim, int dtype, int device, cm_tensor* out);
/** Tensor filled with zeros. */
CM_API int cm_zeros(const int64_t* sizes, size_t ndim, int dtype, int device, cm_tensor* out);
/** Tensor filled with ones. */
CM_API int cm_ones(const int64_t* sizes, size_t ndim, int dtype, int device, cm_tensor* out);
/** Tensor filled with a scalar. */
CM_API int cm_full(const int64_t* sizes, size_t ndim, int scalar_kind, double d, int64_t i, int dtype, int device,
                   cm_tensor* out);
/** Values start, start+step, ... below end. */
CM_API int cm_arange(double start, double end, double step, int dtype, int device, cm_tensor* out);
/** `steps` evenly spaced values from start to end inclusive. */
CM_API int cm_linspace(double start, double end, int64_t steps, int dtype, int device, cm_tensor* out);
/** Standard normal samples. */
CM_API int cm_randn(const int64_t* sizes, size_t ndim, int dtype, int device, cm_generator gen, cm_tensor* out);
/** Uniform samples on [0, 1). */
CM_API int cm_rand(const int64_t* sizes, size_t ndim, int dtype, int device, cm_generator gen, cm_tensor* out);
/** Uniform integers on [low, high). */
CM_API int cm_randint(int64_t low, int64_t high, const int64_t* sizes, size_t ndim, int dtype, int device,
                      cm_generator gen, cm_tensor* out);
/** Normal samples with the given mean and std. */
CM_API int cm_normal(double mean, double std, const int64_t* sizes, size_t ndim, int dtype, int device,
                     cm_generator gen, cm_tensor* out);
/** A random permutation of 0..n-1 (int64). */
CM_API int cm_randperm(int64_t n, int device, cm_generator gen, cm_tensor* out);
/** Like-creation: op is one of CM_LIKE_*; the result has a's shape, dtype and device. */
CM_API int cm_like(int op, cm_tensor a, cm_generator gen, cm_tensor* out);
#define CM_LIKE_EMPTY 0
#define CM_LIKE_ZEROS 1
#define CM_LIKE_ONES 2
#define CM_LIKE_RANDN 3
#define CM_LIKE_RAND 4

/* ---------------------------------------------------------------------------------------------------------
 * Host transfer and conversion
 * ------------------------------------------------------------------------------------------------------- */

/** Copies the tensor's elements (row-major, as if contiguous on CPU) into dst; nbytes must equal numel*itemsize. */
CM_API int cm_copy_to_host(cm_tensor t, void* dst, size_t nbytes);
/** The single element as a double (the tensor must have one element). */
CM_API int cm_item_double(cm_tensor t, double* out);
/** The single element as an int64 (the tensor must have one element). */
CM_API int cm_item_int64(cm_tensor t, int64_t* out);
/** Converts dtype and/or device (dtype -1 keeps it); copy=1 forces a copy. */
CM_API int cm_to(cm_tensor t, int dtype, int device, int non_blocking, int copy, cm_tensor* out);

/* ---------------------------------------------------------------------------------------------------------
 * Elementwise and linear algebra. Each op code is documented with its ATen equivalent.
 * ------------------------------------------------------------------------------------------------------- */

/** Unary op (CM_UNARY_*): *out = op(a). */
CM_API int cm_unary(int op, cm_tensor a, cm_tensor* out);
/** Unary op applied in place to a (only codes with an in-place ATen form: NEG..SIGN, SQUARE..TANH, ZERO, RELU). */
CM_API int cm_unary_(int op, cm_tensor a);
#define CM_UNARY_NEG 0         /* -a */
#define CM_UNARY_SQRT 1        /* sqrt */
#define CM_UNARY_RSQRT 2       /* 1/sqrt */
#define CM_UNARY_EXP 3         /* exp */
#define CM_UNARY_LOG 4         /* log */
#define CM_UNARY_LOG1P 5       /* log(1+a) */
#define CM_UNARY_EXPM1 6       /* exp(a)-1 */
#define CM_UNARY_SIN 7         /* sin */
#define CM_UNARY_COS 8         /* cos */
#define CM_UNARY_TAN 9         /* tan */
#define CM_UNARY_ATAN 10       /* atan */
#define CM_UNARY_ABS 11        /* abs */
#define CM_UNARY_SIGN 12       /* sign */
#define CM_UNARY_SQUARE 13     /* a*a */
#define CM_UNARY_RECIPROCAL 14 /* 1/a */
#define CM_UNARY_RELU 15       /* max(a, 0) */
#define CM_UNARY_SILU 16       /* a*sigmoid(a) */
#define CM_UNARY_GELU 17       /* gelu, exact erf form */
#define CM_UNARY_SIGMOID 18    /* sigmoid */
#define CM_UNARY_TANH 19       /* tanh */
#define CM_UNARY_ISNAN 20      /* bool: a != a */
#define CM_UNARY_ISFINITE 21   /* bool: finite */
#define CM_UNARY_CONTIGUOUS 22 /* contiguous copy (or a itself) */
#define CM_UNARY_CLONE 23      /* copy, differentiable */
#define CM_UNARY_DETACH 24     /* shares storage, no grad history */
#define CM_UNARY_LOGICAL_NOT 25 /* bool: !a */
#define CM_UNARY_FLOOR 26      /* floor */
#define CM_UNARY_CEIL 27       /* ceil */
#define CM_UNARY_ROUND 28      /* round half to even */
#define CM_UNARY_ZERO 29       /* in place only: a.zero_() */
#define CM_UNARY_ERF 30        /* erf */
#define CM_UNARY_ASIN 31       /* asin */
#define CM_UNARY_ACOS 32       /* acos */
#define CM_UNARY_GELU_TANH 33  /* gelu, tanh approximation */
#define CM_UNARY_ISINF 34      /* bool: +-inf */

/** Binary tensor-tensor op (CM_BINARY_*) with broadcasting: *out = op(a, b). */
CM_API int cm_binary(int op, cm_tensor a, cm_tensor b, cm_tensor* out);
/** In-place binary op on a (ADD, SUB, MUL, DIV, POW, MINIMUM, MAXIMUM, COPY). */
CM_API int cm_binary_(int op, cm_tensor a, cm_tensor b);
/** Binary tensor-scalar op: *out = op(a, s). */
CM_API int cm_binary_scalar(int op, cm_tensor a, int scalar_kind, double d, int64_t i, cm_tensor* out);
/** In-place tensor-scalar op on a (ADD, SUB, MUL, DIV, POW, FILL). */
CM_API int cm_binary_scalar_(int op, cm_tensor a, int scalar_kind, double d, int64_t i);
#define CM_BINARY_ADD 0        /* a + b */
#define CM_BINARY_SUB 1        /* a - b */
#define CM_BINARY_MUL 2        /* a * b */
#define CM_BINARY_DIV 3        /* a / b (true division) */
#define CM_BINARY_POW 4        /* a ** b */
#define CM_BINARY_ATAN2 5      /* atan2(a, b) */
#define CM_BINARY_MINIMUM 6    /* elementwise min (NaN-propagating) */
#define CM_BINARY_MAXIMUM 7    /* elementwise max (NaN-propagating) */
#define CM_BINARY_EQ 8         /* bool a == b */
#define CM_BINARY_NE 9         /* bool a != b */
#define CM_BINARY_LT 10        /* bool a < b */
#define CM_BINARY_LE 11        /* bool a <= b */
#define CM_BINARY_GT 12        /* bool a > b */
#define CM_BINARY_GE 13        /* bool a >= b */
#define CM_BINARY_MATMUL 14    /* matmul (tensors only) */
#define CM_BINARY_BMM 15       /* batched matmul of [B,n,m] x [B,m,p] (tensors only) */
#define CM_BINARY_REMAINDER 16 /* Python-style a % b */
#define CM_BINARY_LOGICAL_AND 17 /* bool */
#define CM_BINARY_LOGICAL_OR 18  /* bool */
#define CM_BINARY_COPY 19      /* in place only: a.copy_(b) with broadcasting and dtype conversion */
#define CM_BINARY_FILL 20      /* scalar in place only: a.fill_(s) */
#define CM_BINARY_RSUB 21      /* scalar only: s - a */
#define CM_BINARY_RDIV 22      /* scalar only: s / a */
#define CM_BINARY_FLOOR_DIVIDE 23 /* floor(a / b) */

/** a + alpha * b (alpha a double). */
CM_API int cm_add_scaled(cm_tensor a, cm_tensor b, double alpha, cm_tensor* out);
/** In place: a += alpha * b. */
CM_API int cm_add_scaled_(cm_tensor a, cm_tensor b, double alpha);
/** where(cond, a, b). */
CM_API int cm_where(cm_tensor cond, cm_tensor a, cm_tensor b, cm_tensor* out);
/** a + w * (b - a) with a tensor weight. */
CM_API int cm_lerp(cm_tensor a, cm_tensor b, cm_tensor w, cm_tensor* out);
/** In place: a += w * (b - a) with a tensor weight. */
CM_API int cm_lerp_(cm_tensor a, cm_tensor b, cm_tensor w);
/** a + w * (b - a) with a scalar weight. */
CM_API int cm_lerp_scalar(cm_tensor a, cm_tensor b, double w, cm_tensor* out);
/** In place: a += w * (b - a) with a scalar weight. */
CM_API int cm_lerp_scalar_(cm_tensor a, cm_tensor b, double w);
/** clamp to [min, max]; either bound optional, at least one given. */
CM_API int cm_clamp(cm_tensor a, int has_min, double min, int has_max, double max, cm_tensor* out);
/** In place: clamps a to [min, max]; either bound optional, at least one given. */
CM_API int cm_clamp_(cm_tensor a, int has_min, double min, int has_max, double max);
/** nan_to_num: NaN -> nan, +inf -> posinf (or dtype max), -inf -> neginf (or dtype min). */
CM_API int cm_nan_to_num(cm_tensor a, double nan, int has_posinf, double posinf, int has_neginf, double neginf,
                         cm_tensor* out);
/** In place nan_to_num on a, replacements as for cm_nan_to_num. */
CM_API int cm_nan_to_num_(cm_tensor a, double nan, int has_posinf, double posinf, int has_neginf, double neginf);
/** a += value * t1 * t2 (in place). */
CM_API int cm_addcmul_(cm_tensor a, cm_tensor t1, cm_tensor t2, double value);
/** a += value * t1 / t2 (in place). */
CM_API int cm_addcdiv_(cm_tensor a, cm_tensor t1, cm_tensor t2, double value);
/** masked_fill(mask, value). */
CM_API int cm_masked_fill(cm_tensor a, cm_tensor mask, double value, cm_tensor* out);
/** einsum(equation, tensors). */
CM_API int cm_einsum(const char* equation, const cm_tensor* ts, size_t n, cm_tensor* out);
/** linear(x, w, b): x @ w^T + b (b optional). */
CM_API int cm_linear(cm_tensor x, cm_tensor w, cm_tensor b, cm_tensor* out);
/** Symmetric eigendecomposition (linalg.eigh, lower triangle): ascending eigenvalues and column eigenvectors. */
CM_API int cm_eigh(cm_tensor a, cm_tensor* eigenvalues, cm_tensor* eigenvectors);

/* ---------------------------------------------------------------------------------------------------------
 * Reductions. dims = (pointer, n); n == 0 reduces over all dimensions.
 * ------------------------------------------------------------------------------------------------------- */

/** Reduction op (CM_REDUCE_*) over dims; dtype >= 0 sets the accumulation/result dtype of SUM/MEAN/PROD. */
CM_API int cm_reduce(int op, cm_tensor a, const int64_t* dims, size_t n, int keepdim, int dtype, cm_tensor* out);
#define CM_REDUCE_SUM 0
#define CM_REDUCE_MEAN 1
#define CM_REDUCE_AMAX 2
#define CM_REDUCE_AMIN 3
#define CM_REDUCE_LOGSUMEXP 4 /* needs n > 0 */
#define CM_REDUCE_ANY 5
#define CM_REDUCE_ALL 6
#define CM_REDUCE_PROD 7      /* one dim (n == 1) or all (n == 0) */
/** Variance or standard deviation (op CM_VAR_STD_*) over dims with the given correction (1 = unbiased). */
CM_API int cm_var_std(int op, cm_tensor a, const int64_t* dims, size_t n, double correction, int keepdim,
                      cm_tensor* out);
#define CM_VAR_STD_VAR 0 /* var */
#define CM_VAR_STD_STD 1 /* std = sqrt(var) */
/** p-norm over dims (p = 2 for Euclidean; INFINITY for max-abs). */
CM_API int cm_norm(cm_tensor a, double p, const int64_t* dims, size_t n, int keepdim, cm_tensor* out);
/** Index of the largest or smallest element (op CM_ARG_*) along one dim, or in the flattened tensor when
 * has_dim = 0 (int64 result). */
CM_API int cm_arg(int op, cm_tensor a, int has_dim, int64_t dim, int keepdim, cm_tensor* out);
#define CM_ARG_MAX 0 /* argmax */
#define CM_ARG_MIN 1 /* argmin */
/** softmax or log_softmax (op CM_SOFTMAX_*) along dim. */
CM_API int cm_softmax(int op, cm_tensor a, int64_t dim, cm_tensor* out);
#define CM_SOFTMAX_PLAIN 0 /* softmax */
#define CM_SOFTMAX_LOG 1   /* log_softmax */

/* ---------------------------------------------------------------------------------------------------------
 * Shapes, views and indexing
 * ------------------------------------------------------------------------------------------------------- */

/** Shape op (CM_SHAPE_*) taking an int list: *out = op(a, values). */
CM_API int cm_shape_op(int op, cm_tensor a, const int64_t* values, size_t n, cm_tensor* out);
#define CM_SHAPE_RESHAPE 0 /* reshape(values), -1 allowed */
#define CM_SHAPE_VIEW 1    /* view(values), -1 allowed; fails on incompatible strides */
#define CM_SHAPE_EXPAND 2  /* expand(values), -1 keeps a size */
#define CM_SHAPE_REPEAT 3  /* repeat(values) */
#define CM_SHAPE_PERMUTE 4 /* permute(values) */
#define CM_SHAPE_FLIP 5    /* flip(dims = values) */
#define CM_SHAPE_SQUEEZE 6 /* squeeze(dims = values); n == 0 squeezes every size-1 dim */
/** flatten(start_dim, end_dim). */
CM_API int cm_flatten(cm_tensor a, int64_t start_dim, int64_t end_dim, cm_tensor* out);
/** transpose(dim0, dim1). */
CM_API int cm_transpose(cm_tensor a, int64_t dim0, int64_t dim1, cm_tensor* out);
/** unsqueeze(dim). */
CM_API int cm_unsqueeze(cm_tensor a, int64_t dim, cm_tensor* out);
/** narrow(dim, start, length). */
CM_API int cm_narrow(cm_tensor a, int64_t dim, int64_t start, int64_t length, cm_tensor* out);
/** Basic slicing a[start:end:step] along dim (Python semantics for negative and out-of-range bounds). */
CM_API int cm_slice(cm_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step, cm_tensor* out);
/** select(dim, index): removes dim. */
CM_API int cm_select(cm_tensor a, int64_t dim, int64_t index, cm_tensor* out);
/** index_select(dim, index tensor (int64)). */
CM_API int cm_index_select(cm_tensor a, int64_t dim, cm_tensor index, cm_tensor* out);
/** gather(dim, index tensor (int64)). */
CM_API int cm_gather(cm_tensor a, int64_t dim, cm_tensor index, cm_tensor* out);
/** Advanced indexing a[i0, i1, ...]: n optional index tensors (NULL = full slice ':'). */
CM_API int cm_index(cm_tensor a, const cm_tensor* indices, size_t n, cm_tensor* out);
/** In-place a[i0, i1, ...] = values (accumulate != 0 adds instead). */
CM_API int cm_index_put_(cm_tensor a, const cm_tensor* indices, size_t n, cm_tensor values, int accumulate);
/** cat(tensors, dim). */
CM_API int cm_cat(const cm_tensor* ts, size_t n, int64_t dim, cm_tensor* out);
/** stack(tensors, dim). */
CM_API int cm_stack_tensors(const cm_tensor* ts, size_t n, int64_t dim, cm_tensor* out);
/** chunk(chunks, dim): up to cap results in outs; *n_out gets the count (results beyond cap are not created). */
CM_API int cm_chunk(cm_tensor a, int64_t chunks, int64_t dim, cm_tensor* outs, size_t cap, size_t* n_out);
/** split(split sizes, dim): results as for cm_chunk. */
CM_API int cm_split(cm_tensor a, const int64_t* sizes, size_t n, int64_t dim, cm_tensor* outs, size_t cap,
                    size_t* n_out);

/* ---------------------------------------------------------------------------------------------------------
 * Neural-network functions
 * ------------------------------------------------------------------------------------------------------- */

/** conv2d(x, w, b optional, stride, padding, dilation, groups). */
CM_API int cm_conv2d(cm_tensor x, cm_tensor w, cm_tensor b, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                     int64_t pad_w, int64_t dil_h, int64_t dil_w, int64_t groups, cm_tensor* out);
/** conv_transpose2d(x, w, b optional, stride, padding, output_padding, groups, dilation). */
CM_API int cm_conv_transpose2d(cm_tensor x, cm_tensor w, cm_tensor b, int64_t stride_h, int64_t stride_w,
                               int64_t pad_h, int64_t pad_w, int64_t out_pad_h, int64_t out_pad_w, int64_t groups,
                               int64_t dil_h, int64_t dil_w, cm_tensor* out);
/** group_norm(x, num_groups, weight optional, bias optional, eps). */
CM_API int cm_group_norm(cm_tensor x, int64_t num_groups, cm_tensor w, cm_tensor b, double eps, cm_tensor* out);
/** layer_norm(x, normalized_shape, weight optional, bias optional, eps). */
CM_API int cm_layer_norm(cm_tensor x, const int64_t* shape, size_t n, cm_tensor w, cm_tensor b, double eps,
                         cm_tensor* out);
/** Dropout: identity when train == 0; else x * bernoulli(1-p) / (1-p), the mask drawn from gen (NULL = default). */
CM_API int cm_dropout(cm_tensor x, double p, int train, cm_generator gen, cm_tensor* out);
/** avg_pool2d(kernel, stride, padding, ceil_mode, count_include_pad). */
CM_API int cm_avg_pool2d(cm_tensor x, int64_t k_h, int64_t k_w, int64_t s_h, int64_t s_w, int64_t p_h, int64_t p_w,
                         int ceil_mode, int count_include_pad, cm_tensor* out);
/** Resize an NCHW tensor to (out_h, out_w) with mode CM_INTERPOLATE_* (align_corners used by BILINEAR). */
CM_API int cm_interpolate(cm_tensor x, int mode, int64_t out_h, int64_t out_w, int align_corners, cm_tensor* out);
#define CM_INTERPOLATE_NEAREST 0
#define CM_INTERPOLATE_BILINEAR 1
/** pad(x, pads (last dim first, as torch.nn.functional.pad), mode CM_PAD_*; value is used by CONSTANT only). */
CM_API int cm_pad(cm_tensor x, const int64_t* pads, size_t n, int mode, double value, cm_tensor* out);
#define CM_PAD_CONSTANT 0
#define CM_PAD_REFLECT 1
#define CM_PAD_REPLICATE 2
#define CM_PAD_CIRCULAR 3
/** Scaled dot-product attention softmax(q k^T * scale + mask) v, as a composition of differentiable ops (supports
 * forward-mode AD); mask optional (bool: true = keep; float: added); has_scale = 0 uses 1/sqrt(q.size(-1)). */
CM_API int cm_sdpa(cm_tensor q, cm_tensor k, cm_tensor v, cm_tensor mask, int is_causal, int has_scale, double scale,
                   cm_tensor* out);
/** embedding(weight, indices (int64)). */
CM_API int cm_embedding(cm_tensor weight, cm_tensor indices, cm_tensor* out);
/** Loss between a and b: op CM_LOSS_*, reduction CM_REDUCTION_*, delta for HUBER. */
CM_API int cm_loss(int op, cm_tensor a, cm_tensor b, int reduction, double delta, cm_tensor* out);
#define CM_LOSS_MSE 0
#define CM_LOSS_L1 1
#define CM_LOSS_HUBER 2
#define CM_REDUCTION_NONE 0 /* per-element losses */
#define CM_REDUCTION_MEAN 1
#define CM_REDUCTION_SUM 2

/* ---------------------------------------------------------------------------------------------------------
 * Random numbers
 * ------------------------------------------------------------------------------------------------------- */

/** Seeds the default CPU generator and every accelerator device's (CUDA or PrivateUse1) default generator. */
CM_API int cm_manual_seed(uint64_t seed);
/** New generator on device (any device code) seeded with seed. */
CM_API int cm_generator_new(int device, uint64_t seed, cm_generator* out);
/** Handle to the default generator of device (freeing the handle leaves the generator alive). */
CM_API int cm_generator_default(int device, cm_generator* out);
/** Releases a generator handle (NULL is ignored). */
CM_API int cm_generator_free(cm_generator g);
/** Re-seeds a generator. */
CM_API int cm_generator_set_seed(cm_generator g, uint64_t seed);
/** The generator's initial seed. */
CM_API int cm_generator_seed(cm_generator g, uint64_t* out);
/** Copies the generator's full state into buf (up to cap bytes); *len gets its size (call with cap 0 to ask). */
CM_API int cm_generator_get_state(cm_generator g, uint8_t* buf, size_t cap, size_t* len);
/** Restores a state previously returned by cm_generator_get_state. */
CM_API int cm_generator_set_state(cm_generator g, const uint8_t* buf, size_t len);
/** In place: a ~ Normal(mean, std). */
CM_API int cm_normal_(cm_tensor a, double mean, double std, cm_generator gen);
/** In place: a ~ Uniform[from, to). */
CM_API int cm_uniform_(cm_tensor a, double from, double to, cm_generator gen);
/** In place: a ~ Bernoulli(p). */
CM_API int cm_bernoulli_(cm_tensor a, double p, cm_generator gen);
/** bernoulli(probs): a 0/1 tensor of probs' dtype drawn with the given probabilities. */
CM_API int cm_bernoulli(cm_tensor probs, cm_generator gen, cm_tensor* out);

/* ---------------------------------------------------------------------------------------------------------
 * Autograd
 * ------------------------------------------------------------------------------------------------------- */

/** Backward from n outputs; grads (may be NULL, or contain NULL entries) seed each output (ones for scalars). */
CM_API int cm_backward(const cm_tensor* outputs, size_t n, const cm_tensor* grads, int retain_graph, int create_graph);
/** torch.autograd.grad: n_in results in results (an entry is NULL when unused and allow_unused != 0). */
CM_API int cm_autograd_grad(const cm_tensor* outputs, size_t n_out, const cm_tensor* grad_outputs,
                            const cm_tensor* inputs, size_t n_in, int retain_graph, int create_graph,
                            int allow_unused, cm_tensor* results);
/** Sets grad mode (thread-local) and returns the previous one in *prev. */
CM_API int cm_set_grad_enabled(int enabled, int* prev);
/** Current grad mode. */
CM_API int cm_is_grad_enabled(int* out);
/** Enters inference mode (enabled != 0) or leaves it (enabled == 0) until cm_guard_exit; guards exit in LIFO order. */
CM_API int cm_inference_mode_enter(int enabled, cm_guard* out);
/** Exits a guard on the thread that entered it, restoring the previous mode. */
CM_API int cm_guard_exit(cm_guard g);
/** 1 if inference mode is on. */
CM_API int cm_is_inference_mode(int* out);
/** Enters a new forward-AD dual level; *level gets its index. */
CM_API int cm_fw_enter_dual_level(int64_t* level);
/** Exits a dual level (releases every tangent attached at that level). */
CM_API int cm_fw_exit_dual_level(int64_t level);
/** Dual tensor primal + tangent·ε at level. */
CM_API int cm_fw_make_dual(cm_tensor primal, cm_tensor tangent, int64_t level, cm_tensor* out);
/** Splits a dual tensor: *primal, and *tangent (NULL when it has no tangent at level). */
CM_API int cm_fw_unpack_dual(cm_tensor t, int64_t level, cm_tensor* primal, cm_tensor* tangent);

/* ---------------------------------------------------------------------------------------------------------
 * Autocast (mixed precision), threads, devices
 * ------------------------------------------------------------------------------------------------------- */

/** Sets autocast on this thread for the type of `device` (CM_DEVICE_CPU: CPU; any CUDA device code n >= 0:
 * CUDA): enabled and dtype (CM_DTYPE_BFLOAT16 or CM_DTYPE_FLOAT16); previous values into *prev_enabled /
 * *prev_dtype. Leaving autocast clears its cast cache. */
CM_API int cm_autocast_set(int device, int enabled, int dtype, int* prev_enabled, int* prev_dtype);
/** Sets the number of intra-op threads. */
CM_API int cm_set_num_threads(int n);
/** Number of intra-op threads. */
CM_API int cm_get_num_threads(int* out);
/** Sets the number of inter-op threads (only before the first inter-op work). */
CM_API int cm_set_num_interop_threads(int n);
/** Number of inter-op threads. */
CM_API int cm_get_num_interop_threads(int* out);

/* ---------------------------------------------------------------------------------------------------------
 * Caching CPU allocator. libtorch's default CPU allocator takes every buffer from malloc, so a training loop maps,
 * page-faults and unmaps its big activation buffers every step. cm4j's caching allocator keeps freed blocks of at
 * least min_bytes in per-size-class free lists and reuses them (classes: 4 KiB steps up to 64 KiB, then eight per
 * power of two, so at most 12.5 % above a request over 64 KiB);
 * blocks of 2 MiB and more are 2 MiB-aligned and advised MADV_HUGEPAGE when huge_pages is set. Smaller requests
 * go to libtorch's allocation function as before. Tensors allocated earlier keep their own deleter.
 * ------------------------------------------------------------------------------------------------------- */

/** Installs (enabled = 1) cm4j's caching allocator as libtorch's CPU allocator with these settings, or
 * reconfigures it; enabled = 0 stops caching: the cached blocks go back to the OS, blocks still in use go back when
 * freed, and every later request passes to libtorch's allocation function (the allocator stays registered, because
 * oneDNN frees its buffers through whichever CPU allocator is registered at that time; with enabled = 0 the other
 * arguments are ignored). min_bytes >= 1: smallest request served from the cache; max_cached_bytes >= 0: bound on
 * free bytes kept for reuse (beyond it a freed block returns to the OS; lowering it releases the excess at once);
 * huge_pages: 1 to advise transparent huge pages for blocks >= 2 MiB. */
CM_API int cm_cpu_allocator_configure(int enabled, int64_t min_bytes, int64_t max_cached_bytes, int huge_pages);
/** *out = 1 if the caching allocator is libtorch's current CPU allocator and caching, else 0. */
CM_API int cm_cpu_allocator_enabled(int* out);
/** Statistics of the caching allocator (byte counts are size-class bytes). */
typedef struct cm_allocator_stats {
  int64_t allocated_bytes;      /* bytes in live blocks taken through the cache path */
  int64_t cached_bytes;         /* free bytes held in the cache for reuse */
  int64_t peak_allocated_bytes; /* highest allocated_bytes so far */
  int64_t hits;                 /* requests served from the cache */
  int64_t misses;               /* requests that mapped a fresh block */
  int64_t released_blocks;      /* blocks returned to the OS */
  int64_t live_blocks;          /* live blocks taken through the cache path */
} cm_allocator_stats;
/** Fills *out with the caching allocator's current statistics. */
CM_API int cm_cpu_allocator_stats(cm_allocator_stats* out);
/** Returns every free cached block to the OS (as torch.cuda.empty_cache does for CUDA). */
CM_API int cm_cpu_allocator_release_cached(void);

/** 1 if CUDA is available (0 cleanly in CPU-only builds). */
CM_API int cm_cuda_is_available(int* out);
/** Number of CUDA devices (0 in CPU-only builds). */
CM_API int cm_cuda_device_count(int* out);
/** Waits for all work on CUDA device n (>= 0) to finish; CM_DEVICE_CPU or a CUDA-less build is an error. */
CM_API int cm_cuda_synchronize(int device);

/* ---------------------------------------------------------------------------------------------------------
 * Generic operator call: any registered ATen operator by name ("aten::add") and overload ("Tensor", or "").
 * Push arguments in schema order; omitted trailing arguments take the schema's defaults; types are checked
 * against the schema before the call. After cm_op_call the stack holds the operator's results.
 * ------------------------------------------------------------------------------------------------------- */

/** New empty stack. */
CM_API int cm_stack_new(cm_stack* out);
/** Frees a stack (NULL is ignored). */
CM_API int cm_stack_free(cm_stack s);
/** Empties a stack. */
CM_API int cm_stack_clear(cm_stack s);
/** Number of values on the stack. */
CM_API int cm_stack_size(cm_stack s, size_t* out);
/** Pushes a tensor (NULL pushes None, for optional tensors). */
CM_API int cm_stack_push_tensor(cm_stack s, cm_tensor t);
/** Pushes None. */
CM_API int cm_stack_push_none(cm_stack s);
/** Pushes a double. */
CM_API int cm_stack_push_double(cm_stack s, double v);
/** Pushes an int (also for dtype, layout and memory-format arguments). */
CM_API int cm_stack_push_int(cm_stack s, int64_t v);
/** Pushes a bool. */
CM_API int cm_stack_push_bool(cm_stack s, int v);
/** Pushes a string. */
CM_API int cm_stack_push_string(cm_stack s, const char* v);
/** Pushes an int list. */
CM_API int cm_stack_push_int_list(cm_stack s, const int64_t* v, size_t n);
/** Pushes a double list. */
CM_API int cm_stack_push_double_list(cm_stack s, const double* v, size_t n);
/** Pushes a tensor list. */
CM_API int cm_stack_push_tensor_list(cm_stack s, const cm_tensor* v, size_t n);
/** Pushes a list of optional tensors (NULL entries are None), as aten::index takes. */
CM_API int cm_stack_push_optional_tensor_list(cm_stack s, const cm_tensor* v, size_t n);
/** Kind of value i (CM_VALUE_*). */
CM_API int cm_stack_kind(cm_stack s, size_t i, int* out);
#define CM_VALUE_NONE 0
#define CM_VALUE_TENSOR 1
#define CM_VALUE_DOUBLE 2
#define CM_VALUE_INT 3
#define CM_VALUE_BOOL 4
#define CM_VALUE_TENSOR_LIST 5
#define CM_VALUE_INT_LIST 6
#define CM_VALUE_STRING 7
#define CM_VALUE_OTHER 8
/** Value i as a tensor (a new handle; NULL for None or an undefined tensor). */
CM_API int cm_stack_get_tensor(cm_stack s, size_t i, cm_tensor* out);
/** Value i as a double (ints and bools convert). */
CM_API int cm_stack_get_double(cm_stack s, size_t i, double* out);
/** Value i as an int64 (bools convert). */
CM_API int cm_stack_get_int(cm_stack s, size_t i, int64_t* out);
/** Length of the list at i (tensor or int list). */
CM_API int cm_stack_list_size(cm_stack s, size_t i, size_t* out);
/** Element j of the tensor list at i (a new handle). */
CM_API int cm_stack_list_tensor(cm_stack s, size_t i, size_t j, cm_tensor* out);
/** Finds (and caches) an operator; overload "" is the default overload. The handle lives for the process. */
CM_API int cm_op_find(const char* name, const char* overload, cm_op* out);
/** The operator's schema as text, into buf (NUL-terminated, truncated to cap); *len gets the full length. */
CM_API int cm_op_schema(cm_op op, char* buf, size_t cap, size_t* len);
/** Calls the operator on the stack: checks and completes the arguments, then replaces them by the results. */
CM_API int cm_op_call(cm_op op, cm_stack s);

/* ---------------------------------------------------------------------------------------------------------
 * Distributed (c10d): a TCP key-value store for rendezvous and process groups for collectives.
 *
 * Timeouts are in milliseconds and must be > 0. Every collective blocks until it has completed on this rank
 * (the work is waited for); a peer that died or stopped participating turns into CM_ERROR within about the
 * process group's timeout (a closed connection is usually reported at once), never a hang or an abort. After
 * a failed collective the process group is in an undefined state: free it (and normally end the process).
 * Collectives on one process group must be issued in the same order on every rank, from one thread at a time.
 * Tensors of a collective must be dense and on the process group's device type (CPU for Gloo, CUDA for NCCL);
 * non-contiguous tensors are handled through a contiguous copy that is written back.
 * ------------------------------------------------------------------------------------------------------- */

/* collective reduction codes (c10d::ReduceOp) */
#define CM_DIST_SUM 0
#define CM_DIST_AVG 1 /* sum divided by the world size (floating-point tensors only) */
#define CM_DIST_PRODUCT 2
#define CM_DIST_MIN 3
#define CM_DIST_MAX 4

/** 1 if this library was built with the named backend ("gloo" or "nccl"), else 0 (unknown names give 0). */
CM_API int cm_dist_backend_available(const char* backend, int* out);
/** A c10d TCPStore. The master (is_master != 0) listens on host:port (port 0 picks a free port, see
 * cm_dist_store_port) and waits up to timeout_ms for world_size - 1 clients; a client connects to host:port,
 * retrying until timeout_ms. The timeout also bounds every later get/wait on the store. */
CM_API int cm_dist_store_tcp(const char* host, int port, int world_size, int is_master, int64_t timeout_ms,
                             cm_store* out);
/** The port a TCP store listens on / connects to. */
CM_API int cm_dist_store_port(cm_store s, int* out);
/** Releases a store handle (NULL is ignored); process groups created from it keep their own reference. */
CM_API int cm_dist_store_free(cm_store s);
/** Sets key to len bytes at data (overwrites). */
CM_API int cm_dist_store_set(cm_store s, const char* key, const void* data, size_t len);
/** Gets key's value, waiting up to the store's timeout for the key to appear. Copies up to cap bytes into buf;
 * *len gets the value's full length (call again with a large enough buffer if *len > cap). */
CM_API int cm_dist_store_get(cm_store s, const char* key, void* buf, size_t cap, size_t* len);
/** Atomically adds delta to the integer counter at key (created at 0) and returns the new value in *out. */
CM_API int cm_dist_store_add(cm_store s, const char* key, int64_t delta, int64_t* out);
/** Waits until all n keys exist, up to timeout_ms (an error naming the timeout otherwise). */
CM_API int cm_dist_store_wait(cm_store s, const char* const* keys, size_t n, int64_t timeout_ms);
/** 1 in *out if all n keys exist now (does not wait). */
CM_API int cm_dist_store_check(cm_store s, const char* const* keys, size_t n, int* out);

/** A process group of `size` ranks with this process as `rank`, rendezvousing through the store (all ranks
 * must call it; it waits up to timeout_ms for the others). backend: "gloo" (CPU tensors) or "nccl" (CUDA
 * tensors; only in builds against a CUDA libtorch: otherwise a clear error). timeout_ms bounds every later
 * collective. For Gloo the transport binds to the address of GLOO_SOCKET_IFNAME if set, to the store's host
 * if that is a loopback address, else to this machine's hostname address. For NCCL, TORCH_NCCL_BLOCKING_WAIT
 * is set to 1 unless already set, so a timed-out collective raises an error instead of aborting the process. */
CM_API int cm_dist_pg_new(const char* backend, cm_store store, int rank, int size, int64_t timeout_ms,
                          cm_process_group* out);
/** Releases a process group (NULL is ignored). Every rank should free its group after its last collective. */
CM_API int cm_dist_pg_free(cm_process_group pg);
/** This process's rank in the group. */
CM_API int cm_dist_pg_rank(cm_process_group pg, int* out);
/** Number of ranks in the group. */
CM_API int cm_dist_pg_size(cm_process_group pg, int* out);
/** All-reduces each of the n tensors in place with op (CM_DIST_*), one collective per tensor, in order. */
CM_API int cm_dist_allreduce(cm_process_group pg, const cm_tensor* ts, size_t n, int op);
/** Broadcasts each of the n tensors in place from rank root (its values replace every other rank's). */
CM_API int cm_dist_broadcast(cm_process_group pg, const cm_tensor* ts, size_t n, int root);
/** Blocks until every rank has reached the barrier. */
CM_API int cm_dist_barrier(cm_process_group pg);
/** All-gathers `input` (same shape and dtype on every rank): outs[r] gets a new tensor with rank r's values,
 * for r < size; cap must be at least the group size. */
CM_API int cm_dist_allgather(cm_process_group pg, cm_tensor input, cm_tensor* outs, size_t cap);
/** All-reduces one double (for logging: e.g. the mean loss over ranks) and returns the result in *out. */
CM_API int cm_dist_allreduce_double(cm_process_group pg, double value, int op, double* out);

/* ---------------------------------------------------------------------------------------------------------
 * TorchScript modules (torch::jit::load): run models supplied as TorchScript files (e.g. Inception-v3 for FID,
 * LPIPS networks).
 * ------------------------------------------------------------------------------------------------------- */

/** Loads a TorchScript module from path onto device (any device code). A missing or corrupt file is
 * an error whose message names the file. */
CM_API int cm_jit_load(const char* path, int device, cm_jit_module* out);
/** Releases a module (NULL is ignored). */
CM_API int cm_jit_free(cm_jit_module m);
/** Sets training mode (training != 0) or eval mode (0) on the module and its submodules. */
CM_API int cm_jit_set_training(cm_jit_module m, int training);
/** 1 if the module is in training mode. */
CM_API int cm_jit_is_training(cm_jit_module m, int* out);
/** Sets requires_grad on every parameter of the module (0 freezes it, e.g. for use as a loss network). */
CM_API int cm_jit_set_requires_grad(cm_jit_module m, int requires_grad);
/** Runs forward(inputs...). The result's tensors go into outs (up to cap; *n_out gets their count): a tensor
 * result gives one, a tuple or list gives one entry per element (NULL for a non-tensor element); any other
 * result type is an error. */
CM_API int cm_jit_forward(cm_jit_module m, const cm_tensor* inputs, size_t n, cm_tensor* outs, size_t cap,
                          size_t* n_out);
/** Runs the module's method `method` (e.g. "forward") with the values on stack s as its positional arguments,
 * checked against the method's schema with defaults filled in (tensors, None, numbers, bools, strings, lists:
 * see cm_stack_push_*). On success the stack holds the result: one entry per element of a returned tuple, one
 * entry otherwise (read them with cm_stack_kind/cm_stack_get_*). On failure the stack is left empty. */
CM_API int cm_jit_call(cm_jit_module m, const char* method, cm_stack s);

/* ---------------------------------------------------------------------------------------------------------
 * Streams, pinned memory, memory format, CUDA device facts and backend switches (src/device.cpp).
 *
 * A stream is a value: (device code, stream id), the id being c10::Stream's id on that device. Ids come only
 * from cm_stream_current / cm_stream_default / cm_stream_from_pool; any other (device, id) pair given to a
 * function below is an error (the library keeps the set of ids it handed out), so a made-up id never reaches
 * the backend. The CPU has one stream, id 0 (its default), and every stream operation on it is a no-op that
 * succeeds: CPU work runs in program order. On a CUDA device the calls go through c10's device-generic
 * interfaces (DeviceGuardImplInterface, c10::Event, the device allocator), so they need no CUDA code here; on a
 * build or machine without CUDA they fail with a message that says CUDA is not available.
 * Codes of this section: CM_MEMORY_FORMAT_* and CM_BACKEND_*.
 * ------------------------------------------------------------------------------------------------------- */

/** *out = the id of this thread's current stream on device (0 on the CPU). */
CM_API int cm_stream_current(int device, int64_t* out);
/** *out = the id of device's default stream (0 on the CPU and for CUDA's legacy default stream). */
CM_API int cm_stream_default(int device, int64_t* out);
/** *out = the id of a stream taken round-robin from device's stream pool (the CPU: its only stream, 0). */
CM_API int cm_stream_from_pool(int device, int64_t* out);
/** Makes stream (device, id) this thread's current stream on its device; *prev gets the id of the stream that
 * was current there before (to restore it later with another call). The current device is not changed. */
CM_API int cm_stream_exchange(int device, int64_t id, int64_t* prev);
/** Makes stream (device, id) wait, without blocking the host, for all work queued so far on stream
 * (other_device, other_id) (an event recorded on the other stream and waited for); both streams must be of the
 * same device type. Work queued later on the waiting stream starts only after that work is done. */
CM_API int cm_stream_wait_stream(int device, int64_t id, int other_device, int64_t other_id);
/** Blocks the calling thread until all work queued on stream (device, id) is done. */
CM_API int cm_stream_synchronize(int device, int64_t id);
/** *out = 1 if all work queued on stream (device, id) is done, else 0 (always 1 on the CPU). */
CM_API int cm_stream_query(int device, int64_t id, int* out);
/** Tells the caching allocator that tensor t's memory is in use on stream (device, id), so it is not handed out
 * again before the work queued there so far is done (torch.Tensor.record_stream). The stream must be on t's
 * device; for a CPU tensor it is a no-op. */
CM_API int cm_tensor_record_stream(cm_tensor t, int device, int64_t id);

/** *out = 1 if page-locked (pinned) host memory can be allocated (an accelerator backend is present), else 0. */
CM_API int cm_pinned_memory_available(int* out);
/** *out = a copy of CPU tensor t in pinned host memory (t itself if it is pinned already); an error where pinned
 * memory is not available (see cm_pinned_memory_available). */
CM_API int cm_tensor_pin_memory(cm_tensor t, cm_tensor* out);
/** *out = 1 if t's memory is pinned host memory (always 0 where pinned memory is not available). */
CM_API int cm_tensor_is_pinned(cm_tensor t, int* out);

/* memory format codes */
#define CM_MEMORY_FORMAT_CONTIGUOUS 0       /* row-major (at::MemoryFormat::Contiguous) */
#define CM_MEMORY_FORMAT_CHANNELS_LAST 1    /* NHWC strides of a 4-D NCHW tensor */
#define CM_MEMORY_FORMAT_CHANNELS_LAST_3D 2 /* NDHWC strides of a 5-D NCDHW tensor */
/** *out = t laid out in memory_format (CM_MEMORY_FORMAT_*): t itself if it already is, else a copy with the same
 * sizes and values (differentiable, as Tensor.contiguous(memory_format)). CHANNELS_LAST needs a 4-D tensor,
 * CHANNELS_LAST_3D a 5-D one. */
CM_API int cm_contiguous(cm_tensor t, int memory_format, cm_tensor* out);
/** *out = 1 if t is contiguous in memory_format (CM_MEMORY_FORMAT_*), else 0. */
CM_API int cm_tensor_is_contiguous_in(cm_tensor t, int memory_format, int* out);

/** Properties of one CUDA device. */
typedef struct cm_cuda_device_properties {
  char name[256];               /* device name, NUL-terminated (truncated to 255 bytes) */
  int64_t total_memory;         /* global memory in bytes */
  int major;                    /* compute capability, major */
  int minor;                    /* compute capability, minor */
  int multiprocessor_count;     /* number of streaming multiprocessors */
} cm_cuda_device_properties;
/** Fills *out for CUDA device `device` (>= 0 and below cm_cuda_device_count). */
CM_API int cm_cuda_get_device_properties(int device, cm_cuda_device_properties* out);
/** Statistics of the CUDA caching allocator on one device (all pools together). */
typedef struct cm_cuda_memory_stats {
  int64_t allocated_bytes;      /* bytes in tensors now (torch.cuda.memory_allocated) */
  int64_t reserved_bytes;       /* bytes the allocator holds from the driver (torch.cuda.memory_reserved) */
  int64_t peak_allocated_bytes; /* highest allocated_bytes since start or the last peak reset */
  int64_t peak_reserved_bytes;  /* highest reserved_bytes since start or the last peak reset */
  int64_t num_alloc_retries;    /* allocations that had to free the cache and retry */
  int64_t num_ooms;             /* out-of-memory errors raised */
} cm_cuda_memory_stats;
/** Fills *out for CUDA device `device`. */
CM_API int cm_cuda_memory_stats_get(int device, cm_cuda_memory_stats* out);
/** Resets the peak statistics of CUDA device `device` to the current values. */
CM_API int cm_cuda_reset_peak_memory_stats(int device);
/** Returns the CUDA caching allocator's unused cached blocks to the driver (torch.cuda.empty_cache). */
CM_API int cm_cuda_empty_cache(void);
/** *free_bytes / *total_bytes = free and total memory of CUDA device `device` as the driver reports them. */
CM_API int cm_cuda_mem_get_info(int device, int64_t* free_bytes, int64_t* total_bytes);

/* backend switch codes: global flags of at::globalContext(), settable in every build (they take effect only
 * where the backend exists) */
#define CM_BACKEND_TF32_MATMUL 0        /* allow TF32 in cuBLAS float32 matmuls (torch.backends.cuda.matmul.allow_tf32) */
#define CM_BACKEND_TF32_CUDNN 1         /* allow TF32 in cuDNN float32 convolutions (torch.backends.cudnn.allow_tf32) */
#define CM_BACKEND_CUDNN_BENCHMARK 2    /* let cuDNN time and pick convolution algorithms (torch.backends.cudnn.benchmark) */
#define CM_BACKEND_CUDNN_DETERMINISTIC 3 /* only deterministic cuDNN algorithms (torch.backends.cudnn.deterministic) */
/** Sets backend switch `flag` (CM_BACKEND_*) to value (0 or 1); *prev gets the value it had (prev may be NULL). */
CM_API int cm_backend_set(int flag, int value, int* prev);
/** *out = the value (0 or 1) of backend switch `flag` (CM_BACKEND_*). */
CM_API int cm_backend_get(int flag, int* out);

#ifdef __cplusplus
}
#endif

#endif /* CM_TORCH_H */
