#!/usr/bin/env bash
# fmnist-ect-tiny training throughput, Java (cm4j's Trainer, cm-bench dev.cm4j.bench.FmnistTrain) against the same loop
# in PyTorch (bench/fmnist_train.py) on the same libtorch, model, batch and threads; then native memory: RSS of the
# Java trainer after RSS_STEPS steps against after RSS_STEPS/10.
#
# Usage: bench/fmnist_throughput.sh [ROUNDS]   (default 2; env: STEPS (120), BATCH (32), TICK (20 steps), THREADS (1),
#        RSS_STEPS (2000; 0 skips the memory run), RSS_BATCH (BATCH), RSS_JAVA_OPTS, QUICK=1)
#
# The memory run pins the Java heap and touches it at start (RSS_JAVA_OPTS, default "-Xms512m -Xmx512m
# -XX:+AlwaysPreTouch"), so that a change of RSS is native memory, not G1 touching heap regions for the first time
# (with the JVM's default heap, RSS also grows while eden's regions are first used; RSS_JAVA_OPTS= shows that).
source "$(dirname "$0")/common.sh"
rounds="${1:-${ROUNDS:-2}}"
steps="${STEPS:-120}"; batch="${BATCH:-32}"; tick="${TICK:-20}"; threads="${THREADS:-1}"
[ "${QUICK:-0}" = 1 ] && { steps=10; tick=5; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
log "load average before: $(loadavg)"
for r in $(seq 1 "$rounds"); do
  run_java() { log "round $r/$rounds: Java (load $(loadavg))"; "${java[@]}" dev.cm4j.bench.FmnistTrain "$steps" "$batch" "$tick" "$threads" "$out/runs" >> "$out/ticks" 2>"$out/java.err"; }
  run_py() { log "round $r/$rounds: Python (load $(loadavg))"; (cd bench && "$py" fmnist_train.py "$steps" "$batch" "$tick" "$threads") >> "$out/ticks" 2>"$out/py.err"; }
  if [ $((r % 2)) = 1 ]; then run_java; run_py; else run_py; run_java; fi
done
grep -h "parameters" "$out/py.err" >&2 || true
"$py" - "$out/ticks" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
res = {}
for side in ("java", "python"):
    v = [r["images_per_sec"] for r in rows if r["side"] == side and r["tick"] > 0]  # tick 0 is warm-up
    res[side] = (max(v), statistics.median(v), len(v))
print("| side | best images/s | median images/s | ticks |")
print("|---|---:|---:|---:|")
for s, (b, m, n) in res.items():
    print(f"| {s} | {b:.1f} | {m:.1f} | {n} |")
print(f"\nJava / PyTorch throughput: best {res['java'][0] / res['python'][0]:.3f}, median {res['java'][1] / res['python'][1]:.3f}")
PY
if [ "${RSS_STEPS:-2000}" != 0 ] && [ "${QUICK:-0}" != 1 ]; then
  rs="${RSS_STEPS:-2000}"; rb="${RSS_BATCH:-$batch}"; rt=$((rs / 10))
  rss_opts="${RSS_JAVA_OPTS--Xms512m -Xmx512m -XX:+AlwaysPreTouch}"
  log "memory: Java trainer ($rss_opts), $rs steps of batch $rb, a tick every $rt steps (load $(loadavg))"
  # shellcheck disable=SC2086
  "${java[0]}" $rss_opts "${java[@]:1}" dev.cm4j.bench.FmnistTrain "$rs" "$rb" "$rt" "$threads" "$out/rss" > "$out/rss.ticks" 2>"$out/rss.err"
  "$py" - "$out/rss.ticks" "$rss_opts" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
a, b = rows[0], rows[-1]
print(f"\nJVM options of the memory run: {sys.argv[2]!r}")
print(f"RSS after {a['steps']} steps: {a['rss_mb']:.1f} MB; after {b['steps']} steps: {b['rss_mb']:.1f} MB; "
      f"change {100 * (b['rss_mb'] - a['rss_mb']) / a['rss_mb']:+.2f} %")
print("RSS per tick (MB): " + ", ".join(f"{r['rss_mb']:.0f}" for r in rows))
print("Java heap committed per tick (MB): " + ", ".join(f"{r['heap_committed_mb']:.0f}" for r in rows))
PY
fi
echo "# load average at the end: $(loadavg)"
machine_line
