"""Skull-stripping of the T1w image: FSL BET or its Python port ``brainextractor``.

Backends
--------
``fsl``
    FSL BET through :class:`nipype.interfaces.fsl.BET` (``-m`` for the mask).
``python``
    The PyPI package ``brainextractor`` (a port of BET's surface-deformation
    algorithm, numba-compiled), run quietly: its per-iteration printing is sent to
    ``/dev/null`` at the file-descriptor level, its warnings are re-emitted as
    Python warnings.
``auto``
    ``fsl`` when FSL is installed (``FSLDIR`` set and ``bet`` on ``PATH``), else
    ``python``; the output ``backend_used`` records the choice.

Both backends write ``<name>_brain.nii.gz`` and ``<name>_brain_mask.nii.gz``
(BET's naming) in the node's working directory.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import nibabel as nib
import numpy as np
from nipype.interfaces import fsl
from nipype.interfaces.base import File, SimpleInterface, traits
from nipype.utils.filemanip import split_filename

from mrsisr.grid import load_nifti
from mrsisr.interfaces.backend import BackendInputSpec, BackendOutputSpec, resolve_backend

__all__ = ["SkullStrip", "make_bet", "quiet_output", "skullstrip_python"]


@contextlib.contextmanager
def quiet_output():
    """Silence stdout/stderr, down to the file descriptors (compiled code included).

    While active, the whole process's descriptors 1 and 2 point to ``/dev/null`` (other
    threads are silenced too); both are restored on exit, also after an exception.

    Examples
    --------
    >>> with quiet_output():
    ...     print("not shown")
    >>> print("shown")
    shown
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _brainextractor_mask(img: nib.Nifti1Image, frac: float, iterations: int) -> np.ndarray:
    """Run brainextractor quietly; images with anisotropic voxels go through an isotropic grid.

    brainextractor works in voxel units scaled by the first voxel size only, so an
    anisotropic image is resampled (linear) to its smallest voxel size first and the
    mask brought back (linear, threshold 0.5).
    """
    from nibabel.processing import resample_from_to, resample_to_output

    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    work = nib.Nifti1Image(img.get_fdata(dtype=np.float32), img.affine)
    isotropic = np.allclose(zooms, zooms[0], rtol=1e-3)
    if not isotropic:
        work = resample_to_output(work, voxel_sizes=float(zooms.min()), order=1)
    with quiet_output(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from brainextractor import BrainExtractor

        extractor = BrainExtractor(img=work, bt=frac)
        extractor.run(iterations=int(iterations))
        mask = extractor.compute_mask() > 0
    for item in caught:
        warnings.warn(f"brainextractor: {item.message}", item.category, stacklevel=3)
    if not isotropic:
        back = resample_from_to(nib.Nifti1Image(mask.astype(np.float32), work.affine), img, order=1)
        mask = back.get_fdata() >= 0.5
    return mask


def skullstrip_python(
    in_file: str,
    out_file: str,
    mask_file: str,
    frac: float = 0.5,
    iterations: int = 1000,
) -> tuple[str, str]:
    """Brain-extract ``in_file`` with ``brainextractor``; write the brain and its mask.

    Parameters
    ----------
    in_file : str
        T1w NIfTI (checked with :func:`mrsisr.grid.load_nifti`).
    out_file, mask_file : str
        Where to write the masked T1w (input data type) and the uint8 mask.
    frac : float
        BET's fractional intensity threshold (smaller gives a larger brain).
    iterations : int
        Surface-deformation iterations (BET uses 1000).

    Images with anisotropic voxels are extracted on an isotropic grid at their
    smallest voxel size (brainextractor assumes isotropic voxels) and the mask is
    brought back to the input grid.

    Examples
    --------
    >>> import tempfile
    >>> from mrsisr.anatomy import mni_head_phantom
    >>> d = tempfile.mkdtemp()
    >>> mni_head_phantom(2)[0].to_filename(d + "/T1w.nii.gz")
    >>> skullstrip_python(d + "/T1w.nii.gz", d + "/brain.nii.gz", d + "/mask.nii.gz", iterations=300)
    ... # doctest: +ELLIPSIS
    ('.../brain.nii.gz', '.../mask.nii.gz')
    """
    if not 0.0 < frac < 1.0:
        raise ValueError(f"frac must lie in (0, 1); got {frac}.")
    img = load_nifti(in_file, "T1w", require_signal=True)
    mask = _brainextractor_mask(img, frac, iterations)
    if not mask.any():
        raise RuntimeError(f"brainextractor found no brain in {in_file}; check the image (is it a T1w head?).")
    brain = np.where(mask, img.get_fdata(), 0.0)
    hdr = img.header.copy()
    if np.issubdtype(img.get_data_dtype(), np.integer) and hdr.get_slope_inter() in ((None, None), (1.0, 0.0)):
        brain = np.rint(brain).astype(img.get_data_dtype())
    else:
        hdr.set_data_dtype(np.float32)
        hdr.set_slope_inter(1.0, 0.0)
        brain = brain.astype(np.float32)
    out = nib.Nifti1Image(brain, img.affine, hdr)
    out.to_filename(out_file)
    mhdr = img.header.copy()
    mhdr.set_data_dtype(np.uint8)
    mhdr.set_slope_inter(1, 0)
    nib.Nifti1Image(mask.astype(np.uint8), img.affine, mhdr).to_filename(mask_file)
    return out_file, mask_file


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
            skullstrip_python(self.inputs.in_file, out_file, mask_file, self.inputs.frac, self.inputs.iterations)
        self._results.update(out_file=out_file, mask_file=mask_file, backend_used=backend)
        return runtime
