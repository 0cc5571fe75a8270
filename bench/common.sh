# Shared setup of the step benchmarks (bench/songunet_step.sh, bench/objective_step.sh, bench/loader_throughput.sh);
# sourced, not run. Sets: root, py (the reference venv's python: torch 2.13.0+cpu), jdk, java (an array: the java
# command with cm-bench's class path), ref_dir (the upstream reference fixtures, cm-core/src/test/resources/reference,
# rebuilt by tools/make_reference_fixtures.py), and the helpers
# log, loadavg and step_table.
#
# Builds what is missing: the Java modules (scripts/mvn.sh -q -DskipTests package -pl cm-bench -am, offline first,
# never install) when cm-bench's jar or its dependencies are missing, when a source file of cm-bench, cm-core,
# bindings or native is newer than the jar, or when REBUILD=1; the reference venv with scripts/setup-venv.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log() { echo "[$(basename "$0" .sh)] $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

py=$(scripts/setup-venv.sh)
jdk=$(scripts/jdk.sh)

jar=$(ls cm-bench/target/cm4j-bench-*.jar 2>/dev/null | grep -v -e sources -e javadoc | head -n1 || true)
stale=""
if [ -n "$jar" ] && [ -d cm-bench/target/lib ]; then
  stale=$(find cm-bench/src cm-core/src/main bindings/src native/src native/include -type f -newer "$jar" 2>/dev/null \
    | head -n1 || true)
fi
if [ -z "$jar" ] || [ ! -d cm-bench/target/lib ] || [ -n "$stale" ] || [ "${REBUILD:-0}" = 1 ]; then
  log "building the Java modules (scripts/mvn.sh -q -DskipTests package -pl cm-bench -am${stale:+; newer: $stale})"
  scripts/mvn.sh -o -q -DskipTests package -pl cm-bench -am >&2 || scripts/mvn.sh -q -DskipTests package -pl cm-bench -am >&2
  jar=$(ls cm-bench/target/cm4j-bench-*.jar | grep -v -e sources -e javadoc | head -n1)
fi
java=("$jdk/bin/java" --enable-native-access=ALL-UNNAMED ${JAVA_OPTS:-} -cp "$jar:$(ls cm-bench/target/lib/*.jar | paste -sd:)")

ref_dir="$root/cm-core/src/test/resources/reference"

machine_line() {
  echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs;" \
    "$("$jdk/bin/java" -version 2>&1 | head -n1); torch $("$py" -c 'import torch; print(torch.__version__)')"
}

# step_table OUTDIR ROUNDS BENCH...: the tables of bench/step_table.py from OUTDIR/*.<round> files.
step_table() { "$py" bench/step_table.py "$@"; }
