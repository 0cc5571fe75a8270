#!/usr/bin/env bash
# Installs what building and testing cm4j needs, idempotently: Debian's build tools (cmake, g++, maven, python3
# venv support, libgloo-dev), a JDK >= 22 check, libtorch 2.13.0 (CPU) and the reference Python venv. Safe to rerun.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "[install-deps] $*" >&2; }
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v mvn >/dev/null || need+=(maven)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# Fashion-MNIST for the CPU presets and data tests (Debian's dataset-fashion-mnist).
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
# gloo's headers for the c10d Gloo process group (the torch wheel has gloo's code but not its headers)
[ -f /usr/include/gloo/config.h ] || need+=(libgloo-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${need[*]}"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  else
    log "missing: ${need[*]} (install them, then rerun)"; exit 2
  fi
fi
"$root/scripts/jdk.sh" >/dev/null
"$root/scripts/find-libtorch.sh" >/dev/null
"$root/scripts/setup-venv.sh" >/dev/null
log "ok"
