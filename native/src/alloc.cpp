// A caching CPU allocator for libtorch (cm_cpu_allocator_*).
//
// libtorch's default CPU allocator takes every buffer from malloc. A training step frees and re-allocates the same
// activation and gradient buffers each iteration; glibc hands big ones to mmap/munmap (or trims its heaps), so the
// next step page-faults them in again and the kernel zeroes every page. This allocator keeps freed blocks of at least
// min_bytes in per-size free lists and hands them back on the next request of the same size class, so a steady
// training loop reaches a state with no system calls and no page faults; blocks of 2 MiB and more are 2 MiB-aligned
// and advised MADV_HUGEPAGE, so the kernel backs them with transparent huge pages where it allows (fewer TLB misses
// in the big GEMMs of convolutions). Smaller requests go to c10::alloc_cpu as before.
//
// Bounded: the free (cached) bytes never exceed max_cached_bytes; a block freed beyond that returns to the OS. When a
// fresh mapping fails, the cache is released and the mapping retried once before reporting out-of-memory (a c10
// error, which the C API turns into CM_ERROR). Installed as libtorch's CPU allocator through c10::SetCPUAllocator;
// tensors allocated before keep their own deleter, and the allocator object lives for the whole process because
// storages remember it. Once installed it stays registered: switching caching off makes it pass every request to
// c10::alloc_cpu, because oneDNN (ideep) returns its raw buffers through whichever CPU allocator is registered when it
// frees them, and this allocator's deleter frees both its own blocks and c10::alloc_cpu's.
#include <sys/mman.h>
#include <unistd.h>

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace {

constexpr size_t kHuge = size_t{2} << 20;  // 2 MiB: the x86-64 transparent huge page
constexpr size_t kPage = 4096;
// Registration priority: above libtorch's own default (0).
constexpr uint8_t kPriority = 10;

void cached_delete(void* p);

class CachingCpuAllocator final : public c10::Allocator {
 public:
  // A small block carries c10::free_cpu as its deleter, so freeing it takes no lock; raw_deleter() (oneDNN's path,
  // which frees without the DataPtr) is cached_delete, which recognises either kind.
  c10::DataPtr allocate(size_t n) override {
    if (n < min_bytes_.load(std::memory_order_relaxed)) {
      void* p = c10::alloc_cpu(n);
      return {p, p, &c10::free_cpu, c10::Device(c10::DeviceType::CPU)};
    }
    void* p = take(n);
    return {p, p, &cached_delete, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &cached_delete; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  void release(void* p) {
    if (!p) return;
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = live_.find(p);
      if (it != live_.end()) {
        size_t sz = it->second;
        live_.erase(it);
        allocated_ -= sz;
        if (cached_ + sz <= max_cached_) {
          free_[sz].push_back(p);
          cached_ += sz;
          return;
        }
        ++unmapped_;
        munmap(p, sz);
        return;
      }
    }
    c10::free_cpu(p);  // a small block freed through raw_deleter()
  }

  void configure(int64_t min_bytes, int64_t max_cached, bool huge) {
    std::lock_guard<std::mutex> g(mu_);
    min_bytes_.store(static_cast<size_t>(min_bytes), std::memory_order_relaxed);
    max_cached_ = static_cast<size_t>(max_cached);
    huge_ = huge;
    trim_locked(max_cached_);
  }

  void release_cached() {
    std::lock_guard<std::mutex> g(mu_);
    trim_locked(0);
  }

  void stats(cm_allocator_stats* out) {
    std::lock_guard<std::mutex> g(mu_);
    out->allocated_bytes = static_cast<int64_t>(allocated_);
    out->cached_bytes = static_cast<int64_t>(cached_);
    out->peak_allocated_bytes = static_cast<int64_t>(peak_);
    out->hits = static_cast<int64_t>(hits_);
    out->misses = static_cast<int64_t>(misses_);
    out->released_blocks = static_cast<int64_t>(unmapped_);
    out->live_blocks = static_cast<int64_t>(live_.size());
  }

 private:
  // Size classes: 4 KiB multiples below 64 KiB, then eight classes per power of two (at most 12.5 % slack).
  static size_t size_class(size_t n) {
    if (n <= 65536) return (n + kPage - 1) / kPage * kPage;
    size_t top = size_t{1} << (63 - __builtin_clzll(n - 1));  // largest power of two below n
    size_t step = std::max(top / 8, kPage);
    return (n + step - 1) / step * step;
  }

  void* take(size_t n) {
    size_t sz = size_class(n);
    std::unique_lock<std::mutex> g(mu_);
    auto it = free_.find(sz);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      cached_ -= sz;
      ++hits_;
      note_live(p, sz);
      return p;
    }
    bool huge = huge_;
    g.unlock();
    void* p = map(sz, huge);
    g.lock();
    if (!p) {
      trim_locked(0);
      g.unlock();
      p = map(sz, huge);
      g.lock();
    }
    TORCH_CHECK_WITH(OutOfMemoryError, p != nullptr, "cm4j caching CPU allocator: out of memory allocating ",
                     sz, " bytes (", allocated_, " bytes in use)");
    ++misses_;
    note_live(p, sz);
    return p;
  }

  void note_live(void* p, size_t sz) {
    live_.emplace(p, sz);
    allocated_ += sz;
    peak_ = std::max(peak_, allocated_);
  }

  // A fresh anonymous mapping of sz bytes; 2 MiB-aligned and advised for huge pages when sz >= 2 MiB and huge.
  static void* map(size_t sz, bool huge) {
    if (!huge || sz < kHuge) {
      void* p = mmap(nullptr, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      return p == MAP_FAILED ? nullptr : p;
    }
    size_t len = sz + kHuge;
    void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    uintptr_t a = reinterpret_cast<uintptr_t>(raw);
    uintptr_t b = (a + kHuge - 1) & ~(uintptr_t)(kHuge - 1);
    if (b > a) munmap(raw, b - a);
    size_t tail = (a + len) - (b + sz);
    if (tail > 0) munmap(reinterpret_cast<void*>(b + sz), tail);
    void* p = reinterpret_cast<void*>(b);
    madvise(p, sz, MADV_HUGEPAGE);  // advice only: without THP support the block simply stays on 4 KiB pages
    return p;
  }

  // Returns free blocks to the OS, largest classes first, until at most keep bytes stay cached.
  void trim_locked(size_t keep) {
    if (cached_ <= keep) return;
    std::vector<size_t> classes;
    for (auto& kv : free_)
      if (!kv.second.empty()) classes.push_back(kv.first);
    std::sort(classes.rbegin(), classes.rend());
    for (size_t sz : classes) {
      auto& v = free_[sz];
      while (!v.empty() && cached_ > keep) {
        munmap(v.back(), sz);
        v.pop_back();
        cached_ -= sz;
        ++unmapped_;
      }
      if (cached_ <= keep) break;
    }
  }

  std::mutex mu_;
  std::atomic<size_t> min_bytes_{size_t{256} << 10};
  size_t max_cached_ = size_t{1} << 30;
  bool huge_ = true;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, size_t> live_;
  size_t allocated_ = 0, cached_ = 0, peak_ = 0;
  uint64_t hits_ = 0, misses_ = 0, unmapped_ = 0;
};

// Never destroyed: storages keep a pointer to their allocator, and blocks may be freed during process exit.
CachingCpuAllocator& instance() {
  static auto* a = new CachingCpuAllocator();
  return *a;
}

void cached_delete(void* p) { instance().release(p); }

// Caching; once installed the allocator stays registered, and while not caching every request passes to
// c10::alloc_cpu.
bool g_caching = false;
std::mutex g_install_mu;

}  // namespace

extern "C" {

CM_API int cm_cpu_allocator_configure(int enabled, int64_t min_bytes, int64_t max_cached_bytes, int huge_pages) {
  CM_TRY
  if (enabled) {
    if (min_bytes < 1) throw cm::ArgError("min_bytes must be at least 1, got " + std::to_string(min_bytes));
    if (max_cached_bytes < 0)
      throw cm::ArgError("max_cached_bytes must not be negative, got " + std::to_string(max_cached_bytes));
  }
  std::lock_guard<std::mutex> g(g_install_mu);
  if (enabled) {
    instance().configure(min_bytes, max_cached_bytes, huge_pages != 0);
    c10::SetCPUAllocator(&instance(), kPriority);
    g_caching = true;
  } else if (g_caching) {
    // Stay registered and pass every request through: oneDNN (ideep) frees its raw buffers through whichever CPU
    // allocator is registered at free time, so re-registering libtorch's default allocator while blocks handed out
    // here are alive would free mapped blocks with free(). The cached blocks go back to the OS now; blocks still in
    // use go back when freed.
    instance().configure(INT64_MAX, 0, huge_pages != 0);
    g_caching = false;
  }
  CM_CATCH
}

CM_API int cm_cpu_allocator_enabled(int* out) {
  CM_TRY
  std::lock_guard<std::mutex> g(g_install_mu);
  cm::put_val(out, (g_caching && c10::GetCPUAllocator() == &instance()) ? 1 : 0);
  CM_CATCH
}

CM_API int cm_cpu_allocator_stats(cm_allocator_stats* out) {
  CM_TRY
  if (!out) throw cm::ArgError("stats output pointer is NULL");
  instance().stats(out);
  CM_CATCH
}

CM_API int cm_cpu_allocator_release_cached(void) {
  CM_TRY
  instance().release_cached();
  CM_CATCH
}

}  // extern "C"
