"""Inference throughput of the paper-size network: the model as shipped vs the plain 3-D computation.

Maps per second at each batch size for ``mrsisr.models.build(variant)`` in eval mode under
``torch.inference_mode()``, run the way ``SuperResolve`` runs it (with
:func:`mrsisr.models.runtime.tune_cpu_allocator`), against
:func:`mrsisr.models.reference.reference_forward` — the released code's arithmetic, the
"straightforward implementation" — in a plain process. Each configuration runs in its own
process of this one benchmark run (allocator settings are per process); the plain computation is
also timed with the tuned allocator, so the table separates what the arithmetic gains from what the
allocator gains. ``max |Δ|`` compares both outputs on the same inputs (maps in [0, 1]).

    python benchmarks/bench_inference.py                   # 2 threads, batch 8 and 1
    python benchmarks/bench_inference.py --device cuda --batch-sizes 8 64
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import torch

from machine import describe, median_time

_SETTINGS = {"shipped": ("model", True), "plain": ("reference", False), "plain, tuned allocator": ("reference", True)}


def measure(implementation: str, tuned: bool, variant: str, batch: int, threads: int, repeats: int,
            device: str) -> dict:
    """Throughput (and, for the model, the largest difference to the plain computation)."""
    from mrsisr.models import build
    from mrsisr.models.reference import reference_forward
    from mrsisr.models.runtime import tune_cpu_allocator

    if tuned:
        tune_cpu_allocator()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(variant).eval().to(device)
    inputs = (torch.rand(batch, 1, 192, 192, 3, device=device), torch.rand(batch, 1, 192, 192, 3, device=device),
              torch.rand(batch, 1, 64, 64, device=device), torch.full((batch,), 20), torch.full((batch,), 2),
              torch.full((batch,), 0.03))
    run = (lambda: model(*inputs)) if implementation == "model" else (lambda: reference_forward(model, *inputs))
    with torch.inference_mode():
        seconds = median_time(run, repeats, device=device)
        difference = None
        if implementation == "model":
            difference = (model(*inputs) - reference_forward(model, *inputs)).abs().max().item()
    return {"maps_per_s": batch / seconds, "max_diff": difference}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="mcm")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--worker", nargs=3, metavar=("IMPLEMENTATION", "TUNED", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        implementation, tuned, batch = args.worker
        print(json.dumps(measure(implementation, tuned == "1", args.variant, int(batch), args.threads,
                                 args.repeats, args.device)))
        return
    print(describe(args.threads, args.device))
    print("| variant | batch | shipped (maps/s) | plain 3-D (maps/s) | speed-up | plain, tuned allocator (maps/s) | max |Δ| |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for batch in args.batch_sizes:
        results = {}
        for name, (implementation, tuned) in _SETTINGS.items():
            command = [sys.executable, __file__, "--variant", args.variant, "--threads", str(args.threads),
                       "--repeats", str(args.repeats), "--device", args.device,
                       "--worker", implementation, "1" if tuned else "0", str(batch)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results[name] = json.loads(output.strip().splitlines()[-1])
        shipped, plain = results["shipped"]["maps_per_s"], results["plain"]["maps_per_s"]
        print(f"| {args.variant} | {batch} | {shipped:.1f} | {plain:.1f} | {shipped / plain:.2f}× | "
              f"{results['plain, tuned allocator']['maps_per_s']:.1f} | {results['shipped']['max_diff']:.1e} |")


if __name__ == "__main__":
    main()
