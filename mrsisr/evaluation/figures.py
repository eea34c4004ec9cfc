"""The paper's Fig. 3: per metabolite, zero-filling, the network at several λ, ground truth, FLAIR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mrsisr import kspace
from mrsisr.metrics import map_metrics
from mrsisr.inference import super_resolve_maps
from mrsisr.slices import SubjectSlices

__all__ = ["sharpness_panel"]


def sharpness_panel(model: torch.nn.Module, data: SubjectSlices, n: int, sharpness: list[float],
                    path: str | Path, slice_position: int | None = None) -> Path:
    """One row per metabolite of ``data`` at one slice; PSNR/SSIM (masked) under each map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    position = len(data.slices) // 2 if slice_position is None else slice_position
    hr = (data.maps * data.masks)[position:position + 1]
    lr = kspace.truncate(hr.astype(np.float64), n).astype(np.float32)
    sr = super_resolve_maps(model, lr, data.t1[position:position + 1].astype(np.float32),
                            data.flair[position:position + 1].astype(np.float32), n, list(data.metabolites),
                            sharpness)[:, 0]  # (L, M, N, N)
    columns = ["zero-filled"] + [f"λ = {lam:g}" for lam in sharpness] + ["ground truth", "FLAIR"]
    rows = len(data.metabolites)
    fig, axes = plt.subplots(rows, len(columns), figsize=(1.6 * len(columns), 1.75 * rows), squeeze=False)
    flair = data.flair[position, :, :, 1].astype(np.float32)
    for m, name in enumerate(data.metabolites):
        mask = data.masks[position, m] > 0
        truth = hr[0, m]
        images = [lr[0, m]] + [sr[i, m] * mask for i in range(len(sharpness))] + [truth, flair]
        peak = truth.max() or 1.0
        for c, (axis, image) in enumerate(zip(axes[m], images)):
            axis.imshow(np.rot90(image), cmap="gray" if c == len(images) - 1 else "magma",
                        vmin=0, vmax=None if c == len(images) - 1 else peak)
            axis.set_xticks([])
            axis.set_yticks([])
            if c < len(images) - 2:
                psnr, ssim = map_metrics(image, truth, mask)
                axis.set_xlabel(f"{psnr:.1f}/{ssim:.3f}", fontsize=7)
            if m == 0:
                axis.set_title(columns[c], fontsize=8)
        axes[m, 0].set_ylabel(name, fontsize=9)
    fig.suptitle(f"sub-{data.subject}, slice {int(data.slices[position])}, n = {n} → {hr.shape[-1]} "
                 "(PSNR dB / SSIM under each map)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
