"""The paper's full training recipe end to end, start to ``model.safetensors``, with its wall time.

DESIGN.md §5: 100 epochs of the MCM network, the adversarial term from the first epoch (λ ~ U[0,
0.1], 10 % at 0, five critic steps per generator step), Adam 1e-4, step decay, validation after
every epoch, fold 0 of 5. The target of issue 16 is ≤ 8 minutes on one H200. With
``--time-limit`` the run stops early (checkpointed, weights written) and the time of 100 epochs is
extrapolated from the epochs done.

    python benchmarks/gpu/full_recipe.py prepared run --device-data --graph-capture
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()  # before the imports: "start" includes loading torch

import torch  # noqa: E402

from mrsisr.slices import load_dataset  # noqa: E402
from mrsisr.training.trainer import TrainConfig, Trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="prepared-slice folder (mrsisr-prepare)")
    parser.add_argument("out_dir", help="where model.safetensors, the card and logs go")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--device-data", action="store_true", help="training set and augmentation on the device")
    parser.add_argument("--graph-capture", action="store_true", help="torch.compile reduce-overhead (CUDA only)")
    parser.add_argument("--workers", type=int, default=None, help="loader processes without --device-data")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    args = parser.parse_args()
    subjects = load_dataset(args.data)
    config = TrainConfig(variant="mcm", adversarial=True, epochs=args.epochs, folds=5, fold=0, device=args.device,
                         device_data=args.device_data, graph_capture=args.graph_capture, workers=args.workers,
                         time_limit_s=args.time_limit)
    trainer = Trainer(config, subjects, args.out_dir)
    card = trainer.run(progress=False)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - T0
    epochs = max(card["epochs"], 1)
    print(f"options: device_data={args.device_data} graph_capture={args.graph_capture}, "
          f"{torch.cuda.get_device_name() if trainer.device.type == 'cuda' else 'cpu'}")
    print(f"wall time start → model.safetensors: {wall:.1f} s ({wall / 60:.2f} min) for {card['epochs']} epochs, "
          f"{card['steps']} generator steps, {trainer.batches_seen} batches")
    if card["epochs"] < args.epochs:
        print(f"  {args.epochs} epochs extrapolate to {wall / epochs * args.epochs / 60:.1f} min")
    print("last epoch:", json.dumps(card["metrics"]))


if __name__ == "__main__":
    main()
