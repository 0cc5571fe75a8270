#!/usr/bin/env bash
# One SongUNet training step (EDMPrecond(SongUNet) forward, loss mean((D(x+σn, σ) − x)²), backward, Adam), Java
# (cm-bench: dev.cm4j.bench.SongUNetStep, cm-core's API as a user writes it) against PyTorch (bench/songunet_step.py
# on bench/edm_songunet.py, EDM's network), 1 intra-op thread on both sides, for
#   small:  {"img_resolution":16,"img_channels":3,"model_channels":32,"channel_mult":[1,2],"num_blocks":1,
#            "attn_resolutions":[8]} (dropout: SongUNet's default 0.10), batch 8;
#   ddpmpp: CIFAR-10 DDPM++ (SongUNet.Config.ddpmpp(32, 3, 0), 55.7 M parameters), batch 4.
#
# First a parity check proves both sides time the same model: Java exports its initial weights, an input batch, the
# eval-mode output and the gradients; Python loads the weights into its network and must match the parameter names,
# shapes and count, the output (≤ 1e-4 relative) and the gradients (≤ 1e-3 relative); and
# bench/edm_songunet.py is checked against EDM's own output in the upstream fixture (cm-core/src/test/resources/
# reference/songunet-ddpmpp-small.safetensors).
#
# Then ROUNDS rounds, each running a fresh process per side and case, sides alternating which goes first.
# Sides: java (the step as written), java_scoped (diagnostic: the forward pass in its own TensorScope),
# py_default (torch.optim.Adam with its CPU default, the per-tensor loop), py_fused (Adam(fused=True), the
# kernel cm4j's Adam uses by default).
#
# Usage: bench/songunet_step.sh [ROUNDS]    (default 3; env: CASES="small ddpmpp", QUICK=1 for a smoke run,
#        TIMING_small / TIMING_ddpmpp = "warmupSteps,warmupSeconds,reps" (defaults 3,2.0,21 and 2,0,5),
#        SKIP_PARITY=1, JAVA_OPTS, REBUILD=1)
source "$(dirname "$0")/common.sh"
rounds="${1:-${ROUNDS:-3}}"
cases="${CASES:-small ddpmpp}"
timing() {
  if [ "${QUICK:-0}" = 1 ]; then echo "0,0,2"; return; fi
  local v="TIMING_$1"
  echo "${!v:-default}"
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ "${SKIP_PARITY:-0}" != 1 ]; then
  for c in $cases; do
    log "parity ($c): Java exports, Python checks"
    "${java[@]}" dev.cm4j.bench.SongUNetStep export "$c" "$out/export-$c.safetensors"
    (cd bench && "$py" songunet_step.py check "$c" "$out/export-$c.safetensors" --upstream "$ref_dir") \
      || { log "parity check FAILED for $c"; exit 1; }
    rm -f "$out/export-$c.safetensors"
  done
fi

mkdir -p "$out/t"
log "load average before: $(loadavg)"
for r in $(seq 1 "$rounds"); do
  for c in $cases; do
    t=$(timing "$c")
    run_java() { log "round $r/$rounds $c: Java (load $(loadavg))"; "${java[@]}" dev.cm4j.bench.SongUNetStep time "$c" "$t" > "$out/t/java.$c.$r"; }
    run_py() { log "round $r/$rounds $c: Python (load $(loadavg))"; (cd bench && "$py" songunet_step.py time "$c" --timing "$t") > "$out/t/py.$c.$r"; }
    if [ $((r % 2)) = 1 ]; then run_java; run_py; else run_py; run_java; fi
  done
done
log "load average after: $(loadavg)"
machine_line >&2
echo "# rounds $rounds${QUICK:+ (quick)}; load average (1/5/15 min) at the end: $(loadavg)"
step_table "$out/t" $(for c in $cases; do echo "songunet_$c"; done)
