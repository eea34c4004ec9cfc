"""Merge the per-fold evaluations of ``benchmarks/table1.sh`` into the paper's Table 1.

    python benchmarks/table1_summary.py results/table1      # writes results/table1/table1.md

It reads ``fold*/eval*/rows.csv`` (or the ``rows.csv.gz`` kept under ``benchmarks/results/``).

Table 1: every method's PSNR and SSIM as the paper reports them (the mean of each fold × n
combination, then mean ± sd over the 5 folds × 9 values of n), its parameter count and training
time summed over the folds (from the model cards). Then the usual report of
:func:`mrsisr.evaluation.summary.markdown_report` (mean ± sd over the maps, PSNR per n, and the
Wilcoxon signed-rank p-values of every pair on the paired maps).
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from mrsisr.evaluation.summary import group_means, markdown_report, summarise


def main(root: Path) -> None:
    rows = []
    for path in sorted(root.glob("fold*/eval*/rows.csv*")):
        with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as stream:
            for row in csv.DictReader(stream):
                for key in ("n", "slice"):
                    row[key] = int(row[key])
                for key in ("lam", "psnr", "ssim", "sharpness", "hf_error"):
                    row[key] = float(row[key])
                row["fold"] = path.parent.parent.name
                row["subject"] = f"{row['fold']}/{row['subject']}"
                rows.append(row)
    if not rows:
        raise SystemExit(f"no rows.csv under {root}/fold*/eval*")
    cost: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for card_path in root.glob("fold*/*/model.json"):
        card = json.loads(card_path.read_text())
        name = "single-scale" if card_path.parent.name.startswith("single-") else card_path.parent.name
        cost[name][0] = card["parameters"] if name != "single-scale" else card["parameters"] * 9
        cost[name][1] += card["wall_time_s"] / 3600
    by_fold_n = group_means([r for r in rows if r["lam"] == 0.0], ("method", "fold", "n"))
    per_method: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (method, _, _), stats in by_fold_n.items():
        for metric in ("psnr", "ssim"):
            per_method[method][metric].append(stats[metric])
    folds = len({r["fold"] for r in rows})
    lines = [f"# Table 1 on the synthetic cohort ({folds} folds)", "",
             "Mean ± sd over the fold × n combinations (each the mean over its test subjects' slices and "
             "metabolites).", "",
             "| method | PSNR (dB) | SSIM | fold × n | parameters | training time (h, all folds) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, values in sorted(per_method.items(), key=lambda item: -np.mean(item[1]["psnr"])):
        params, hours = cost.get(name, (0, 0.0))
        lines.append(f"| {name} | {np.mean(values['psnr']):.2f} ± {np.std(values['psnr']):.2f} | "
                     f"{np.mean(values['ssim']):.4f} ± {np.std(values['ssim']):.4f} | {len(values['psnr'])} | "
                     + (f"{params / 1e6:.2f} M | {hours:.3f} |" if params else "– | – |"))
    text = "\n".join(lines) + "\n\n" + markdown_report(summarise(rows), "Per map").replace("# Per map", "## Per map")
    (root / "table1.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
