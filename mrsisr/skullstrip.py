"""Brain extraction of a T1w without Nipype or FSL: the PyPI port of BET, ``brainextractor``.

:func:`skullstrip_python` is the ``python`` backend of
:class:`mrsisr.interfaces.skullstrip.SkullStrip`. brainextractor (BET's surface-deformation
algorithm, numba-compiled) is run quietly: its per-iteration printing is sent to ``/dev/null``
at the file-descriptor level (:func:`quiet_output`), its warnings are re-emitted as Python warnings.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import nibabel as nib
import numpy as np

from mrsisr.grid import load_nifti

__all__ = ["quiet_output", "skullstrip_python"]


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
