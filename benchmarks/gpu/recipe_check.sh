#!/usr/bin/env bash
# GPU check of issue 16's target: the paper's full recipe (100 epochs, adversarial) in ≤ 8 min on one
# H200, start to safetensors, then a short evaluation of the model. About 13 minutes of device time
# at most: GPU tests ~1 min, step benchmarks ~2 min, training ≤ 8 min (capped at $RECIPE_LIMIT s,
# extrapolated if it stops early), evaluation ~1 min. Run from the repository root on the device
# machine with prepared/ (mrsisr-prepare output) and .whl/ (the pytorch-msssim wheel) carried along,
# as for gpu/session1.sh. Writes $OUT/recipe.txt, the model and its card.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-.}
{
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__)"
  echo "## GPU tests (incl. graph capture vs eager, no host syncs in a step)"
  timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py tests/test_training_paths.py 2>&1 | tail -5
  echo "## training steps alone (batched vs per-layer conditioning)"
  timeout 60 python3 benchmarks/bench_training.py --device cuda --repeats 10 --kinds recipe adversarial
  echo "## the real loop, training set on the GPU, extrapolated to 100 epochs"
  timeout 120 python3 benchmarks/bench_recipe.py prepared --device cuda --steps 30 --device-data
  echo "## the full recipe, start to safetensors (device data + graph capture)"
  T0=$(date +%s)
  timeout $(( ${RECIPE_LIMIT:-480} + 60 )) python3 benchmarks/gpu/full_recipe.py prepared run \
    --device-data --graph-capture --time-limit ${RECIPE_LIMIT:-480}
  echo "recipe wall (shell): $(( $(date +%s) - T0 )) s"
  echo "## evaluation of the trained model (fold 0 test subjects, n = 16 24 32)"
  timeout 90 python3 -m mrsisr.evaluation.cli prepared --weights run/model.safetensors --folds 5 --fold 0 \
    --simulate-matrix 16 24 32 --baselines zero-fill --device cuda --out-dir eval --quiet 2>&1 | tail -12
} 2>&1 | tee "$OUT/recipe.txt"
cp run/model.safetensors run/model.json run/log.csv "$OUT/" 2>/dev/null || true
