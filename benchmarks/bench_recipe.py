"""Time of the paper's full training recipe through the real training loop, extrapolated to 100 epochs.

Runs :class:`mrsisr.training.trainer.Trainer` (loader workers, augmentation, AMP, logging, all
included) on prepared slices for a few batches of each phase, then prints seconds per batch, per
epoch and for the whole recipe (DESIGN.md §5: 100 epochs, 5 critic steps per generator step,
validation after every epoch). The "plain" phase is the recipe without the adversarial term (the
Table 1 networks).

    python benchmarks/bench_recipe.py prepared --device cuda --steps 60     # a GPU
    python benchmarks/bench_recipe.py prepared --device cuda --device-data  # data on the GPU
    python benchmarks/bench_recipe.py prepared --steps 2                    # CPU: does it run?

With ``--graph-capture`` the timed batches include the one-off compilation, so the extrapolation
overstates the recipe: time that end to end with ``gpu/full_recipe.py`` instead.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from machine import describe
from mrsisr.slices import load_dataset
from mrsisr.training.trainer import TrainConfig, Trainer


def time_phase(subjects, adversarial: bool, steps: int, device: str, workers: int | None,
               **options: bool) -> dict[str, float]:
    """Seconds per batch of one phase, its batches per epoch and the time of one validation.

    ``options``: ``device_data`` and ``graph_capture`` of :class:`TrainConfig`.
    """
    config = TrainConfig(variant="mcm", adversarial=adversarial, epochs=1, max_steps=steps, device=device,
                         workers=workers, **options)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, subjects, out)
        trainer.run(progress=False)
        start = time.perf_counter()
        trainer.validate()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        validation = time.perf_counter() - start
    return {"per_batch": trainer.wall_time / trainer.batches_seen, "batches": trainer.batches_seen,
            "epoch_batches": len(trainer.sampler) // trainer.world, "validation": validation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="prepared-slice folder (mrsisr-prepare)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--steps", type=int, default=60, help="generator steps timed per phase")
    parser.add_argument("--epochs", type=int, default=100, help="epochs of the recipe to extrapolate to")
    parser.add_argument("--workers", type=int, help="loader processes (default: the trainer's)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of PyTorch")
    parser.add_argument("--device-data", action="store_true", help="training set and augmentation on the device")
    parser.add_argument("--graph-capture", action="store_true", help="torch.compile reduce-overhead (CUDA only)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    subjects = load_dataset(args.data)
    print(describe(args.threads, args.device))
    options = {"device_data": args.device_data, "graph_capture": args.graph_capture}
    print("options:", ", ".join(f"{key}={value}" for key, value in options.items()))
    print("| phase | batches timed | s / batch | batches / epoch | s / epoch (+ validation) | "
          f"{args.epochs} epochs |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, adversarial in (("plain (L1 + MS-SSIM)", False), ("recipe (+ adversarial, 5 critic steps)", True)):
        phase = time_phase(subjects, adversarial, args.steps, args.device, args.workers, **options)
        epoch = phase["per_batch"] * phase["epoch_batches"]
        total_h = args.epochs * (epoch + phase["validation"]) / 3600
        print(f"| {name} | {phase['batches']} | {phase['per_batch']:.3f} | {phase['epoch_batches']} | "
              f"{epoch:.1f} (+ {phase['validation']:.1f}) | {total_h:.2f} h |")


if __name__ == "__main__":
    main()
