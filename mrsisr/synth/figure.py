"""A one-page figure of a synthetic subject: T1w, FLAIR, three metabolites, S/N and FWHM.

Run ``python -m mrsisr.synth.figure DATASET SUBJECT OUT.png``. The MRI panels show the
axial T1w/FLAIR plane through the middle of the MRSI slice shown (resampled by nearest
neighbour), so all panels cover the same anatomy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr.synth import bids


def _plane_through(image: nib.Nifti1Image, grid_affine: np.ndarray, shape: tuple[int, int], k: int,
                   factor: int = 3) -> np.ndarray:
    """Nearest-neighbour sample of ``image`` on the MRSI slice ``k``, ``factor``× finer in-plane."""
    ii, jj = np.meshgrid(np.arange(shape[0] * factor), np.arange(shape[1] * factor), indexing="ij")
    index = np.stack([(ii - (factor - 1) / 2) / factor, (jj - (factor - 1) / 2) / factor,
                      np.full(ii.shape, k), np.ones(ii.shape)]).reshape(4, -1)
    voxel = np.linalg.inv(image.affine) @ grid_affine @ index
    voxel = np.rint(voxel[:3]).astype(int)
    data = np.asarray(image.dataobj)
    inside = np.all((voxel >= 0) & (voxel < np.array(data.shape)[:, None]), axis=0)
    out = np.zeros(voxel.shape[1], np.float32)
    out[inside] = data[voxel[0, inside], voxel[1, inside], voxel[2, inside]]
    return out.reshape(ii.shape)


def plot_subject(root: str | Path, label: str, out_png: str | Path, matrix: int = 64, dpi: int = 80) -> Path:
    """Save the figure of subject ``label`` (acquisition ``matrix``) to ``out_png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = Path(root)
    snr = nib.load(bids.map_path(root, label, matrix, "snr"))
    labels = nib.load(bids.phantom_dir(root, label) / f"sub-{label}_acq-64_space-orig_desc-tumour_dseg.nii.gz")
    tumour_slices = np.nonzero(np.asarray(labels.dataobj).sum(axis=(0, 1)))[0]
    k = int(np.median(tumour_slices)) if tumour_slices.size else snr.shape[2] // 2
    panels = [
        ("T1w", _plane_through(nib.load(bids.anat_path(root, label, "T1w")), snr.affine, snr.shape[:2], k), "gray"),
        ("FLAIR", _plane_through(nib.load(bids.anat_path(root, label, "FLAIR")), snr.affine, snr.shape[:2], k), "gray"),
    ]
    for met in ("NAA", "tCho", "Gln"):
        signal = nib.load(bids.map_path(root, label, matrix, "signal", met))
        panels.append((f"{met} (acq-{matrix})", signal.dataobj[:, :, k], "magma"))
    panels.append(("S/N", snr.dataobj[:, :, k], "viridis"))
    panels.append(("FWHM (ppm)", nib.load(bids.map_path(root, label, matrix, "fwhm")).dataobj[:, :, k], "viridis"))
    figure, axes = plt.subplots(2, 4, figsize=(10.0, 5.4))
    axes = axes.ravel()
    axes[-1].axis("off")
    for axis, (title, data, cmap) in zip(axes, panels):
        # LCModel layout: row = j (anterior at top), column = i (patient right at left).
        shown = axis.imshow(np.asarray(data).T, cmap=cmap, interpolation="nearest",
                            vmax=0.2 if title.startswith("FWHM") else None)
        axis.set_title(title)
        axis.axis("off")
        if cmap != "gray":
            figure.colorbar(shown, ax=axis, fraction=0.046)
    figure.suptitle(f"sub-{label}, MRSI slice {k + 1}")
    figure.tight_layout()
    figure.savefig(out_png, dpi=dpi)
    plt.close(figure)
    from PIL import Image  # a pillow dependency of matplotlib: a 256-colour PNG is 4× smaller

    Image.open(out_png).convert("RGB").quantize(colors=256).save(out_png, optimize=True)
    return Path(out_png)


if __name__ == "__main__":
    plot_subject(sys.argv[1], sys.argv[2], sys.argv[3])
