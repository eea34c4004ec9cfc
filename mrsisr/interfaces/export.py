"""``ExportSlices``: write a subject's prepared slices (the training format of ``mrsisr-train``)."""

from __future__ import annotations

from nipype.interfaces.base import (BaseInterfaceInputSpec, File, InputMultiObject, SimpleInterface, TraitedSpec,
                                    traits)

from mrsisr import METABOLITES

__all__ = ["ExportSlices"]


class _ExportSlicesInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="4-D high-resolution concentrations (N, N, Z, metabolite)")
    mask_file = File(exists=True, mandatory=True, desc="4-D quality mask on the same grid")
    metabolites = InputMultiObject(traits.Enum(*METABOLITES), mandatory=True, desc="metabolite of each volume")
    t1w_file = File(exists=True, mandatory=True, desc="skull-stripped T1w on the 3× grid")
    flair_file = File(exists=True, mandatory=True, desc="co-registered FLAIR on the 3× grid")
    slices = traits.List(traits.Int, mandatory=True, minlen=1, desc="selected 0-based MRSI slices")
    slice_offset = traits.Int(0, usedefault=True, desc="MRSI slice of the first 3 planes of the MRI crop")
    subject = traits.Str(mandatory=True, desc="subject (and session) label, e.g. 01 or 01_ses-pre")


class _ExportSlicesOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="<subject>_slices.npz prepared-slice file")


class ExportSlices(SimpleInterface):
    """Export selected slices, masks and 3× MRI blocks as one ``.npz`` for ``mrsisr-train``.

    See :mod:`mrsisr.slices` for the format.
    """

    input_spec = _ExportSlicesInputSpec
    output_spec = _ExportSlicesOutputSpec

    def _run_interface(self, runtime):
        from mrsisr.slices import export_slices

        inputs = self.inputs
        self._results["out_file"] = str(export_slices(
            subject=inputs.subject, in_file=inputs.in_file, mask_file=inputs.mask_file, t1w_file=inputs.t1w_file,
            flair_file=inputs.flair_file, slices=list(inputs.slices), metabolites=list(inputs.metabolites),
            out_dir=runtime.cwd, slice_offset=inputs.slice_offset))
        return runtime
