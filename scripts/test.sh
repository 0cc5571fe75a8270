#!/usr/bin/env bash
# Runs every test: installs what is missing (scripts/install-deps.sh), builds the native library, the bindings
# and the Java modules, and runs the JUnit suites with the reference Python venv available to parity tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
export CM4J_PYTHON=$("$root/scripts/setup-venv.sh")
exec "$root/scripts/mvn.sh" install "$@"
