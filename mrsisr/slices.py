"""Prepared slices: the contract between preprocessing, training, evaluation and inference.

On-disk format (one compressed NumPy archive per subject/session, ``<label>_slices.npz``, written by
:func:`save_subject` — the workflow's export branch, ``mrsisr-prepare`` and ``mrsisr-synth`` write it;
read without pickle):

=============== ========================== ===============================================
key             shape, dtype               meaning
=============== ========================== ===============================================
``maps``        (S, M, N, N) float32       high-resolution maps, quality-masked (0 = rejected)
``masks``       (S, M, N, N) uint8         1 where the voxel passed the quality filter
``t1``          (S, 3N, 3N, 3) float16     skull-stripped T1w on the 3× MRSI grid, per slice
``flair``       (S, 3N, 3N, 3) float16     co-registered FLAIR on the 3× MRSI grid, per slice
``metabolites`` (M,) unicode               names (from :data:`mrsisr.METABOLITES`)
``slices``      (S,) int32                 axial slice indices in the MRSI volume (0-based)
``affine``      (4, 4) float64             MRSI grid affine (voxel → scanner RAS mm)
``subject``     () unicode                 subject (and session) label
=============== ========================== ===============================================

The scaling contract (DESIGN.md §3), shared by training and inference: the network sees each map
divided by the maximum of its low-resolution map (:func:`map_scale`; known at inference time,
unlike the ground truth's) and each MRI block divided by its own maximum (:func:`scale_mri`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mrsisr import METABOLITES

__all__ = ["SubjectSlices", "save_subject", "load_subject", "load_dataset", "every_kth_slice", "kfold_split",
           "map_scale", "scale_mri", "cut_slices", "export_slices", "training_slices_dir", "flair_substitute"]

_REQUIRED = ("maps", "masks", "t1", "flair", "metabolites", "slices", "affine", "subject")


@dataclass
class SubjectSlices:
    """One subject's prepared slices (see the module docstring for shapes)."""

    subject: str
    maps: np.ndarray
    masks: np.ndarray
    t1: np.ndarray
    flair: np.ndarray
    metabolites: tuple[str, ...]
    slices: np.ndarray
    affine: np.ndarray

    def __post_init__(self) -> None:
        s, m, n, n2 = self.maps.shape
        if n != n2 or self.masks.shape != self.maps.shape:
            raise ValueError(f"{self.subject}: maps {self.maps.shape} and masks {self.masks.shape} must be (S, M, N, N)")
        if self.t1.shape != (s, 3 * n, 3 * n, 3) or self.flair.shape != self.t1.shape:
            raise ValueError(f"{self.subject}: MRI blocks {self.t1.shape}/{self.flair.shape} must be {(s, 3 * n, 3 * n, 3)}")
        unknown = set(self.metabolites) - set(METABOLITES)
        if unknown or len(self.metabolites) != m:
            raise ValueError(f"{self.subject}: metabolites {self.metabolites} must be {m} names of {METABOLITES}")


def save_subject(data: SubjectSlices, path: str | Path) -> Path:
    """Write one subject's slices as ``.npz`` (atomically: a partial file never has the final name)."""
    path = Path(path)
    partial = path.with_name(path.name + ".part.npz")
    np.savez_compressed(partial, maps=data.maps.astype(np.float32), masks=data.masks.astype(np.uint8),
                        t1=data.t1.astype(np.float16), flair=data.flair.astype(np.float16),
                        metabolites=np.array(data.metabolites), slices=np.asarray(data.slices, np.int32),
                        affine=np.asarray(data.affine, np.float64), subject=np.array(data.subject))
    partial.replace(path)
    return path


def load_subject(path: str | Path) -> SubjectSlices:
    """Read one ``*_slices.npz`` file (no pickle), checking its keys and shapes."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in _REQUIRED if key not in archive.files]
            if missing:
                raise ValueError(f"{path} lacks {missing}: not a prepared-slice file")
            fields = {key: archive[key] for key in _REQUIRED}
    except (OSError, EOFError) as error:
        raise ValueError(f"cannot read prepared slices {path}: {error}") from error
    return SubjectSlices(subject=str(fields["subject"]), maps=fields["maps"], masks=fields["masks"],
                         t1=fields["t1"], flair=fields["flair"],
                         metabolites=tuple(str(m) for m in fields["metabolites"]),
                         slices=fields["slices"], affine=fields["affine"])


def load_dataset(directory: str | Path) -> list[SubjectSlices]:
    """All ``*_slices.npz`` under ``directory`` (recursively), sorted by subject."""
    paths = sorted(Path(directory).rglob("*_slices.npz"))
    if not paths:
        raise FileNotFoundError(f"no *_slices.npz prepared-slice files under {directory}")
    return sorted((load_subject(path) for path in paths), key=lambda item: item.subject)


def every_kth_slice(data: SubjectSlices, step: int) -> SubjectSlices:
    """The same subject with only slices 0, step, 2·step, … (the whole subject when ``step`` is 1)."""
    if step == 1:
        return data
    keep = slice(None, None, step)
    return replace(data, maps=data.maps[keep], masks=data.masks[keep], t1=data.t1[keep],
                   flair=data.flair[keep], slices=np.asarray(data.slices)[keep])


def kfold_split(subjects: list[str], folds: int, fold: int) -> dict[str, list[str]]:
    """Subject-wise split: fold ``fold`` is the test set, the next one validation, the rest training.

    With 15 subjects and 5 folds this is the paper's 9 / 3 / 3. ``folds=1`` puts everyone in training.
    """
    if folds == 1:
        return {"train": list(subjects), "validation": [], "test": []}
    if not 0 <= fold < folds or folds > len(subjects):
        raise ValueError(f"fold {fold} of {folds} is impossible with {len(subjects)} subjects")
    groups = [list(subjects[i::folds]) for i in range(folds)]
    test, validation = groups[fold], groups[(fold + 1) % folds]
    train = [s for s in subjects if s not in test and s not in validation]
    return {"train": train, "validation": validation, "test": test}


def map_scale(maps: np.ndarray) -> np.ndarray:
    """The divisor of each map (…, N, N): its maximum, or 1 where the map is not positive. Shape (…, 1, 1)."""
    peak = maps.max(axis=(-2, -1), keepdims=True)
    return np.where(peak > 0, peak, 1.0)


def scale_mri(blocks: np.ndarray) -> np.ndarray:
    """MRI blocks (B, …) each divided by its own maximum (left as is where not positive), as float32."""
    blocks = np.asarray(blocks)
    blocks = blocks.astype(np.result_type(blocks.dtype, np.float32), copy=False)
    peak = blocks.reshape(len(blocks), -1).max(axis=1).reshape((-1,) + (1,) * (blocks.ndim - 1))
    return (blocks / np.where(peak > 0, peak, 1.0)).astype(np.float32)


def flair_substitute(t1w):
    """The network's FLAIR input for a subject without FLAIR: a copy of its T1w (NumPy array or torch
    tensor), :data:`mrsisr.defaults.FLAIR_SUBSTITUTE`.

    One home for the app's T1w-only path and the training's FLAIR-drop augmentation, so a model
    trained with dropped FLAIRs sees at inference exactly what it was trained on.
    """
    return t1w.clone() if hasattr(t1w, "clone") else np.array(t1w, copy=True)


def cut_slices(subject: str, maps: np.ndarray, mask: np.ndarray, t1_3x: np.ndarray, flair_3x: np.ndarray,
               slices: list[int], metabolites: list[str], affine: np.ndarray,
               slice_offset: int = 0) -> SubjectSlices:
    """Cut the selected slices out of a subject's volumes.

    Args:
        maps: high-resolution concentrations (N, N, Z, M); invalid voxels become 0.
        mask: quality mask (N, N, Z, M).
        t1_3x, flair_3x: MRI on the 3× grid, (3N, 3N, 3·Zc), first planes at MRSI slice ``slice_offset``.
        slices: selected 0-based MRSI slices.
    """
    if maps.ndim != 4 or mask.shape != maps.shape or maps.shape[0] != maps.shape[1]:
        raise ValueError(f"maps {maps.shape} and mask {mask.shape} must both be (N, N, Z, M)")
    size = maps.shape[0]
    if t1_3x.shape[:2] != (3 * size, 3 * size) or flair_3x.shape != t1_3x.shape:
        raise ValueError(f"MRI must be ({3 * size}, {3 * size}, 3·Z) on the 3× grid, got {t1_3x.shape}")
    valid = (mask > 0) & np.isfinite(maps)
    clean = np.where(valid, maps, 0.0).astype(np.float32)
    positions = [3 * (k - slice_offset) for k in slices]
    if min(positions) < 0 or max(positions) + 3 > t1_3x.shape[2]:
        raise ValueError(f"slices {slices} are not all inside the MRI crop starting at slice {slice_offset}")
    return SubjectSlices(
        subject=subject,
        maps=np.ascontiguousarray(np.moveaxis(clean[:, :, slices], (2, 3), (0, 1))),
        masks=np.ascontiguousarray(np.moveaxis(valid[:, :, slices], (2, 3), (0, 1))).astype(np.uint8),
        t1=np.stack([t1_3x[:, :, p:p + 3] for p in positions]).astype(np.float16),
        flair=np.stack([flair_3x[:, :, p:p + 3] for p in positions]).astype(np.float16),
        metabolites=tuple(metabolites), slices=np.asarray(slices, np.int32), affine=np.asarray(affine, float),
    )


def export_slices(*, subject: str, in_file: str | Path, mask_file: str | Path, t1w_file: str | Path,
                  flair_file: str | Path, slices: list[int], metabolites: list[str], out_dir: str | Path,
                  slice_offset: int = 0) -> Path:
    """The one route to a prepared-slice file: NIfTIs of the workflow's nodes → ``sub-<subject>_slices.npz``.

    ``in_file``/``mask_file``: concentrations and quality mask (N, N, Z, M) on the MRSI grid;
    ``t1w_file``/``flair_file``: the MRI on the 3× grid whose first 3 planes are MRSI slice
    ``slice_offset``. Called by the ``ExportSlices`` node and by ``mrsisr-prepare``.
    """
    import nibabel as nib

    maps_img = nib.load(str(in_file))
    load = lambda path: np.asanyarray(nib.load(str(path)).dataobj, dtype=np.float32)
    data = cut_slices(subject, load(in_file), load(mask_file), load(t1w_file), load(flair_file), list(slices),
                      list(metabolites), maps_img.affine, slice_offset)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_subject(data, out_dir / f"sub-{subject}_slices.npz")


def training_slices_dir(output_dir: str | Path) -> Path:
    """Where the participant level exports prepared slices (``--export-slices``) under a derivatives folder."""
    return Path(output_dir) / "training" / "slices"
