#!/usr/bin/env bash
# GPU session 1: tests, benchmarks, the default model (two phases), its evaluation.
# Run from the repository root on the device machine, with prepared/ (mrsisr-prepare output) and
# .whl/ (pytorch-msssim wheel) carried along. Writes everything under $OUT.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__)"
{
  echo "## GPU tests"; timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -3
  echo "## inference"; timeout 60 python3 benchmarks/bench_inference.py --device cuda --batch-sizes 8 64 --repeats 10
  timeout 90 python3 benchmarks/bench_inference.py --threads 2 --batch-sizes 8 1 --repeats 3
  echo "## training steps"; timeout 60 python3 benchmarks/bench_training.py --device cuda --repeats 5
} > $OUT/bench.txt 2>&1
cat $OUT/bench.txt
T0=$(date +%s)
# Phase A: L1 + MS-SSIM (λ = 0), every batch a generator step.
python3 -m mrsisr.training.cli prepared run --variant mcm --folds 5 --fold 0 --epochs 100 \
  --no-adversarial --time-limit ${PHASE_A:-140} --workers 8 --quiet 2>&1 | tail -4
# Phase B: the paper's recipe with the adversarial term (λ ~ U[0, 0.1], 5 critic steps), resumed.
python3 -m mrsisr.training.cli prepared run --variant mcm --folds 5 --fold 0 --epochs 100 \
  --adversarial --time-limit ${PHASE_B:-180} --workers 8 --quiet 2>&1 | tail -4
echo "training wall: $(( $(date +%s) - T0 )) s"
python3 - <<'PY'
import json, os, torch
from mrsisr.models.weights import load_model, save_weights
out = os.environ["OUT"]
model = load_model("run/model.safetensors", "cuda")
save_weights(model, f"{out}/mcm_default.safetensors", half=True)
half = load_model(f"{out}/mcm_default.safetensors", "cuda")
torch.manual_seed(0)
x = [torch.rand(8, 1, 192, 192, 3, device="cuda"), torch.rand(8, 1, 192, 192, 3, device="cuda"), torch.rand(8, 1, 64, 64, device="cuda")]
c = (torch.full((8,), 20), torch.arange(8) % 7, torch.linspace(0, 0.1, 8))
with torch.no_grad():
    print("fp16 vs fp32 max |Δ| on [0,1] maps:", (model(*x, *c) - half(*x, *c)).abs().max().item())
PY
cp run/model.json $OUT/train_card.json; cp run/log.csv $OUT/train_log.csv
python3 -m mrsisr.evaluation.cli prepared --weights $OUT/mcm_default.safetensors --folds 5 --fold 0 \
  --simulate-matrix 8 10 12 14 16 18 20 22 24 26 28 30 32 --sharpness 0 0.03 0.06 0.09 --mismatch \
  --device cuda --out-dir eval --json eval/summary.json --quiet 2>&1 | tail -8
tar czf $OUT/eval.tgz eval
ls -la $OUT
