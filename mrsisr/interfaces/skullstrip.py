"""Skull-stripping of the T1w image: FSL BET or its Python port ``brainextractor``.

Backends
--------
``fsl``
    FSL BET through :class:`nipype.interfaces.fsl.BET` (``-m`` for the mask).
``python``
    :func:`mrsisr.skullstrip.skullstrip_python`: the PyPI package ``brainextractor``
    (a port of BET's surface-deformation algorithm), run quietly.
``auto``
    ``fsl`` when FSL is installed (``FSLDIR`` set and ``bet`` on ``PATH``), else
    ``python``; the output ``backend_used`` records the choice.

Both backends write ``<name>_brain.nii.gz`` and ``<name>_brain_mask.nii.gz``
(BET's naming) in the node's working directory.
"""

from __future__ import annotations

import os

from nipype.interfaces import fsl
from nipype.interfaces.base import File, SimpleInterface, traits
from nipype.utils.filemanip import split_filename

from mrsisr.defaults import SKULLSTRIP_RESOLUTION_MM
from mrsisr.grid import load_nifti
from mrsisr.interfaces.backend import BackendInputSpec, BackendOutputSpec, resolve_backend
from mrsisr.skullstrip import skullstrip_python

__all__ = ["SkullStrip", "make_bet"]


class _BET(fsl.BET):
    """BET writing NIfTI-GZ without consulting (or warning about) ``FSLOUTPUTTYPE``."""

    _output_type = "NIFTI_GZ"


def make_bet(in_file: str, out_file: str, frac: float = 0.5) -> fsl.BET:
    """The configured BET sub-interface (``bet <in> <out> -f <frac> -m``).

    Examples
    --------
    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> open("T1w.nii.gz", "wb").close()
    >>> make_bet("T1w.nii.gz", "T1w_brain.nii.gz", 0.4).cmdline
    'bet T1w.nii.gz T1w_brain.nii.gz -f 0.40 -m'
    """
    return _BET(in_file=in_file, out_file=out_file, mask=True, frac=frac, output_type="NIFTI_GZ")


class _SkullStripInputSpec(BackendInputSpec):  # backend: 'fsl' = BET, 'python' = brainextractor
    in_file = File(exists=True, mandatory=True, desc="T1-weighted head image (NIfTI, 3-D)")
    frac = traits.Range(
        low=0.0,
        high=1.0,
        value=0.5,
        exclude_low=True,
        exclude_high=True,
        usedefault=True,
        desc="fractional intensity threshold (BET -f); smaller values give larger brain outlines",
    )
    iterations = traits.Range(
        low=1,
        value=1000,
        usedefault=True,
        desc="surface-deformation iterations of the python backend (BET uses 1000)",
    )
    resolution_mm = traits.Range(
        low=0.0,
        value=SKULLSTRIP_RESOLUTION_MM,
        exclude_low=True,
        usedefault=True,
        desc="python backend: voxel size (mm) of the isotropic grid brainextractor runs on when the T1w "
        "is finer; the mask is brought back to the T1w grid",
    )


class _SkullStripOutputSpec(BackendOutputSpec):
    out_file = File(exists=True, desc="skull-stripped T1w (voxels outside the brain set to 0)")
    mask_file = File(exists=True, desc="binary brain mask (uint8) on the T1w grid")


class SkullStrip(SimpleInterface):
    """Skull-strip a T1w image with FSL BET or the Python ``brainextractor``.

    Examples
    --------
    >>> import os, tempfile
    >>> from mrsisr.anatomy import mni_head_phantom
    >>> os.chdir(tempfile.mkdtemp())
    >>> mni_head_phantom(2)[0].to_filename("T1w.nii.gz")
    >>> res = SkullStrip(in_file="T1w.nii.gz", backend="python", iterations=300).run()
    >>> res.outputs.backend_used, os.path.basename(res.outputs.mask_file)
    ('python', 'T1w_brain_mask.nii.gz')
    """

    input_spec = _SkullStripInputSpec
    output_spec = _SkullStripOutputSpec

    def _run_interface(self, runtime):
        backend = resolve_backend(self.inputs.backend, "bet")
        base = os.path.join(runtime.cwd, split_filename(self.inputs.in_file)[1])
        out_file, mask_file = f"{base}_brain.nii.gz", f"{base}_brain_mask.nii.gz"
        if backend == "fsl":  # the python path checks its input itself
            load_nifti(self.inputs.in_file, "T1w", require_signal=True)
            res = make_bet(self.inputs.in_file, out_file, self.inputs.frac).run(cwd=runtime.cwd)
            out_file, mask_file = res.outputs.out_file, res.outputs.mask_file
        else:
            skullstrip_python(self.inputs.in_file, out_file, mask_file, self.inputs.frac, self.inputs.iterations,
                              self.inputs.resolution_mm)
        self._results.update(out_file=out_file, mask_file=mask_file, backend_used=backend)
        return runtime
