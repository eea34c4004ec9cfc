"""Brain extraction of a T1w without Nipype or FSL: the PyPI port of BET, ``brainextractor``.

:func:`skullstrip_python` is the ``python`` backend of
:class:`mrsisr.interfaces.skullstrip.SkullStrip`. brainextractor (BET's surface-deformation
algorithm, numba-compiled) is run quietly: its per-iteration printing is sent to ``/dev/null``
at the file-descriptor level (:func:`quiet_output`), its warnings are re-emitted as Python warnings.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr.defaults import SKULLSTRIP_RESOLUTION_MM
from mrsisr.grid import load_nifti

__all__ = ["configure_numba_cache", "quiet_output", "skullstrip_python", "warm_numba_cache"]


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


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def configure_numba_cache() -> Path:
    """Point numba's cache of compiled kernels at a folder this user can write; returns it.

    brainextractor's kernels are compiled with ``cache=True``; numba only uses a cache folder it
    can write. ``NUMBA_CACHE_DIR`` is kept when writable (the container pre-warms it at build
    time). Otherwise the cache goes to ``$XDG_CACHE_HOME/mrsisr/numba`` (``~/.cache/...``; a
    temporary folder when the home is read-only), seeded from a read-only ``NUMBA_CACHE_DIR``
    (a pre-warmed Apptainer image), so that only the first run on a machine compiles. Must run
    before brainextractor is imported (numba binds a function's cache when it is decorated).
    """
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured and _writable(Path(configured)):
        folder = Path(configured)
    else:
        home_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folder = home_cache / "mrsisr" / "numba"
        if not _writable(folder):
            folder = Path(tempfile.gettempdir()) / f"mrsisr-numba-{os.getuid()}"
            folder.mkdir(parents=True, exist_ok=True)
        if configured and Path(configured).is_dir():
            shutil.copytree(configured, folder, dirs_exist_ok=True)
        os.environ["NUMBA_CACHE_DIR"] = str(folder)
    if "numba" in sys.modules:  # numba read its configuration when it was imported
        from numba.core import config

        config.reload_config()
    return folder


def _work_grid(img: nib.Nifti1Image, resolution_mm: float | None) -> tuple[nib.Nifti1Image, np.ndarray]:
    """``img`` on the isotropic grid brainextractor runs on, and the work-to-image voxel scaling.

    The voxel size is ``resolution_mm`` when the image is finer than that, else its smallest
    voxel size (brainextractor assumes isotropic voxels: it scales by the first voxel size).
    The work grid has the image's axes and first voxel, each axis scaled (voxel ``w`` lies at
    image voxel ``w · scale``), so both resamplings are separable (scipy's fast diagonal path).
    """
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    voxel = max(float(zooms.min()), float(resolution_mm or 0.0))
    data = img.get_fdata(dtype=np.float32)
    scale = voxel / zooms
    if np.allclose(scale, 1.0, rtol=1e-3):
        return nib.Nifti1Image(data, img.affine), np.ones(3)
    from scipy.ndimage import affine_transform

    shape = tuple(int(n) for n in np.floor((np.asarray(img.shape[:3]) - 1) / scale) + 1)
    affine = img.affine @ np.diag([*scale, 1.0])
    return nib.Nifti1Image(affine_transform(data, scale, output_shape=shape, order=1, mode="nearest"), affine), scale


def _brainextractor_mask(
    img: nib.Nifti1Image, frac: float, iterations: int, resolution_mm: float | None
) -> np.ndarray:
    """Run brainextractor quietly on the work grid (:func:`_work_grid`); the mask on ``img``'s grid.

    A mask from a coarser grid is brought back by linear interpolation, threshold 0.5.
    """
    work, scale = _work_grid(img, resolution_mm)
    configure_numba_cache()
    with quiet_output(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from brainextractor import BrainExtractor

        extractor = BrainExtractor(img=work, bt=frac)
        extractor.run(iterations=int(iterations))
        mask = extractor.compute_mask() > 0
    for item in caught:
        warnings.warn(f"brainextractor: {item.message}", item.category, stacklevel=3)
    if work.shape != img.shape[:3]:
        from scipy.ndimage import affine_transform

        back = affine_transform(mask.astype(np.float32), 1.0 / scale, output_shape=img.shape[:3], order=1,
                                mode="nearest")
        mask = back >= 0.5
    return mask


def warm_numba_cache(iterations: int = 5) -> Path:
    """Compile brainextractor's kernels into the cache (:func:`configure_numba_cache`); returns it.

    Runs a short extraction of the 4 mm MNI head phantom, the same calls as a real run; the
    container recipe runs it at build time so that no run pays the compile.
    """
    from mrsisr.anatomy import mni_head_phantom

    head = mni_head_phantom(2)[0]
    _brainextractor_mask(head, 0.5, iterations, 4.0)
    return Path(os.environ["NUMBA_CACHE_DIR"])


def skullstrip_python(
    in_file: str,
    out_file: str,
    mask_file: str,
    frac: float = 0.5,
    iterations: int = 1000,
    resolution_mm: float | None = SKULLSTRIP_RESOLUTION_MM,
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
    resolution_mm : float or None
        Voxel size (mm) of the isotropic grid brainextractor runs on when the T1w is finer
        (the mask's consumers work at 1.1–3.4 mm); None: the T1w's smallest voxel size.

    The extraction runs on an isotropic grid (brainextractor assumes isotropic voxels)
    and the mask is brought back to the input grid (linear, threshold 0.5).

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
    mask = _brainextractor_mask(img, frac, iterations, resolution_mm)
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
