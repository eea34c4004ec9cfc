"""Merge the per-fold evaluations of ``benchmarks/table1.sh`` into the paper's Table 1.

    python benchmarks/table1_summary.py results/table1      # writes results/table1/table1.md

Rows: every method's PSNR and SSIM (mean ± sd over folds, subjects, slices, metabolites and the 9
values of n), its parameter count and training time (from the model cards), then the Wilcoxon
signed-rank p-values of every pair on the paired maps.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

from mrsisr.evaluation.summary import markdown_report, summarise


def main(root: Path) -> None:
    rows = []
    for path in sorted(root.glob("fold*/eval*/rows.csv")):
        with open(path) as stream:
            for row in csv.DictReader(stream):
                for key in ("n", "slice"):
                    row[key] = int(row[key])
                for key in ("lam", "psnr", "ssim", "sharpness", "hf_error"):
                    row[key] = float(row[key])
                row["subject"] = f"{path.parent.parent.name}/{row['subject']}"
                rows.append(row)
    if not rows:
        raise SystemExit(f"no rows.csv under {root}/fold*/eval*")
    cost: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for card_path in root.glob("fold*/*/model.json"):
        card = json.loads(card_path.read_text())
        name = "single-scale" if card_path.parent.name.startswith("single-") else card_path.parent.name
        cost[name][0] = card["parameters"] if name != "single-scale" else card["parameters"] * 9
        cost[name][1] += card["wall_time_s"] / 3600
    report = markdown_report(summarise(rows), "Table 1 on the synthetic cohort")
    lines = ["", "| method | parameters | training time (h, all folds) |", "| --- | --- | --- |"]
    lines += [f"| {name} | {params / 1e6:.2f} M | {hours:.2f} |" for name, (params, hours) in sorted(cost.items())]
    (root / "table1.md").write_text(report + "\n".join(lines) + "\n")
    print(report + "\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
