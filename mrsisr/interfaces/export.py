"""``ExportSlices``: write a subject's prepared slices (the training format of ``mrsisr-train``)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
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

    See :mod:`mrsisr.training.data` for the format.
    """

    input_spec = _ExportSlicesInputSpec
    output_spec = _ExportSlicesOutputSpec

    def _run_interface(self, runtime):
        from mrsisr.training.data import save_subject
        from mrsisr.training.prepare import prepare_subject

        maps_img = nib.load(self.inputs.in_file)
        load = lambda path: np.asanyarray(nib.load(path).dataobj, dtype=np.float32)
        data = prepare_subject(self.inputs.subject, load(self.inputs.in_file), load(self.inputs.mask_file),
                               load(self.inputs.t1w_file), load(self.inputs.flair_file), list(self.inputs.slices),
                               list(self.inputs.metabolites), maps_img.affine, self.inputs.slice_offset)
        out = Path(runtime.cwd) / f"sub-{self.inputs.subject}_slices.npz"
        self._results["out_file"] = str(save_subject(data, out))
        return runtime
