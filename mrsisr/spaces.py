"""Bringing maps from the MRSI grid into another space (the T1w grid), respecting their masks.

A super-resolved map is defined only inside its mask (quality-filtered voxels of the
selected slices); outside it the map holds 0, which is *not* a concentration. Plain
trilinear interpolation would average those zeros into the tissue voxels along the mask
edge and darken the border of every map. :func:`resample_masked` interpolates with
*normalised* weights instead (normalised convolution): the map times its mask and the
mask itself are resampled with the same linear operator (Gaussian anti-aliasing when the
target is coarser, then trilinear interpolation, both from :func:`mrsisr.grid.resample_to_grid`)
and divided. Every target value is then a weighted mean of valid source voxels only: a
map that is constant on its mask stays exactly that constant, and a map that is linear in
space stays linear.

A target voxel belongs to the resampled mask when at least ``min_weight`` of its
interpolation weight falls on valid source voxels (0.5: the mask edge lands half-way
between a valid and an invalid MRSI voxel centre, where a nearest-neighbour resampling of
the mask would put it). Outside the resampled mask the map takes ``fill`` (0, as the
maps on the MRSI grid).
"""

from __future__ import annotations

import numpy as np

from mrsisr.grid import resample_to_grid

__all__ = ["resample_masked", "resample_masked_volumes"]


def resample_masked(
    data: np.ndarray,
    mask: np.ndarray,
    source_affine: np.ndarray,
    target_shape: tuple[int, ...],
    target_affine: np.ndarray,
    *,
    min_weight: float = 0.5,
    fill: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a 3-D map defined on ``mask`` onto another grid in the same scanner space.

    Returns ``(values, mask)`` on the target grid (float32 and uint8): ``values`` is the
    normalised trilinear interpolation of ``data`` over the valid voxels (see the module
    docstring), ``fill`` outside the returned mask.

    >>> data = np.zeros((4, 1, 1)); data[:2] = 5.0                  # 5 on the mask, 0 outside
    >>> mask = data > 0
    >>> target = np.diag([0.5, 1, 1, 1]); target[0, 3] = -0.25      # twice finer along x
    >>> values, inside = resample_masked(data, mask, np.eye(4), (8, 1, 1), target)
    >>> values[:, 0, 0].tolist(), inside[:, 0, 0].tolist()
    ([5.0, 5.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0], [1, 1, 1, 1, 0, 0, 0, 0])
    """
    if data.ndim != 3 or mask.shape != data.shape:
        raise ValueError(f"expected a 3-D map and a mask of the same shape, got {data.shape} and {mask.shape}")
    if not 0.0 < min_weight <= 1.0:
        raise ValueError(f"min_weight must be in (0, 1], got {min_weight}")
    valid = (mask > 0) & np.isfinite(data)
    shape = tuple(int(n) for n in target_shape[:3])
    values = np.full(shape, fill, dtype=np.float32)
    inside = np.zeros(shape, dtype=np.uint8)
    box = _target_box(valid, source_affine, shape, target_affine)
    if box is None:  # nothing valid, or the map lies outside the target's field of view
        return values, inside
    start = np.array([b.start for b in box])
    shift = np.eye(4)
    shift[:3, 3] = start
    box_shape = tuple(b.stop - b.start for b in box)
    box_affine = np.asarray(target_affine, float) @ shift
    weighted = np.where(valid, data, 0.0).astype(np.float32)
    numerator = resample_to_grid(weighted, source_affine, box_shape, box_affine, order=1, antialias=True)
    weight = resample_to_grid(valid.astype(np.float32), source_affine, box_shape, box_affine, order=1,
                              antialias=True)
    keep = weight >= min_weight - 1e-6
    values[box] = np.where(keep, numerator / np.where(keep, weight, 1.0), fill)
    inside[box] = keep
    return values, inside


def _target_box(valid: np.ndarray, source_affine: np.ndarray, target_shape: tuple[int, int, int],
                target_affine: np.ndarray, margin: float = 2.0) -> tuple[slice, slice, slice] | None:
    """The target voxels that can receive weight from the valid source voxels: the bounding box of the
    valid voxels (plus ``margin`` source voxels for the interpolation and anti-aliasing footprint)
    mapped into target voxel indices. Resampling only there spares the T1w voxels far from the slab."""
    if not valid.any():
        return None
    index = np.argwhere(valid)
    low, high = index.min(axis=0) - margin, index.max(axis=0) + margin
    corners = np.array([[c[0], c[1], c[2], 1.0] for c in np.array(np.meshgrid(*zip(low, high))).reshape(3, -1).T])
    mapping = np.linalg.solve(np.asarray(target_affine, float), np.asarray(source_affine, float))
    target = corners @ mapping.T
    start = np.clip(np.floor(target[:, :3].min(axis=0)).astype(int), 0, target_shape)
    stop = np.clip(np.ceil(target[:, :3].max(axis=0)).astype(int) + 1, 0, target_shape)
    if np.any(stop <= start):
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(start, stop))


def resample_masked_volumes(
    data: np.ndarray,
    mask: np.ndarray,
    source_affine: np.ndarray,
    target_shape: tuple[int, ...],
    target_affine: np.ndarray,
    *,
    min_weight: float = 0.5,
    fill: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resample_masked` for each volume of a 4-D ``(x, y, z, metabolite)`` map and its 4-D mask."""
    if data.ndim == 3:
        data, mask = data[..., None], mask[..., None]
    if data.ndim != 4 or mask.shape != data.shape:
        raise ValueError(f"expected 4-D maps (x, y, z, metabolite) and a mask of the same shape, "
                         f"got {data.shape} and {mask.shape}")
    shape = tuple(int(n) for n in target_shape[:3])
    values = np.empty(shape + (data.shape[3],), np.float32)
    inside = np.empty(shape + (data.shape[3],), np.uint8)
    for index in range(data.shape[3]):
        values[..., index], inside[..., index] = resample_masked(
            data[..., index], mask[..., index], source_affine, shape, target_affine,
            min_weight=min_weight, fill=fill)
    return values, inside
