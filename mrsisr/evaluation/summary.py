"""Summaries of evaluation rows: means ± sd, Wilcoxon signed-rank tests, tables and plots."""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

__all__ = ["summarise", "group_means", "pairwise_wilcoxon", "write_csv", "markdown_report", "plot_lambda_sweep",
           "plot_heatmap", "plot_per_n"]

_METRICS = ("psnr", "ssim", "sharpness", "hf_error")


def _finite(values: list[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def group_means(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, dict[str, float]]:
    """Mean and sd of every metric per combination of ``keys`` (e.g. ``("method", "n")``)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in keys)].append(row)
    summary = {}
    for key, members in sorted(groups.items(), key=lambda item: tuple(str(v) for v in item[0])):
        stats: dict[str, float] = {"count": len(members)}
        for metric in _METRICS:
            values = _finite([m[metric] for m in members])
            stats[metric], stats[f"{metric}_sd"] = (float(values.mean()), float(values.std())) if len(values) else (np.nan, np.nan)
        summary[key] = stats
    return summary


def _paired(rows: list[dict], method: str, metric: str, lam: float = 0.0) -> dict[tuple, float]:
    return {(r["subject"], r["slice"], r["metabolite"], r["n"]): r[metric] for r in rows
            if r["method"] == method and r["lam"] == lam and np.isfinite(r[metric])}


def pairwise_wilcoxon(rows: list[dict], metric: str) -> list[dict]:
    """Two-sided Wilcoxon signed-rank p-value for each pair of methods on their paired maps (λ = 0)."""
    methods = sorted({r["method"] for r in rows})
    results = []
    for first, second in itertools.combinations(methods, 2):
        a, b = _paired(rows, first, metric), _paired(rows, second, metric)
        common = sorted(set(a) & set(b))
        diffs = np.array([a[k] - b[k] for k in common])
        p_value = float(wilcoxon(diffs).pvalue) if len(common) > 1 and np.any(diffs != 0) else 1.0
        results.append({"metric": metric, "first": first, "second": second, "pairs": len(common),
                        "mean_difference": float(diffs.mean()) if len(diffs) else np.nan, "p_value": p_value})
    return results


def summarise(rows: list[dict]) -> dict:
    """Everything the reports need, JSON-ready: per method, per n, per metabolite, per λ, tests."""
    def table(subset: list[dict], keys: tuple[str, ...]) -> list[dict]:
        return [{**dict(zip(keys, key)), **stats} for key, stats in group_means(subset, keys).items()]

    at_zero = [r for r in rows if r["lam"] == 0.0]
    methods = {key[0]: stats for key, stats in group_means(at_zero, ("method",)).items()}
    return {
        "methods": methods,
        "per_n": table(at_zero, ("method", "n")),
        "per_metabolite": table(at_zero, ("method", "metabolite")),
        "per_subject": table(at_zero, ("method", "subject")),
        "per_lambda": table(rows, ("method", "lam")),
        "wilcoxon": pairwise_wilcoxon(rows, "psnr") + pairwise_wilcoxon(rows, "ssim"),
        "maps": len(at_zero),
    }


def write_csv(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    if rows:
        with open(path, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def _p_text(p_value: float) -> str:
    """A p-value for a table; one that underflows double precision (0.0) reads ``< 1e-300``."""
    return "< 1e-300" if p_value == 0.0 else f"{p_value:.2e}"


def markdown_report(summary: dict, title: str = "Evaluation") -> str:
    """Markdown tables: PSNR/SSIM per method (mean ± sd), per n, and the Wilcoxon tests."""
    lines = [f"# {title}", "", "| method | PSNR (dB) | SSIM | sharpness | maps |", "| --- | --- | --- | --- | --- |"]
    for name, s in summary["methods"].items():
        lines.append(f"| {name} | {s['psnr']:.2f} ± {s['psnr_sd']:.2f} | {s['ssim']:.4f} ± {s['ssim_sd']:.4f} | "
                     f"{s['sharpness']:.4f} | {s['count']} |")
    sizes = sorted({row["n"] for row in summary["per_n"]})
    methods = list(summary["methods"])
    lines += ["", "## PSNR (dB) per acquired matrix n", "", "| method | " + " | ".join(map(str, sizes)) + " |",
              "| --- |" + " --- |" * len(sizes)]
    table = {(r["method"], r["n"]): r for r in summary["per_n"]}
    for name in methods:
        lines.append(f"| {name} | " + " | ".join(f"{table[(name, n)]['psnr']:.2f}" if (name, n) in table else "–"
                                                for n in sizes) + " |")
    lines += ["", "## Wilcoxon signed-rank tests (paired maps, λ = 0)", "",
              "| metric | method A | method B | pairs | mean A − B | p |", "| --- | --- | --- | --- | --- | --- |"]
    for test in summary["wilcoxon"]:
        lines.append(f"| {test['metric']} | {test['first']} | {test['second']} | {test['pairs']} | "
                     f"{test['mean_difference']:.4f} | {_p_text(test['p_value'])} |")
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_lambda_sweep(summary: dict, path: str | Path) -> Path:
    """PSNR, SSIM and sharpness against λ (the paper's Fig. 4)."""
    plt = _pyplot()
    rows = sorted((r for r in summary["per_lambda"]), key=lambda r: r["lam"])
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for metric, axis in zip(("psnr", "ssim", "sharpness"), axes):
        for method in sorted({r["method"] for r in rows}):
            points = [(r["lam"], r[metric]) for r in rows if r["method"] == method]
            if len(points) > 1:
                axis.plot(*zip(*points), marker="o", label=method)
        axis.set_xlabel("λ")
        axis.set_title(metric.upper() if metric != "sharpness" else "sharpness (mean |∇|)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_heatmap(matrix: np.ndarray, labels: list[str], path: str | Path, title: str, xlabel: str, ylabel: str) -> Path:
    """A labelled heatmap (the paper's Fig. 2 mismatch studies)."""
    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(5.2, 4.4))
    image = axis.imshow(matrix, cmap="viridis")
    axis.set_xticks(range(len(labels)), labels, rotation=45)
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    for (i, j), value in np.ndenumerate(matrix):
        axis.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=6, color="white")
    fig.colorbar(image, ax=axis)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_per_n(summary: dict, path: str | Path) -> Path:
    """PSNR and SSIM per acquired matrix size for every method."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for metric, axis in zip(("psnr", "ssim"), axes):
        for method in summary["methods"]:
            points = sorted((r["n"], r[metric]) for r in summary["per_n"] if r["method"] == method)
            axis.plot(*zip(*points), marker="o", label=method)
        axis.set_xlabel("acquired matrix n")
        axis.set_title(metric.upper())
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
