// Distributed (c10d): TCPStore, Gloo / NCCL process groups and blocking collectives.
//
// The process group handle wraps a c10d::Backend directly (ProcessGroupGloo or ProcessGroupNCCL); every
// collective is issued and then waited for, so an error (a closed connection, a timeout) surfaces as the
// call's status. Gloo needs gloo's headers (Debian: libgloo-dev; the torch wheel does not ship them) and is
// compiled when CM_WITH_GLOO is defined; NCCL exists only in builds against a CUDA libtorch (CM_WITH_NCCL).
#include "common.h"
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#ifdef CM_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CM_WITH_NCCL
#include <torch/cuda.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>

using ms = std::chrono::milliseconds;

struct cm_store_s {
  c10::intrusive_ptr<c10d::Store> store;
  std::string host;
  int port;
  ms timeout;
  int64_t groups = 0;  // process groups created from this handle (each gets its own key prefix)
};

struct cm_process_group_s {
  c10::intrusive_ptr<c10d::Backend> backend;
  std::string name;  // "gloo" or "nccl"
  int rank;
  int size;
  ms timeout;
  at::Device device;  // where scalar helpers (cm_dist_allreduce_double) put their tensor
};

namespace {

ms timeout_of(int64_t timeout_ms) {
  if (timeout_ms <= 0) throw cm::ArgError("timeout must be > 0 ms, got " + std::to_string(timeout_ms));
  return ms(timeout_ms);
}

cm_store_s& S(cm_store s) {
  if (!s) throw cm::ArgError("store handle is NULL");
  return *s;
}

cm_process_group_s& PG(cm_process_group pg) {
  if (!pg) throw cm::ArgError("process group handle is NULL");
  return *pg;
}

std::string key_of(const char* key) {
  if (!key) throw cm::ArgError("key is NULL");
  return std::string(key);
}

std::vector<std::string> keys_of(const char* const* keys, size_t n) {
  if (n > 0 && !keys) throw cm::ArgError("key array is NULL with non-zero length");
  std::vector<std::string> r;
  r.reserve(n);
  for (size_t i = 0; i < n; i++) {
    if (!keys[i]) throw cm::ArgError("key " + std::to_string(i) + " is NULL");
    r.emplace_back(keys[i]);
  }
  return r;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::string describe(const cm_process_group_s& pg) {
  return "rank " + std::to_string(pg.rank) + " of " + std::to_string(pg.size) + ", " + pg.name + ", timeout " +
         std::to_string(pg.timeout.count()) + " ms";
}

// Waits for a collective; the backend's own timeout normally fires first (its message is more specific), the
// slack only guards against a backend that never completes the work.
void wait(const cm_process_group_s& pg, const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    if (!work) throw std::runtime_error("the backend returned no work object");
    work->wait(pg.timeout + ms(5000));
  } catch (const c10::Error& e) {
    throw std::runtime_error(std::string(what) + " failed (" + describe(pg) + "): " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(what) + " failed (" + describe(pg) + "): " + e.what());
  }
}

c10d::ReduceOp reduce_op(int op) {
  switch (op) {
    case CM_DIST_SUM: case CM_DIST_AVG: return c10d::ReduceOp(c10d::ReduceOp::SUM);  // AVG = SUM / size
    case CM_DIST_PRODUCT: return c10d::ReduceOp(c10d::ReduceOp::PRODUCT);
    case CM_DIST_MIN: return c10d::ReduceOp(c10d::ReduceOp::MIN);
    case CM_DIST_MAX: return c10d::ReduceOp(c10d::ReduceOp::MAX);
    default: throw cm::ArgError("unknown reduce op code " + std::to_string(op));
  }
}

void check_tensor(const at::Tensor& t, size_t i, const char* what) {
  if (!t.defined()) throw cm::ArgError(std::string(what) + " tensor " + std::to_string(i) + " is undefined");
  if (t.layout() != at::kStrided)
    throw cm::ArgError(std::string(what) + " tensor " + std::to_string(i) + " is not dense (strided)");
}

// Runs one in-place collective on t through a contiguous buffer (t itself when it is contiguous).
template <class F>
void in_place(const at::Tensor& t, F&& f) {
  at::NoGradGuard no_grad;
  if (t.is_contiguous()) {
    std::vector<at::Tensor> v{t};
    f(v);
  } else {
    std::vector<at::Tensor> v{t.contiguous()};
    f(v);
    t.copy_(v[0]);
  }
}

void allreduce(cm_process_group_s& pg, const at::Tensor& t, size_t i, int op) {
  check_tensor(t, i, "allreduce");
  if (op == CM_DIST_AVG && !at::isFloatingType(t.scalar_type()) && !at::isComplexType(t.scalar_type()))
    throw cm::ArgError("allreduce AVG needs a floating-point tensor, tensor " + std::to_string(i) + " is " +
                       std::string(c10::toString(t.scalar_type())));
  c10d::AllreduceOptions o;
  o.reduceOp = reduce_op(op);
  o.timeout = pg.timeout;
  in_place(t, [&](std::vector<at::Tensor>& v) {
    wait(pg, pg.backend->allreduce(v, o), "allreduce");
    if (op == CM_DIST_AVG) v[0].div_(pg.size);
  });
}

}  // namespace

extern "C" {

int cm_dist_backend_available(const char* backend, int* out) {
  CM_TRY
  if (!backend) throw cm::ArgError("backend name is NULL");
  std::string b(backend);
  int v = 0;
#ifdef CM_WITH_GLOO
  if (b == "gloo") v = 1;
#endif
#ifdef CM_WITH_NCCL
  if (b == "nccl") v = 1;
#endif
  cm::put_val<int>(out, v);
  CM_CATCH
}

// ---------------------------------------------------------------------------------------------- store

int cm_dist_store_tcp(const char* host, int port, int world_size, int is_master, int64_t timeout_ms, cm_store* out) {
  CM_TRY
  if (!out) throw cm::ArgError("output pointer is NULL");
  if (!host || !*host) throw cm::ArgError("store host is NULL or empty");
  if (port < 0 || port > 65535) throw cm::ArgError("store port must be in [0, 65535], got " + std::to_string(port));
  if (port == 0 && !is_master) throw cm::ArgError("a store client needs the master's port (got 0)");
  if (world_size < 1) throw cm::ArgError("world size must be >= 1, got " + std::to_string(world_size));
  ms timeout = timeout_of(timeout_ms);
  c10d::TCPStoreOptions o;
  o.port = static_cast<std::uint16_t>(port);
  o.isServer = is_master != 0;
  o.numWorkers = static_cast<std::size_t>(world_size);
  o.waitWorkers = true;
  o.timeout = timeout;
  c10::intrusive_ptr<c10d::TCPStore> st;
  try {
    st = c10::make_intrusive<c10d::TCPStore>(std::string(host), o);
  } catch (const c10::Error& e) {
    throw std::runtime_error(std::string("TCPStore ") + (is_master ? "master on " : "client of ") + host + ":" +
                             std::to_string(port) + " failed: " + e.what_without_backtrace());
  }
  int actual = static_cast<int>(st->getPort());
  *out = new cm_store_s{st, std::string(host), actual, timeout};
  CM_CATCH
}

int cm_dist_store_port(cm_store s, int* out) { CM_TRY cm::put_val<int>(out, S(s).port); CM_CATCH }

int cm_dist_store_free(cm_store s) {
  CM_TRY
  delete s;
  CM_CATCH
}

int cm_dist_store_set(cm_store s, const char* key, const void* data, size_t len) {
  CM_TRY
  auto& st = S(s);
  if (len > 0 && !data) throw cm::ArgError("value pointer is NULL with non-zero length");
  const auto* p = static_cast<const uint8_t*>(data);
  std::vector<uint8_t> v(p, p + len);
  st.store->set(key_of(key), v);
  CM_CATCH
}

int cm_dist_store_get(cm_store s, const char* key, void* buf, size_t cap, size_t* len) {
  CM_TRY
  auto& st = S(s);
  if (!len) throw cm::ArgError("length pointer is NULL");
  if (cap > 0 && !buf) throw cm::ArgError("buffer is NULL with non-zero capacity");
  std::vector<uint8_t> v = st.store->get(key_of(key));
  *len = v.size();
  if (!v.empty() && cap > 0) std::memcpy(buf, v.data(), std::min(cap, v.size()));
  CM_CATCH
}

int cm_dist_store_add(cm_store s, const char* key, int64_t delta, int64_t* out) {
  CM_TRY
  auto& st = S(s);
  if (!out) throw cm::ArgError("output pointer is NULL");
  *out = st.store->add(key_of(key), delta);
  CM_CATCH
}

int cm_dist_store_wait(cm_store s, const char* const* keys, size_t n, int64_t timeout_ms) {
  CM_TRY
  auto& st = S(s);
  st.store->wait(keys_of(keys, n), timeout_of(timeout_ms));
  CM_CATCH
}

int cm_dist_store_check(cm_store s, const char* const* keys, size_t n, int* out) {
  CM_TRY
  auto& st = S(s);
  if (!out) throw cm::ArgError("output pointer is NULL");
  *out = st.store->check(keys_of(keys, n)) ? 1 : 0;
  CM_CATCH
}

// ---------------------------------------------------------------------------------------------- groups

int cm_dist_pg_new(const char* backend, cm_store store, int rank, int size, int64_t timeout_ms,
                   cm_process_group* out) {
  CM_TRY
  if (!out) throw cm::ArgError("output pointer is NULL");
  if (!backend) throw cm::ArgError("backend name is NULL");
  auto& st = S(store);
  std::string name(backend);
  if (size < 1) throw cm::ArgError("world size must be >= 1, got " + std::to_string(size));
  if (rank < 0 || rank >= size)
    throw cm::ArgError("rank must be in [0, " + std::to_string(size) + "), got " + std::to_string(rank));
  ms timeout = timeout_of(timeout_ms);
  // Each group gets its own key space in the store (groups must be created in the same order on every rank).
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("cm4j_pg_" + std::to_string(st.groups) + "/", st.store);
  c10::intrusive_ptr<c10d::Backend> b;
  at::Device dev(at::kCPU);
  if (name == "gloo") {
#ifdef CM_WITH_GLOO
    using c10d::ProcessGroupGloo;
    auto opts = ProcessGroupGloo::Options::create(timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname && *ifname) {
      std::stringstream ss(ifname);
      std::string itf;
      while (std::getline(ss, itf, ','))
        if (!itf.empty()) opts->devices.push_back(ProcessGroupGloo::createDeviceForInterface(itf));
    } else if (is_loopback(st.host)) {
      opts->devices.push_back(ProcessGroupGloo::createDeviceForHostname(st.host));
    } else {
      opts->devices.push_back(ProcessGroupGloo::createDefaultDevice());
    }
    try {
      b = c10::make_intrusive<ProcessGroupGloo>(prefixed, rank, size, opts);
    } catch (const c10::Error& e) {
      throw std::runtime_error("creating the gloo process group (rank " + std::to_string(rank) + " of " +
                               std::to_string(size) + ") failed: " + e.what_without_backtrace());
    }
#else
    throw std::runtime_error("the gloo backend is not available: this cm_torch library was built without gloo "
                             "(CM_WITH_GLOO=OFF; install libgloo-dev and rebuild)");
#endif
  } else if (name == "nccl") {
#ifdef CM_WITH_NCCL
    if (!torch::cuda::is_available()) throw std::runtime_error("the nccl backend needs CUDA, which is not available");
    // Without blocking wait, NCCL's watchdog aborts the process when a collective times out.
    setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    int ndev = static_cast<int>(torch::cuda::device_count());
    int local = rank;
    if (const char* lr = std::getenv("LOCAL_RANK")) local = std::atoi(lr);
    dev = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(ndev > 0 ? local % ndev : 0));
    try {
      b = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, size, opts);
    } catch (const c10::Error& e) {
      throw std::runtime_error("creating the nccl process group (rank " + std::to_string(rank) + " of " +
                               std::to_string(size) + ") failed: " + e.what_without_backtrace());
    }
#else
    throw std::runtime_error("the nccl backend is not available: this cm_torch library was built against a "
                             "libtorch without CUDA/NCCL (use \"gloo\", or a CUDA build of cm4j)");
#endif
  } else {
    throw cm::ArgError("unknown process group backend \"" + name + "\" (expected \"gloo\" or \"nccl\")");
  }
  st.groups++;
  *out = new cm_process_group_s{b, name, rank, size, timeout, dev};
  CM_CATCH
}

int cm_dist_pg_free(cm_process_group pg) {
  CM_TRY
  if (!pg) return CM_OK;
  std::unique_ptr<cm_process_group_s> owned(pg);
#ifdef CM_WITH_NCCL
  if (owned->name == "nccl") owned->backend->shutdown();
#endif
  owned.reset();
  CM_CATCH
}

int cm_dist_pg_rank(cm_process_group pg, int* out) { CM_TRY cm::put_val<int>(out, PG(pg).rank); CM_CATCH }
int cm_dist_pg_size(cm_process_group pg, int* out) { CM_TRY cm::put_val<int>(out, PG(pg).size); CM_CATCH }

// ---------------------------------------------------------------------------------------------- collectives

int cm_dist_allreduce(cm_process_group pg, const cm_tensor* ts, size_t n, int op) {
  CM_TRY
  auto& g = PG(pg);
  reduce_op(op);  // validate before anything is sent
  auto v = cm::tensors(ts, n, "allreduce tensors");
  for (size_t i = 0; i < v.size(); i++) allreduce(g, v[i], i, op);
  CM_CATCH
}

int cm_dist_broadcast(cm_process_group pg, const cm_tensor* ts, size_t n, int root) {
  CM_TRY
  auto& g = PG(pg);
  if (root < 0 || root >= g.size)
    throw cm::ArgError("broadcast root must be in [0, " + std::to_string(g.size) + "), got " + std::to_string(root));
  auto v = cm::tensors(ts, n, "broadcast tensors");
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.rootTensor = 0;
  o.timeout = g.timeout;
  for (size_t i = 0; i < v.size(); i++) {
    check_tensor(v[i], i, "broadcast");
    in_place(v[i], [&](std::vector<at::Tensor>& b) { wait(g, g.backend->broadcast(b, o), "broadcast"); });
  }
  CM_CATCH
}

int cm_dist_barrier(cm_process_group pg) {
  CM_TRY
  auto& g = PG(pg);
  c10d::BarrierOptions o;
  o.timeout = g.timeout;
  wait(g, g.backend->barrier(o), "barrier");
  CM_CATCH
}

int cm_dist_allgather(cm_process_group pg, cm_tensor input, cm_tensor* outs, size_t cap) {
  CM_TRY
  auto& g = PG(pg);
  at::Tensor in = cm::T(input, "allgather input");
  check_tensor(in, 0, "allgather");
  if (!outs) throw cm::ArgError("output array is NULL");
  if (cap < static_cast<size_t>(g.size))
    throw cm::ArgError("allgather needs room for " + std::to_string(g.size) + " outputs, got " + std::to_string(cap));
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> inputs{in.contiguous()};
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < g.size; r++) outputs[0].push_back(at::empty_like(inputs[0], at::MemoryFormat::Contiguous));
  c10d::AllgatherOptions o;
  o.timeout = g.timeout;
  wait(g, g.backend->allgather(outputs, inputs, o), "allgather");
  for (int r = 0; r < g.size; r++) outs[r] = new cm_tensor_s{outputs[0][r]};
  CM_CATCH
}

int cm_dist_allreduce_double(cm_process_group pg, double value, int op, double* out) {
  CM_TRY
  auto& g = PG(pg);
  if (!out) throw cm::ArgError("output pointer is NULL");
  at::Tensor t = at::full({1}, value, at::TensorOptions().dtype(at::kDouble).device(g.device));
  allreduce(g, t, 0, op);
  *out = t.item<double>();
  CM_CATCH
}

}  // extern "C"
