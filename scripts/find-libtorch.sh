#!/usr/bin/env bash
# Resolve a libtorch directory (one that has lib/, include/, share/cmake/Torch) and print its path on stdout.
# Order: $LIBTORCH -> an installed `torch` Python package -> `pip download torch==2.13.0+cpu` into a cache,
# unzipping torch/{lib,include,share} -> a clear error. Progress goes to stderr.
set -euo pipefail
TORCH_PIN="${CM4J_TORCH_VERSION:-2.13.0+cpu}"
CACHE="${CM4J_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cm4j}"
log() { echo "[find-libtorch] $*" >&2; }
valid() { [ -d "$1/lib" ] && [ -d "$1/include/torch" ] && [ -f "$1/share/cmake/Torch/TorchConfig.cmake" ]; }

if [ -n "${LIBTORCH:-}" ]; then
  if valid "$LIBTORCH"; then log "using LIBTORCH=$LIBTORCH"; echo "$LIBTORCH"; exit 0; fi
  log "LIBTORCH=$LIBTORCH is not a libtorch directory (needs lib/, include/torch, share/cmake/Torch)"; exit 2
fi

for py in "${PYTHON:-}" python3 python; do
  [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
  dir=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null || true)
  if [ -n "$dir" ] && valid "$dir"; then log "using the torch Python package of $py: $dir"; echo "$dir"; exit 0; fi
done

dest="$CACHE/libtorch-${TORCH_PIN}"
if valid "$dest"; then log "using cached $dest"; echo "$dest"; exit 0; fi
command -v python3 >/dev/null || { log "no python3 to run pip download"; exit 2; }
mkdir -p "$CACHE/wheels"
log "pip download torch==$TORCH_PIN into $CACHE/wheels"
if ! python3 -m pip download --no-deps --retries 0 --timeout 2 -d "$CACHE/wheels" "torch==$TORCH_PIN" >&2; then
  log "could not obtain libtorch: set LIBTORCH to a libtorch directory (CPU or CUDA), or install torch==$TORCH_PIN for python3"
  exit 2
fi
whl=$(ls -t "$CACHE"/wheels/torch-"${TORCH_PIN//+/?}"-*.whl 2>/dev/null | head -n1 || true)
[ -n "$whl" ] || whl=$(ls -t "$CACHE"/wheels/torch-*.whl | head -n1)
tmp=$(mktemp -d "$CACHE/.unzip.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "unzipping torch/{lib,include,share} from $(basename "$whl")"
python3 - "$whl" "$tmp" <<'PY'
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
rm -rf "$dest.partial"; mv "$tmp/torch" "$dest.partial"; mv -T "$dest.partial" "$dest"
log "libtorch ready at $dest"
echo "$dest"
