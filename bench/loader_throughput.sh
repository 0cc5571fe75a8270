#!/usr/bin/env bash
# Fashion-MNIST loading against consumption (cm-bench: dev.cm4j.bench.LoaderThroughput): batches/s that
# dev.cm4j.data.Loader delivers with LoaderConfig.of(64, 0).withResize(32, PAD) — on the calling thread (prefetch 0:
# the loader's own cost) and as configured (2 batches prefetched by a background thread) — against batches/s that
# the fmnist-ect-tiny preset's ECT training step consumes at the same batch size (stage −1 and stage 1, 1 and 2
# intra-op threads), and the step fed by the prefetching loader. Target: loader ≥ 10 × consumption.
# Needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist).
#
# Usage: bench/loader_throughput.sh [ROUNDS]   (default 1; env: QUICK=1, TIMING = "warmupSteps,warmupSeconds,reps"
#        (default 3,2.0,15), JAVA_OPTS, REBUILD=1)
source "$(dirname "$0")/common.sh"
rounds="${1:-${ROUNDS:-1}}"
t="${TIMING:-default}"
[ "${QUICK:-0}" = 1 ] && t="0,0,2"
[ -d /usr/share/datasets/fashion-mnist ] || { log "Fashion-MNIST is missing: apt-get install dataset-fashion-mnist"; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
log "load average before: $(loadavg)"
for r in $(seq 1 "$rounds"); do
  log "round $r/$rounds (load $(loadavg))"
  "${java[@]}" dev.cm4j.bench.LoaderThroughput "$t" > "$out/java.loader.$r"
done
log "load average after: $(loadavg)"
machine_line >&2
echo "# rounds $rounds${QUICK:+ (quick)}; load average (1/5/15 min) at the end: $(loadavg)"
"$py" - "$out" <<'PY'
import glob, statistics, sys
rows = {}
for p in sorted(glob.glob(sys.argv[1] + "/java.loader.*")):
    for line in open(p):
        f = line.rstrip("\n").split("\t")
        rows.setdefault((f[0], f[1]), []).append([float(v) for v in f[2:]])
B = 64
def best(k, col): return min(x[col] for x in rows[k])
def med(k, col): return statistics.median(x[col - 1] for x in rows[k])
print("\nms per batch of 64 (best repetition; median over rounds of the round medians), batches/s and images/s from"
      " the best wall-clock time")
print("| what | variant | CPU best ms | CPU median ms | wall best ms | wall median ms | batches/s | images/s |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for k in rows:
    w = best(k, 3)
    print(f"| {k[0]} | {k[1]} | {best(k, 1):.3f} | {med(k, 1):.3f} | {w:.3f} | {med(k, 3):.3f} | {1000 / w:,.1f} |"
          f" {1000 / w * B:,.0f} |")
loader = 1000 / max(best(("loader", "sync"), 3), best(("loader", "prefetch2"), 3))
steps = [k for k in rows if k[0].startswith("ect") and "+loader" not in k[0]]
fastest = min(steps, key=lambda k: best(k, 3))
consume = 1000 / best(fastest, 3)
print(f"\nloader (slower of sync and prefetch2): {loader:,.0f} batches/s; fastest consumption ({fastest[0]} "
      f"{fastest[1]}): {consume:.2f} batches/s; ratio {loader / consume:,.0f}x (target >= 10x: "
      f"{'met' if loader >= 10 * consume else 'MISSED'})")
if ("ect_stage1+loader", "threads1") in rows and ("ect_stage1", "threads1") in rows:
    a, b = best(("ect_stage1+loader", "threads1"), 3), best(("ect_stage1", "threads1"), 3)
    print(f"step fed by the prefetching loader vs on a fixed batch (stage 1, 1 thread, best wall): {a:.1f} vs {b:.1f} ms"
          f" ({(a / b - 1) * 100:+.1f} %)")
PY
