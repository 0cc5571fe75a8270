// Per-op overhead benchmark, C++ side: the same tiny-tensor loops as bench/overhead.py and the Java harness
// (cm-bench, dev.cm4j.bench.Overhead), written directly against libtorch. Built and run by bench/overhead.sh.
//
// Prints one line per measurement: "<op>\t<variant>\t<cpu median>\t<cpu best>\t<wall median>\t<wall best>", in
// µs per op: median and best of the timed repetitions, by this thread's CPU time and by wall-clock time.
// Usage: overhead [quick]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
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
  double warmup_s = 0.4;  // warm-up time per op
  int reps = 31;          // timed repetitions per op
};

// Runs body(n) (which must perform n iterations) for warm-up, then `reps` timed repetitions; prints µs/iteration.
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

}  // namespace

int main(int argc, char** argv) {
  Cfg cfg;
  if (argc > 1 && std::strcmp(argv[1], "quick") == 0) {
    cfg.warmup_s = 0.02;
    cfg.reps = 3;
  }
  at::set_num_threads(1);
  at::manual_seed(0);
  auto opts = at::TensorOptions().dtype(at::kFloat);

  // Tiny operands: 4x4 float32, no grad.
  at::Tensor a = at::randn({4, 4}, opts), b = at::randn({4, 4}, opts);
  at::Tensor m = at::randn({64, 64}, opts), m2 = at::randn({64, 64}, opts);

  measure(cfg, "add", "release", 1000, [&](long n) {
    for (long i = 0; i < n; i++) { auto r = a + b; }
  });
  measure(cfg, "mul_scalar", "release", 1000, [&](long n) {
    for (long i = 0; i < n; i++) { auto r = a * 2.0; }
  });
  measure(cfg, "sum", "release", 1000, [&](long n) {
    for (long i = 0; i < n; i++) { auto r = a.sum(); }
  });
  measure(cfg, "matmul64", "release", 200, [&](long n) {
    for (long i = 0; i < n; i++) { auto r = m.matmul(m2); }
  });

  // Tiny MLP step: x[16,8] -> Linear(8,32) -> silu -> Linear(32,1) -> mean -> backward; grads reset to None.
  at::Tensor x = at::randn({16, 8}, opts);
  at::Tensor w1 = (at::randn({32, 8}, opts) * 0.3).requires_grad_(true);
  at::Tensor b1 = at::zeros({32}, opts).requires_grad_(true);
  at::Tensor w2 = (at::randn({1, 32}, opts) * 0.2).requires_grad_(true);
  at::Tensor b2 = at::zeros({1}, opts).requires_grad_(true);
  std::vector<at::Tensor> params{w1, b1, w2, b2};
  measure(cfg, "mlp_step", "release", 40, [&](long n) {
    for (long i = 0; i < n; i++) {
      auto h = at::linear(x, w1, b1);
      auto s = at::silu(h);
      auto o = at::linear(s, w2, b2);
      auto loss = o.mean();
      loss.backward();
      for (auto& p : params) p.mutable_grad().reset();
    }
  });
  return 0;
}
