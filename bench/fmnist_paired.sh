#!/usr/bin/env bash
# fmnist-ect-tiny training steps, paired and interleaved (bench/paired.py): cm4j's real Trainer (cm-bench
# dev.cm4j.bench.FmnistTrain serve, paced through a Trainer.StepListener) and the same loop in PyTorch
# (bench/fmnist_train.py serve) are alive at once and take turns one step each, so every round compares them under the
# same machine conditions. Sides: java (cm4j as it runs by default: its caching CPU allocator), java_torch_alloc (the
# same with libtorch's own CPU allocator, CM4J_CPU_ALLOCATOR=default), python. Batch BATCH, THREADS intra-op threads.
# Compared on wall time per step (images/s is batch / wall time): a step's wall time includes everything the training
# thread waits for; cm4j's loader prefetches on a background thread, which is part of what it offers.
#
# Usage: bench/fmnist_paired.sh [ROUNDS]   (default 30; env: BATCH (32), THREADS (1), WARMUP (5), SIDES (a subset of
#        "java java_torch_alloc python"), METRIC (wall|cpu), JAVA_OPTS, REBUILD=1)
source "$(dirname "$0")/common.sh"
rounds="${1:-${ROUNDS:-30}}"
batch="${BATCH:-32}"; threads="${THREADS:-1}"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
args=()
for s in ${SIDES:-java java_torch_alloc python}; do
  case "$s" in
    java) cmd="CM4J_CPU_ALLOCATOR=caching $(printf '%q ' "${java[@]}") dev.cm4j.bench.FmnistTrain serve $batch $threads $out/$s 2>$out/$s.err" ;;
    java_torch_alloc) cmd="CM4J_CPU_ALLOCATOR=default $(printf '%q ' "${java[@]}") dev.cm4j.bench.FmnistTrain serve $batch $threads $out/$s 2>$out/$s.err" ;;
    python) cmd="cd bench && $(printf '%q' "$py") fmnist_train.py serve $batch $threads 2>$out/$s.err" ;;
    *) log "unknown side $s"; exit 2 ;;
  esac
  args+=(--side "$s" "$cmd")
done
log "load average before: $(loadavg)"
"$py" bench/paired.py --bench "fmnist-ect-tiny, batch $batch" --metric "${METRIC:-wall}" --warmup "${WARMUP:-5}" \
  --rounds "$rounds" --ref python "${args[@]}" || { tail -n 20 "$out"/*.err >&2; exit 1; }
log "load average after: $(loadavg)"
machine_line
