#!/usr/bin/env bash
# Decoding + collating a 64×64 PNG zip in dataset_tool.py's layout (cm-bench: dev.cm4j.bench.ImageDecodeThroughput):
# images/s that dev.cm4j.data.Loader delivers with 1 and 2 decode workers (batch 64, shuffled, x-flips, labels, CPU
# tensors), javax.imageio on one thread for scale, and EDM's own decode path in Python on the same zip
# (np.array(PIL.Image.open(...)) per image as training/dataset.py does, stacked, CHW, float32 /127.5 − 1, flips) in
# one process. Target: ≥ 2,000 images/s per process. The zip (4,096 synthetic images) is written at the start.
# The Python side needs Pillow, which the reference venv lacks: Debian's python3 with python3-pil and
# python3-numpy (PIL_PYTHON, default /usr/bin/python3).
#
# Usage: bench/image_decode.sh [ROUNDS]   (default 1; env: QUICK=1, TIMING = "warmupSteps,warmupSeconds,reps"
#        (default 2,2.0,7), PIL_PYTHON, JAVA_OPTS, REBUILD=1)
source "$(dirname "$0")/common.sh"
rounds="${1:-${ROUNDS:-1}}"
t="${TIMING:-default}"
[ "${QUICK:-0}" = 1 ] && t="0,0,2"
pil="${PIL_PYTHON:-/usr/bin/python3}"
"$pil" -c 'import PIL, numpy' 2>/dev/null || { log "$pil lacks Pillow/numpy: apt-get install python3-pil python3-numpy"; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count=4096
[ "${QUICK:-0}" = 1 ] && count=512
log "load average before: $(loadavg)"
for r in $(seq 1 "$rounds"); do
  log "round $r/$rounds (load $(loadavg))"
  "${java[@]}" dev.cm4j.bench.ImageDecodeThroughput "$out/ds.zip" "$count" "$t" > "$out/res.$r"
  "$pil" - "$out/ds.zip" "$t" >> "$out/res.$r" <<'PY'
import io, json, sys, time, zipfile
import numpy as np, PIL.Image
z = zipfile.ZipFile(sys.argv[1])
names = sorted(n for n in z.namelist() if n.endswith('.png'))
labels = dict(json.loads(z.read('dataset.json'))['labels'])
t = sys.argv[2]
warm_n, warm_s, reps = (2, 2.0, 7) if t == 'default' else (int(t.split(',')[0]), float(t.split(',')[1]), int(t.split(',')[2]))
rng = np.random.RandomState(0)
B = 64
batches = max(1, min(20, len(names) // B))
pos = [0]
order = rng.permutation(len(names))
def batch():
    idx = [order[(pos[0] + k) % len(names)] for k in range(B)]; pos[0] += B
    x = np.stack([np.array(PIL.Image.open(io.BytesIO(z.read(names[i])))) for i in idx]).transpose(0, 3, 1, 2)
    x = x.astype(np.float32) / 127.5 - 1
    flip = rng.rand(B) < 0.5
    x[flip] = x[flip][..., ::-1]
    y = np.zeros([B, 1000], np.float32); y[np.arange(B), [labels[names[i]] for i in idx]] = 1
    return x, y
def step():
    for _ in range(batches): batch()
t0 = time.perf_counter(); i = 0
while i < warm_n or time.perf_counter() - t0 < warm_s: step(); i += 1
wall, cpu = [], []
for _ in range(reps):
    a, c = time.perf_counter(), time.process_time(); step()
    wall.append((time.perf_counter() - a) * 1e3 / (batches * B)); cpu.append((time.process_time() - c) * 1e3 / (batches * B))
wall.sort(); cpu.sort()
print(f"python_pil\t1process\t{cpu[reps // 2]:.4f}\t{cpu[0]:.4f}\t{wall[reps // 2]:.4f}\t{wall[0]:.4f}")
PY
done
log "load average after: $(loadavg)"
machine_line >&2
echo "# rounds $rounds${QUICK:+ (quick)}; load average (1/5/15 min) at the end: $(loadavg); Pillow $("$pil" -c 'import PIL; print(PIL.__version__)')"
"$py" - "$out" <<'PY'
import glob, statistics, sys
rows = {}
for p in sorted(glob.glob(sys.argv[1] + "/res.*")):
    for line in open(p):
        f = line.rstrip("\n").split("\t")
        rows.setdefault((f[0], f[1]), []).append([float(v) for v in f[2:]])
print("\n64×64 RGB PNGs (dataset_tool layout, uncompressed, stored zip): images/s from the best and the median wall time")
print("| what | variant | images/s (best) | images/s (median) |")
print("|---|---|---:|---:|")
for k, v in rows.items():
    best = min(x[3] for x in v); med = statistics.median(x[2] for x in v)
    print(f"| {k[0]} | {k[1]} | {1000 / best:,.0f} | {1000 / med:,.0f} |")
w = [k for k in rows if k[0] == "loader"]
if w:
    slowest = min(1000 / statistics.median(x[2] for x in rows[k]) for k in w)
    print(f"\nloader, slowest worker setting (median): {slowest:,.0f} images/s (target >= 2,000: "
          f"{'met' if slowest >= 2000 else 'MISSED'})")
PY
