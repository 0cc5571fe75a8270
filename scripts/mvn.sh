#!/usr/bin/env bash
# Runs Maven with a JDK >= 22 (found by scripts/jdk.sh), in batch mode, from the repository root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export JAVA_HOME=$("$root/scripts/jdk.sh")
command -v mvn >/dev/null || { echo "Maven (mvn) is not installed: apt-get install maven" >&2; exit 2; }
cd "$root"
exec mvn -B -ntp "$@"
