#!/usr/bin/env bash
# The shipped default model (issue 14, item 5) as it was made on 2 CPU cores in one session: the earlier
# default (11 epochs on an H200, old cohort) fine-tuned on the issue-14 cohort with the augmentations
# against the MRI→map shortcut, in two time-budgeted phases on one output folder:
#   A: L1 + MS-SSIM only (λ = 0) for PHASE_A seconds (70 min: 18 epochs, 3,102 generator steps);
#   B (PHASE_B > 0): + λ·WGAN-GP with a fresh critic. The shipped model is phase A's: 45 min of phase B
#     (5 epochs, 168 generator steps) lowered the validation PSNR from 30.94 to 29.67 dB (MODEL_CARD.md).
# Then benchmarks/package_default.py RUN writes mrsisr/data/mcm_default.{safetensors,_log.csv}.
#   COHORT=cohort14 PREPARED=prepared14 RUN=run_ft bash benchmarks/finetune_default_cpu.sh
set -uo pipefail
COHORT=${COHORT:-cohort14} PREPARED=${PREPARED:-prepared14} RUN=${RUN:-runs/mcm_finetuned}
[ -d "$COHORT" ] || python3 -m mrsisr.synth.cli "$COHORT" --subjects 15 --seed 2026 --share-3t 0.2 --formats nifti || exit 1
if [ ! -d "$PREPARED" ]; then
  python3 -m mrsisr.training.cohort "$COHORT" "$PREPARED.part" --nprocs 2 --min-valid-fraction 0.2 \
    && mv "$PREPARED.part" "$PREPARED" || exit 1
fi
# The network it started from: the default shipped before it (commit e25df32), unless INIT_WEIGHTS names another.
if [ -z "${INIT_WEIGHTS:-}" ]; then
  INIT_WEIGHTS=$RUN.init.safetensors && mkdir -p "$(dirname "$RUN")"
  git show e25df32:mrsisr/data/mcm_default.safetensors > "$INIT_WEIGHTS" || exit 1
fi
TRAIN=(python3 -m mrsisr.training.cli "$PREPARED" "$RUN" --variant mcm --folds 5 --fold 0 --device "${DEVICE:-cpu}"
       --mri-lesions 0.5 --metabolic-lesions 0.5 --flair-drop 0.2 --init-weights "$INIT_WEIGHTS" --epochs 100 --quiet)
"${TRAIN[@]}" --no-adversarial --time-limit "${PHASE_A:-4200}" || exit 1
if [ "${PHASE_B:-0}" -gt 0 ]; then "${TRAIN[@]}" --adversarial --time-limit "$PHASE_B" || exit 1; fi
