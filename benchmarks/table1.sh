#!/usr/bin/env bash
# The paper's Table 1 on the synthetic cohort: every multi-scale method and the 9 single-scale
# networks trained with the same budget per network, 5 folds by subject, then scored together.
#
#   BUDGET=600 FOLDS="0 1 2 3 4" bash benchmarks/table1.sh prepared/ results/table1
#
# BUDGET is the training time per network in seconds (--time-limit; the recipe without the
# adversarial term, as in the paper's Table 1); DEVICE defaults to auto (a GPU when there is one).
set -euo pipefail
data=${1:?prepared-slice folder}; out=${2:?output folder}
budget=${BUDGET:-600}; folds=${FOLDS:-0 1 2 3 4}; device=${DEVICE:-auto}
variants="unconditioned amlayer hypernetworks filter-scaling filter-scaling-met"
for fold in $folds; do
  for variant in $variants; do
    mrsisr-train "$data" "$out/fold$fold/$variant" --variant "$variant" --folds 5 --fold "$fold" \
      --no-adversarial --time-limit "$budget" --device "$device" --quiet
  done
  for n in 16 18 20 22 24 26 28 30 32; do   # Single-scale: one base network per n
    mrsisr-train "$data" "$out/fold$fold/single-$n" --variant unconditioned --matrix-sizes "$n" --folds 5 \
      --fold "$fold" --no-adversarial --time-limit "$budget" --device "$device" --quiet
  done
  names=""; weights=""
  for variant in $variants; do names="$names $variant"; weights="$weights $out/fold$fold/$variant/model.safetensors"; done
  mrsisr-evaluate "$data" --weights $weights --names $names --folds 5 --fold "$fold" --device "$device" \
    --out-dir "$out/fold$fold/eval" --quiet
  for n in 16 18 20 22 24 26 28 30 32; do
    mrsisr-evaluate "$data" --weights "$out/fold$fold/single-$n/model.safetensors" --names single-scale \
      --simulate-matrix "$n" --baselines --folds 5 --fold "$fold" --device "$device" \
      --out-dir "$out/fold$fold/eval-single-$n" --quiet
  done
done
python3 benchmarks/table1_summary.py "$out"
