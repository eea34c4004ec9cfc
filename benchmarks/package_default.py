"""Package a trained run as the default model: float16 safetensors in ``mrsisr/data`` plus its log.

    python benchmarks/package_default.py runs/mcm_augmented            # writes mrsisr/data/mcm_default.*
    python benchmarks/package_default.py runs/mcm_augmented --out-dir /tmp/check
    python benchmarks/package_default.py runs/mcm_finetuned --stages runs/mcm_finetuned.stage2 runs/mcm_finetuned
    python benchmarks/package_default.py runs/pin_recentred --append-stage 4   # a stage on top of the shipped one

Writes ``mcm_default.safetensors`` (float16, the run's augmentation record in its metadata) and
``mcm_default_log.csv`` (the run's per-epoch log; with ``--stages``, the logs of the fine-tuning
stages that led to it, one after the other, numbered in a ``stage`` column; with ``--append-stage K``,
the shipped log with the run's rows added as stage K), and prints the largest difference between the
float16 and the float32 network on random [0, 1] inputs of the paper's geometry. The machine-readable
card (``mcm_default.json``) and ``MODEL_CARD.md`` are written by hand from the run's ``model.json``
and the evaluation: they state results that no script can invent.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import torch

from mrsisr.models.weights import load_model, read_metadata, save_weights, sha256

DATA = Path(__file__).resolve().parents[1] / "mrsisr" / "data"


def largest_half_precision_difference(full: torch.nn.Module, half: torch.nn.Module, batch: int = 4) -> float:
    """max |full − half| over the outputs of a few random maps at n = 16 and 32, λ = 0 and 0.09."""
    generator = torch.Generator().manual_seed(0)
    t1 = torch.rand(batch, 1, 192, 192, 3, generator=generator)
    flair = torch.rand(batch, 1, 192, 192, 3, generator=generator)
    lr = torch.rand(batch, 1, 64, 64, generator=generator)
    worst = 0.0
    with torch.inference_mode():
        for n in (16, 32):
            for lam in (0.0, 0.09):
                conditions = (torch.full((batch,), n), torch.arange(batch) % 7, torch.full((batch,), lam))
                worst = max(worst, float((full(t1, flair, lr, *conditions) - half(t1, flair, lr, *conditions)).abs().max()))
    return worst


def _read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def _write_rows(rows: list[dict], target: Path) -> None:
    """One CSV table of rows whose keys may differ (the union of the keys, in order of appearance)."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    with open(target, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def join_stage_logs(stages: list[Path], target: Path, first_stage: int) -> None:
    """Write the ``log.csv`` of each stage folder, in order, as one table with a ``stage`` column."""
    rows = []
    for number, folder in enumerate(stages, start=first_stage):
        if not (folder / "log.csv").exists():  # stopped before its first epoch ended: nothing logged
            print(f"package_default: {folder} has no log.csv (no finished epoch); its stage is left out of the log")
            continue
        rows += [{"stage": number, **row} for row in _read_rows(folder / "log.csv")]
    if not rows:
        raise SystemExit(f"package_default: none of {', '.join(map(str, stages))} has a log.csv")
    _write_rows(rows, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a mrsisr-train output folder (model.safetensors, log.csv)")
    parser.add_argument("--out-dir", type=Path, default=DATA)
    parser.add_argument("--stages", type=Path, nargs="+", metavar="RUN",
                        help="the fine-tuning stages' run folders, in order, whose logs make the shipped log")
    parser.add_argument("--first-stage", type=int, default=2, help="the number of the first --stages folder")
    parser.add_argument("--append-stage", type=int, metavar="K",
                        help="keep the shipped log (a stage table) and add the run's rows as stage K")
    args = parser.parse_args(argv)
    if args.stages and args.append_stage is not None:
        parser.error("--stages and --append-stage are exclusive")
    source = args.run_dir / "model.safetensors"
    shipped_log = DATA / "mcm_default_log.csv"
    if args.append_stage is not None:
        stages = _read_rows(shipped_log)
        if not stages or "stage" not in stages[0] or any(int(row["stage"]) >= args.append_stage for row in stages):
            raise SystemExit(f"package_default: {shipped_log} must be a stage table with stages below {args.append_stage}")
        appended = stages + [{"stage": args.append_stage, **row} for row in _read_rows(args.run_dir / "log.csv")]
    metadata = read_metadata(source)
    full = load_model(source)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    target = save_weights(full, args.out_dir / "mcm_default.safetensors", half=True,
                          extra={key: metadata[key] for key in ("augmentations", "lambda_origin") if key in metadata})
    if args.stages:
        join_stage_logs(args.stages, args.out_dir / "mcm_default_log.csv", args.first_stage)
    elif args.append_stage is not None:
        _write_rows(appended, args.out_dir / "mcm_default_log.csv")
    else:
        shutil.copyfile(args.run_dir / "log.csv", args.out_dir / "mcm_default_log.csv")
    difference = largest_half_precision_difference(full, load_model(target))
    card = json.loads((args.run_dir / "model.json").read_text())
    print(json.dumps({"weights": str(target), "sha256": sha256(target), "float16_max_difference": difference,
                      "epochs": card["epochs"], "steps": card["steps"], "parameters": card["parameters"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
