#!/usr/bin/env bash
# One training step per consistency objective on the small SongUNet ({"img_resolution":16,"img_channels":3,
# "model_channels":32,"channel_mult":[1,2],"num_blocks":1,"attn_resolutions":[8]}, dropout 0.10), batch 8, Java
# (cm-bench: dev.cm4j.bench.ObjectiveStep, cm-core's objectives) against PyTorch (bench/objective_step.py, the same
# computation written out in torch), 1 intra-op thread on both sides:
#   ect: ECT stage 1 (EDMPrecond.ect, CIFAR-10 settings), student pass + no-grad target pass with shared dropout;
#   sct: sCT (TrigFlowPrecond IDENTITY, AdaptiveWeight(128), forward-mode JVP: torch.autograd.forward_ad in Python);
#   ctm: CTM with the s path, teacher EDMPrecond of the same small network, k = 3 Heun steps, DSM with λ_DSM;
#   meanflow, meanflow_v: MeanFlow's u-loss / iMF's v-loss (CIFAR-10 settings; TwoTimeNetwork on the SongUNet with the
#     second-time path; Python: tools/meanflow_reference.py's loss, JVP forms +func, +fwad2, +func2). Not in the
#     default list: they are timed paired (bench/objective_paired.sh); OBJECTIVES="meanflow" runs them here too.
#   ayf: Align Your Flow (AYF-EMD, AlignYourFlow.Config.defaults()), the teacher a second, fixed small SongUNet under
#     EDMPrecond as a flow velocity; Python: tools/ayf_reference.py's loss (as its songunet_step);
#   imm: IMM (CIFAR-10 settings, M 4), IMMPrecond around the SongUNet with the second-time path; Python:
#     tools/imm_reference.py's loss on upstream lumalabs/imm's IMMPrecond (IMM_UPSTREAM, see objective_paired.sh).
#     ayf and imm (dropout 0, as their reference steps) are timed paired too; not in the default list.
# A step: draws, loss, mean, backward, Adam (lr 1e-3); no EMA.
#
# First a parity check per objective: Java exports weights, draws, per-sample losses and gradients (network
# dropout 0); Python recomputes them from the same weights and draws (≤ 1e-4 relative for losses, ≤ 1e-3 for
# gradients); and the Python ECT loss is checked against upstream ECT's in the reference fixture
# (cm-core/src/test/resources/reference/songunet-ddpmpp-small.safetensors).
#
# Sides: java (as written), java_scoped (diagnostic: ECT's network / CTM's teacher wrapped so each call runs in
# its own TensorScope), py_default (Adam's CPU default, the per-tensor loop), py_fused (Adam(fused=True)), and for
# sct py_fused+func (the JVP by torch.func.jvp); MeanFlow's variants name Adam and the JVP form (objective_step.py).
#
# Usage: bench/objective_step.sh [ROUNDS]   (default 3; env: OBJECTIVES="ect sct ctm", QUICK=1, TIMING =
#        "warmupSteps,warmupSeconds,reps" (default 3,2.0,21), SKIP_PARITY=1, JAVA_OPTS, REBUILD=1)
source "$(dirname "$0")/common.sh"
rounds="${1:-${ROUNDS:-3}}"
objectives="${OBJECTIVES:-ect sct ctm}"
t="${TIMING:-default}"
[ "${QUICK:-0}" = 1 ] && t="0,0,2"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ "${SKIP_PARITY:-0}" != 1 ]; then
  for o in $objectives; do
    log "parity ($o): Java exports, Python checks"
    "${java[@]}" dev.cm4j.bench.ObjectiveStep export "$o" "$out/export-$o.safetensors"
    (cd bench && "$py" objective_step.py check "$o" "$out/export-$o.safetensors" --upstream "$ref_dir") \
      || { log "parity check FAILED for $o"; exit 1; }
    rm -f "$out/export-$o.safetensors"
  done
fi

mkdir -p "$out/t"
log "load average before: $(loadavg)"
for r in $(seq 1 "$rounds"); do
  for o in $objectives; do
    run_java() { log "round $r/$rounds $o: Java (load $(loadavg))"; "${java[@]}" dev.cm4j.bench.ObjectiveStep time "$o" "$t" > "$out/t/java.$o.$r"; }
    run_py() { log "round $r/$rounds $o: Python (load $(loadavg))"; (cd bench && "$py" objective_step.py time "$o" --timing "$t") > "$out/t/py.$o.$r"; }
    if [ $((r % 2)) = 1 ]; then run_java; run_py; else run_py; run_java; fi
  done
done
log "load average after: $(loadavg)"
machine_line >&2
echo "# rounds $rounds${QUICK:+ (quick)}; load average (1/5/15 min) at the end: $(loadavg)"
step_table "$out/t" $objectives
