#!/usr/bin/env bash
# The toy2d study of docs/toy2d.md: ECT and sCT toy presets trained through cm4j's Trainer, scored on held-out
# eight-Gaussians points (bench/Toy2dStudy.java). Usage: bench/toy2d_study.sh [cell ...]; with no arguments runs
# every cell. Needs compiled classes (scripts/mvn.sh -o -q compile -pl cm-core -am) and the native library
# (CM4J_NATIVE_PATH or a built native/). One intra-op thread per run; results go to stdout and $OUT (toy2d-study.txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
java_home=$("$root/scripts/jdk.sh")
m2=${M2_REPO:-$HOME/.m2/repository}/com/fasterxml/jackson/core
cp="${CLASSES:-$root/cm-core/target/classes:$root/bindings/target/classes}"
cp="$cp:$m2/jackson-databind/2.22.3/jackson-databind-2.22.3.jar:$m2/jackson-core/2.22.3/jackson-core-2.22.3.jar"
cp="$cp:$m2/jackson-annotations/2.22/jackson-annotations-2.22.jar"
runs=${RUNS:-/tmp/toy2d-study-runs}
out=${OUT:-toy2d-study.txt}
one() { # label seed preset tmids overrides...
  "$java_home/bin/java" --enable-native-access=ALL-UNNAMED -Djava.awt.headless=true -cp "$cp" \
    "$root/bench/Toy2dStudy.java" "$runs" "$@" | grep '^RESULT' | tee -a "$out"
}
ECT_MIDS=0.05,0.1,0.2,0.4,0.821,1.5
SCT_MIDS=0.2,0.5,0.8,1.1,1.3
cell() {
  # every cell names its learning rate, so that a cell measures the same thing whatever the presets' defaults are
  local S=${SEEDS:-0 1 2} L1=optimizer.lr=1e-3 L3=optimizer.lr=3e-4
  case "$1" in
    # the presets as shipped (lr 3e-4; batch 128, stage -1 for 320 kimg, then 80-kimg stages 0..3)
    ect) for s in $S; do one ect "$s" toy2d-ect "$ECT_MIDS" $L3; done ;;
    sct) for s in $S; do one sct "$s" toy2d-sct "$SCT_MIDS" $L3; done ;;
    # the presets before the study (lr 1e-3)
    ect-lr1) for s in $S; do one ect-lr1e-3 "$s" toy2d-ect "$ECT_MIDS" $L1; done ;;
    sct-lr1) for s in $S; do one sct-lr1e-3 "$s" toy2d-sct "$SCT_MIDS" $L1; done ;;
    # ECT factors at lr 1e-3, one at a time
    ect-c0) for s in $S; do one ect-c0 "$s" toy2d-ect "$ECT_MIDS" $L1 objective.c=0; done ;;
    ect-c03) for s in $S; do one ect-c0.03 "$s" toy2d-ect "$ECT_MIDS" $L1 objective.c=0.03; done ;;
    ect-c1) for s in $S; do one ect-c1 "$s" toy2d-ect "$ECT_MIDS" $L1 objective.c=1; done ;;
    ect-sd036) for s in $S; do one ect-sd0.36 "$s" toy2d-ect "$ECT_MIDS" $L1 precond.sigma_data=0.36; done ;;
    ect-ema999) for s in $S; do one ect-ema0.999 "$s" toy2d-ect "$ECT_MIDS" $L1 'ema=[{"kind":"fixed","beta":0.999}]'; done ;;
    # batch 512 with six tightening stages (stages 0..5 after 320 kimg of stage -1)
    b512) for s in $S; do one b512 "$s" toy2d-ect "$ECT_MIDS" $L1 batch=512 duration_kimg=800; done ;;
    b512-lr3) for s in $S; do one b512-lr3e-4 "$s" toy2d-ect "$ECT_MIDS" $L3 batch=512 duration_kimg=800; done ;;
    b512-ema) for s in $S; do one b512-ema0.98 "$s" toy2d-ect "$ECT_MIDS" $L1 batch=512 duration_kimg=800 'ema=[{"kind":"fixed","beta":0.98}]'; done ;;
    b512-c03) for s in $S; do one b512-c0.03 "$s" toy2d-ect "$ECT_MIDS" $L1 batch=512 duration_kimg=800 objective.c=0.03; done ;;
    *) echo "unknown cell $1" >&2; exit 2 ;;
  esac
}
if [ $# -eq 0 ]; then set -- ect sct ect-lr1 sct-lr1 ect-c0 ect-c03 ect-c1 ect-sd036 ect-ema999 b512 b512-lr3 b512-c03; fi
for c in "$@"; do cell "$c"; done
