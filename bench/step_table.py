"""Tables for the step benchmarks (bench/songunet_step.sh, bench/objective_step.sh).

Reads every file OUTDIR/<side>.<bench>.<round> holding harness lines "<bench>\t<variant>\t<cpu median>\t<cpu best>\t
<wall median>\t<wall best>" (ms per step) and prints, per benchmark, the best repetition over all rounds and the
median over rounds of each round's median, by thread CPU time and by wall-clock time, then the ratios of every Java
variant to every Python variant.

Usage: python step_table.py OUTDIR BENCH...
"""
import glob
import os
import statistics
import sys


def main():
    out, benches = sys.argv[1], sys.argv[2:]
    data = {}  # (bench, variant) -> list over rounds of (cpu med, cpu best, wall med, wall best)
    for path in sorted(glob.glob(os.path.join(out, "*.*.*"))):
        for line in open(path):
            f = line.rstrip("\n").split("\t")
            if len(f) != 6:
                continue
            data.setdefault((f[0], f[1]), []).append([float(v) for v in f[2:]])

    def fmt(v):
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"

    def table(hdr, rows):
        w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
        print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + " |")
        print("|" + "|".join("-" * (x + 2) for x in w) + "|")
        for r in rows:
            print("| " + " | ".join(v.ljust(w[i]) if i < 2 else v.rjust(w[i]) for i, v in enumerate(r)) + " |")

    summary = {}
    rows = []
    for bench in benches:
        for (b, variant), v in data.items():
            if b != bench:
                continue
            s = dict(cpu_best=min(x[1] for x in v), cpu_med=statistics.median(x[0] for x in v),
                     wall_best=min(x[3] for x in v), wall_med=statistics.median(x[2] for x in v), n=len(v))
            summary[(bench, variant)] = s
            rows.append([bench, variant, fmt(s["cpu_best"]), fmt(s["cpu_med"]), fmt(s["wall_best"]),
                         fmt(s["wall_med"]), str(s["n"])])
    print("\nms per step: best repetition over all rounds, and median over rounds of each round's median")
    table(["bench", "side", "CPU best", "CPU median", "wall best", "wall median", "rounds"], rows)

    rows = []
    for bench in benches:
        javas = sorted(v for b, v in summary if b == bench and v.startswith("java"))
        pys = sorted(v for b, v in summary if b == bench and v.startswith("py"))
        for j in javas:
            for p in pys:
                a, c = summary[(bench, j)], summary[(bench, p)]
                rows.append([bench, f"{j} / {p}", f"{a['cpu_best'] / c['cpu_best']:.3f}",
                             f"{a['cpu_med'] / c['cpu_med']:.3f}", f"{a['wall_best'] / c['wall_best']:.3f}",
                             f"{a['wall_med'] / c['wall_med']:.3f}"])
    print("\nratios Java / Python (below 1: Java faster)")
    table(["bench", "sides", "CPU best", "CPU median", "wall best", "wall median"], rows)


if __name__ == "__main__":
    main()
