"""Timing harness for whole training steps, Python side; mirrors cm-bench's dev.cm4j.bench.StepTimer.

Warm-up by count and by time, then timed repetitions of one step each, recording this thread's CPU time and
wall-clock time. Prints one line per measurement: "<bench>\t<variant>\t<cpu median>\t<cpu best>\t<wall median>\t
<wall best>" in ms per step.
"""
import sys
import time


def parse_timing(s, default):
    """(warmup_steps, warmup_seconds, reps) from "3,2.0,15"; default when s is None or "default"."""
    if s is None or s == "default":
        return default
    a, b, c = s.split(",")
    return int(a), float(b), int(c)


def measure(bench, variant, timing, step):
    warmup_steps, warmup_s, reps = timing
    t0 = time.perf_counter()
    i = 0
    while i < warmup_steps or time.perf_counter() - t0 < warmup_s:
        step()
        i += 1
    cpu, wall = [], []
    for _ in range(reps):
        c0 = time.thread_time_ns()
        a = time.perf_counter_ns()
        step()
        b = time.perf_counter_ns()
        c1 = time.thread_time_ns()
        wall.append((b - a) / 1e6)
        cpu.append((c1 - c0) / 1e6)
    cpu.sort()
    wall.sort()
    print(f"{bench}\t{variant}\t{cpu[reps // 2]:.4f}\t{cpu[0]:.4f}\t{wall[reps // 2]:.4f}\t{wall[0]:.4f}",
          flush=True)
    return cpu, wall


def serve(step):
    """The step protocol of bench/paired.py: prints "ready", then runs step() once per "step" line on stdin and
    answers with its thread CPU time and wall time in ms; returns at "quit" or end of input."""
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        if line.strip() != "step":
            raise SystemExit(f"expected 'step' or 'quit': {line!r}")
        c0 = time.thread_time_ns()
        w0 = time.perf_counter_ns()
        step()
        w1 = time.perf_counter_ns()
        c1 = time.thread_time_ns()
        print(f"{(c1 - c0) / 1e6:.4f} {(w1 - w0) / 1e6:.4f}", flush=True)
