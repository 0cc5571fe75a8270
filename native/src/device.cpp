// Streams, pinned host memory, memory formats, CUDA device facts and backend switches.
//
// Everything here goes through c10's device-generic interfaces (the registered DeviceGuardImplInterface for
// streams and events, the registered DeviceAllocator for the caching allocator's statistics), so this file
// compiles and links against a CPU-only libtorch; there those calls report that CUDA is absent. Only the device
// properties need CUDA's own types: that part is compiled where CM_WITH_CUDA is defined (a CUDA libtorch).
#include "common.h"
#include <ATen/Context.h>
#include <ATen/DeviceAccelerator.h>
#include <ATen/ops/_nnpack_available.h>
#include <c10/util/Logging.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <c10/core/CachingDeviceAllocator.h>
#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>
#ifdef CM_WITH_CUDA
#include <ATen/cuda/CUDAContextLight.h>
#endif

namespace {

using cm::ArgError;
using cm::put_val;

#ifdef CM_WITH_CUDA
constexpr const char* kNoCudaWhy = "no CUDA device or driver was found";
#else
constexpr const char* kNoCudaWhy = "this cm_torch library was built against a CPU-only libtorch";
#endif

// Fails unless CUDA can be used, naming the caller and why not.
void require_cuda(const char* what) {
  if (!at::globalContext().hasCUDA())
    throw std::runtime_error(std::string(what) + ": CUDA is not available (" + kNoCudaWhy + ")");
  at::globalContext().lazyInitDevice(c10::kCUDA);
}

// The CUDA device of a device code that must name one that exists.
c10::Device cuda_device(int code, const char* what) {
  c10::Device d = cm::device(code);
  if (!d.is_cuda()) throw ArgError(std::string(what) + " needs a CUDA device index >= 0, got the CPU (-1)");
  require_cuda(what);
  int n = static_cast<int>(c10::impl::getDeviceGuardImpl(c10::kCUDA)->deviceCount());
  if (code >= n)
    throw ArgError(std::string(what) + ": CUDA device " + std::to_string(code) + " does not exist (" +
                   std::to_string(n) + " device" + (n == 1 ? "" : "s") + ")");
  return d;
}

// Whether a registered PrivateUse1 backend (the tests' device) serves streams for device d.
bool privateuse1_streams(const c10::Device& d) {
  return d.type() == c10::kPrivateUse1 && at::isPrivateUse1HooksRegistered() &&
         c10::impl::hasDeviceGuardImpl(c10::kPrivateUse1);
}

// The device of a stream operation: a CUDA device, or a device of a registered PrivateUse1 backend.
c10::Device stream_device(int code, const char* what) {
  c10::Device d = cm::device(code);
  if (privateuse1_streams(d)) {
    int n = static_cast<int>(c10::impl::getDeviceGuardImpl(c10::kPrivateUse1)->deviceCount());
    if (d.index() >= n)
      throw ArgError(std::string(what) + ": device " + d.str() + " does not exist (" + std::to_string(n) + ")");
    return d;
  }
  return cuda_device(code, what);
}

// The stream ids this library handed out, per device code. A (device, id) pair from outside this set is refused,
// so no made-up id is ever turned into a backend stream (CUDA would index its pools with it).
std::mutex streams_mu;
std::set<std::pair<int, int64_t>>& known_streams() {
  static auto* s = new std::set<std::pair<int, int64_t>>();  // never destroyed: used until process exit
  return *s;
}

int64_t hand_out(int code, const c10::Stream& s) {
  std::lock_guard<std::mutex> lock(streams_mu);
  known_streams().insert({code, s.id()});
  return s.id();
}

// The CPU's only stream (id 0) as c10 names it.
c10::Stream cpu_stream() { return c10::Stream(c10::Stream::DEFAULT, c10::Device(c10::kCPU)); }

// The stream (code, id); throws unless the pair was handed out by this library (or is the CPU's stream 0).
c10::Stream stream_of(int code, int64_t id, const char* what) {
  if (code == CM_DEVICE_CPU) {
    if (id != 0) throw ArgError(std::string(what) + ": the CPU has one stream, id 0; got id " + std::to_string(id));
    return cpu_stream();
  }
  c10::Device d = stream_device(code, what);
  {
    std::lock_guard<std::mutex> lock(streams_mu);
    if (!known_streams().count({code, id}))
      throw ArgError(std::string(what) + ": stream id " + std::to_string(id) + " on cuda:" + std::to_string(code) +
                     " was not obtained from cm_stream_current, cm_stream_default or cm_stream_from_pool");
  }
  return c10::Stream(c10::Stream::UNSAFE, d, id);
}

// The backend of a stream's or stream device's type (CUDA, or the PrivateUse1 test backend).
const c10::impl::DeviceGuardImplInterface* impl_of(c10::DeviceType t) { return c10::impl::getDeviceGuardImpl(t); }

c10::MemoryFormat format_of(int code) {
  switch (code) {
    case CM_MEMORY_FORMAT_CONTIGUOUS: return c10::MemoryFormat::Contiguous;
    case CM_MEMORY_FORMAT_CHANNELS_LAST: return c10::MemoryFormat::ChannelsLast;
    case CM_MEMORY_FORMAT_CHANNELS_LAST_3D: return c10::MemoryFormat::ChannelsLast3d;
    default:
      throw ArgError("unknown memory format code " + std::to_string(code) +
                     " (CM_MEMORY_FORMAT_CONTIGUOUS, CM_MEMORY_FORMAT_CHANNELS_LAST or CM_MEMORY_FORMAT_CHANNELS_LAST_3D)");
  }
}

// Pinned host memory exists where an accelerator backend provides it: CUDA, or a registered PrivateUse1 backend (the
// tests' device), whose hooks supply the pinned allocator that Tensor::pin_memory() uses.
bool pinned_available() {
  if (at::globalContext().hasCUDA()) return true;
  auto acc = at::getAccelerator(false);
  return acc.has_value() && *acc == c10::kPrivateUse1 && at::isPrivateUse1HooksRegistered();
}

c10::DeviceAllocator* cuda_allocator(const char* what) {
  require_cuda(what);
  return c10::getDeviceAllocator(c10::kCUDA);
}

int64_t aggregate_current(const c10::CachingDeviceAllocator::StatArray& a) {
  return a[static_cast<size_t>(c10::CachingDeviceAllocator::StatType::AGGREGATE)].current;
}
int64_t aggregate_peak(const c10::CachingDeviceAllocator::StatArray& a) {
  return a[static_cast<size_t>(c10::CachingDeviceAllocator::StatType::AGGREGATE)].peak;
}

}  // namespace

using cm::T;

// ------------------------------------------------------------------------------------------------ streams

int cm_stream_current(int device, int64_t* out) {
  CM_TRY
  if (!out) throw ArgError("output pointer is NULL");
  if (device == CM_DEVICE_CPU) { *out = 0; return CM_OK; }
  c10::Device d = stream_device(device, "cm_stream_current");
  *out = hand_out(device, impl_of(d.type())->getStream(d));
  CM_CATCH
}

int cm_stream_default(int device, int64_t* out) {
  CM_TRY
  if (!out) throw ArgError("output pointer is NULL");
  if (device == CM_DEVICE_CPU) { *out = 0; return CM_OK; }
  c10::Device d = stream_device(device, "cm_stream_default");
  *out = hand_out(device, impl_of(d.type())->getDefaultStream(d));
  CM_CATCH
}

int cm_stream_from_pool(int device, int64_t* out) {
  CM_TRY
  if (!out) throw ArgError("output pointer is NULL");
  if (device == CM_DEVICE_CPU) { *out = 0; return CM_OK; }
  c10::Device d = stream_device(device, "cm_stream_from_pool");
  *out = hand_out(device, impl_of(d.type())->getStreamFromGlobalPool(d, /*isHighPriority=*/false));
  CM_CATCH
}

int cm_stream_exchange(int device, int64_t id, int64_t* prev) {
  CM_TRY
  if (!prev) throw ArgError("output pointer is NULL");
  c10::Stream s = stream_of(device, id, "cm_stream_exchange");
  if (device == CM_DEVICE_CPU) { *prev = 0; return CM_OK; }
  *prev = hand_out(device, impl_of(s.device_type())->exchangeStream(s));
  CM_CATCH
}

int cm_stream_wait_stream(int device, int64_t id, int other_device, int64_t other_id) {
  CM_TRY
  c10::Stream waiter = stream_of(device, id, "cm_stream_wait_stream");
  c10::Stream waited = stream_of(other_device, other_id, "cm_stream_wait_stream");
  if (waiter.device_type() != waited.device_type())
    throw ArgError("cm_stream_wait_stream: a " + c10::DeviceTypeName(waiter.device_type(), true) +
                   " stream cannot wait for a " + c10::DeviceTypeName(waited.device_type(), true) +
                   " stream (both must be of one device type)");
  if (waiter.device_type() == c10::kCPU) return CM_OK;  // CPU work is already ordered
  c10::Event ev(waiter.device_type());
  ev.record(waited);
  ev.block(waiter);
  CM_CATCH
}

int cm_stream_synchronize(int device, int64_t id) {
  CM_TRY
  c10::Stream s = stream_of(device, id, "cm_stream_synchronize");
  if (device != CM_DEVICE_CPU) impl_of(s.device_type())->synchronizeStream(s);
  CM_CATCH
}

int cm_stream_query(int device, int64_t id, int* out) {
  CM_TRY
  if (!out) throw ArgError("output pointer is NULL");
  c10::Stream s = stream_of(device, id, "cm_stream_query");
  *out = device == CM_DEVICE_CPU ? 1 : (impl_of(s.device_type())->queryStream(s) ? 1 : 0);
  CM_CATCH
}

int cm_tensor_record_stream(cm_tensor t, int device, int64_t id) {
  CM_TRY
  const at::Tensor& x = T(t);
  c10::Stream s = stream_of(device, id, "cm_tensor_record_stream");
  if (x.device().type() != s.device_type() || (!x.is_cpu() && x.device().index() != s.device_index()))
    throw ArgError("cm_tensor_record_stream: the tensor is on " + x.device().str() + " but the stream is on " +
                   s.device().str());
  if (!x.is_cpu()) x.record_stream(s);
  CM_CATCH
}

// ------------------------------------------------------------------------------------------------ pinned memory

int cm_pinned_memory_available(int* out) { CM_TRY put_val<int>(out, pinned_available() ? 1 : 0); CM_CATCH }

int cm_tensor_pin_memory(cm_tensor t, cm_tensor* out) {
  CM_TRY
  const at::Tensor& x = T(t);
  if (!x.device().is_cpu())
    throw ArgError("cm_tensor_pin_memory: only CPU tensors can be pinned, this one is on " + x.device().str());
  if (!pinned_available())
    throw std::runtime_error(std::string("cm_tensor_pin_memory: pinned host memory needs an accelerator (CUDA); "
                                         "CUDA is not available (") + kNoCudaWhy + ")");
  cm::put(out, x.pin_memory());
  CM_CATCH
}

int cm_tensor_is_pinned(cm_tensor t, int* out) {
  CM_TRY
  const at::Tensor& x = T(t);
  put_val<int>(out, (x.device().is_cpu() && pinned_available() && x.is_pinned()) ? 1 : 0);
  CM_CATCH
}

// ------------------------------------------------------------------------------------------------ memory format

int cm_contiguous(cm_tensor t, int memory_format, cm_tensor* out) {
  CM_TRY
  const at::Tensor& x = T(t);
  c10::MemoryFormat f = format_of(memory_format);
  if (f == c10::MemoryFormat::ChannelsLast && x.dim() != 4)
    throw ArgError("cm_contiguous: CHANNELS_LAST needs a 4-D (N, C, H, W) tensor, got " +
                   std::to_string(x.dim()) + "-D");
  if (f == c10::MemoryFormat::ChannelsLast3d && x.dim() != 5)
    throw ArgError("cm_contiguous: CHANNELS_LAST_3D needs a 5-D (N, C, D, H, W) tensor, got " +
                   std::to_string(x.dim()) + "-D");
  cm::put(out, x.contiguous(f));
  CM_CATCH
}

int cm_tensor_is_contiguous_in(cm_tensor t, int memory_format, int* out) {
  CM_TRY
  const at::Tensor& x = T(t);
  c10::MemoryFormat f = format_of(memory_format);
  put_val<int>(out, x.is_contiguous(f) ? 1 : 0);
  CM_CATCH
}

// ------------------------------------------------------------------------------------------------ CUDA facts

int cm_cuda_get_device_properties(int device, cm_cuda_device_properties* out) {
  CM_TRY
  if (!out) throw ArgError("output pointer is NULL");
  c10::Device d = cuda_device(device, "cm_cuda_get_device_properties");
#ifdef CM_WITH_CUDA
  const cudaDeviceProp* p = at::cuda::getDeviceProperties(d.index());
  if (!p) throw std::runtime_error("cm_cuda_get_device_properties: no properties for " + d.str());
  cm_cuda_device_properties r{};
  std::strncpy(r.name, p->name, sizeof r.name - 1);
  r.total_memory = static_cast<int64_t>(p->totalGlobalMem);
  r.major = p->major;
  r.minor = p->minor;
  r.multiprocessor_count = p->multiProcessorCount;
  *out = r;
#else
  (void)d;  // cuda_device already failed: a CPU-only libtorch never reports a CUDA device
  throw std::runtime_error(std::string("cm_cuda_get_device_properties: CUDA is not available (") + kNoCudaWhy + ")");
#endif
  CM_CATCH
}

int cm_cuda_memory_stats_get(int device, cm_cuda_memory_stats* out) {
  CM_TRY
  if (!out) throw ArgError("output pointer is NULL");
  c10::Device d = cuda_device(device, "cm_cuda_memory_stats_get");
  auto st = cuda_allocator("cm_cuda_memory_stats_get")->getDeviceStats(d.index());
  cm_cuda_memory_stats r{};
  r.allocated_bytes = aggregate_current(st.allocated_bytes);
  r.reserved_bytes = aggregate_current(st.reserved_bytes);
  r.peak_allocated_bytes = aggregate_peak(st.allocated_bytes);
  r.peak_reserved_bytes = aggregate_peak(st.reserved_bytes);
  r.num_alloc_retries = st.num_alloc_retries;
  r.num_ooms = st.num_ooms;
  *out = r;
  CM_CATCH
}

int cm_cuda_reset_peak_memory_stats(int device) {
  CM_TRY
  c10::Device d = cuda_device(device, "cm_cuda_reset_peak_memory_stats");
  cuda_allocator("cm_cuda_reset_peak_memory_stats")->resetPeakStats(d.index());
  CM_CATCH
}

int cm_cuda_empty_cache(void) {
  CM_TRY
  cuda_allocator("cm_cuda_empty_cache")->emptyCache();
  CM_CATCH
}

int cm_cuda_mem_get_info(int device, int64_t* free_bytes, int64_t* total_bytes) {
  CM_TRY
  if (!free_bytes || !total_bytes) throw ArgError("output pointer is NULL");
  c10::Device d = cuda_device(device, "cm_cuda_mem_get_info");
  auto info = cuda_allocator("cm_cuda_mem_get_info")->getMemoryInfo(d.index());
  *free_bytes = static_cast<int64_t>(info.first);
  *total_bytes = static_cast<int64_t>(info.second);
  CM_CATCH
}

// ------------------------------------------------------------------------------------------------ backend switches

namespace {
// NNPACK on hardware it cannot run on. libtorch asks at::_nnpack_available() each time it chooses a convolution
// algorithm with NNPACK enabled (ConvParams::use_nnpack, reached from every CPU convolution backward), and where
// nnp_initialize() failed that call logs "Could not initialize NNPACK! Reason: Unsupported hardware." again on
// every call: 39 lines per training step of the small SongUNet, about 0.15 ms each when stderr is a pipe.
// Disabling NNPACK there (torch.backends.nnpack.set_flags(False) in Python) changes no result, since NNPACK would
// not have run. Done once, when the library is loaded, with c10's log level raised to errors for the check itself,
// so that loading the library prints nothing (c10's MessageLogger drops messages below FLAGS_caffe2_log_level).
const bool nnpack_checked = [] {
  const int level = FLAGS_caffe2_log_level;
  try {
    FLAGS_caffe2_log_level = std::max(level, 2);  // 2: ERROR in c10 (and glog) severities
    if (!at::_nnpack_available()) at::globalContext().setUserEnabledNNPACK(false);
  } catch (...) {
    // The check is an optimisation only; a libtorch that cannot answer keeps its default.
  }
  FLAGS_caffe2_log_level = level;
  return true;
}();
}  // namespace

namespace {
bool backend_get(int flag) {
  auto& c = at::globalContext();
  switch (flag) {
    case CM_BACKEND_TF32_MATMUL: return c.allowTF32CuBLAS();
    case CM_BACKEND_TF32_CUDNN: return c.allowTF32CuDNN();
    case CM_BACKEND_CUDNN_BENCHMARK: return c.benchmarkCuDNN();
    case CM_BACKEND_CUDNN_DETERMINISTIC: return c.deterministicCuDNN();
    default:
      throw ArgError("unknown backend switch code " + std::to_string(flag) +
                     " (CM_BACKEND_TF32_MATMUL, CM_BACKEND_TF32_CUDNN, CM_BACKEND_CUDNN_BENCHMARK or "
                     "CM_BACKEND_CUDNN_DETERMINISTIC)");
  }
}
}  // namespace

int cm_backend_get(int flag, int* out) {
  CM_TRY
  if (!out) throw ArgError("output pointer is NULL");
  *out = backend_get(flag) ? 1 : 0;
  CM_CATCH
}

int cm_backend_set(int flag, int value, int* prev) {
  CM_TRY
  if (value != 0 && value != 1)
    throw ArgError("cm_backend_set: value must be 0 or 1, got " + std::to_string(value));
  bool old = backend_get(flag);  // also rejects an unknown code before anything changes
  auto& c = at::globalContext();
  switch (flag) {
    case CM_BACKEND_TF32_MATMUL: c.setAllowTF32CuBLAS(value != 0); break;
    case CM_BACKEND_TF32_CUDNN: c.setAllowTF32CuDNN(value != 0); break;
    case CM_BACKEND_CUDNN_BENCHMARK: c.setBenchmarkCuDNN(value != 0); break;
    case CM_BACKEND_CUDNN_DETERMINISTIC: c.setDeterministicCuDNN(value != 0); break;
  }
  if (prev) *prev = old ? 1 : 0;
  CM_CATCH
}
