#!/usr/bin/env bash
# Makes the input of scripts/gpu-check.sh: one tarball (<= 60 MB) that a CUDA machine with only PyTorch, nvcc and
# CMake can check cm4j with, offline (no JDK, no Maven, no network). It holds
#   jre/           a Java runtime cut by jlink to the modules cm4j and the test runner use (found by jdeps)
#   lib/           the cm4j jars (cli, bench, core, bindings) and their dependency jars, plus the JUnit jars
#   test-classes/  the GPU test group (cm-cli's dev.cm4j.gpu: tag "cuda") and its runner, dev.cm4j.gpu.GpuTestRunner
#   native/        the native sources (CMakeLists.txt, include/, src/, test/; no build directories)
#   gloo-include/  the Gloo headers the native build needs (the torch wheel lacks them; from Debian's libgloo-dev)
#   bench/, tools/bench/gpu_reference.py
#                  the PyTorch side of the step timings and our PyTorch SongUNet it imports
#   ect/           locuslab/ect's training/networks.py and training/loss.py at the pinned commit (NOT our code: copied
#                  from the checkout given with --ect or CM4J_ECT, never committed here)
#   fmnist/        the first 4096 Fashion-MNIST training images and labels (IDX), for the 200-step tracking run
#   gpu-check.sh, BUNDLE.txt (what went in, from which commit)
#
# Usage: scripts/gpu-bundle.sh [--ect DIR] [--out FILE]
#   --ect DIR   a checkout of locuslab/ect, or its bare git directory (then `git archive` of the pinned commit is
#               used); default $CM4J_ECT. To get one:
#                 git clone https://github.com/locuslab/ect.git /tmp/ect
#                 git -C /tmp/ect checkout 4311059770f54821d151a9b0e1f76770a5f3930e
#   --out FILE  default target/gpu-bundle/cm4j-gpu-bundle.tar.gz
# Builds the jars with scripts/mvn.sh (offline first, tests skipped, -Dcm4j.skipNative=true: the native library is
# built on the GPU machine). Prints the tarball's path and size; fails if it is over 60 MB.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ECT_COMMIT=4311059770f54821d151a9b0e1f76770a5f3930e
LIMIT_MB=60
ect="${CM4J_ECT:-}"
out="$root/target/gpu-bundle/cm4j-gpu-bundle.tar.gz"
while [ $# -gt 0 ]; do
  case "$1" in
    --ect) ect=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "gpu-bundle: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
log() { echo "[gpu-bundle +${SECONDS}s] $*" >&2; }
[ -n "$ect" ] || { echo "gpu-bundle: no locuslab/ect checkout: pass --ect DIR or set CM4J_ECT (see --help)" >&2; exit 2; }
[ -e "$ect" ] || { echo "gpu-bundle: --ect $ect does not exist" >&2; exit 2; }
JAVA_HOME=$("$root/scripts/jdk.sh"); export JAVA_HOME
for tool in jdeps jlink; do
  [ -x "$JAVA_HOME/bin/$tool" ] || { echo "gpu-bundle: $JAVA_HOME has no bin/$tool (a full JDK is needed)" >&2; exit 2; }
done

# ---- 1. jars and test classes
log "building the jars (scripts/mvn.sh package, tests compiled but not run)"
mvn_args=(-q package dependency:build-classpath -DskipTests -Dcm4j.skipNative=true -pl cm-cli,cm-bench -am
  -Dmdep.includeScope=test -Dmdep.outputFile=target/test-classpath.txt)
"$root/scripts/mvn.sh" -o "${mvn_args[@]}" >&2 || "$root/scripts/mvn.sh" "${mvn_args[@]}" >&2

stage=$(mktemp -d "${TMPDIR:-/tmp}/cm4j-gpu-bundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
b="$stage/cm4j-gpu-bundle"
mkdir -p "$b/lib" "$b/test-classes/dev/cm4j" "$b/tools/bench" "$b/bench" "$b/ect/training" "$b/fmnist"
cp "$root"/cm-cli/target/cm4j-cli-*.jar "$root"/cm-bench/target/cm4j-bench-*.jar "$b/lib/"
# Everything on cm-cli's and cm-bench's test class paths that is a jar (JUnit included), minus the reactor's own
# modules (their jars are copied above and from cm-cli/target/lib).
for m in cm-cli cm-bench; do
  tr ':' '\n' <"$root/$m/target/test-classpath.txt" | grep '\.jar$' | grep -v '/cm4j-' | while read -r j; do cp -n "$j" "$b/lib/"; done
done
cp -n "$root"/cm-cli/target/lib/cm4j-*.jar "$b/lib/"
cp -r "$root/cm-cli/target/test-classes/dev/cm4j/gpu" "$b/test-classes/dev/cm4j/"
ls "$b/lib/" | grep -q '^junit-platform-launcher-' || { log "junit-platform-launcher missing from the test class path"; exit 1; }

# ---- 2. a jlink'd runtime
mods=$("$JAVA_HOME/bin/jdeps" --print-module-deps --ignore-missing-deps --multi-release 25 \
  "$b"/lib/*.jar "$b/test-classes" 2>/dev/null | tail -n1)
[[ "$mods" =~ ^[a-z0-9.,]+$ ]] || { log "jdeps gave no module list: $mods"; exit 1; }
# jdk.unsupported: Jackson's and JUnit's optional fast paths; jdk.crypto.ec and friends are not needed (no TLS).
mods="$mods,jdk.unsupported"
log "jlink --add-modules $mods"
"$JAVA_HOME/bin/jlink" --add-modules "$mods" --strip-debug --no-man-pages --no-header-files --compress=zip-9 \
  --output "$b/jre"

# ---- 3. native sources, Gloo headers, Python side, upstream ECT files, data
mkdir -p "$b/native"
(cd "$root/native" && tar -c --exclude='./build' --exclude='./build-*' --exclude='*/CMakeFiles' . ) | tar -x -C "$b/native"
gloo=""
for d in "${CM_GLOO_INCLUDE_DIR:-}" /usr/include /usr/local/include; do
  [ -n "$d" ] && [ -f "$d/gloo/config.h" ] && { gloo=$d; break; }
done
[ -n "$gloo" ] || { log "gloo headers not found (apt-get install libgloo-dev, or set CM_GLOO_INCLUDE_DIR)"; exit 1; }
mkdir -p "$b/gloo-include" && cp -r "$gloo/gloo" "$b/gloo-include/"
cp "$root/tools/bench/gpu_reference.py" "$b/tools/bench/"
cp "$root/bench/edm_songunet.py" "$root/bench/objective_step.py" "$root/bench/step_harness.py" "$b/bench/"
if [ -d "$ect/training" ]; then
  have=$(git -C "$ect" rev-parse HEAD 2>/dev/null || echo unknown)
  [ "$have" = "$ECT_COMMIT" ] || log "warning: $ect is at $have, not the pinned $ECT_COMMIT"
  cp "$ect/training/networks.py" "$ect/training/loss.py" "$b/ect/training/"
else
  git --git-dir="$ect" archive "$ECT_COMMIT" training/networks.py training/loss.py | tar -x -C "$b/ect"
fi
echo "$ECT_COMMIT" >"$b/ect/COMMIT"
cat >"$b/ect/README" <<EOF
locuslab/ect (https://github.com/locuslab/ect) at $ECT_COMMIT: training/networks.py (from NVlabs/edm) and
training/loss.py, unchanged. Not part of cm4j; copied into this bundle by scripts/gpu-bundle.sh for the reference
timing only. Their licences are those of the upstream repositories.
EOF
fm="${CM4J_FMNIST:-/usr/share/datasets/fashion-mnist}"
python3 - "$fm" "$b/fmnist" 4096 <<'PY'
import gzip, os, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def read(name):
    for p in (os.path.join(src, name), os.path.join(src, name + ".gz")):
        if os.path.exists(p):
            return (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
    sys.exit(f"Fashion-MNIST file {name} not found in {src} (apt-get install dataset-fashion-mnist or set CM4J_FMNIST)")
img, lab = read("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte")
_, count, rows, cols = struct.unpack(">IIII", img[:16])
n = min(n, count)
with gzip.open(os.path.join(dst, "train-images-idx3-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">IIII", 2051, n, rows, cols) + img[16:16 + n * rows * cols])
with gzip.open(os.path.join(dst, "train-labels-idx1-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">II", 2049, n) + lab[8:8 + n])
PY
cp "$root/scripts/gpu-check.sh" "$b/gpu-check.sh"
chmod +x "$b/gpu-check.sh"
{
  echo "cm4j GPU bundle, made $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/gpu-bundle.sh"
  echo "cm4j commit: $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "java runtime: $("$b/jre/bin/java" --version | head -n1); modules: $mods"
  echo "locuslab/ect: $ECT_COMMIT"
  echo "run: ./gpu-check.sh  (or ./gpu-check.sh --cpu-only for a dry run on a CPU machine)"
} >"$b/BUNDLE.txt"

# ---- 4. the tarball
mkdir -p "$(dirname "$out")"
tar -C "$stage" -czf "$out.tmp" cm4j-gpu-bundle
mv -f "$out.tmp" "$out"
bytes=$(stat -c %s "$out")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
log "contents (MB): $(du -sm "$b"/* | awk '{printf "%s %s, ", $2, $1}' | sed "s|$b/||g")"
echo "$out: $mb MB"
if [ "$bytes" -gt $((LIMIT_MB * 1048576)) ]; then
  echo "gpu-bundle: the bundle is $mb MB, over the $LIMIT_MB MB limit" >&2
  exit 1
fi
