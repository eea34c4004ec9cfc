"""Time of one training step of the paper-size network: as shipped vs the plain 3-D computation.

Three steps are timed for each forward implementation, in the same run, on random data of the
paper's geometry (batch 8, 64×64 maps, 192×192×3 MRI blocks):

* ``l1``: generator step with the L1 loss only (the DESIGN.md §6 yardstick, ≈ 4.2 s plainly);
* ``recipe``: generator step with 0.16·L1 + 0.84·(1 − MS-SSIM);
* ``adversarial``: five critic steps (WGAN-GP) plus one generator step with the adversarial term.

The shipped model is timed twice: as shipped (every layer's conditioning MLPs in one batched
computation, :mod:`mrsisr.models.batched_conditioning`) and with them evaluated layer by layer.

    python benchmarks/bench_training.py                  # 2 CPU threads
    python benchmarks/bench_training.py --device cuda --repeats 20
"""

from __future__ import annotations

import argparse

import torch

from machine import describe, median_time
from mrsisr.losses import critic_loss, generator_loss, masked_l1
from mrsisr.models import GENERATORS, build
from mrsisr.models.reference import reference_forward
from mrsisr.models.unet import upsample_to_depth3


def make_step(model, critic, forward, kind: str, data: dict):
    g_opt = torch.optim.Adam(model.parameters(), 1e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(critic.parameters(), 1e-4, betas=(0.5, 0.9))
    args = (data["t1"], data["flair"], data["lr"], data["n"], data["met"], data["lam"])

    def critic_input(maps):
        return torch.cat([data["t1"], data["flair"], upsample_to_depth3(data["lr"], 3), upsample_to_depth3(maps, 3)], 1)

    def step():
        if kind == "adversarial":
            for _ in range(5):
                with torch.no_grad():
                    fake = forward(model, *args) * data["mask"]
                loss, _ = critic_loss(critic, critic_input(data["target"]), critic_input(fake))
                d_opt.zero_grad()
                loss.backward()
                d_opt.step()
        output = forward(model, *args) * data["mask"]
        if kind == "l1":
            loss = masked_l1(output, data["target"], data["mask"])
        else:
            scores = critic(critic_input(output)) if kind == "adversarial" else None
            loss, _ = generator_loss(output, data["target"], data["mask"], critic_scores=scores,
                                     lam=data["lam"] if scores is not None else None)
        g_opt.zero_grad()
        loss.backward()
        g_opt.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=list(GENERATORS), default="mcm")
    parser.add_argument("--kinds", nargs="+", choices=("l1", "recipe", "adversarial"), default=["l1", "recipe", "adversarial"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(describe(args.threads, args.device))
    b, dev = args.batch_size, args.device
    data = {"t1": torch.rand(b, 1, 192, 192, 3, device=dev), "flair": torch.rand(b, 1, 192, 192, 3, device=dev),
            "lr": torch.rand(b, 1, 64, 64, device=dev), "target": torch.rand(b, 1, 64, 64, device=dev),
            "mask": (torch.rand(b, 1, 64, 64, device=dev) > 0.2).float(), "n": torch.full((b,), 20, device=dev),
            "met": torch.full((b,), 3, device=dev), "lam": torch.full((b,), 0.05, device=dev)}
    fast_forward = lambda model, *a: model(*a)
    print("| variant | step | shipped (s) | plain 3-D (s) | speed-up | per-layer conditioning (s) | batching gain |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.kinds:
        times = []
        for forward, batched in ((fast_forward, True), (reference_forward, True), (fast_forward, False)):
            torch.manual_seed(0)
            model, critic = build(args.variant).to(dev), build("discriminator").to(dev)
            model.batch_conditioning = batched
            times.append(median_time(make_step(model, critic, forward, kind, data), args.repeats, device=dev))
        print(f"| {args.variant} | {kind} | {times[0]:.3f} | {times[1]:.3f} | {times[1] / times[0]:.2f}× | "
              f"{times[2]:.3f} | {times[2] / times[0]:.2f}× |")


if __name__ == "__main__":
    main()
