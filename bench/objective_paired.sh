#!/usr/bin/env bash
# The objective steps of bench/objective_step.sh, timed paired and interleaved (bench/paired.py): all sides are alive
# at once and take turns one step each, so every round compares them under the same machine conditions (the method of
# bench/songunet_paired.sh). Per objective, the sides are java (cm-bench's ObjectiveStep serve) and each Python
# variant of bench/objective_step.py (its default variants, or PY_VARIANTS), every Python side a reference.
# A parity check per objective runs first (as in objective_step.sh; SKIP_PARITY=1 skips it).
#
# Objectives: meanflow, meanflow_v (the default), ayf, imm (issue 14 §5; and ect, sct, ctm of objective_step.sh); imm's
# Python side imports upstream lumalabs/imm from IMM_UPSTREAM (a checkout or bare git directory; default
# /work/.mirror/lumalabs+imm/repo, the fetch tool's mirror), as tools/imm_reference.py does.
#
# Usage: bench/objective_paired.sh [ROUNDS]   (default 40; env: OBJECTIVES (default "meanflow meanflow_v"; e.g.
#        OBJECTIVES="ayf imm"),
#        WARMUP (3), PY_VARIANTS (comma-separated, e.g. "fused+func,fused+fwad2"), METRIC (cpu|wall, default cpu),
#        SKIP_PARITY=1, JAVA_OPTS, REBUILD=1)
source "$(dirname "$0")/common.sh"
rounds="${1:-${ROUNDS:-40}}"
objectives="${OBJECTIVES:-meanflow meanflow_v}"

if [ "${SKIP_PARITY:-0}" != 1 ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  for o in $objectives; do
    log "parity ($o): Java exports, Python checks"
    "${java[@]}" dev.cm4j.bench.ObjectiveStep export "$o" "$out/export-$o.safetensors" 2> >(grep -v NNPACK >&2)
    (cd bench && "$py" objective_step.py check "$o" "$out/export-$o.safetensors" --upstream "$ref_dir") \
      2> >(grep -v NNPACK >&2) || { log "parity check FAILED for $o"; exit 1; }
  done
fi

for o in $objectives; do
  variants="${PY_VARIANTS:-$(cd bench && "$py" -c "import objective_step as s; print(s.OBJECTIVES['$o'][1])")}"
  args=(--side java "$(printf '%q ' "${java[@]}") dev.cm4j.bench.ObjectiveStep serve $o 2>/dev/null")
  refs=()
  for v in ${variants//,/ }; do
    args+=(--side "py_$v" "cd bench && $(printf '%q' "$py") objective_step.py serve $o --variants $v 2>/dev/null")
    refs+=(--ref "py_$v")
  done
  log "$o: load average before: $(loadavg)"
  "$py" bench/paired.py --bench "$o" --metric "${METRIC:-cpu}" --warmup "${WARMUP:-3}" --rounds "$rounds" \
    "${refs[@]}" "${args[@]}"
  log "$o: load average after: $(loadavg)"
done
machine_line
