// libcm_testdevice: a test-only device that is not the CPU, registered as libtorch's PrivateUse1 backend.
//
// Loading this library (dlopen; its static initialisers do the work) gives the process an accelerator with
// kDevices devices. Its memory is ordinary host memory, and every operation without a kernel of its own runs
// through at::native::cpu_fallback, so results equal the CPU's; but a tensor on it reports the device
// privateuseone:N, and, as on CUDA, any operation that mixes its tensors with CPU tensors (other than 0-dim
// scalars) fails with an error naming the operation. The point is to run cm4j's model, data and optimizer on a
// device in tests on a CPU-only machine, so that a tensor left on the CPU by mistake fails there.
//
// It also counts host round trips (device-to-host copies, item() reads, operations whose result a host would
// have to wait for) made outside its own kernels, exported below as cm_testdevice_* C functions.
//
// Never packaged with cm4j: the build writes it beside the tests only.

#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <ATen/native/CPUFallback.h>
#include <ATen/ops/_local_scalar_dense_native.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/resize_native.h>
#include <ATen/ops/set_native.h>
#include <ATen/ops/unfold_native.h>
#include <ATen/ops/view_native.h>
#include <c10/core/Allocator.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/library.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_set>

#define CMT_EXPORT extern "C" __attribute__((visibility("default")))

namespace cmtest {
namespace {

constexpr c10::DeviceIndex kDevices = 2;
constexpr c10::DeviceType kType = c10::DeviceType::PrivateUse1;

// ------------------------------------------------------------------------------------------- counters

std::atomic<int64_t> g_d2h{0};     // device-to-host copies requested by the caller
std::atomic<int64_t> g_h2d{0};     // host-to-device copies requested by the caller
std::atomic<int64_t> g_h2d_async{0}; // of those: non-blocking copies from pinned host memory
std::atomic<int64_t> g_h2d_stream{-1}; // the stream id the last host-to-device copy was issued on
std::atomic<int64_t> g_blocks{0};    // stream waits on an event (Stream.waitStream, wait_stream)
std::atomic<int64_t> g_scalars{0}; // _local_scalar_dense (item()) reads
std::atomic<int64_t> g_waits{0};   // operations whose result needs the host to wait (nonzero, equal, ...)
std::mutex g_last_mu;
std::string g_last_sync;           // what the most recent counted round trip was

// Depth of our own kernels on this thread: copies and reads they make internally (the CPU fallback moving
// arguments to the CPU and back) are how this device computes, not round trips the caller asked for.
thread_local int t_internal = 0;
struct Internal {
  Internal() { ++t_internal; }
  ~Internal() { --t_internal; }
  Internal(const Internal&) = delete;
  Internal& operator=(const Internal&) = delete;
};

void count(std::atomic<int64_t>& c, const std::string& what) {
  if (t_internal > 0) return;
  c.fetch_add(1);
  std::lock_guard<std::mutex> lock(g_last_mu);
  g_last_sync = what;
}

// ------------------------------------------------------------------------------------------- device guard

thread_local c10::DeviceIndex t_device = 0;
thread_local std::array<c10::StreamId, kDevices> t_stream{};
std::atomic<c10::StreamId> g_next_stream{1};

void check_index(c10::DeviceIndex i) {
  TORCH_CHECK(i >= 0 && i < kDevices, "cmtest: no device privateuseone:", static_cast<int>(i), " (it has ",
              static_cast<int>(kDevices), ")");
}

// The work of this device is synchronous, so streams are only names and every event is complete at once.
struct GuardImpl final : c10::impl::DeviceGuardImplInterface {
  c10::DeviceType type() const override { return kType; }
  c10::Device exchangeDevice(c10::Device d) const override {
    TORCH_INTERNAL_ASSERT(d.type() == kType);
    c10::Device old(kType, t_device);
    if (d.index() >= 0) {
      check_index(d.index());
      t_device = d.index();
    }
    return old;
  }
  c10::Device getDevice() const override { return c10::Device(kType, t_device); }
  void setDevice(c10::Device d) const override {
    TORCH_INTERNAL_ASSERT(d.type() == kType);
    if (d.index() >= 0) {
      check_index(d.index());
      t_device = d.index();
    }
  }
  void uncheckedSetDevice(c10::Device d) const noexcept override {
    if (d.index() >= 0 && d.index() < kDevices) t_device = d.index();
  }
  static c10::DeviceIndex idx(c10::Device d) { return d.index() < 0 ? t_device : d.index(); }
  c10::Stream getStream(c10::Device d) const override {
    auto i = idx(d);
    check_index(i);
    return c10::Stream(c10::Stream::UNSAFE, c10::Device(kType, i), t_stream[i]);
  }
  c10::Stream getDefaultStream(c10::Device d) const override {
    return c10::Stream(c10::Stream::UNSAFE, c10::Device(kType, idx(d)), 0);
  }
  c10::Stream getStreamFromGlobalPool(c10::Device d, bool) const override { return getNewStream(d, 0); }
  c10::Stream getNewStream(c10::Device d, int) const override {
    return c10::Stream(c10::Stream::UNSAFE, c10::Device(kType, idx(d)), g_next_stream.fetch_add(1));
  }
  c10::Stream exchangeStream(c10::Stream s) const override {
    auto i = s.device_index();
    check_index(i);
    c10::Stream old(c10::Stream::UNSAFE, c10::Device(kType, i), t_stream[i]);
    t_stream[i] = s.id();
    return old;
  }
  void destroyEvent(void* event, const c10::DeviceIndex) const noexcept override {
    delete static_cast<int*>(event);
  }
  void record(void** event, const c10::Stream&, const c10::DeviceIndex, const c10::EventFlag) const override {
    if (*event == nullptr) *event = new int(0);
  }
  void block(void*, const c10::Stream&) const override { g_blocks++; }
  bool queryEvent(void*) const override { return true; }
  c10::DeviceIndex deviceCount() const noexcept override { return kDevices; }
  bool queryStream(const c10::Stream&) const override { return true; }
  void synchronizeStream(const c10::Stream&) const override {}
  void synchronizeEvent(void*) const override {}
  void synchronizeDevice(const c10::DeviceIndex) const override {}
  double elapsedTime(void*, void*, const c10::DeviceIndex) const override { return 0.0; }
};

C10_REGISTER_GUARD_IMPL(PrivateUse1, GuardImpl);

// ------------------------------------------------------------------------------------------- allocators

void free_device(void* p) { c10::free_cpu(p); }

// Device memory: host memory whose DataPtr names the current device.
struct DeviceAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) override {
    void* p = n == 0 ? nullptr : c10::alloc_cpu(n);
    return {p, p, &free_device, c10::Device(kType, t_device)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &free_device; }
  void copy_data(void* dest, const void* src, std::size_t n) const override { default_copy_data(dest, src, n); }
};
DeviceAllocator g_device_alloc;

// Pinned host memory: CPU memory that the hooks recognise as pinned (tensor.is_pinned(), pin_memory()).
std::mutex g_pinned_mu;
std::unordered_set<const void*> g_pinned;
void free_pinned(void* p) {
  {
    std::lock_guard<std::mutex> lock(g_pinned_mu);
    g_pinned.erase(p);
  }
  c10::free_cpu(p);
}
struct PinnedAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) override {
    void* p = n == 0 ? nullptr : c10::alloc_cpu(n);
    if (p) {
      std::lock_guard<std::mutex> lock(g_pinned_mu);
      g_pinned.insert(p);
    }
    return {p, p, &free_pinned, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &free_pinned; }
  void copy_data(void* dest, const void* src, std::size_t n) const override { default_copy_data(dest, src, n); }
};
PinnedAllocator g_pinned_alloc;

// ------------------------------------------------------------------------------------------- generator

constexpr uint64_t kDefaultSeed = 67280421310721ULL; // libtorch's default seed (c10::detail::default_rng_seed_val)

// A device generator with its own state. Random kernels of this device run on the CPU, so its state is a CPU
// generator's (Mersenne Twister) held inside; saving, restoring and seeding act on that state alone, never on
// the CPU's default generator.
struct DeviceGenerator final : c10::GeneratorImpl {
  mutable at::Generator inner;
  DeviceGenerator(c10::DeviceIndex i, at::Generator g)
      : c10::GeneratorImpl(c10::Device(kType, i), c10::DispatchKeySet(c10::DispatchKey::PrivateUse1)),
        inner(std::move(g)) {}
  explicit DeviceGenerator(c10::DeviceIndex i) : DeviceGenerator(i, at::detail::createCPUGenerator(kDefaultSeed)) {}
  void set_current_seed(uint64_t seed) override {
    std::lock_guard<std::mutex> lock(inner.mutex());
    inner.set_current_seed(seed);
  }
  uint64_t current_seed() const override { return inner.current_seed(); }
  uint64_t seed() override {
    std::lock_guard<std::mutex> lock(inner.mutex());
    return inner.seed();
  }
  void set_offset(uint64_t) override { TORCH_CHECK(false, "cmtest: the device generator has no offset"); }
  uint64_t get_offset() const override { TORCH_CHECK(false, "cmtest: the device generator has no offset"); }
  void set_state(const c10::TensorImpl& s) override {
    std::lock_guard<std::mutex> lock(inner.mutex());
    inner.unsafeGetGeneratorImpl()->set_state(s);
  }
  c10::intrusive_ptr<c10::TensorImpl> get_state() const override {
    std::lock_guard<std::mutex> lock(inner.mutex());
    return inner.unsafeGetGeneratorImpl()->get_state();
  }
  DeviceGenerator* clone_impl() const override {
    std::lock_guard<std::mutex> lock(inner.mutex());
    return new DeviceGenerator(device().index(), inner.clone());
  }
};

const at::Generator& default_generator(c10::DeviceIndex i) {
  static std::array<at::Generator, kDevices> gens = [] {
    std::array<at::Generator, kDevices> g;
    for (c10::DeviceIndex d = 0; d < kDevices; d++) g[d] = at::make_generator<DeviceGenerator>(d);
    return g;
  }();
  if (i < 0) i = t_device;
  check_index(i);
  return gens[i];
}

// ------------------------------------------------------------------------------------------- hooks

struct Hooks final : at::PrivateUse1HooksInterface {
  bool isBuilt() const override { return true; }
  bool isAvailable() const override { return true; }
  const at::Generator& getDefaultGenerator(c10::DeviceIndex i) const override { return default_generator(i); }
  at::Generator getNewGenerator(c10::DeviceIndex i) const override {
    if (i < 0) i = t_device;
    check_index(i);
    return at::make_generator<DeviceGenerator>(i);
  }
  at::Device getDeviceFromPtr(void*) const override { return c10::Device(kType, t_device); }
  bool isPinnedPtr(const void* p) const override {
    std::lock_guard<std::mutex> lock(g_pinned_mu);
    return g_pinned.count(p) > 0;
  }
  c10::Allocator* getPinnedMemoryAllocator() const override { return &g_pinned_alloc; }
  bool hasPrimaryContext(c10::DeviceIndex) const override { return true; }
  c10::DeviceIndex deviceCount() const override { return kDevices; }
  void setCurrentDevice(c10::DeviceIndex i) const override {
    check_index(i);
    t_device = i;
  }
  c10::DeviceIndex getCurrentDevice() const override { return t_device; }
  c10::DeviceIndex exchangeDevice(c10::DeviceIndex i) const override {
    auto old = t_device;
    setCurrentDevice(i);
    return old;
  }
  c10::DeviceIndex maybeExchangeDevice(c10::DeviceIndex i) const override { return exchangeDevice(i); }
  void init() const override {}
  void resizePrivateUse1Bytes(const c10::Storage& storage, size_t newsize) const override {
    auto* impl = storage.unsafeGetStorageImpl();
    c10::DataPtr fresh = g_device_alloc.allocate(newsize);
    size_t keep = std::min(newsize, impl->nbytes());
    if (keep > 0) std::memcpy(fresh.get(), impl->data(), keep);
    impl->set_data_ptr_noswap(std::move(fresh));
    impl->set_nbytes(newsize);
  }
};

// ------------------------------------------------------------------------------------------- kernels

at::Tensor as_cpu(const at::Tensor& t) {
  // This device's memory is host memory: a CPU tensor over the same bytes.
  return at::from_blob(t.data_ptr(), t.sizes(), t.strides(), t.options().device(c10::kCPU));
}

at::Tensor empty_memory_format(c10::IntArrayRef size, std::optional<c10::ScalarType> dtype,
                               std::optional<c10::Layout> layout, std::optional<c10::Device> device,
                               std::optional<bool> pin_memory, std::optional<c10::MemoryFormat> memory_format) {
  auto d = c10::device_or_default(device);
  TORCH_CHECK(d.type() == kType, "cmtest: empty on ", d);
  TORCH_CHECK(c10::layout_or_default(layout) == c10::Layout::Strided, "cmtest: only strided tensors");
  TORCH_CHECK(!c10::pinned_memory_or_default(pin_memory), "cmtest: only CPU memory can be pinned");
  c10::DeviceGuard guard(d);
  return at::detail::empty_generic(size, &g_device_alloc, c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
                                   c10::dtype_or_default(dtype), memory_format);
}

at::Tensor empty_strided(c10::IntArrayRef size, c10::IntArrayRef stride, std::optional<c10::ScalarType> dtype,
                         std::optional<c10::Layout> layout, std::optional<c10::Device> device,
                         std::optional<bool> pin_memory) {
  auto d = c10::device_or_default(device);
  TORCH_CHECK(d.type() == kType, "cmtest: empty_strided on ", d);
  TORCH_CHECK(c10::layout_or_default(layout) == c10::Layout::Strided, "cmtest: only strided tensors");
  TORCH_CHECK(!c10::pinned_memory_or_default(pin_memory), "cmtest: only CPU memory can be pinned");
  c10::DeviceGuard guard(d);
  return at::detail::empty_strided_generic(size, stride, &g_device_alloc,
                                           c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
                                           c10::dtype_or_default(dtype));
}

at::Tensor copy_from(const at::Tensor& self, const at::Tensor& dst, bool non_blocking) {
  TORCH_CHECK(self.defined() && dst.defined(), "cmtest: copy of an undefined tensor");
  bool src_dev = self.device().type() == kType, dst_dev = dst.device().type() == kType;
  TORCH_CHECK((src_dev || self.is_cpu()) && (dst_dev || dst.is_cpu()), "cmtest: copy from ", self.device(), " to ",
              dst.device());
  if (src_dev && !dst_dev) count(g_d2h, "copy to the host (" + self.device().str() + " -> cpu)");
  if (!src_dev && dst_dev) {
    count(g_h2d, "copy to the device");
    bool pinned = false;
    if (self.has_storage() && self.storage().data() != nullptr) {
      std::lock_guard<std::mutex> lock(g_pinned_mu);
      pinned = g_pinned.count(self.storage().data()) > 0;
    }
    if (pinned && non_blocking) g_h2d_async++;
    g_h2d_stream = t_stream[dst.device().index() < 0 ? t_device : dst.device().index()];
  }
  Internal in;
  at::Tensor s = src_dev ? as_cpu(self) : self;
  at::Tensor d = dst_dev ? as_cpu(dst) : dst;
  d.copy_(s, non_blocking);
  return dst;
}

at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst) {
  at::native::resize_(dst, self.sizes(), std::nullopt);
  return copy_from(self, dst, false);
}

at::Scalar local_scalar_dense(const at::Tensor& self) {
  count(g_scalars, "item() of a " + self.device().str() + " tensor");
  return at::native::_local_scalar_dense_cpu(as_cpu(self));
}

at::Tensor view(const at::Tensor& self, c10::SymIntArrayRef size) {
  return at::native::view(self, C10_AS_INTARRAYREF_SLOW(size));
}
at::Tensor as_strided(const at::Tensor& self, c10::SymIntArrayRef size, c10::SymIntArrayRef stride,
                      std::optional<c10::SymInt> offset) {
  std::optional<int64_t> o;
  if (offset) o = offset->expect_int();
  return at::native::as_strided_tensorimpl(self, C10_AS_INTARRAYREF_SLOW(size), C10_AS_INTARRAYREF_SLOW(stride), o);
}
at::Tensor reshape_alias(const at::Tensor& self, c10::SymIntArrayRef size, c10::SymIntArrayRef stride) {
  return at::native::_reshape_alias(self, C10_AS_INTARRAYREF_SLOW(size), C10_AS_INTARRAYREF_SLOW(stride));
}
at::Tensor unfold(const at::Tensor& self, int64_t dim, int64_t size, int64_t step) {
  return at::native::unfold(self, dim, size, step);
}
const at::Tensor& resize(const at::Tensor& self, c10::SymIntArrayRef size, std::optional<c10::MemoryFormat> mf) {
  return at::native::resize_(self, C10_AS_INTARRAYREF_SLOW(size), mf);
}
at::Tensor& set_tensor(at::Tensor& self, const at::Tensor& source) { return at::native::set_tensor_(self, source); }
at::Tensor& set_storage(at::Tensor& self, at::Storage source) { return at::native::set_(self, source); }
at::Tensor& set_storage_offset(at::Tensor& self, at::Storage source, int64_t offset, c10::IntArrayRef size,
                               c10::IntArrayRef stride) {
  return at::native::set_storage_cpu_(self, source, offset, size, stride);
}
void record_stream(at::Tensor&, c10::Stream) {}

// Rejects CPU tensors other than 0-dim scalars among the arguments of an operation on this device, and tensors
// of two different devices of it, as CUDA does.
void check_devices(const std::string& op, const std::vector<const at::Tensor*>& ts) {
  std::optional<c10::Device> dev;
  for (const at::Tensor* t : ts) {
    if (!t->defined() || t->device().type() != kType) continue;
    if (dev && *dev != t->device())
      TORCH_CHECK(false, "cmtest: ", op, " got tensors on two devices, ", *dev, " and ", t->device());
    dev = t->device();
  }
  if (!dev) return;
  for (const at::Tensor* t : ts) {
    if (!t->defined() || t->device().type() == kType) continue;
    if (t->is_cpu() && t->dim() == 0) continue;
    TORCH_CHECK(false, "cmtest: ", op, " got a ", t->device().type() == c10::kCPU ? "CPU" : t->device().str(),
                " tensor argument of shape ", t->sizes(), " together with ", *dev,
                " tensors (expected all tensors on ", *dev, "; only 0-dim CPU scalars may mix)");
  }
}

at::Tensor convolution(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                       c10::SymIntArrayRef stride, c10::SymIntArrayRef padding, c10::SymIntArrayRef dilation,
                       bool transposed, c10::SymIntArrayRef output_padding, c10::SymInt groups) {
  at::Tensor b = bias.value_or(at::Tensor());
  check_devices("aten::convolution_overrideable", {&input, &weight, &b});
  Internal in;
  at::Tensor r = at::convolution_symint(input.cpu(), weight.cpu(), b.defined() ? std::optional<at::Tensor>(b.cpu())
                                        : std::nullopt, stride, padding, dilation, transposed, output_padding, groups);
  return r.to(input.device());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> convolution_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight, c10::SymIntArrayRef stride,
    c10::SymIntArrayRef padding, c10::SymIntArrayRef dilation, bool transposed, c10::SymIntArrayRef output_padding,
    c10::SymInt groups, std::array<bool, 3> mask) {
  check_devices("aten::convolution_backward_overrideable", {&grad_output, &input, &weight});
  Internal in;
  std::optional<c10::SymIntArrayRef> bias_sizes;
  std::vector<c10::SymInt> bs;
  if (mask[2]) {
    bs.push_back(transposed ? weight.sym_size(1) * groups : weight.sym_size(0));
    bias_sizes = c10::SymIntArrayRef(bs);
  }
  auto r = at::convolution_backward_symint(grad_output.cpu(), input.cpu(), weight.cpu(), bias_sizes, stride, padding,
                                           dilation, transposed, output_padding, groups, mask);
  auto back = [&](const at::Tensor& t) { return t.defined() ? t.to(input.device()) : t; };
  return {back(std::get<0>(r)), back(std::get<1>(r)), back(std::get<2>(r))};
}

// Dropout draws its mask from this device's generator (the CPU kernel would draw from the CPU's).
std::tuple<at::Tensor, at::Tensor> native_dropout(const at::Tensor& input, double p, std::optional<bool> train) {
  if (input.numel() == 0) return {input, at::empty_like(input, input.options())};
  if (train.has_value() && !*train) return {input.clone(), at::ones_like(input, input.options().dtype(at::kBool))};
  double keep = 1. - p;
  double scale = keep == 0 ? 0. : 1. / keep;
  at::Tensor mask = at::empty_like(input, at::MemoryFormat::Contiguous);
  mask.bernoulli_(keep);
  at::Tensor out = input.mul(mask).mul_(scale);
  return {out, mask.to(at::kBool)};
}

// Operations whose result's size or value the host must wait for (they synchronise on CUDA). Listed by name:
// a host-value result alone does not mean a wait (aten::_fused_sdp_choice only looks at shapes).
const std::unordered_set<std::string>& waiting_ops() {
  static const std::unordered_set<std::string> s = {
      "aten::nonzero", "aten::nonzero_numpy", "aten::argwhere", "aten::masked_select", "aten::unique_dim",
      "aten::_unique", "aten::_unique2", "aten::unique_consecutive", "aten::unique_dim_consecutive",
      "aten::repeat_interleave", "aten::bincount", "aten::histc", "aten::_assert_async", "aten::equal",
      "aten::is_nonzero", "aten::allclose"};
  return s;
}

bool is_generator_type(const c10::TypePtr& t0) {
  c10::TypePtr t = t0;
  if (auto o = t->cast<c10::OptionalType>()) t = o->getElementType();
  return t->kind() == c10::TypeKind::GeneratorType;
}

void fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const auto& schema = op.schema();
  const std::string name = c10::toString(schema.operator_name());
  const size_t nargs = schema.arguments().size();
  const size_t base = stack->size() - nargs;
  std::vector<const at::Tensor*> ts;
  bool bool_index = false;
  for (size_t i = 0; i < nargs; i++) {
    const c10::IValue& v = (*stack)[base + i];
    if (v.isTensor()) {
      ts.push_back(&v.toTensor());
    } else if (v.isList()) {
      for (const c10::IValue& e : v.toListRef()) {
        if (!e.isTensor()) continue;
        ts.push_back(&e.toTensor());
        auto st = e.toTensor().scalar_type();
        if (st == at::kBool || st == at::kByte) bool_index = true;
      }
    }
  }
  check_devices(name, ts);
  std::optional<c10::Device> dev;
  for (const at::Tensor* t : ts)
    if (t->defined() && t->device().type() == kType) dev = t->device();
  // Random operations draw from this device's generators: the default one when none is given.
  for (size_t i = 0; i < nargs; i++) {
    if (!is_generator_type(schema.arguments()[i].real_type())) continue;
    c10::IValue& v = (*stack)[base + i];
    at::Generator g = v.isNone() ? default_generator(dev ? dev->index() : t_device) : v.toGenerator();
    TORCH_CHECK(g.device().type() == kType, "cmtest: ", name, " got a generator on ", g.device(),
                " for a privateuseone operation (expected a privateuseone generator)");
    v = c10::IValue(static_cast<DeviceGenerator*>(g.unsafeGetGeneratorImpl())->inner);
  }
  bool waits = waiting_ops().count(schema.operator_name().name) > 0 ||
               // A boolean mask in index_put_ becomes indices by nonzero inside the CPU kernel here (reading a
               // mask with aten::index already calls aten::nonzero on the device, which counts by itself).
               (bool_index && (schema.operator_name().name == "aten::index_put_" ||
                               schema.operator_name().name == "aten::_index_put_impl_"));
  if (waits && dev) count(g_waits, name);
  Internal in;
  at::native::cpu_fallback(op, stack);
}

struct Register {
  Register() {
    // Keeps libtorch's own name, so a device prints as privateuseone:N (what cm4j's Device parses). Registering
    // a name is what makes libtorch treat the backend as the process's accelerator (autograd streams, seeding).
    c10::register_privateuse1_backend("privateuseone");
    at::RegisterPrivateUse1HooksInterface(new Hooks());
  }
};
Register g_register;

}  // namespace

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("empty.memory_format", TORCH_FN(empty_memory_format));
  m.impl("empty_strided", TORCH_FN(empty_strided));
  m.impl("_copy_from", TORCH_FN(copy_from));
  m.impl("_copy_from_and_resize", TORCH_FN(copy_from_and_resize));
  m.impl("_local_scalar_dense", TORCH_FN(local_scalar_dense));
  m.impl("view", TORCH_FN(view));
  m.impl("as_strided", TORCH_FN(as_strided));
  m.impl("_reshape_alias", TORCH_FN(reshape_alias));
  m.impl("unfold", TORCH_FN(unfold));
  m.impl("resize_", TORCH_FN(resize));
  m.impl("set_.source_Tensor", TORCH_FN(set_tensor));
  m.impl("set_.source_Storage", TORCH_FN(set_storage));
  m.impl("set_.source_Storage_storage_offset", TORCH_FN(set_storage_offset));
  m.impl("record_stream", TORCH_FN(record_stream));
  m.impl("convolution_overrideable", TORCH_FN(convolution));
  m.impl("convolution_backward_overrideable", TORCH_FN(convolution_backward));
  m.impl("native_dropout", TORCH_FN(native_dropout));
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) { m.fallback(torch::CppFunction::makeFromBoxedFunction<&fallback>()); }


}  // namespace cmtest

// ------------------------------------------------------------------------------------------- C exports

/** Host round trips counted so far: device-to-host copies + item() reads + waiting operations. */
CMT_EXPORT int64_t cm_testdevice_host_syncs(void) {
  return cmtest::g_d2h.load() + cmtest::g_scalars.load() + cmtest::g_waits.load();
}
/** Device-to-host copies counted so far. */
CMT_EXPORT int64_t cm_testdevice_device_to_host_copies(void) { return cmtest::g_d2h.load(); }
/** Host-to-device copies counted so far. */
CMT_EXPORT int64_t cm_testdevice_host_to_device_copies(void) { return cmtest::g_h2d.load(); }
/** Host-to-device copies counted so far that were non-blocking and read pinned host memory (what a CUDA copy needs
 * to overlap with compute). */
CMT_EXPORT int64_t cm_testdevice_pinned_async_uploads(void) { return cmtest::g_h2d_async.load(); }
/** The id of the stream (on the destination device) that was current when the last host-to-device copy was
 * issued; -1 before the first. */
CMT_EXPORT int64_t cm_testdevice_last_upload_stream(void) { return cmtest::g_h2d_stream.load(); }
/** Event waits queued on streams so far (what a stream's wait for another stream does). */
CMT_EXPORT int64_t cm_testdevice_stream_waits(void) { return cmtest::g_blocks.load(); }
/** item() (_local_scalar_dense) reads counted so far. */
CMT_EXPORT int64_t cm_testdevice_scalar_reads(void) { return cmtest::g_scalars.load(); }
/** Operations counted so far whose result the host waits for (nonzero, masked_select, equal, ...). */
CMT_EXPORT int64_t cm_testdevice_waiting_ops(void) { return cmtest::g_waits.load(); }
/** Sets every counter to zero and forgets the last round trip. */
CMT_EXPORT void cm_testdevice_reset_counters(void) {
  cmtest::g_d2h = 0;
  cmtest::g_h2d = 0;
  cmtest::g_h2d_async = 0;
  cmtest::g_blocks = 0;
  cmtest::g_scalars = 0;
  cmtest::g_waits = 0;
  std::lock_guard<std::mutex> lock(cmtest::g_last_mu);
  cmtest::g_last_sync.clear();
}
/** What the most recent counted round trip was, NUL-terminated into buf (truncated to cap); returns its length. */
CMT_EXPORT size_t cm_testdevice_last_sync(char* buf, size_t cap) {
  std::lock_guard<std::mutex> lock(cmtest::g_last_mu);
  const std::string& s = cmtest::g_last_sync;
  if (buf && cap > 0) {
    size_t n = std::min(cap - 1, s.size());
    std::memcpy(buf, s.data(), n);
    buf[n] = '\0';
  }
  return s.size();
}
/** Number of devices of the test backend. */
CMT_EXPORT int cm_testdevice_device_count(void) { return cmtest::kDevices; }

// Mixed precision on this device follows CUDA's lists (libtorch's own policy tables): matrix products and
// convolutions in the lower precision, reductions and normalisations in float32, mixed inputs promoted.
#define CMT_AUTOCAST_LOWER(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, lower_precision_fp)
#define CMT_AUTOCAST_FP32(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, fp32)
#define CMT_AUTOCAST_FP32_OPT(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, fp32_set_opt_dtype)
#define CMT_AUTOCAST_PROMOTE(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, promote)
// (The policy tables name ATen types unqualified, so they are expanded inside at::autocast.)
namespace at::autocast {
TORCH_LIBRARY_IMPL(aten, AutocastPrivateUse1, m) {
  AT_FORALL_LOWER_PRECISION_FP(CMT_AUTOCAST_LOWER)
  AT_FORALL_FP32(CMT_AUTOCAST_FP32)
  AT_FORALL_FP32_SET_OPT_DTYPE(CMT_AUTOCAST_FP32_OPT)
  AT_FORALL_DIFFERENT_REDISPATCH_SIGNATURE(KERNEL_DIFFERENT_REDISPATCH_SIGNATURE_PRIVATEUSEONE)
  AT_FORALL_PROMOTE(CMT_AUTOCAST_PROMOTE)
}
// Operations outside the tables run unchanged (libtorch registers no such fallthrough for PrivateUse1).
TORCH_LIBRARY_IMPL(_, AutocastPrivateUse1, m) { m.fallback(torch::CppFunction::makeFallthrough()); }
}  // namespace at::autocast
