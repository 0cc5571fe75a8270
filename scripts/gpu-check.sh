#!/usr/bin/env bash
# cm4j on a GPU machine, offline: builds the native library against the machine's CUDA PyTorch, runs the GPU test
# group, times the CIFAR-10 DDPM++ ECT step (batch 128, fp32 and bf16) against locuslab/ect's own step and an sCT
# step against PyTorch's torch.func.jvp, all on the same GPU, and prints a one-screen summary.
#
# Needs: the bundle of scripts/gpu-bundle.sh (this script is in it), a Python with a CUDA build of PyTorch >= 2.11
# (its libtorch is used; numpy too, which ECT's networks.py imports), nvcc and CMake >= 3.18, a C++ compiler. No JDK,
# Maven or network. Target: under 8 minutes on one H100.
#
# Usage (on the GPU machine):
#   tar xzf cm4j-gpu-bundle.tar.gz && cm4j-gpu-bundle/gpu-check.sh
#   scripts/gpu-check.sh --bundle target/gpu-bundle/cm4j-gpu-bundle.tar.gz      (from a cm4j checkout)
# Options:
#   --bundle FILE|DIR  the bundle (default: the directory this script is in, when it holds jre/)
#   --cpu-only         dry run on a CPU machine: the same path end to end, native build against a CPU libtorch, the
#                      test group's CPU parts (CUDA parts are skipped by their assumptions), the timings on the CPU
#                      with tiny sizes (batch 2, a 16x16 network, 1 warm-up step, 2 timed ones)
#   --work DIR         where to unpack and build (default: a new temporary directory, removed at the end;
#                      kept with --keep)
# Env: PYTHON (default python3), LIBTORCH (a libtorch directory instead of the Python torch's), CUDA_HOME,
#      CM4J_GPU_STEPS (fmnist run, 200), CM4J_GPU_REPS (timed steps, 20), CM4J_GPU_WARMUP (5), CM4J_BUILD_JOBS.
# Exit status: 0 when the build, the test group and every timing ran (a slower step is reported, not failed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bundle=""; cpu_only=0; work=""; keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=$2; shift 2 ;;
    --cpu-only) cpu_only=1; shift ;;
    --work) work=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
t_start=$SECONDS
log() { echo "[gpu-check +$((SECONDS - t_start))s] $*" >&2; }
die() { echo "gpu-check: $*" >&2; exit 1; }

# ---- 0. the bundle
if [ -z "$work" ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/cm4j-gpu-check.XXXXXX")
  [ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
if [ -z "$bundle" ]; then
  [ -d "$here/jre" ] || die "no bundle: run from an unpacked bundle or pass --bundle FILE (scripts/gpu-bundle.sh makes one)"
  B=$here
elif [ -d "$bundle" ]; then
  B=$(cd "$bundle" && pwd)
else
  [ -f "$bundle" ] || die "--bundle $bundle does not exist"
  log "unpacking $bundle into $work"
  tar -xzf "$bundle" -C "$work"
  B="$work/cm4j-gpu-bundle"
fi
[ -x "$B/jre/bin/java" ] && [ -d "$B/lib" ] && [ -d "$B/native" ] || die "$B is not a cm4j GPU bundle (no jre/, lib/ or native/)"
JAVA="$B/jre/bin/java"
logs="$work/logs"; mkdir -p "$logs"

# ---- 1. PyTorch, its libtorch, CUDA
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || die "no $PY (set PYTHON to a Python with torch)"
read -r torch_version torch_cuda cuda_ok ngpu gpu_name torch_dir < <("$PY" - <<'PY'
import os, torch
ok = torch.cuda.is_available()
name = torch.cuda.get_device_name(0).replace(" ", "_") if ok else "-"
print(torch.__version__, torch.version.cuda or "-", int(ok), torch.cuda.device_count() if ok else 0, name,
      os.path.dirname(torch.__file__))
PY
) || die "$PY cannot import torch"
lt=${LIBTORCH:-$torch_dir}
[ -f "$lt/share/cmake/Torch/TorchConfig.cmake" ] && [ -d "$lt/lib" ] || die "$lt is not a libtorch (no share/cmake/Torch)"
if [ "$cpu_only" = 0 ]; then
  [ "$cuda_ok" = 1 ] || die "torch $torch_version of $PY sees no CUDA device (use --cpu-only for a dry run)"
  device=cuda:0; steps=${CM4J_GPU_STEPS:-200}; size=ddpmpp; batch=128
  warmup=${CM4J_GPU_WARMUP:-5}; reps=${CM4J_GPU_REPS:-20}
else
  device=cpu; steps=${CM4J_GPU_STEPS:-4}; size=small; batch=2; warmup=1; reps=2
fi
log "torch $torch_version (CUDA ${torch_cuda}), libtorch $lt, device $device"

# ---- 2. native build
cmake_args=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$lt")
[ -f /usr/include/gloo/config.h ] || cmake_args+=("-DCM_GLOO_INCLUDE_DIR=$B/gloo-include")
if [ "$torch_cuda" != "-" ] && [ -f "$lt/lib/libtorch_cuda.so" ]; then
  nvcc=$(command -v nvcc || true)
  [ -n "$nvcc" ] || { [ -n "${CUDA_HOME:-}" ] && nvcc="$CUDA_HOME/bin/nvcc"; }
  [ -x "${nvcc:-/nonexistent}" ] || die "a CUDA libtorch needs nvcc for CMake's CUDA detection: put it on PATH or set CUDA_HOME"
  cuda_home=${CUDA_HOME:-$(cd "$(dirname "$(readlink -f "$nvcc")")/.." && pwd)}
  # NCCL's and the CUDA libraries' headers: the toolkit's, else the nvidia-* wheels' next to torch.
  extra=$("$PY" - <<'PY'
import glob, os, torch
sp = os.path.dirname(os.path.dirname(torch.__file__))
print(";".join(sorted(glob.glob(os.path.join(sp, "nvidia", "*", "include")) + glob.glob(os.path.join(sp, "nvidia", "cu*", "include")))))
PY
)
  cap=$("$PY" -c 'import torch; c = torch.cuda.get_device_capability(0) if torch.cuda.is_available() else (9, 0); print(f"{c[0]}.{c[1]}")')
  cmake_args+=("-DCMAKE_CUDA_COMPILER=$nvcc" "-DCUDA_TOOLKIT_ROOT_DIR=$cuda_home" "-DTORCH_CUDA_ARCH_LIST=$cap"
    "-DCM_CUDA_EXTRA_INCLUDE_DIRS=$extra")
fi
bdir="$work/native-build"; nat="$work/native-out"; mkdir -p "$nat"
log "configuring and building native/ (log: $logs/native.log)"
t0=$SECONDS
{
  cmake -S "$B/native" -B "$bdir" "${cmake_args[@]}" && cmake --build "$bdir" -j"${CM4J_BUILD_JOBS:-$(nproc)}" \
    && "$bdir/cm_torch_selftest"
} >"$logs/native.log" 2>&1 || { tail -n 40 "$logs/native.log" >&2; die "native build failed (log above)"; }
native_s=$((SECONDS - t0))
nccl=$(sed -n 's/.*cm_torch: gloo \(ON\|OFF\), nccl \(ON\|OFF\).*/gloo \1, nccl \2/p' "$logs/native.log" | head -n1)
v=""
for vh in "$lt/include/torch/headeronly/version.h" "$lt/include/torch/csrc/api/include/torch/version.h"; do
  [ -f "$vh" ] || continue
  v=$(awk '/#define TORCH_VERSION_(MAJOR|MINOR|PATCH) /{printf "%s%s", sep, $3; sep="."}' "$vh"); [ -n "$v" ] && break
done
cp "$bdir/libcm_torch.so" "$nat/"
cat >"$nat/native.properties" <<EOF
# Written by gpu-check.sh
cm4j.version=gpu-check
libtorch.version=$v
libtorch.path=$lt
library=libcm_torch.so
library.sha256=$(sha256sum "$nat/libcm_torch.so" | cut -c1-16)
platform=linux-x86_64
EOF
export CM4J_NATIVE_PATH=$nat
log "native library built in ${native_s}s ($nccl)"

# ---- 3. the GPU test group
cp_tests="$B/test-classes:$B/lib/*"
jflags=(--enable-native-access=ALL-UNNAMED -Xss4m)
small=false; [ "$cpu_only" = 1 ] && small=true
log "GPU test group (log: $logs/tests.log)"
t0=$SECONDS
set +e
NVIDIA_TF32_OVERRIDE=0 "$JAVA" "${jflags[@]}" -Dcm4j.gpu.steps="$steps" -Dcm4j.gpu.small=$small \
  -Dcm4j.gpu.fmnist="$B/fmnist" -cp "$cp_tests" dev.cm4j.gpu.GpuTestRunner >"$logs/tests.log" 2>&1
tests_rc=$?
set -e
tests_s=$((SECONDS - t0))
grep -E '^(PASS|FAIL|SKIP)  ' "$logs/tests.log" >&2 || true

# ---- 4. step timings: cm4j (cm-bench GpuStep) and PyTorch (tools/bench/gpu_reference.py), alternating sides
: >"$logs/timing.tsv"
t0=$SECONDS
time_side() { # side objective precision
  local out
  if [ "$1" = java ]; then
    out=$("$JAVA" "${jflags[@]}" -cp "$B/lib/*" dev.cm4j.bench.GpuStep "$2" "$device" "$3" "$batch" "$size" \
      "$warmup" "$reps" 2>>"$logs/timing.log") || { echo "java $2 $3 failed (see $logs/timing.log)" >&2; return 1; }
  else
    out=$("$PY" "$B/tools/bench/gpu_reference.py" "$2" --device "$device" --precision "$3" --batch "$batch" \
      --size "$size" --warmup "$warmup" --reps "$reps" --ect "$B/ect" --bench-dir "$B/bench" 2>>"$logs/timing.log") \
      || { echo "torch $2 $3 failed (see $logs/timing.log)" >&2; return 1; }
  fi
  echo "$out" | grep '^gpu_step' >>"$logs/timing.tsv"
}
export NVIDIA_TF32_OVERRIDE=0 # full float32 on both sides, as ECT's default --tf32=False
timing_ok=1
for case in "ect fp32" "ect bf16" "sct fp32"; do
  set -- $case
  log "timing $1 $2: cm4j, then PyTorch"
  time_side java "$1" "$2" || timing_ok=0
  time_side torch "$1" "$2" || timing_ok=0
done
timing_s=$((SECONDS - t0))

# ---- 5. summary
total=$((SECONDS - t_start))
{
  echo "=============================== cm4j gpu-check summary ==============================="
  echo "mode       $([ "$cpu_only" = 1 ] && echo 'DRY RUN (--cpu-only): CPU, tiny sizes; no CUDA was exercised' || echo "GPU: $ngpu x ${gpu_name//_/ }")"
  echo "torch      $torch_version (CUDA $torch_cuda) from $PY; libtorch $v"
  echo "bundle     $(sed -n 2p "$B/BUNDLE.txt" 2>/dev/null)"
  echo "native     built in ${native_s}s against $lt ($nccl)"
  echo "tests      $(grep '^GPU group:' "$logs/tests.log" || echo 'runner did not finish') in ${tests_s}s (exit $tests_rc)"
  grep -E '^FAIL  ' "$logs/tests.log" | cut -c1-150 | head -n 6 | sed 's/^/           /' || true
  # skips grouped by reason: "N x reason"
  sed -n 's/^SKIP  [^|]* | \(.*\) (after [0-9.]* s)$/\1/p' "$logs/tests.log" | cut -c1-100 | sort | uniq -c | sort -rn \
    | head -n 4 | awk '{ n = $1; $1 = ""; printf "           skipped %d x:%s\n", n, $0 }' || true
  echo "timing     $device, batch $batch, $size network, $warmup warm-up + $reps timed steps (ms per step, median / best)"
  printf '           %-14s %20s %20s %12s %s\n' step cm4j PyTorch "cm4j/torch" "(target <= 1.0)"
  awk -F'\t' '
    { key = $2 " " $3; med[key, $4] = $5; best[key, $4] = $6; par[key, $4] = $7; if (!(key in seen)) { seen[key] = 1; order[n++] = key } }
    END {
      for (i = 0; i < n; i++) {
        k = order[i]; j = med[k, "java"]; t = med[k, "torch"]
        ratio = (j > 0 && t > 0) ? sprintf("%.3f", j / t) : "-"
        verdict = (ratio == "-") ? "missing" : (j / t <= 1.0 ? "ok" : "slower")
        ref = (k ~ /^ect/) ? "locuslab/ect step" : "torch.func.jvp sCT"
        printf "           %-14s %9.1f / %8.1f %9.1f / %8.1f %12s %s (vs %s; params %s / %s)\n", k, j, best[k, "java"], t, best[k, "torch"], ratio, verdict, ref, par[k, "java"], par[k, "torch"]
      }
    }' "$logs/timing.tsv"
  [ "$cpu_only" = 0 ] || echo "           (dry run: 2 steps of a 16x16 network on a shared CPU say nothing about speed)"
  echo "           TF32 off everywhere (NVIDIA_TF32_OVERRIDE=0: ECT's default --tf32=False); cuDNN autotuning at"
  echo "           libtorch's default (off) on both sides (ECT's default --bench=False; cm train --bench turns it on)"
  echo "time       ${total}s in all (native ${native_s}s, tests ${tests_s}s, timing ${timing_s}s); target < 480s on one H100"
  echo "logs       $logs$([ "$keep" = 1 ] || echo ' (removed at exit; --keep keeps them)')"
  echo "======================================================================================"
} | tee "$logs/summary.txt"
[ "$tests_rc" = 0 ] && [ "$timing_ok" = 1 ]
