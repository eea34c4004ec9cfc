"""``SelectSlices``: keep the axial MRSI slices with enough valid brain voxels (DESIGN.md §3).

A thin node over :func:`mrsisr.quality.select_slices_file`.
"""

from __future__ import annotations

from pathlib import Path

from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, isdefined, traits

from mrsisr.defaults import MIN_VALID_FRACTION
from mrsisr.quality import select_slices_file

__all__ = ["SelectSlices"]


class _SelectSlicesInputSpec(BaseInterfaceInputSpec):
    mask_file = File(exists=True, mandatory=True,
                     desc="quality mask on the MRSI grid (3-D, or 4-D per metabolite)")
    combine = traits.Enum("any", "all", usedefault=True,
                          desc="4-D masks: a voxel is valid when valid for any / all metabolites")
    min_valid_fraction = traits.Range(0.0, 1.0, MIN_VALID_FRACTION, usedefault=True,
                                      desc="keep slices whose valid voxels / (nx*ny) is at least this")
    min_slice_fraction = traits.Range(0.0, 1.0, desc="also keep only slices whose valid voxels are at least this "
                                      "fraction of the fullest slice's (the brain's extent on the grid)")
    max_slices = traits.Range(low=1, desc="keep at most this many slices (those with most valid voxels)")


class _SelectSlicesOutputSpec(TraitedSpec):
    slices = traits.List(traits.Int, desc="kept axial slice indices (0-based k), increasing")
    n_slices = traits.Int(desc="number of kept slices")
    slices_file = File(exists=True, desc="TSV: slice, n_valid, valid_fraction, selected (+ JSON sidecar)")


class SelectSlices(SimpleInterface):
    """Keep the axial MRSI slices with enough valid brain voxels (see :func:`mrsisr.quality.select_slices`).

    >>> node = SelectSlices(max_slices=18)
    >>> node.inputs.min_valid_fraction, node.inputs.combine
    (0.3, 'any')
    """

    input_spec = _SelectSlicesInputSpec
    output_spec = _SelectSlicesOutputSpec

    def _run_interface(self, runtime):
        max_slices = self.inputs.max_slices if isdefined(self.inputs.max_slices) else None
        slices, out_file = select_slices_file(
            self.inputs.mask_file, Path(runtime.cwd) / "selected_slices.tsv",
            combine=self.inputs.combine, min_valid_fraction=self.inputs.min_valid_fraction,
            min_slice_fraction=self.inputs.min_slice_fraction if isdefined(self.inputs.min_slice_fraction) else None,
            max_slices=max_slices,
        )
        self._results.update(slices=slices, n_slices=len(slices), slices_file=str(out_file))
        return runtime
