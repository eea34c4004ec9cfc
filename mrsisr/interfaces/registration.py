"""Rigid co-registration of the FLAIR (moving) to the T1w (reference).

Backends
--------
``fsl``
    FSL FLIRT through :class:`nipype.interfaces.fsl.FLIRT`: 6 degrees of freedom, a
    multi-modal cost (``mutualinfo`` by default, or ``corratio``/``normmi``), FLIRT's
    ``-out`` being the FLAIR resampled on the T1w grid.  ``transform_file`` is FLIRT's
    ``.mat`` (FSL scaled-voxel convention, usable with ``flirt -applyxfm -init``).
``python``
    :func:`mrsisr.registration.register_rigid_sitk`: SimpleITK rigid Mattes mutual
    information, bit-for-bit reproducible with one thread.  ``transform_file`` is an
    ITK text transform mapping T1w (fixed) LPS points to FLAIR (moving) LPS points.
``auto``
    ``fsl`` when ``FSLDIR`` is set and ``flirt`` is on ``PATH``, else ``python``.

Why SimpleITK: a single binary wheel (no compiler, no ITK build), actively
maintained, and multi-resolution rigid registration with Mattes mutual
information built in; dipy would need more assembly and ANTsPy is a far heavier
install.

Whatever the backend, ``out_matrix`` is a text 4×4 matrix ``M`` with
``p_T1w_RAS = M @ p_FLAIR_RAS`` (scanner RAS mm, see :mod:`mrsisr.anatomy`).
"""

from __future__ import annotations

import os

from nipype.interfaces import fsl
from nipype.interfaces.base import File, SimpleInterface, traits
from nipype.utils.filemanip import split_filename

from mrsisr.grid import load_nifti
from mrsisr.interfaces.backend import BackendInputSpec, BackendOutputSpec, resolve_backend
from mrsisr.registration import flirt_to_ras, register_rigid_sitk

__all__ = ["CoRegister", "make_flirt"]


class _FLIRT(fsl.FLIRT):
    """FLIRT writing NIfTI-GZ without consulting (or warning about) ``FSLOUTPUTTYPE``."""

    _output_type = "NIFTI_GZ"


def make_flirt(in_file: str, reference: str, out_file: str, out_matrix_file: str, cost: str = "mutualinfo"):
    """The configured FLIRT sub-interface (6 dof, one cost for search and optimisation).

    Examples
    --------
    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> for f in ("FLAIR.nii.gz", "T1w.nii.gz"): open(f, "wb").close()
    >>> flirt = make_flirt("FLAIR.nii.gz", "T1w.nii.gz", "FLAIR_coreg.nii.gz", "FLAIR_flirt.mat")
    >>> flirt.cmdline  # doctest: +NORMALIZE_WHITESPACE
    'flirt -in FLAIR.nii.gz -ref T1w.nii.gz -out FLAIR_coreg.nii.gz -omat FLAIR_flirt.mat
     -cost mutualinfo -searchcost mutualinfo -dof 6'
    """
    return _FLIRT(
        in_file=in_file,
        reference=reference,
        out_file=out_file,
        out_matrix_file=out_matrix_file,
        dof=6,
        cost=cost,
        cost_func=cost,
        output_type="NIFTI_GZ",
    )


class _CoRegisterInputSpec(BackendInputSpec):  # backend: 'fsl' = FLIRT, 'python' = SimpleITK
    in_file = File(exists=True, mandatory=True, desc="moving image: the FLAIR (NIfTI, 3-D)")
    reference = File(exists=True, mandatory=True, desc="fixed image and output grid: the T1w (NIfTI, 3-D)")
    cost = traits.Enum("mutualinfo", "corratio", "normmi", usedefault=True, desc="FLIRT cost function (fsl backend)")
    sampling = traits.Range(
        low=0.01,
        high=1.0,
        value=0.15,
        usedefault=True,
        desc="fraction of T1w voxels sampled by the mutual-information metric (python backend)",
    )
    omp_nthreads = traits.Range(
        low=1,
        value=1,
        usedefault=True,
        desc="threads of the python registration; 1 keeps it bit-for-bit reproducible",
    )


class _CoRegisterOutputSpec(BackendOutputSpec):
    out_file = File(exists=True, desc="the FLAIR resampled on the T1w grid (float32)")
    transform_file = File(
        exists=True, desc="the transform: FLIRT .mat (fsl) or ITK text transform, T1w→FLAIR in LPS (python)"
    )
    out_matrix = File(exists=True, desc="text 4x4 matrix mapping FLAIR scanner RAS mm to T1w scanner RAS mm")


class CoRegister(SimpleInterface):
    """Rigidly co-register a FLAIR (moving) to a T1w (reference) with FLIRT or SimpleITK.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from mrsisr.anatomy import mni_head_phantom, read_matrix
    >>> os.chdir(tempfile.mkdtemp())
    >>> head = mni_head_phantom(2)[0]
    >>> head.to_filename("T1w.nii.gz")
    >>> head.to_filename("FLAIR.nii.gz")
    >>> res = CoRegister(in_file="FLAIR.nii.gz", reference="T1w.nii.gz", backend="python").run()
    >>> res.outputs.backend_used
    'python'
    >>> bool(np.allclose(read_matrix(res.outputs.out_matrix), np.eye(4), atol=0.2))
    True
    """

    input_spec = _CoRegisterInputSpec
    output_spec = _CoRegisterOutputSpec

    def _run_interface(self, runtime):
        backend = resolve_backend(self.inputs.backend, "flirt")
        base = os.path.join(runtime.cwd, split_filename(self.inputs.in_file)[1])
        out_file, matrix_file = f"{base}_coreg.nii.gz", f"{base}_to_ref_ras.txt"
        if backend == "fsl":  # the python path checks its inputs itself
            load_nifti(self.inputs.in_file, "FLAIR (moving)", require_signal=True)
            load_nifti(self.inputs.reference, "T1w (reference)", require_signal=True)
            flirt = make_flirt(
                self.inputs.in_file, self.inputs.reference, out_file, f"{base}_flirt.mat", self.inputs.cost
            )
            res = flirt.run(cwd=runtime.cwd)
            out_file, transform_file = res.outputs.out_file, res.outputs.out_matrix_file
            flirt_to_ras(transform_file, self.inputs.in_file, self.inputs.reference, matrix_file)
        else:
            transform_file = f"{base}_itk.txt"
            register_rigid_sitk(
                self.inputs.in_file,
                self.inputs.reference,
                out_file,
                transform_file,
                matrix_file,
                sampling=self.inputs.sampling,
                omp_nthreads=self.inputs.omp_nthreads,
            )
        self._results.update(
            out_file=out_file, transform_file=transform_file, out_matrix=matrix_file, backend_used=backend
        )
        return runtime
