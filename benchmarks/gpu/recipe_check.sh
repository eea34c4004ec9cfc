#!/usr/bin/env bash
# GPU check of issue 7's last target (full recipe ≤ 0.3 h on one H100): about 5 minutes of device time.
# Run from the repository root on the device machine with prepared/ (mrsisr-prepare output) and .whl/
# (the pytorch-msssim wheel) carried along, as for gpu/session1.sh. Writes $OUT/recipe.txt.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  echo "## GPU tests"; timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -3
  echo "## training steps alone"; timeout 90 python3 benchmarks/bench_training.py --device cuda --repeats 10
  echo "## the real loop, extrapolated to 100 epochs"
  timeout 240 python3 benchmarks/bench_recipe.py prepared --device cuda --steps 60 --workers 8
} 2>&1 | tee "${OUT:-.}/recipe.txt"
