"""Turn a preprocessed subject (maps, masks and MRI on the MRSI grids) into prepared slices."""

from __future__ import annotations

import numpy as np

from mrsisr.training.data import SubjectSlices

__all__ = ["prepare_subject"]


def prepare_subject(subject: str, maps: np.ndarray, mask: np.ndarray, t1_3x: np.ndarray, flair_3x: np.ndarray,
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
