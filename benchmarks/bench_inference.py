"""Inference throughput of the paper-size network: the model as shipped vs the plain 3-D computation.

Prints maps/s at each batch size for ``mrsisr.models.build(variant)`` in eval mode under
``torch.inference_mode()`` and for :func:`mrsisr.models.reference.reference_forward` (the released
code's arithmetic) measured in the same run, their ratio, and the largest output difference.

    python benchmarks/bench_inference.py                   # 2 threads, batch 8 and 1
    python benchmarks/bench_inference.py --device cuda --batch-sizes 8 64
"""

from __future__ import annotations

import argparse

import torch

from machine import describe, median_time
from mrsisr.models import GENERATORS, build
from mrsisr.models.reference import reference_forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=list(GENERATORS), default="mcm")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(describe(args.threads, args.device))
    model = build(args.variant).eval().to(args.device)
    print(f"| variant | batch | shipped (maps/s) | plain 3-D (maps/s) | speed-up | max |Δ| |")
    print("| --- | --- | --- | --- | --- | --- |")
    for batch in args.batch_sizes:
        t1 = torch.rand(batch, 1, 192, 192, 3, device=args.device)
        flair = torch.rand(batch, 1, 192, 192, 3, device=args.device)
        lr = torch.rand(batch, 1, 64, 64, device=args.device)
        conditions = (torch.full((batch,), 20), torch.full((batch,), 2), torch.full((batch,), 0.03))
        with torch.inference_mode():
            fast = median_time(lambda: model(t1, flair, lr, *conditions), args.repeats, device=args.device)
            plain = median_time(lambda: reference_forward(model, t1, flair, lr, *conditions), args.repeats,
                                device=args.device)
            difference = (model(t1, flair, lr, *conditions) - reference_forward(model, t1, flair, lr, *conditions))
        print(f"| {args.variant} | {batch} | {batch / fast:.1f} | {batch / plain:.1f} | {plain / fast:.2f}× | "
              f"{difference.abs().max().item():.1e} |")


if __name__ == "__main__":
    main()
