// Per-op overhead benchmark, "C API" side: the loops of bench/overhead.cpp, but called through cm4j's C API
// (native/include/cm_torch.h) from C++, with the same calls the Java API makes (one op call per result, results
// freed by cm_tensor_free). This is the floor any binding over the C API can reach: the difference to
// bench/overhead.cpp is the shim's cost (a heap handle per result, try/catch, op switch), the difference to the
// Java side is the JVM's (FFM downcalls, Tensor objects, scopes). Built and run by bench/overhead.sh.
//
// Prints one line per measurement: "<op>\t<variant>\t<cpu median>\t<cpu best>\t<wall median>\t<wall best>", in
// µs per op: median and best of the timed repetitions, by this thread's CPU time and by wall-clock time.
// Usage: overhead_capi [quick]
#include "cm_torch.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// This thread's CPU time in µs: unlike wall time, it does not count the time other processes held the core.
double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

struct Cfg {
  double warmup_s = 0.4;
  int reps = 31;
};

void measure(const Cfg& cfg, const char* op, const char* variant, long n, const std::function<void(long)>& body) {
  auto t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < cfg.warmup_s) body(n);
  std::vector<double> cpu, wall;
  for (int r = 0; r < cfg.reps; r++) {
    double c0 = thread_cpu_us();
    auto a = Clock::now();
    body(n);
    auto b = Clock::now();
    double c1 = thread_cpu_us();
    wall.push_back(std::chrono::duration<double, std::micro>(b - a).count() / n);
    cpu.push_back((c1 - c0) / n);
  }
  std::sort(cpu.begin(), cpu.end());
  std::sort(wall.begin(), wall.end());
  std::printf("%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f\n", op, variant, cpu[cpu.size() / 2], cpu[0], wall[wall.size() / 2],
              wall[0]);
  std::fflush(stdout);
}

void ok(int rc) {
  if (rc != CM_OK) {
    std::fprintf(stderr, "cm4j error: %s\n", cm_last_error());
    std::exit(1);
  }
}

cm_tensor randn(std::vector<int64_t> shape) {
  cm_tensor t;
  ok(cm_randn(shape.data(), shape.size(), CM_DTYPE_FLOAT32, CM_DEVICE_CPU, nullptr, &t));
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  Cfg cfg;
  if (argc > 1 && std::strcmp(argv[1], "quick") == 0) {
    cfg.warmup_s = 0.02;
    cfg.reps = 3;
  }
  ok(cm_set_num_threads(1));
  ok(cm_manual_seed(0));

  cm_tensor a = randn({4, 4}), b = randn({4, 4}), m = randn({64, 64}), m2 = randn({64, 64});
  cm_tensor r;

  measure(cfg, "add", "release", 1000, [&](long n) {
    for (long i = 0; i < n; i++) { ok(cm_binary(CM_BINARY_ADD, a, b, &r)); ok(cm_tensor_free(r)); }
  });
  measure(cfg, "mul_scalar", "release", 1000, [&](long n) {
    for (long i = 0; i < n; i++) {
      ok(cm_binary_scalar(CM_BINARY_MUL, a, CM_SCALAR_DOUBLE, 2.0, 0, &r));
      ok(cm_tensor_free(r));
    }
  });
  measure(cfg, "sum", "release", 1000, [&](long n) {
    for (long i = 0; i < n; i++) { ok(cm_reduce(CM_REDUCE_SUM, a, nullptr, 0, 0, -1, &r)); ok(cm_tensor_free(r)); }
  });
  measure(cfg, "matmul64", "release", 200, [&](long n) {
    for (long i = 0; i < n; i++) { ok(cm_binary(CM_BINARY_MATMUL, m, m2, &r)); ok(cm_tensor_free(r)); }
  });

  cm_tensor x = randn({16, 8}), w1, b1, w2, b2, tmp;
  tmp = randn({32, 8});
  ok(cm_binary_scalar(CM_BINARY_MUL, tmp, CM_SCALAR_DOUBLE, 0.3, 0, &w1));
  ok(cm_tensor_free(tmp));
  tmp = randn({1, 32});
  ok(cm_binary_scalar(CM_BINARY_MUL, tmp, CM_SCALAR_DOUBLE, 0.2, 0, &w2));
  ok(cm_tensor_free(tmp));
  int64_t s32 = 32, s1 = 1;
  ok(cm_zeros(&s32, 1, CM_DTYPE_FLOAT32, CM_DEVICE_CPU, &b1));
  ok(cm_zeros(&s1, 1, CM_DTYPE_FLOAT32, CM_DEVICE_CPU, &b2));
  cm_tensor params[] = {w1, b1, w2, b2};
  for (cm_tensor p : params) ok(cm_tensor_set_requires_grad(p, 1));
  measure(cfg, "mlp_step", "release", 40, [&](long n) {
    for (long i = 0; i < n; i++) {
      cm_tensor h, s, o, loss;
      ok(cm_linear(x, w1, b1, &h));
      ok(cm_unary(CM_UNARY_SILU, h, &s));
      ok(cm_linear(s, w2, b2, &o));
      ok(cm_reduce(CM_REDUCE_MEAN, o, nullptr, 0, 0, -1, &loss));
      ok(cm_backward(&loss, 1, nullptr, 0, 0));
      for (cm_tensor p : params) ok(cm_tensor_set_grad(p, nullptr));
      cm_tensor done[] = {h, s, o, loss};
      ok(cm_tensor_free_many(done, 4));
    }
  });
  return 0;
}
