#!/usr/bin/env bash
# The paper's Table 1 on the synthetic cohort: every multi-scale method and the 9 single-scale
# networks trained with the same budget per network, 5 folds by subject, then scored together.
#
#   BUDGET=600 FOLDS="0 1 2 3 4" bash benchmarks/table1.sh prepared/ results/table1
#   STEPS=30 SLICE_STEP=4 bash benchmarks/table1.sh prepared/ results/table1   # what 2 CPU cores afford
#
# The budget per network (the recipe without the adversarial term, as in the paper's Table 1) is
# either BUDGET seconds of training (--time-limit) or, when STEPS is set, STEPS generator steps
# (--max-steps: the paper's equal-epochs comparison, immune to other load on the machine).
# SLICE_STEP=K scores every K-th test slice; DEVICE defaults to auto (a GPU when there is one).
set -euo pipefail
data=${1:?prepared-slice folder}; out=${2:?output folder}
folds=${FOLDS:-0 1 2 3 4}; device=${DEVICE:-auto}; slice_step=${SLICE_STEP:-1}
if [[ -n "${STEPS:-}" ]]; then budget="--max-steps $STEPS"; else budget="--time-limit ${BUDGET:-600}"; fi
variants="unconditioned amlayer hypernetworks filter-scaling filter-scaling-met"
for fold in $folds; do
  for variant in $variants; do
    mrsisr-train "$data" "$out/fold$fold/$variant" --variant "$variant" --folds 5 --fold "$fold" \
      --no-adversarial $budget --device "$device" --quiet
  done
  for n in 16 18 20 22 24 26 28 30 32; do   # Single-scale: one base network per n
    mrsisr-train "$data" "$out/fold$fold/single-$n" --variant unconditioned --matrix-sizes "$n" --folds 5 \
      --fold "$fold" --no-adversarial $budget --device "$device" --quiet
  done
  names=""; weights=""
  for variant in $variants; do names="$names $variant"; weights="$weights $out/fold$fold/$variant/model.safetensors"; done
  mrsisr-evaluate "$data" --weights $weights --names $names --folds 5 --fold "$fold" --device "$device" \
    --slice-step "$slice_step" --out-dir "$out/fold$fold/eval" --quiet
  for n in 16 18 20 22 24 26 28 30 32; do
    mrsisr-evaluate "$data" --weights "$out/fold$fold/single-$n/model.safetensors" --names single-scale \
      --simulate-matrix "$n" --baselines --folds 5 --fold "$fold" --device "$device" \
      --slice-step "$slice_step" --out-dir "$out/fold$fold/eval-single-$n" --quiet
  done
done
python3 benchmarks/table1_summary.py "$out"
