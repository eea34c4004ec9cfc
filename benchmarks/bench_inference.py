"""Inference throughput of the paper-size network: the model as shipped vs the plain 3-D computation.

Maps per second at each batch size for ``mrsisr.models.build(variant)`` in eval mode under
``torch.inference_mode()``, run the way ``SuperResolve`` runs it (with
:func:`mrsisr.models.runtime.tune_cpu_allocator`), against
:func:`mrsisr.models.reference.reference_forward` — the released code's arithmetic, the
"straightforward implementation" — in a plain process. Each configuration runs in its own
process of this one benchmark run (allocator settings are per process); the plain computation is
also timed with the tuned allocator, so the table separates what the arithmetic gains from what the
allocator gains. ``max |Δ|`` compares both outputs on the same inputs (maps in [0, 1]).

The roofline share is the shipped model's arithmetic rate (maps/s × the network's FLOPs per map,
counted on the plain computation with ``torch.utils.flop_counter``) over a ``2048×2048`` fp32 matrix
product timed in the same run with the same threads: how close the network runs to what the
machine's GEMM reaches. ``--baseline-src`` also times the shipped model of another checkout (e.g.
the main branch) in the same run, so a change can be checked for regressions.

    python benchmarks/bench_inference.py                   # 2 threads, batch 8 and 1
    python benchmarks/bench_inference.py --baseline-src /path/to/other/checkout
    python benchmarks/bench_inference.py --device cuda --batch-sizes 8 64
"""

from __future__ import annotations

import argparse
import json
import os
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


def gemm_gflops(threads: int, repeats: int, device: str, size: int = 2048) -> dict:
    """The fp32 matrix-product rate of this machine with ``threads`` threads (the roofline)."""
    torch.set_num_threads(threads)
    a, b = torch.rand(size, size, device=device), torch.rand(size, size, device=device)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
    seconds = median_time(lambda: a @ b, max(repeats, 5), device=device)
    return {"gflops": 2 * size**3 / seconds / 1e9}


def flops_per_map(variant: str) -> float:
    """FLOPs of one map through the plain computation of the paper-size network (batch 1)."""
    from torch.utils.flop_counter import FlopCounterMode

    from mrsisr.models import build
    from mrsisr.models.reference import reference_forward

    model = build(variant).eval()
    inputs = (torch.rand(1, 1, 192, 192, 3), torch.rand(1, 1, 192, 192, 3), torch.rand(1, 1, 64, 64),
              torch.full((1,), 20), torch.full((1,), 2), torch.full((1,), 0.03))
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        reference_forward(model, *inputs)
    return float(counter.get_total_flops())


def _worker(args, *worker: str, src: str | None = None) -> dict:
    command = [sys.executable, __file__, "--variant", args.variant, "--threads", str(args.threads),
               "--repeats", str(args.repeats), "--device", args.device, "--worker", *worker]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="mcm")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baseline-src", metavar="DIR",
                        help="another checkout whose shipped model is timed in the same run (before/after)")
    parser.add_argument("--rounds", type=int, default=2, help="before/after alternations with --baseline-src")
    parser.add_argument("--worker", nargs=3, metavar=("IMPLEMENTATION", "TUNED", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        implementation, tuned, batch = args.worker
        if implementation == "gemm":
            print(json.dumps(gemm_gflops(args.threads, args.repeats, args.device)))
            return
        print(json.dumps(measure(implementation, tuned == "1", args.variant, int(batch), args.threads,
                                 args.repeats, args.device)))
        return
    print(describe(args.threads, args.device))
    flops = flops_per_map(args.variant)
    peaks = [_worker(args, "gemm", "1", "0")["gflops"]]
    baseline = "| baseline (maps/s) | after / before " if args.baseline_src else ""
    print(f"| variant | batch | shipped (maps/s) | plain 3-D (maps/s) | speed-up | plain, tuned allocator (maps/s) "
          f"| max |Δ| | shipped GFLOPS | roofline share {baseline}|")
    print("| --- " * (9 + 2 * bool(args.baseline_src)) + "|")
    for batch in args.batch_sizes:
        results = {name: _worker(args, implementation, "1" if tuned else "0", str(batch))
                   for name, (implementation, tuned) in _SETTINGS.items()}
        peaks.append(_worker(args, "gemm", "1", "0")["gflops"])  # the GEMM again: the machine's load drifts
        shipped, plain = results["shipped"]["maps_per_s"], results["plain"]["maps_per_s"]
        rate = shipped * flops / 1e9
        peak = sum(peaks[-2:]) / 2
        row = (f"| {args.variant} | {batch} | {shipped:.1f} | {plain:.1f} | {shipped / plain:.2f}× | "
               f"{results['plain, tuned allocator']['maps_per_s']:.1f} | {results['shipped']['max_diff']:.1e} | "
               f"{rate:.0f} | {rate / peak:.0%} |")
        if args.baseline_src:  # alternate before/after; best of each, so a load spike hits neither alone
            after, before = [shipped], []
            for _ in range(args.rounds):
                before.append(_worker(args, "model", "1", str(batch), src=args.baseline_src)["maps_per_s"])
                after.append(_worker(args, "model", "1", str(batch))["maps_per_s"])
            row += f" {max(before):.1f} | {max(after) / max(before):.3f} |"
        print(row)
    print(f"network: {flops / 1e9:.2f} GFLOP per map (plain computation); fp32 GEMM {args.threads} thread(s): "
          + ", ".join(f"{p:.0f}" for p in peaks) + " GFLOPS (measured between the rows)")


if __name__ == "__main__":
    main()
