#!/usr/bin/env bash
# The adversarial phase on the λ path of the shipped default (issue 14: does λ sharpen again, and
# what does it cost in fidelity?). `mrsisr-train --trainable sharpness` trains only the
# λ-conditioned normalisations (CIN MLPs and heads) with the paper's λ·WGAN-GP term (fresh critic,
# five critic steps per generator step); every other weight stays the packaged model's.
# Three stages on one run folder, one epoch per call so that every epoch's network is kept:
#   B1 epochs 1-11:  10 % of the batches at λ = 0 (the paper's), lesion-focus weight 2 (stage 3's);
#   B2 epochs 12-17: 50 % at λ = 0, which holds the λ = 0 network in place, focus weight 6;
#   B3 epochs 18-..: 50 % at λ = 0, focus weight 10 (the largest allowed).
# About 3 min per epoch on 2 CPU cores. Then the epochs EVAL_EPOCHS are scored on every 6th slice of
# the fold-0 test subjects (n = 16, λ = 0, 0.03, 0.09, fidelity probes) and
# benchmarks/retrain14_summary.py prints its acceptance lines:
#   PREPARED=prepared14 RUN=runs/lambda_path bash benchmarks/lambda_path_cpu.sh
# B1_EPOCHS, B2_EPOCHS, B3_EPOCHS: the last epoch of each stage (a smoke run: 1 2 3 with a tiny cohort).
# CRITIC_INPUTS=maps: the same with a critic shown the maps alone (mrsisr-train --critic-inputs maps),
# all epochs at B3's settings (RUN and OUT then default to *_blind).
# INVARIANCE=W: add the MRI-lesion invariance term (mrsisr-train --mri-invariance W; suffix _inv<W>).
# LEARNING_RATE=R: Adam's step for generator and critic (default the paper's 1e-4; suffix _lr<R>).
# PIN_ZERO=1: keep the λ = 0 network exactly the packaged one (mrsisr-train --pin-lambda-zero; suffix
# _pin); no batch is then spent at λ = 0 unless ZERO_FRACTION says otherwise.
# ZERO_FRACTION=F: the share of batches at λ = 0 (default: as the stages above say, 0 with PIN_ZERO=1).
# Every epoch's checkpoint (generator, critic, optimisers) is kept beside its weights: to go on from
# epoch K at another step, copy $RUN.epochs/epochK.checkpoint.pt to NEW/checkpoint.pt and run
# mrsisr-train NEW with this script's arguments, --learning-rate R2 and --epochs K+M.
set -uo pipefail
CRITIC=${CRITIC_INPUTS:-mri+maps} SUFFIX=; [ "$CRITIC" = maps ] && SUFFIX=_blind
INVARIANCE=${INVARIANCE:-0}; [ "$INVARIANCE" != 0 ] && SUFFIX=${SUFFIX}_inv$INVARIANCE
LEARNING_RATE=${LEARNING_RATE:-1e-4}; [ "$LEARNING_RATE" != 1e-4 ] && SUFFIX=${SUFFIX}_lr$LEARNING_RATE
PIN=(); [ "${PIN_ZERO:-0}" = 1 ] && { PIN=(--pin-lambda-zero); SUFFIX=${SUFFIX}_pin; ZERO_FRACTION=${ZERO_FRACTION:-0}; }
PREPARED=${PREPARED:-prepared14} RUN=${RUN:-runs/lambda_path$SUFFIX} OUT=${OUT:-benchmarks/results/retrain14/lambda_path$SUFFIX}
B1=${B1_EPOCHS:-11} B2=${B2_EPOCHS:-17} B3=${B3_EPOCHS:-21} EVAL_EPOCHS=${EVAL_EPOCHS:-11 13 16 20 21}
[ -d "$PREPARED" ] || { echo "no $PREPARED: make it as benchmarks/finetune_default_cpu.sh does"; exit 1; }
mkdir -p "$RUN.epochs" "$OUT"
INIT=$RUN.init.safetensors
[ -f "$INIT" ] || cp mrsisr/data/mcm_default.safetensors "$INIT" || exit 1

for epoch in $(seq 1 "$B3"); do
  [ -f "$RUN.epochs/epoch$epoch.safetensors" ] && continue
  if [ "$CRITIC" = maps ]; then zero=0.5 focus=10
  elif [ "$epoch" -le "$B1" ]; then zero=0.1 focus=2; elif [ "$epoch" -le "$B2" ]; then zero=0.5 focus=6; else zero=0.5 focus=10; fi
  zero=${ZERO_FRACTION:-$zero}
  python3 -m mrsisr.training.cli "$PREPARED" "$RUN" --variant mcm --folds 5 --fold 0 --device "${DEVICE:-cpu}" \
      --mri-lesions 1.0 --metabolic-lesions 0.6 --flair-drop 0.2 --lesion-focus "$focus" \
      --init-weights "$INIT" --trainable sharpness --lam-zero-fraction "$zero" --adversarial --critic-inputs "$CRITIC" \
      --mri-invariance "$INVARIANCE" --learning-rate "$LEARNING_RATE" "${PIN[@]}" \
      --epochs "$epoch" --quiet > /dev/null || exit 1
  cp "$RUN/model.safetensors" "$RUN.epochs/epoch$epoch.safetensors" || exit 1
  cp "$RUN/checkpoint.pt" "$RUN.epochs/epoch$epoch.checkpoint.pt" || exit 1
done
cp "$RUN/log.csv" "$OUT/log.csv"

for epoch in $EVAL_EPOCHS; do
  name=ep$epoch
  [ -f "$OUT/$name/fidelity/fidelity.json" ] && continue
  python3 -m mrsisr.evaluation.cli "$PREPARED" --weights "$RUN.epochs/epoch$epoch.safetensors" --names "$name" \
      --folds 5 --fold 0 --device "${DEVICE:-cpu}" --slice-step 6 --quiet --simulate-matrix 16 \
      --sharpness 0 0.03 0.09 --baselines zero-fill --fidelity --out-dir "$OUT/$name/fidelity" > /dev/null || exit 1
  rm -f "$OUT/$name/fidelity/rows.csv" "$OUT/$name/fidelity/"*.png
  python3 benchmarks/retrain14_summary.py "$OUT" --model "$name"
done
