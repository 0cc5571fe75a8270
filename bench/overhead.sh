#!/usr/bin/env bash
# Per-op overhead of cm4j: the same tiny-tensor loops in C++ (libtorch directly), Java (cm-core's public API,
# harness dev.cm4j.bench.Overhead in cm-bench) and Python (torch of the reference venv: the same libtorch 2.13),
# all with 1 intra-op thread. Runs the sides interleaved ROUNDS times and prints µs per op and the ratios.
# A fourth side, "C API", runs the loops from C++ through cm4j's C API (bench/overhead_capi.cpp): the floor for
# any binding over that API, which splits Java's overhead into the shim's part and the JVM's part.
#
# Usage: bench/overhead.sh [ROUNDS]        (default 3; env: ROUNDS, QUICK=1 for a smoke run, JAVA_OPTS,
#                                          REBUILD=1 to rebuild the Java jars even if present)
# Builds what it needs: the C++ binary into $CM4J_CACHE/bench (default ~/.cache/cm4j/bench), keyed by the
# source and the libtorch directory; the Java jars with scripts/mvn.sh (package, not install: a benchmark run
# should not replace the snapshots in the local Maven repository) if cm-bench's jar is missing; the C API side
# into cm-bench/target.
# Each side times 31 repetitions per op after a warm-up, by its thread's CPU time (robust to other processes on
# a shared machine) and by wall-clock time. Tables: CPU time, median over rounds of the per-round medians (the
# headline); CPU time, best repetition; wall-clock time, best repetition.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds="${1:-${ROUNDS:-3}}"
quick=""; [ "${QUICK:-0}" = 1 ] && quick=quick
log() { echo "[overhead] $*" >&2; }

lt=$(scripts/find-libtorch.sh)
py=$(scripts/setup-venv.sh)
jdk=$(scripts/jdk.sh)

# --- C++ ---------------------------------------------------------------------------------------------------------
cache="${CM4J_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cm4j}/bench"
mkdir -p "$cache"
key=$( { cat bench/overhead.cpp; echo "$lt"; } | sha256sum | cut -c1-12)
cpp="$cache/overhead-$key"
if [ ! -x "$cpp" ]; then
  cxx="${CXX:-g++}"
  log "compiling bench/overhead.cpp with $cxx -O2 against $lt (a minute or two)"
  "$cxx" -O2 -std=c++20 -w -I"$lt/include" -I"$lt/include/torch/csrc/api/include" bench/overhead.cpp \
    -o "$cpp.tmp" -L"$lt/lib" -ltorch_cpu -lc10 -Wl,-rpath,"$lt/lib"
  mv -f "$cpp.tmp" "$cpp"
fi

# --- Java --------------------------------------------------------------------------------------------------------
jar=$(ls cm-bench/target/cm4j-bench-*.jar 2>/dev/null | grep -v -e sources -e javadoc | head -n1 || true)
if [ -z "$jar" ] || [ ! -d cm-bench/target/lib ] || [ "${REBUILD:-0}" = 1 ]; then
  log "building the Java modules (scripts/mvn.sh -q -DskipTests package -pl cm-bench -am; the first build compiles the native library)"
  scripts/mvn.sh -q -DskipTests package -pl cm-bench -am >&2
  jar=$(ls cm-bench/target/cm4j-bench-*.jar | grep -v -e sources -e javadoc | head -n1)
fi
# The C API side links the libcm_torch.so that the Java build packaged (so both run the same shim).
so_dir=$(dirname "$(ls bindings/target/classes/dev/cm4j/bindings/native/*/libcm_torch.so | head -n1)")
capi=cm-bench/target/overhead_capi
if [ ! -x "$capi" ] || [ bench/overhead_capi.cpp -nt "$capi" ] || [ "$so_dir/libcm_torch.so" -nt "$capi" ]; then
  log "compiling bench/overhead_capi.cpp against $so_dir/libcm_torch.so"
  "${CXX:-g++}" -O2 -std=c++17 -Inative/include bench/overhead_capi.cpp -o "$capi" -L"$so_dir" -lcm_torch \
    -Wl,-rpath,"$so_dir"
fi
cp="$jar:$(ls cm-bench/target/lib/*.jar | paste -sd:)"
java=("$jdk/bin/java" --enable-native-access=ALL-UNNAMED ${JAVA_OPTS:-} -cp "$cp" dev.cm4j.bench.Overhead)

# --- run, interleaved --------------------------------------------------------------------------------------------
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
  log "round $r/$rounds: C++"
  "$cpp" $quick > "$out/cpp.$r"
  log "round $r/$rounds: C API"
  "$capi" $quick > "$out/capi.$r"
  log "round $r/$rounds: Java"
  "${java[@]}" $quick > "$out/java.$r"
  log "round $r/$rounds: Python"
  "$py" bench/overhead.py $quick > "$out/python.$r"
done

# --- table -------------------------------------------------------------------------------------------------------
{
  echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs;" \
    "$("$jdk/bin/java" -version 2>&1 | head -n1);" \
    "torch $("$py" -c 'import torch; print(torch.__version__)'); libtorch $lt; rounds $rounds${quick:+ (quick)}"
} >&2
"$py" - "$out" "$rounds" <<'PY'
import statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
ops = ["add", "mul_scalar", "sum", "matmul64", "mlp_step"]
label = {"add": "add (+ release)", "mul_scalar": "mul scalar", "sum": "sum", "matmul64": "matmul 64x64",
         "mlp_step": "MLP autograd step"}
sides = [("cpp", "release", "C++"), ("capi", "release", "C API"), ("java", "scope", "Java scope"),
         ("java", "close", "Java close"), ("python", "release", "Python")]
data = {}  # (lang, op, variant) -> list over rounds of (cpu median, cpu best, wall median, wall best)
for lang in ("cpp", "capi", "java", "python"):
    for r in range(1, rounds + 1):
        for line in open(f"{out}/{lang}.{r}"):
            op, variant, *v = line.split("\t")
            data.setdefault((lang, op, variant), []).append([float(x) for x in v])

def table(title, col, agg):
    print(f"\n{title}")
    hdr = ["op"] + [f"{n} µs" for _, _, n in sides] + [
        "Java/C++ scope", "Java/C++ close", "Java/Py scope", "Java/Py close"]
    rows = []
    for op in ops:
        c, ca, js, jc, p = (agg([x[col] for x in data[(l, op, v)]]) for l, v, _ in sides)
        rows.append([label[op], f"{c:.2f}", f"{ca:.2f}", f"{js:.2f}", f"{jc:.2f}", f"{p:.2f}",
                     f"{js / c:.2f}", f"{jc / c:.2f}", f"{js / p:.2f}", f"{jc / p:.2f}"])
    w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + " |")
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print("| " + " | ".join(v.ljust(w[i]) if i == 0 else v.rjust(w[i]) for i, v in enumerate(r)) + " |")

table("Thread CPU time, median over rounds of each round's median (µs per op):", 0, statistics.median)
table("Thread CPU time, best repetition of all rounds (µs per op):", 1, min)
table("Wall-clock time, best repetition of all rounds (µs per op):", 3, min)
PY
