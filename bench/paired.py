"""Paired, interleaved timing of training steps: several sides (processes) are alive at once and take turns, one step
each, so every round compares the sides under the same machine conditions. On a shared or throttled host the speed
of a long step drifts by ±7 % between minutes; timing each side in its own process one after the other (the
`time` commands of the step benchmarks) turns that drift into noise in the ratio. Here it cancels in each round's
ratio.

Each side is a command speaking the step protocol (`SongUNetStep serve`, `songunet_step.py serve`): it prints
"ready" once set up, then answers every "step" line on its standard input with "<thread CPU ms> <wall ms>" of one
step. The order of the sides rotates every round and reverses every other round, so no side always runs first.

Usage: python paired.py [--warmup W] [--rounds R] [--metric cpu|wall] --ref NAME [--ref NAME2] --side NAME 'command'
       [--side NAME 'command' ...]
Prints per side the best and median CPU ms, and per side against the reference: the median over rounds of the
round's ratio (side / ref), its interquartile range, the ratio of the medians, and in how many rounds the side was
faster.
"""
import argparse
import statistics
import subprocess
import sys


def quantile(v, q):
    v = sorted(v)
    i = q * (len(v) - 1)
    lo = int(i)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (i - lo)


class Side:
    def __init__(self, name, cmd):
        self.name = name
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.p.stdout.readline()
        while line and line.strip() != "ready":  # a side may print other lines before it is ready
            line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"side {name} exited before it was ready (command: {cmd})")
        self.cpu, self.wall = [], []

    def step(self):
        self.p.stdin.write("step\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"side {self.name} exited during a step (command: {self.cmd})")
        c, w = (float(x) for x in line.split())
        return c, w

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.p.wait(timeout=120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--ref", required=True, action="append", help="reference side (repeat for one table per reference)")
    ap.add_argument("--side", nargs=2, action="append", metavar=("NAME", "COMMAND"), required=True)
    ap.add_argument("--bench", default="step")
    ap.add_argument("--metric", choices=["cpu", "wall"], default="cpu",
                    help="compare the stepping thread's CPU time (default) or wall time (counts helper threads' "
                         "work that runs in parallel, e.g. a prefetching loader, as free)")
    a = ap.parse_args()
    names = [n for n, _ in a.side]
    for r in a.ref:
        if r not in names:
            raise SystemExit(f"--ref {r} is not a side ({', '.join(names)})")
    sides = []
    try:
        for n, cmd in a.side:  # started one after the other: setups do not compete
            print(f"[paired] starting {n}", file=sys.stderr, flush=True)
            sides.append(Side(n, cmd))
        for r in range(a.warmup):
            for s in sides:
                s.step()
        print(f"[paired] {a.warmup} warm-up steps per side done; {a.rounds} rounds", file=sys.stderr, flush=True)
        k = len(sides)
        for r in range(a.rounds):
            order = [sides[(r + i) % k] for i in range(k)]
            if (r // k) % 2 == 1:
                order.reverse()
            for s in order:
                c, w = s.step()
                s.cpu.append(c)
                s.wall.append(w)
            print(f"[paired] round {r + 1}/{a.rounds} (cpu/wall ms): "
                  + ", ".join(f"{s.name} {s.cpu[-1]:.1f}/{s.wall[-1]:.1f}" for s in sides),
                  file=sys.stderr, flush=True)
    finally:
        for s in sides:
            s.close()
    for s in sides:
        s.t = s.cpu if a.metric == "cpu" else s.wall
    what = "thread CPU ms" if a.metric == "cpu" else "wall ms"
    for ref_name in a.ref:
        ref = next(s for s in sides if s.name == ref_name)
        table(a, sides, ref, what)


def table(a, sides, ref, what):
    print(f"\n{a.bench}: {a.rounds} paired rounds after {a.warmup} warm-up steps per side; {what} per step")
    print("| side | best | median | median of round ratios to " + ref.name + " (IQR) | ratio of medians | rounds faster "
          "| speed (" + ref.name + " time / side time) |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for s in sides:
        if s is ref:
            print(f"| {s.name} | {min(s.t):.1f} | {statistics.median(s.t):.1f} | (reference) | | | |")
            continue
        ratios = [x / y for x, y in zip(s.t, ref.t)]
        faster = sum(1 for q in ratios if q < 1)
        print(f"| {s.name} | {min(s.t):.1f} | {statistics.median(s.t):.1f} | **{statistics.median(ratios):.3f}** "
              f"({quantile(ratios, 0.25):.3f}–{quantile(ratios, 0.75):.3f}) | "
              f"{statistics.median(s.t) / statistics.median(ref.t):.3f} | {faster}/{len(ratios)} | "
              f"{1 / statistics.median(ratios):.3f} |")


if __name__ == "__main__":
    main()
