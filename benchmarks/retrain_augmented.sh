#!/usr/bin/env bash
# The default model (MCM) retrained on the cohort that separates metabolism from anatomy, with the
# augmentations against the MRI→map shortcut (issue 14, items 3 and 5): 15 subjects, fold 0 of 5
# (9 train / 3 validation / 3 test), DESIGN.md §5's recipe in two phases on one output folder, with the
# lesion-focus term (the mean absolute error near the injected lesions, weight LESION_FOCUS):
#   A: L1 + MS-SSIM only (λ = 0) for EPOCHS_A epochs;  B: + λ·WGAN-GP up to EPOCHS (the paper's 100).
#
# CPU, in slices of TIME_LIMIT seconds (checkpointed; every run resumes where the last one stopped):
#   DEVICE=cpu TIME_LIMIT=3600 bash benchmarks/retrain_augmented.sh     # exit 75: not finished, rerun
# (TIME_LIMIT must exceed one epoch: an epoch cut short is trained again from its start on resume.)
#   nohup sh -c 'while :; do bash benchmarks/retrain_augmented.sh; [ $? -eq 75 ] || break; done' > retrain.log 2>&1 &
# GPU (training set and augmentations on the device, CUDA graphs):
#   DEVICE=cuda TIME_LIMIT=480 GRAPH_CAPTURE=1 bash benchmarks/retrain_augmented.sh
# Smoke run: SUBJECTS=5 SYNTH_ARGS=--tiny EPOCHS_A=1 EPOCHS=2 TIME_LIMIT=60 COHORT=/tmp/c PREPARED=/tmp/p RUN=/tmp/r bash …
# EVALUATE=1: then the evaluation and the fidelity study of the result (fold 0 test subjects).
# INIT_WEIGHTS=default (or a path): fine-tune that network instead of starting from random weights
# (what a CPU-only session can afford: see mrsisr/data/MODEL_CARD.md for the budget actually used).
set -uo pipefail
COHORT=${COHORT:-cohort14} PREPARED=${PREPARED:-prepared14} RUN=${RUN:-runs/mcm_augmented}
DEVICE=${DEVICE:-cpu} TIME_LIMIT=${TIME_LIMIT:-3600} EPOCHS_A=${EPOCHS_A:-20} EPOCHS=${EPOCHS:-100}
TRAIN=(python3 -m mrsisr.training.cli "$PREPARED" "$RUN" --variant mcm --folds 5 --fold 0 --device "$DEVICE"
       --mri-lesions "${MRI_LESIONS:-0.9}" --metabolic-lesions "${METABOLIC_LESIONS:-0.6}"
       --flair-drop "${FLAIR_DROP:-0.2}" --lesion-focus "${LESION_FOCUS:-1.0}" --time-limit "$TIME_LIMIT" --quiet
       ${INIT_WEIGHTS:+--init-weights "$INIT_WEIGHTS"} ${TRAIN_ARGS:-})
[ "$DEVICE" = cuda ] && TRAIN+=(--device-data) && [ "${GRAPH_CAPTURE:-0}" = 1 ] && TRAIN+=(--graph-capture)

# The cohort (deterministic per seed; 3T-like acquisitions for a share). No FLAIR-less subjects:
# mrsisr-prepare needs a FLAIR; the FLAIR-drop augmentation trains the T1w-only path instead. The
# 3T-like subjects' larger field of view holds less brain per slice: valid-voxel fraction 0.2, not 0.3.
[ -d "$COHORT" ] || python3 -m mrsisr.synth.cli "$COHORT" --subjects "${SUBJECTS:-15}" --seed 2026 --share-3t 0.2 ${SYNTH_ARGS:-} \
    --formats nifti || exit 1
if [ ! -d "$PREPARED" ]; then  # written aside, named when every subject is prepared
  python3 -m mrsisr.training.cohort "$COHORT" "$PREPARED.part" --nprocs "${NPROCS:-2}" ${PREPARE_ARGS:---min-valid-fraction 0.2} \
    && mv "$PREPARED.part" "$PREPARED" || { echo "preparing $COHORT failed: see above ($PREPARED.part)"; exit 1; }
fi

epochs_done() { python3 -c "import json; print(json.load(open('$RUN/model.json'))['epochs'])" 2>/dev/null || echo 0; }
if [ "$(epochs_done)" -lt "$EPOCHS_A" ]; then
  "${TRAIN[@]}" --epochs "$EPOCHS_A" --no-adversarial || exit 1
  [ "$(epochs_done)" -lt "$EPOCHS_A" ] && { echo "phase A at epoch $(epochs_done)/$EPOCHS_A: rerun to resume"; exit 75; }
fi
"${TRAIN[@]}" --epochs "$EPOCHS" --adversarial || exit 1
[ "$(epochs_done)" -lt "$EPOCHS" ] && { echo "phase B at epoch $(epochs_done)/$EPOCHS: rerun to resume"; exit 75; }
echo "trained: $RUN/model.safetensors and its card $RUN/model.json (augmentations recorded in both)"
if [ "${EVALUATE:-0}" = 1 ]; then
  python3 -m mrsisr.evaluation.cli "$PREPARED" --weights "$RUN/model.safetensors" --folds 5 --fold 0 \
      --simulate-matrix 16 32 --sharpness 0 0.03 0.06 0.09 --baselines zero-fill --fidelity --device "$DEVICE" \
      --out-dir "$RUN/evaluation" --quiet
fi
