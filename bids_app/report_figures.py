"""The report's figures: each function reads arrays and writes one PNG (atomically).

Layout (which figures, the page) is :mod:`mrsisr.bids_app.report`'s; plotting stays here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_overlay", "plot_quality", "plot_metabolite_panel", "plot_ratio_panel", "save_figure", "pyplot"]


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Save a figure atomically (hidden temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}")
    fig.savefig(temporary, dpi=80, bbox_inches="tight", facecolor="black", format="png")
    pyplot().close(fig)
    temporary.replace(path)
    return path


def _central_slices(mask: np.ndarray, count: int = 3) -> list[int]:
    """Axial slices through the mask's extent (quartiles), or through the middle."""
    occupied = np.flatnonzero(mask.reshape(-1, mask.shape[2]).any(axis=0)) if mask.any() else np.arange(mask.shape[2])
    return sorted({int(occupied[int(q * (len(occupied) - 1))]) for q in np.linspace(0.2, 0.8, count)})


def plot_overlay(background: np.ndarray, contour: np.ndarray, out_png: Path, title: str, threshold=0.5) -> Path:
    """Axial slices of ``background`` with the outline of ``contour > threshold`` in red."""
    plt = pyplot()
    slices = _central_slices(contour > threshold)
    fig, axes = plt.subplots(1, len(slices), figsize=(3 * len(slices), 3))
    vmax = np.percentile(background[background > 0], 99) if np.any(background > 0) else 1.0
    for ax, k in zip(np.atleast_1d(axes), slices, strict=True):
        ax.imshow(background[:, :, k].T, origin="lower", cmap="gray", vmin=0, vmax=vmax)
        ax.contour(contour[:, :, k].T, levels=[threshold], colors="red", linewidths=0.8)
        ax.set_title(f"{title}, k={k}", color="white", fontsize=8)
        ax.axis("off")
    return save_figure(fig, out_png)


def plot_quality(masks: dict[str, np.ndarray], out_png: Path) -> Path:
    """The quality mask of each metabolite on its middle selected slice (white = kept)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(masks), figsize=(2.2 * len(masks), 2.4), squeeze=False)
    for ax, (name, mask) in zip(axes[0], masks.items(), strict=True):
        k = _central_slices(mask > 0, 1)[0]
        ax.imshow(mask[:, :, k].T, origin="lower", cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{name} k={k}: {int(mask.sum())} kept", color="white", fontsize=7)
        ax.axis("off")
    return save_figure(fig, out_png)


def _colour_bar(fig, image, axes, label: str) -> None:
    """A colour bar beside ``axes``, labelled (with the units) in white like the rest of the figure."""
    bar = fig.colorbar(image, ax=axes, shrink=0.85, pad=0.02)
    bar.set_label(label, color="white", fontsize=8)
    bar.ax.tick_params(colors="white", labelsize=7)


def plot_metabolite_panel(columns: list[tuple[str, np.ndarray]], slices: list[int], out_png: Path,
                          units: str = "institutional units") -> Path:
    """The paper's Fig. 3 layout: one row per slice; zero-filled, SR at each λ, FLAIR; one colour bar
    (in ``units``) for the maps, which share their scale."""
    plt = pyplot()
    fig, axes = plt.subplots(len(slices), len(columns), figsize=(2.2 * len(columns), 2.2 * len(slices)),
                             squeeze=False)
    maps = [data for title, data in columns if title != "FLAIR"]
    vmax = max(float(np.percentile(m[m > 0], 99.5)) if np.any(m > 0) else 1.0 for m in maps)
    for row, k in enumerate(slices):
        for col, (title, data) in enumerate(columns):
            ax = axes[row, col]
            if title == "FLAIR":
                ax.imshow(data[:, :, k].T, origin="lower", cmap="gray")
            else:
                image = ax.imshow(data[:, :, k].T, origin="lower", cmap="inferno", vmin=0, vmax=vmax)
            if row == 0:
                ax.set_title(title, color="white", fontsize=8)
            ax.set_ylabel(f"k={k}", color="white")
            ax.set_xticks([])
            ax.set_yticks([])
    map_axes = [axes[row, col] for row in range(len(slices)) for col, (title, _) in enumerate(columns)
                if title != "FLAIR"]
    _colour_bar(fig, image, map_axes, units)
    return save_figure(fig, out_png)


def plot_ratio_panel(ratios: list[tuple[str, np.ndarray, np.ndarray]], k: int, out_png: Path) -> Path:
    """One axial slice ``k`` of each ratio map (0 outside its mask, shown black), each with its colour bar."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(ratios), figsize=(2.9 * len(ratios), 2.5), squeeze=False)
    for ax, (title, data, mask) in zip(axes[0], ratios, strict=True):
        valid = data[mask > 0]
        vmax = float(np.percentile(valid, 99)) if valid.size else 1.0
        shown = np.ma.masked_where(mask[:, :, k] == 0, data[:, :, k])
        image = ax.imshow(shown.T, origin="lower", cmap="viridis", vmin=0, vmax=vmax or 1.0)
        ax.set_title(f"{title}, k={k}", color="white", fontsize=8)
        ax.axis("off")
        _colour_bar(fig, image, ax, "ratio (unitless)")
    return save_figure(fig, out_png)


def plot_uncertainty_row(columns: list[tuple[str, np.ndarray]], k: int, out_png: Path,
                         units: str = "institutional units") -> Path:
    """One row: axial slice ``k`` of each uncertainty map (one per λ), sharing one colour bar in ``units``."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(columns), figsize=(2.4 * len(columns) + 0.8, 2.5), squeeze=False)
    vmax = max(float(np.percentile(m[m > 0], 99.5)) if np.any(m > 0) else 1.0 for _, m in columns)
    for ax, (title, data) in zip(axes[0], columns, strict=True):
        image = ax.imshow(data[:, :, k].T, origin="lower", cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"{title}, k={k}", color="white", fontsize=8)
        ax.axis("off")
    _colour_bar(fig, image, list(axes[0]), units)
    return save_figure(fig, out_png)
