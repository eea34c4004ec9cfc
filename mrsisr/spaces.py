"""Moving images between the MRI and the MRSI spaces.

* The MRI onto the MRSI grid at 3× its resolution (:func:`resample_files_to_mrsi`, what
  :class:`~mrsisr.interfaces.resample.ResampleToMRSIGrid` runs; DESIGN.md §3): the MRI block of MRSI
  slice k is ``out[:, :, 3k:3k + 3]``.
* Maps from the MRSI grid into the T1w grid, respecting their masks (:func:`resample_masked`):

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

from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr import defaults
from mrsisr.grid import cropped_grid, load_image, resample_to_grid, upsampled_grid

__all__ = ["INTERPOLATION_ORDER", "mrsi_fine_grid", "resample_files_to_mrsi", "resample_masked",
           "resample_masked_volumes", "resample_mri"]


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


#: Interpolation orders of the MRI resampling.
INTERPOLATION_ORDER = {"linear": 1, "cubic": 3}


def mrsi_fine_grid(shape: tuple[int, ...], affine: np.ndarray, *, factor: int = defaults.MRI_FACTOR,
                   slices: list[int] | None = None) -> tuple[tuple[int, int, int], np.ndarray, int]:
    """The fine grid over the MRSI slab, optionally cropped to the selected slices.

    With ``slices``, the slab is cropped to the contiguous range
    ``min(slices) … max(slices)`` (an affine cannot describe a gap), so
    fine sub-slices ``0 … factor−1`` belong to MRSI slice ``min(slices)``.
    Returns ``(shape, affine, first_slice)``.

    >>> shape, affine, k0 = mrsi_fine_grid((64, 64, 39), np.diag([3.4, 3.4, 3.4, 1]), slices=[12, 14])
    >>> shape, k0
    ((192, 192, 9), 12)
    """
    shape = tuple(int(n) for n in shape[:3])
    first = 0
    if slices is not None:
        if len(slices) == 0:
            raise ValueError("slices is empty: give at least one MRSI slice index, or none to keep all")
        first, last = min(slices), max(slices)
        if first < 0 or last >= shape[2]:
            raise ValueError(f"slices {sorted(slices)} are outside the MRSI grid's 0…{shape[2] - 1}")
        shape, affine = cropped_grid(shape, affine, first, last + 1)
    fine_shape, fine_affine = upsampled_grid(shape, affine, factor)
    return fine_shape, fine_affine, first


def resample_mri(data: np.ndarray, affine: np.ndarray, fine_shape: tuple[int, ...], fine_affine: np.ndarray, *,
                 interpolation: str = "linear", source: str = "MRI") -> np.ndarray:
    """Anti-aliased resampling of one MRI onto the fine MRSI grid (float32).

    Raises ``ValueError`` when the result is empty although the MRI is not:
    the MRI and the MRSI grid do not overlap (wrong reference or registration).
    """
    if interpolation not in INTERPOLATION_ORDER:
        raise ValueError(f"interpolation must be one of {sorted(INTERPOLATION_ORDER)}, got {interpolation!r}")
    out = resample_to_grid(data, affine, fine_shape, fine_affine,
                           order=INTERPOLATION_ORDER[interpolation], antialias=True)
    if not np.any(out) and np.any(data):
        raise ValueError(
            f"{source}: the image does not overlap the MRSI grid (all resampled values are 0); "
            "check that it is in the same scanner space as the MRSI reference"
        )
    return out


def resample_files_to_mrsi(*, t1w_file: str, reference: str, out_dir: str | Path, flair_file: str | None = None,
                           mask_file: str | None = None, factor: int = defaults.MRI_FACTOR,
                           slices: list[int] | None = None, interpolation: str = "linear") -> dict:
    """T1w, FLAIR and brain mask files onto the fine MRSI grid (what
    :class:`~mrsisr.interfaces.resample.ResampleToMRSIGrid` runs); returns the output paths.

    The brain mask, when given, is resampled like the images (anti-aliased,
    trilinear) and thresholded at 0.5, giving a uint8 mask on the fine grid.
    """
    ref, ref_affine = load_image(reference, "MRSI reference", ndims=(3, 4), allow_nonfinite=True)
    fine_shape, fine_affine, first = mrsi_fine_grid(ref.shape, ref_affine, factor=factor, slices=slices)
    del ref
    out_dir = Path(out_dir)
    outputs: dict = {"slice_offset": first}
    jobs = [("t1w_mrsi_file", t1w_file, "T1w"), ("flair_mrsi_file", flair_file, "FLAIR"),
            ("mask_file", mask_file, "brain mask")]
    for key, path, what in jobs:
        if not path:
            continue
        data, affine = load_image(path, what)
        out = resample_mri(data, affine, fine_shape, fine_affine,
                           interpolation="linear" if key == "mask_file" else interpolation,
                           source=f"{what} {path}")
        del data
        if key == "mask_file":
            out = (out >= 0.5).astype(np.uint8)
        img = nib.Nifti1Image(out, fine_affine)
        img.header.set_data_dtype(out.dtype)
        target = out_dir / f"{key.replace('_file', '')}_{factor}x.nii.gz"
        nib.save(img, target)
        outputs[key] = str(target)
    return outputs
