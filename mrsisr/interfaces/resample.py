"""MRI onto the MRSI grid at three times its resolution (DESIGN.md §3).

The skull-stripped T1w and the FLAIR (already co-registered to the T1w, so
both in T1w scanner space) are resampled onto the MRSI slab refined
``factor`` times along every voxel axis: 192×192×117 for a 64×64×39 MRSI
grid and ``factor = 3``. Each MRSI voxel ``(i, j, k)`` is tiled by the
``3×3×3`` fine voxels ``(3i + a, 3j + b, 3k + c)``, ``a, b, c ∈ {0, 1, 2}``,
whose centres lie at −1/3, 0, +1/3 of an MRSI voxel around the MRSI centre
(:func:`mrsisr.grid.upsampled_grid`); so the MRI block of MRSI slice ``k``
is ``out[:, :, 3k:3k + 3]``.

Resampling (:func:`mrsisr.spaces.resample_files_to_mrsi`, :func:`mrsisr.grid.resample_to_grid`): a Gaussian anti-aliasing
pre-filter along the source axes whose spacing is finer than the target's
(σ = √(r² − 1)/2.3548 source voxels for a voxel-size ratio r; for 1 mm T1w
onto 3.4/3 = 1.133 mm, σ ≈ 0.23 voxel), then trilinear (default) or cubic
interpolation with :func:`scipy.ndimage.affine_transform`. Outside the MRI's
field of view the output is 0.
"""

from __future__ import annotations

from nipype.interfaces.base import (
    BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, isdefined, traits,
)

from mrsisr import defaults
from mrsisr.spaces import resample_files_to_mrsi

__all__ = ["ResampleToMRSIGrid"]


class _ResampleToMRSIGridInputSpec(BaseInterfaceInputSpec):
    t1w_file = File(exists=True, mandatory=True, desc="skull-stripped T1w (3-D, scanner space)")
    flair_file = File(exists=True, desc="FLAIR co-registered to the T1w (3-D, same scanner space)")
    mask_file = File(exists=True, desc="brain mask to bring onto the fine grid as well (optional)")
    reference = File(exists=True, mandatory=True,
                     desc="any NIfTI on the MRSI grid (3-D or 4-D); its first 3 axes define the grid")
    factor = traits.Range(1, 8, defaults.MRI_FACTOR, usedefault=True, desc="refinement per voxel axis (3: 64×64×39 → 192×192×117)")
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
