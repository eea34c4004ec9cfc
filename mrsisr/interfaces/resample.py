"""MRI onto the MRSI grid at three times its resolution (DESIGN.md §3).

The skull-stripped T1w and the FLAIR (already co-registered to the T1w, so
both in T1w scanner space) are resampled onto the MRSI slab refined
``factor`` times along every voxel axis: 192×192×117 for a 64×64×39 MRSI
grid and ``factor = 3``. Each MRSI voxel ``(i, j, k)`` is tiled by the
``3×3×3`` fine voxels ``(3i + a, 3j + b, 3k + c)``, ``a, b, c ∈ {0, 1, 2}``,
whose centres lie at −1/3, 0, +1/3 of an MRSI voxel around the MRSI centre
(:func:`mrsisr.grid.upsampled_grid`); so the MRI block of MRSI slice ``k``
is ``out[:, :, 3k:3k + 3]``.

Resampling (:func:`mrsisr.grid.resample_to_grid`): a Gaussian anti-aliasing
pre-filter along the source axes whose spacing is finer than the target's
(σ = √(r² − 1)/2.3548 source voxels for a voxel-size ratio r; for 1 mm T1w
onto 3.4/3 = 1.133 mm, σ ≈ 0.23 voxel), then trilinear (default) or cubic
interpolation with :func:`scipy.ndimage.affine_transform`. Outside the MRI's
field of view the output is 0.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, isdefined, traits,
)

from mrsisr.grid import cropped_grid, load_image, resample_to_grid, upsampled_grid

INTERPOLATION_ORDER = {"linear": 1, "cubic": 3}


def mrsi_fine_grid(
    shape: tuple[int, ...],
    affine: np.ndarray,
    *,
    factor: int = 3,
    slices: list[int] | None = None,
) -> tuple[tuple[int, int, int], np.ndarray, int]:
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


def resample_mri(
    data: np.ndarray,
    affine: np.ndarray,
    fine_shape: tuple[int, ...],
    fine_affine: np.ndarray,
    *,
    interpolation: str = "linear",
    source: str = "MRI",
) -> np.ndarray:
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


def resample_files_to_mrsi(
    *,
    t1w_file: str,
    reference: str,
    out_dir: str | Path,
    flair_file: str | None = None,
    mask_file: str | None = None,
    factor: int = 3,
    slices: list[int] | None = None,
    interpolation: str = "linear",
) -> dict:
    """File-level resampling (what :class:`ResampleToMRSIGrid` runs); returns output paths.

    The brain mask, when given, is resampled like the images (anti-aliased,
    trilinear) and thresholded at 0.5, giving a uint8 mask on the fine grid.
    """
    ref, ref_affine = load_image(reference, "MRSI reference",
                                 ndims=(3, 4), allow_nonfinite=True)
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


class _ResampleToMRSIGridInputSpec(BaseInterfaceInputSpec):
    t1w_file = File(exists=True, mandatory=True, desc="skull-stripped T1w (3-D, scanner space)")
    flair_file = File(exists=True, desc="FLAIR co-registered to the T1w (3-D, same scanner space)")
    mask_file = File(exists=True, desc="brain mask to bring onto the fine grid as well (optional)")
    reference = File(exists=True, mandatory=True,
                     desc="any NIfTI on the MRSI grid (3-D or 4-D); its first 3 axes define the grid")
    factor = traits.Range(1, 8, 3, usedefault=True, desc="refinement per voxel axis (3: 64×64×39 → 192×192×117)")
    slices = traits.List(traits.Int, desc="crop to the MRSI slices min(slices)…max(slices) (0-based k)")
    interpolation = traits.Enum("linear", "cubic", usedefault=True,
                                desc="interpolation after the anti-aliasing pre-filter")


class _ResampleToMRSIGridOutputSpec(TraitedSpec):
    t1w_mrsi_file = File(exists=True, desc="T1w on the fine MRSI grid, float32")
    flair_mrsi_file = File(exists=True, desc="FLAIR on the fine MRSI grid, float32")
    mask_file = File(exists=True, desc="brain mask on the fine MRSI grid, uint8")
    slice_offset = traits.Int(desc="MRSI slice index k of the first fine block (0 without cropping)")


class ResampleToMRSIGrid(SimpleInterface):
    """Resample T1w and FLAIR onto the MRSI slab at ``factor``× resolution (see module docs).

    >>> node = ResampleToMRSIGrid(factor=3, slices=[10, 11, 12])
    >>> node.inputs.interpolation
    'linear'
    """

    input_spec = _ResampleToMRSIGridInputSpec
    output_spec = _ResampleToMRSIGridOutputSpec

    def _run_interface(self, runtime):
        inputs = self.inputs
        optional = {name: getattr(inputs, name) if isdefined(getattr(inputs, name)) else None
                    for name in ("flair_file", "mask_file", "slices")}
        self._results.update(resample_files_to_mrsi(
            t1w_file=inputs.t1w_file, reference=inputs.reference, out_dir=runtime.cwd,
            factor=inputs.factor, interpolation=inputs.interpolation, **optional,
        ))
        return runtime
