#!/usr/bin/env bash
# Create (idempotently) the reference Python venv: torch 2.13.0+cpu (the same libtorch cm4j links), numpy,
# scipy, safetensors. Prints the venv's python on stdout. Used by parity fixtures and benchmarks.
set -euo pipefail
TORCH_PIN="${CM4J_TORCH_VERSION:-2.13.0+cpu}"
CACHE="${CM4J_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cm4j}"
VENV="${CM4J_VENV:-$CACHE/venv-torch-${TORCH_PIN}}"
log() { echo "[setup-venv] $*" >&2; }
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import torch, numpy, scipy, safetensors' 2>/dev/null; then
  echo "$VENV/bin/python"; exit 0
fi
log "creating $VENV"
python3 -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --retries 0 --timeout 2 -q "torch==$TORCH_PIN" numpy scipy safetensors >&2
"$VENV/bin/python" -c 'import torch, numpy, scipy, safetensors; print("torch", torch.__version__)' >&2
echo "$VENV/bin/python"
