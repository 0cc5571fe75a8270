#!/usr/bin/env bash
# The SongUNet training step of bench/songunet_step.sh, timed paired and interleaved (bench/paired.py): all sides are
# alive at once and take turns one step each, so every round compares them under the same machine conditions.
# Sides: java (cm4j as it runs by default: its caching CPU allocator), java_torch_alloc (the same with libtorch's own
# CPU allocator, CM4J_CPU_ALLOCATOR=default), py_default (torch.optim.Adam as constructed by default), py_fused
# (Adam(fused=True)); 1 intra-op thread everywhere. Run bench/songunet_step.sh first for the parity check (the
# sides here are the same code).
#
# Usage: bench/songunet_paired.sh [ROUNDS]   (default 12; env: CASE=ddpmpp|small (ddpmpp), WARMUP (2), SIDES
#        (a subset of "java java_torch_alloc py_default py_fused"), JAVA_OPTS, REBUILD=1)
source "$(dirname "$0")/common.sh"
rounds="${1:-${ROUNDS:-12}}"
case_="${CASE:-ddpmpp}"
args=(); refs=()
for s in ${SIDES:-java java_torch_alloc py_default py_fused}; do
  case "$s" in
    java) cmd="CM4J_CPU_ALLOCATOR=caching $(printf '%q ' "${java[@]}") dev.cm4j.bench.SongUNetStep serve $case_" ;;
    java_torch_alloc) cmd="CM4J_CPU_ALLOCATOR=default $(printf '%q ' "${java[@]}") dev.cm4j.bench.SongUNetStep serve $case_" ;;
    py_default) cmd="cd bench && $(printf '%q' "$py") songunet_step.py serve $case_ --variants default" ;;
    py_fused) cmd="cd bench && $(printf '%q' "$py") songunet_step.py serve $case_ --variants fused" ;;
    *) log "unknown side $s"; exit 2 ;;
  esac
  args+=(--side "$s" "$cmd")
  case "$s" in py_*) refs+=(--ref "$s") ;; esac
done
log "load average before: $(loadavg)"
"$py" bench/paired.py --bench "songunet_$case_" --warmup "${WARMUP:-2}" --rounds "$rounds" "${refs[@]}" "${args[@]}"
log "load average after: $(loadavg)"
machine_line
