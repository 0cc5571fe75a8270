#!/usr/bin/env bash
# Build-only check of native/ against a CUDA 13 libtorch, so the CUDA code paths (NCCL process groups included)
# compile and link on a machine without a GPU. Needs a CUDA 13 toolkit (nvcc; nvrtc may be missing) but no GPU,
# cuDNN or NCCL library; NCCL's and cuBLAS/cuSPARSE/cuSOLVER's headers come from the nvidia-* wheels if the
# toolkit lacks them (step 2b).
#  1. finds the CUDA toolkit root ($CUDA_HOME, else from the nvcc on PATH, else /usr/local/cuda);
#  2. resolves a CUDA libtorch: $LIBTORCH_CUDA, else $CACHE/libtorch-<pin>-cu13, else `pip download
#     torch==<pin>` and unzips torch/{lib,include,share} into it (atomic rename; the wheel is then deleted);
#  2b. finds nccl.h and the cuBLAS/cuSPARSE/cuSOLVER headers in the toolkit, else in $CACHE/cuda13-dev-headers,
#     else `pip download --no-deps nvidia-nccl-cu13 nvidia-cublas nvidia-cusparse nvidia-cusolver` and keeps
#     only their include directories there;
#  3. configures (with -DCM_WITH_NCCL=ON) and builds the cm_torch target (not the selftest: it cannot link or
#     run without the wheel's nvidia-* libraries) in its own build dir, kept for incremental reruns, with -O0 (a check
#     needs no optimisation; halves the compile time) and -Wl,-z,defs (every symbol libcm_torch.so uses
#     must resolve in the libraries it links);
#  4. checks that libcm_torch.so has libtorch_cuda.so and libc10_cuda.so among its NEEDED entries.
# Prints one line, PASS or FAIL, on stdout; progress and build output go to stderr. Exit 0 only on PASS.
# Env: CM4J_CUDA_TORCH_VERSION (default 2.14.1), LIBTORCH_CUDA, CUDA_HOME, CM4J_CACHE,
#      CM4J_CUDA_BUILD (build root, default ${TMPDIR:-/tmp}/cm4j-cuda-build), CM4J_BUILD_JOBS (default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TORCH_PIN="${CM4J_CUDA_TORCH_VERSION:-2.14.1}"
CACHE="${CM4J_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cm4j}"
JOBS="${CM4J_BUILD_JOBS:-2}"
log() { echo "[check-cuda-build +${SECONDS}s] $*" >&2; }
valid() { [ -d "$1/lib" ] && [ -d "$1/include/torch" ] && [ -f "$1/share/cmake/Torch/TorchConfig.cmake" ] \
  && [ -f "$1/lib/libtorch_cuda.so" ] && [ -f "$1/lib/libc10_cuda.so" ]; }
stage="start"; verdict=""; scratch=""
finish() {
  rc=$?
  [ -z "$scratch" ] || rm -rf "$scratch"
  [ -n "$verdict" ] || verdict="FAIL: CUDA build check failed at stage '$stage' (exit $rc)"
  echo "$verdict [${SECONDS}s]"
}
trap finish EXIT

# ---- 1. CUDA toolkit root
stage="find CUDA toolkit"
has_cudart() { [ -f "$1/include/cuda_runtime.h" ] && { [ -e "$1/lib64/libcudart.so" ] || [ -e "$1/lib/libcudart.so" ]; }; }
cuda=""
for c in "${CUDA_HOME:-}" "${CUDA_PATH:-}"; do
  [ -n "$c" ] && has_cudart "$c" && { cuda=$c; break; }
done
if [ -z "$cuda" ] && command -v nvcc >/dev/null 2>&1; then
  # nvcc may be a wrapper script (here /usr/local/bin/nvcc execs the toolkit's), so ask nvcc itself.
  bin=$(cd "${TMPDIR:-/tmp}" && nvcc --dryrun -E -x cu /dev/null 2>&1 | sed -n 's/^#\$ _HERE_=//p' | head -n1 || true)
  [ -n "$bin" ] || bin=$(dirname "$(readlink -f "$(command -v nvcc)")")
  c=$(cd "$bin/.." && pwd -P) && has_cudart "$c" && cuda=$c
fi
[ -n "$cuda" ] || { has_cudart /usr/local/cuda && cuda=$(readlink -f /usr/local/cuda); }
[ -n "$cuda" ] || { log "no CUDA toolkit found (set CUDA_HOME, or put nvcc on PATH)"; exit 2; }
[ -x "$cuda/bin/nvcc" ] || { log "$cuda has no bin/nvcc"; exit 2; }
libdir="$cuda/lib64"; [ -e "$libdir/libcudart.so" ] || libdir="$cuda/lib"
cudart="$libdir/libcudart.so"
# TorchConfig puts CUDA_nvrtc_LIBRARY into TORCH_LIBRARIES. This toolkit may lack nvrtc; then name cudart,
# which is linked anyway, so no extra NEEDED entry appears (nvrtc is only needed at run time for JIT kernels).
nvrtc="$libdir/libnvrtc.so"; [ -e "$nvrtc" ] || nvrtc="$cudart"
log "CUDA toolkit: $cuda ($("$cuda/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"

# ---- 2. CUDA libtorch (cached, unpacked once)
stage="resolve CUDA libtorch"
if [ -n "${LIBTORCH_CUDA:-}" ]; then
  valid "$LIBTORCH_CUDA" || { log "LIBTORCH_CUDA=$LIBTORCH_CUDA is not a CUDA libtorch directory"; exit 2; }
  lt=$LIBTORCH_CUDA
else
  lt="$CACHE/libtorch-${TORCH_PIN}-cu13"
  if valid "$lt"; then
    log "using cached $lt"
  else
    command -v python3 >/dev/null || { log "no python3 to run pip download"; exit 2; }
    mkdir -p "$CACHE"
    [ ! -e "$lt" ] || rm -rf "$lt"  # an invalid leftover (never a half-moved one: the move is atomic)
    tmp=$(mktemp -d "$CACHE/.cuda-unzip.XXXXXX"); scratch=$tmp
    log "pip download torch==$TORCH_PIN (CUDA wheel, ~550 MB) into $tmp"
    if ! python3 -m pip download --no-deps --retries 0 --timeout 2 -d "$tmp/wheel" "torch==$TORCH_PIN" >&2; then
      log "could not obtain torch==$TORCH_PIN: set LIBTORCH_CUDA to a CUDA libtorch directory"; exit 2
    fi
    whl=$(ls "$tmp"/wheel/torch-*.whl | head -n1)
    log "unzipping torch/{lib,include,share} from $(basename "$whl")"
    python3 - "$whl" "$tmp/x" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for m in z.infolist():
        n = m.filename
        if n.startswith(("torch/lib/", "torch/include/", "torch/share/")) or n in ("torch/version.py",):
            z.extract(m, out)
            if n.startswith("torch/lib/") and not n.endswith("/"):
                os.chmod(os.path.join(out, n), 0o755)
PY
    rm -rf "$tmp/wheel"
    cu=$(sed -n "s/^cuda[^=]*= *'\([0-9.]*\)'.*/\1/p" "$tmp/x/torch/version.py")
    case "$cu" in
      13.*) ;;
      *) log "torch==$TORCH_PIN from pip is not a CUDA 13 build (torch.version.cuda='$cu')"; exit 2 ;;
    esac
    valid "$tmp/x/torch" || { log "the wheel lacks torch/lib/libtorch_cuda.so or the CMake files"; exit 2; }
    # Atomic publish; if a concurrent run won the race, keep its copy.
    mv -T "$tmp/x/torch" "$lt" 2>/dev/null || valid "$lt" || { log "could not move the libtorch into $lt"; exit 2; }
    log "CUDA libtorch (cuda $cu) ready at $lt ($(du -sh "$lt" | cut -f1))"
  fi
fi

# ---- 2b. CUDA library headers for the NCCL process group (ProcessGroupNCCL.hpp includes nccl.h and, through
# ATen/cuda/CUDAContext.h, the cuBLAS/cuSPARSE/cuSOLVER headers). A minimal toolkit lacks them: take the include
# directories of the nvidia-* wheels (`pip download --no-deps`, cached; the wheels are then deleted).
stage="CUDA library headers"
need_h=(nccl.h cublas_v2.h cublasLt.h cusparse.h cusolverDn.h cusolver_common.h)
have_headers() { local h; for h in "${need_h[@]}"; do [ -f "$1/$h" ] || return 1; done; }
extra_inc=""
if ! have_headers "$cuda/include"; then
  extra_inc="$CACHE/cuda13-dev-headers/include"
  if have_headers "$extra_inc"; then
    log "using cached CUDA library headers in $extra_inc"
  else
    command -v python3 >/dev/null || { log "no python3 to run pip download"; exit 2; }
    mkdir -p "$CACHE"
    [ ! -e "$CACHE/cuda13-dev-headers" ] || rm -rf "$CACHE/cuda13-dev-headers"
    [ -z "$scratch" ] || rm -rf "$scratch"
    tmp=$(mktemp -d "$CACHE/.cuda-headers.XXXXXX"); scratch=$tmp
    wheels=(nvidia-nccl-cu13 nvidia-cublas nvidia-cusparse nvidia-cusolver)
    log "pip download ${wheels[*]} (headers only are kept) into $tmp"
    if ! python3 -m pip download --no-deps --retries 0 --timeout 2 -d "$tmp/wheel" "${wheels[@]}" >&2; then
      log "could not obtain ${wheels[*]}: install NCCL/cuBLAS/cuSPARSE/cuSOLVER headers into $cuda/include"; exit 2
    fi
    python3 - "$tmp/x/include" "$tmp"/wheel/*.whl <<'PY'
import sys, zipfile, os
out = sys.argv[1]
for whl in sys.argv[2:]:
    with zipfile.ZipFile(whl) as z:
        for m in z.infolist():
            parts = m.filename.split("/")
            if "include" in parts and not m.filename.endswith("/"):
                rel = "/".join(parts[parts.index("include") + 1:])
                dst = os.path.join(out, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                with z.open(m) as src, open(dst, "wb") as f:
                    f.write(src.read())
PY
    rm -rf "$tmp/wheel"
    have_headers "$tmp/x/include" || { log "the nvidia-* wheels lack one of: ${need_h[*]}"; exit 2; }
    mv -T "$tmp/x" "$CACHE/cuda13-dev-headers" 2>/dev/null || have_headers "$extra_inc" \
      || { log "could not move the headers into $CACHE/cuda13-dev-headers"; exit 2; }
    log "CUDA library headers ready in $extra_inc"
  fi
fi

# ---- 3. configure + build
stage="configure"
key=$(echo -n "$here|$lt|$cuda" | sha256sum | cut -c1-12)
bdir="${CM4J_CUDA_BUILD:-${TMPDIR:-/tmp}/cm4j-cuda-build}/cmake-$key"
flags=(
  -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_CXX_FLAGS_RELEASE=-O0 -DNDEBUG"
  "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-z,defs"
  "-DCMAKE_PREFIX_PATH=$lt"
  "-DCMAKE_CUDA_COMPILER=$cuda/bin/nvcc"
  "-DCUDA_TOOLKIT_ROOT_DIR=$cuda"
  "-DCUDA_INCLUDE_DIRS=$cuda/include"
  "-DCUDA_CUDART_LIBRARY=$cudart"
  "-DCUDA_nvrtc_LIBRARY=$nvrtc"
  -DTORCH_CUDA_ARCH_LIST=8.0
  -DCM_WITH_NCCL=ON
  "-DCM_CUDA_EXTRA_INCLUDE_DIRS=$extra_inc"
)
stamp="$bdir/.cm4j-flags"
if [ ! -f "$bdir/CMakeCache.txt" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${flags[*]}" ]; then
  rm -rf "$bdir"; mkdir -p "$bdir"
  log "configuring $bdir"
  if ! cmake -S "$here" -B "$bdir" "${flags[@]}" >"$bdir/configure.log" 2>&1; then
    cat "$bdir/configure.log" >&2; exit 1
  fi
  printf '%s' "${flags[*]}" >"$stamp"
else
  log "reusing $bdir"
fi
stage="build"
log "building target cm_torch (-j$JOBS)"
cmake --build "$bdir" --target cm_torch -j"$JOBS" >&2

# ---- 4. verify
stage="verify"
so="$bdir/libcm_torch.so"
needed=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
missing=""
for lib in libtorch_cuda.so libc10_cuda.so; do
  case " $needed " in *" $lib "*) ;; *) missing="$missing $lib" ;; esac
done
if [ -n "$missing" ]; then
  verdict="FAIL: $so lacks NEEDED$missing (has: $needed)"
  exit 1
fi
verdict="PASS: libcm_torch.so built against CUDA libtorch $(basename "$lt") with CUDA $(basename "$cuda"); NEEDED has libtorch_cuda.so libc10_cuda.so"
