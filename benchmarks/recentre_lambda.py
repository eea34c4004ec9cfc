"""Start a network's sharpness control at its λ of highest fidelity, chosen on validation subjects.

    python benchmarks/recentre_lambda.py prepared14 runs/lambda_pin.epochs/epoch6.safetensors \\
        runs/lambda_pin_recentred --run-dir runs/lambda_pin

A λ-path fine-tune pinned at λ = 0 (``mrsisr-train --pin-lambda-zero``) keeps λ = 0 the network it
started from, which may sit slightly below the PSNR optimum of its own λ path: a small λ then makes
the maps sharper *and* closer to the truth, and the λ sweep is not monotonic. This script scores
the network at a grid of λ on the validation subjects of ``--folds/--fold`` (never the test
subjects), takes the λ of highest mean PSNR as the new λ = 0 and folds the change of variable into
the weights (:func:`mrsisr.models.conditioning.recentre_sharpness`: the trained range [0, 0.1]
becomes [λ*, 0.1], exactly). It writes ``OUT_DIR/model.safetensors`` (metadata ``lambda_origin``),
``OUT_DIR/lambda_origin.json`` (the validation table) and, with ``--run-dir``, that run's
``log.csv`` and ``model.json`` (with ``lambda_origin`` added), so that
``benchmarks/package_default.py OUT_DIR`` packages it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from mrsisr.evaluation import runner
from mrsisr.evaluation.summary import group_means
from mrsisr.models.conditioning import SHARPNESS_SCALE, recentre_sharpness, trained_sharpness
from mrsisr.models.weights import load_model, read_metadata, save_weights
from mrsisr.slices import every_kth_slice, kfold_split, load_dataset

DEFAULT_GRID = (0.0, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04)


def validation_sweep(prepared: Path, weights: Path, grid: list[float], matrix_sizes: list[int],
                     folds: int, fold: int, slice_step: int) -> tuple[list[str], dict[float, dict[str, float]]]:
    """Mean PSNR, SSIM and sharpness of the network on the fold's validation subjects at each λ."""
    subjects = load_dataset(prepared)
    chosen = kfold_split([s.subject for s in subjects], folds, fold)["validation"]
    if not chosen:
        raise SystemExit(f"recentre_lambda: fold {fold} of {folds} has no validation subject")
    data = [every_kth_slice(s, slice_step) for s in subjects if s.subject in chosen]
    model = load_model(weights)
    rows = runner.evaluate(data, [runner.model_method("model", model)], matrix_sizes, grid)
    means = group_means(rows, ("lam",))
    return chosen, {float(lam): {key: means[(lam,)][key] for key in ("psnr", "ssim", "sharpness")}
                    for lam in grid}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prepared", type=Path, help="prepared-slice folder of the training cohort")
    parser.add_argument("weights", type=Path, help="the network to recentre (safetensors)")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--run-dir", type=Path, help="copy this run's log.csv and model.json beside the weights")
    parser.add_argument("--grid", type=float, nargs="+", default=list(DEFAULT_GRID), help="candidate λ for the new 0")
    parser.add_argument("--simulate-matrix", type=int, nargs="+", default=[16, 32],
                        help="n of the validation scores (the acceptance sweep averages n = 16 and 32)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--slice-step", type=int, default=6)
    args = parser.parse_args(argv)
    if 0.0 not in args.grid or any(not 0 <= lam < SHARPNESS_SCALE for lam in args.grid):
        parser.error(f"--grid must include 0 and lie in [0, {SHARPNESS_SCALE})")
    grid = sorted(set(args.grid))
    subjects, table = validation_sweep(args.prepared, args.weights, grid, args.simulate_matrix,
                                       args.folds, args.fold, args.slice_step)
    if not all(np.isfinite(table[lam]["psnr"]) for lam in grid):
        raise SystemExit(f"recentre_lambda: a PSNR on the validation subjects is not finite: {table}")
    origin = max(grid, key=lambda lam: table[lam]["psnr"])
    model = load_model(args.weights)
    recentre_sharpness(model, origin)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    metadata = read_metadata(args.weights)
    extra = {key: metadata[key] for key in ("augmentations",) if key in metadata}
    save_weights(model, args.out_dir / "model.safetensors", extra={**extra, "lambda_origin": origin})
    record = {"lambda_origin": origin, "weights": str(args.weights), "validation_subjects": subjects,
              "simulate_matrix": args.simulate_matrix, "slice_step": args.slice_step,
              "sweep": [{"lam": lam, **table[lam]} for lam in grid]}
    (args.out_dir / "lambda_origin.json").write_text(json.dumps(record, indent=1))
    if args.run_dir:
        shutil.copyfile(args.run_dir / "log.csv", args.out_dir / "log.csv")
        card = json.loads((args.run_dir / "model.json").read_text())
        card["lambda_origin"] = origin
        (args.out_dir / "model.json").write_text(json.dumps(card, indent=1))
    print("| λ | PSNR (dB) | SSIM | sharpness |\n| --- | --- | --- | --- |")
    for lam in grid:
        mark = " ← new λ = 0" if lam == origin else ""
        print(f"| {lam:g} | {table[lam]['psnr']:.3f} | {table[lam]['ssim']:.4f} | {table[lam]['sharpness']:.4f}{mark} |")
    print(f"validation subjects {', '.join(subjects)}: λ = 0 is now the former λ = {origin:g}; "
          f"λ maps to {origin:g} + {trained_sharpness(1.0, origin) - origin:g}·λ; wrote {args.out_dir / 'model.safetensors'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
