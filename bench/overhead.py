"""Per-op overhead benchmark, Python side: the same tiny-tensor loops as bench/overhead.cpp and the Java harness
(cm-bench, dev.cm4j.bench.Overhead), with torch from the reference venv. Run by bench/overhead.sh.

Prints one line per measurement: "<op>\t<variant>\t<cpu median>\t<cpu best>\t<wall median>\t<wall best>", in
us per op: median and best of the timed repetitions, by this thread's CPU time and by wall-clock time.
Usage: python overhead.py [quick]
"""
import sys
import time

import torch
import torch.nn.functional as F


def measure(cfg, op, variant, n, body):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < cfg["warmup_s"]:
        body(n)
    cpu, wall = [], []
    for _ in range(cfg["reps"]):
        c0 = time.thread_time_ns()
        a = time.perf_counter_ns()
        body(n)
        b = time.perf_counter_ns()
        c1 = time.thread_time_ns()
        wall.append((b - a) / 1e3 / n)
        cpu.append((c1 - c0) / 1e3 / n)
    cpu.sort()
    wall.sort()
    print(f"{op}\t{variant}\t{cpu[len(cpu) // 2]:.4f}\t{cpu[0]:.4f}\t{wall[len(wall) // 2]:.4f}\t{wall[0]:.4f}",
          flush=True)


def main():
    cfg = {"warmup_s": 0.4, "reps": 31}
    if len(sys.argv) > 1 and sys.argv[1] == "quick":
        cfg = {"warmup_s": 0.02, "reps": 3}
    torch.set_num_threads(1)
    torch.manual_seed(0)

    a, b = torch.randn(4, 4), torch.randn(4, 4)
    m, m2 = torch.randn(64, 64), torch.randn(64, 64)

    def add(n):
        for _ in range(n):
            r = a + b
            del r

    def mul_scalar(n):
        for _ in range(n):
            r = a * 2.0
            del r

    def sum_(n):
        for _ in range(n):
            r = a.sum()
            del r

    def matmul64(n):
        for _ in range(n):
            r = m.matmul(m2)
            del r

    measure(cfg, "add", "release", 1000, add)
    measure(cfg, "mul_scalar", "release", 1000, mul_scalar)
    measure(cfg, "sum", "release", 1000, sum_)
    measure(cfg, "matmul64", "release", 200, matmul64)

    # Tiny MLP step: x[16,8] -> Linear(8,32) -> silu -> Linear(32,1) -> mean -> backward; grads reset to None.
    x = torch.randn(16, 8)
    w1 = (torch.randn(32, 8) * 0.3).requires_grad_(True)
    b1 = torch.zeros(32).requires_grad_(True)
    w2 = (torch.randn(1, 32) * 0.2).requires_grad_(True)
    b2 = torch.zeros(1).requires_grad_(True)
    params = [w1, b1, w2, b2]

    def mlp_step(n):
        for _ in range(n):
            h = F.linear(x, w1, b1)
            s = F.silu(h)
            o = F.linear(s, w2, b2)
            loss = o.mean()
            loss.backward()
            for p in params:
                p.grad = None

    measure(cfg, "mlp_step", "release", 40, mlp_step)


if __name__ == "__main__":
    main()
