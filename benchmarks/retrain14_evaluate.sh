#!/usr/bin/env bash
# Issue 14's acceptance figures for one network (WEIGHTS: a file or default; NAME: its label) on the fold-0
# test subjects of the issue-14 cohort (PREPARED), every STEP-th prepared slice; BASELINES=1 adds zero-filling and
# bicubic, UNCERTAINTY=1 the uncertainty study. benchmarks/retrain14_summary.py turns the folders into the table:
#   WEIGHTS=default NAME=default-11ep BASELINES=1 bash benchmarks/retrain14_evaluate.sh
#   WEIGHTS=run/model.safetensors NAME=augmented UNCERTAINTY=1 bash benchmarks/retrain14_evaluate.sh
set -uo pipefail
W=${WEIGHTS:?} NAME=${NAME:?} OUT=${OUT:-benchmarks/results/retrain14/$NAME} STEP=${STEP:-3} PREPARED=${PREPARED:-prepared14}
mkdir -p "$OUT"
if [ "${BASELINES:-0}" = 1 ]; then B=(zero-fill bicubic) BZ=(zero-fill); else B=() BZ=(); fi
E=(python3 -m mrsisr.evaluation.cli "$PREPARED" --weights "$W" --names "$NAME" --folds 5 --fold 0 --device cpu
   --slice-step "$STEP" --quiet)
echo "start $(date +%T)"
"${E[@]}" --simulate-matrix 16 32 --sharpness 0 0.03 0.06 0.09 --baselines "${B[@]}" --out-dir "$OUT/sweep" > "$OUT/sweep.txt" 2>&1
echo "sweep $(date +%T) rc=$?"
"${E[@]}" --simulate-matrix 16 32 --sharpness 0 0.09 --baselines "${BZ[@]}" --fidelity --out-dir "$OUT/fidelity" > "$OUT/fidelity.txt" 2>&1
echo "fidelity $(date +%T) rc=$?"
"${E[@]}" --simulate-matrix 16 --sharpness 0 0.09 --baselines "${BZ[@]}" --fidelity --without-flair --out-dir "$OUT/without_flair" > "$OUT/without_flair.txt" 2>&1
echo "without flair $(date +%T) rc=$?"
if [ "${UNCERTAINTY:-0}" = 1 ]; then
  python3 -m mrsisr.evaluation.cli "$PREPARED" --weights "$W" --names "$NAME" --folds 5 --fold 0 --device cpu \
      --slice-step $((STEP * 2)) --quiet --baselines zero-fill --simulate-matrix 16 --sharpness 0 0.09 --uncertainty \
      --out-dir "$OUT/uncertainty" > "$OUT/uncertainty.txt" 2>&1
  echo "uncertainty $(date +%T) rc=$?"
fi
