#!/usr/bin/env bash
# Peak memory of a training step with a forward-mode JVP (sCT, MeanFlow) against a plain forward + backward of the
# same network, Java (cm-bench: dev.cm4j.bench.JvpMemory, cm-core's SCM and MeanFlow) beside PyTorch
# (bench/jvp_memory.py: the same steps written out in torch, JVP by torch.autograd.forward_ad and by torch.func.jvp),
# on the small SongUNet of the step benchmarks ({"img_resolution":16,"img_channels":3,"model_channels":32,
# "channel_mult":[1,2],"num_blocks":1,"attn_resolutions":[8]}, dropout 0.10, training mode; MeanFlow's with the
# second-time path), batch 8, 1 intra-op thread, no optimizer step. One fresh process per measurement.
#
# Two instruments, the same on both sides:
#   - live bytes: cm4j's caching CPU allocator (native/src/alloc.cpp) counts every CPU allocation (configured for
#     blocks of 1 byte and more, caching nothing); the Python side loads the same libcm_torch.so with ctypes and
#     installs it as c10's CPU allocator. Reported: its peak during the step minus the live bytes before it.
#   - VmHWM: the resident set's high-water mark, reset through /proc/self/clear_refs just before the step (Java with
#     a fixed, pre-touched heap so the JVM's heap does not grow during the step). The last column runs PyTorch with
#     its own allocator (glibc malloc, trimmed before the step).
#
# Diagnostics: sCT's network forward under no-grad and its JVP pass alone (under no-grad), both sides; the same two
# for an EDM2 U-Net and a DhariwalUNet of the same size, Java only.
#
# Usage: bench/jvp_memory.sh [ROUNDS]   (default 3; env: BATCH=8, JAVA_OPTS, REBUILD=1)
JAVA_OPTS="${JAVA_OPTS:-} -Xms256m -Xmx256m -XX:+AlwaysPreTouch"
source "$(dirname "$0")/common.sh"
rounds="${1:-${ROUNDS:-3}}"
batch="${BATCH:-8}"
export CM4J_LIB=$("${java[@]}" dev.cm4j.bench.JvpMemory library)  # the library (and allocator) Java loads
log "native library: $CM4J_LIB"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rows="$out/rows.jsonl"
for r in $(seq 1 "$rounds"); do
  for v in sct-plain sct mf-plain mf sct-fwd sct-jvp edm2-fwd edm2-jvp adm-fwd adm-jvp; do
    log "round $r/$rounds $v (load $(loadavg))"
    "${java[@]}" dev.cm4j.bench.JvpMemory "$v" "$batch" >> "$rows" 2>> "$out/stderr"
    case "$v" in edm2-*|adm-*) continue ;; esac  # Java only (bench/ has no PyTorch EDM2 or ADM network)
    (cd bench && "$py" jvp_memory.py "$v" --batch "$batch") >> "$rows" 2>> "$out/stderr"
    (cd bench && "$py" jvp_memory.py "$v" --batch "$batch" --alloc default) >> "$rows" 2>> "$out/stderr"
    case "$v" in *plain|*fwd) ;; *) (cd bench && "$py" jvp_memory.py "$v" --batch "$batch" --jvp func) >> "$rows" 2>> "$out/stderr" ;; esac
  done
done
machine_line
echo "# batch $batch, rounds $rounds; load average (1/5/15 min) at the end: $(loadavg)"
"$py" bench/jvp_memory.py table "$rows" "$rounds"
