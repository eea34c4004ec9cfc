"""Rigid co-registration without Nipype: SimpleITK mutual information, and FLIRT's matrix in RAS.

:func:`register_rigid_sitk` is the ``python`` backend of
:class:`mrsisr.interfaces.registration.CoRegister`: a rigid (``Euler3DTransform``) Mattes
mutual-information registration, centred (moments) initialisation, three resolution levels
(8, 4 and 2 mm by default), regular-grid metric sampling with a fixed seed and a single-threaded
metric (so the result is bit-for-bit reproducible), then linear resampling on the reference grid.
Its ``transform_file`` is an ITK text transform mapping **T1w (fixed) LPS points to FLAIR (moving)
LPS points**; ``antsApplyTransforms -i FLAIR -r T1w -t <file>.txt`` or ``sitk.ReadTransform``
reproduce the resampled image. :func:`flirt_to_ras` converts the ``fsl`` backend's ``.mat``.

Whatever the backend, the matrix file is a text 4×4 matrix ``M`` with
``p_T1w_RAS = M @ p_FLAIR_RAS`` (scanner RAS mm, see :mod:`mrsisr.anatomy`).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

from mrsisr.anatomy import LPS, fsl_matrix_to_ras, itk_to_ras, read_matrix, write_matrix
from mrsisr.grid import load_nifti

__all__ = ["flirt_to_ras", "nifti_to_sitk", "register_rigid_sitk"]


def nifti_to_sitk(img: nib.Nifti1Image):
    """A float32 SimpleITK image with exactly ``img``'s data and affine (RAS → LPS)."""
    import SimpleITK as sitk

    data = img.get_fdata(dtype=np.float32)
    linear = img.affine[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    out = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    out.SetSpacing(spacing.tolist())
    out.SetDirection((LPS[:3, :3] @ (linear / spacing)).ravel().tolist())
    out.SetOrigin((LPS[:3, :3] @ img.affine[:3, 3]).tolist())
    return out


def _bin_to(image, target_mm: float):
    """``image`` averaged over integer bins so that no voxel side exceeds ``target_mm``."""
    import SimpleITK as sitk

    factors = [max(1, int(np.floor(target_mm / s + 1e-6))) for s in image.GetSpacing()]
    return image if factors == [1, 1, 1] else sitk.BinShrink(image, factors)


def register_rigid_sitk(
    in_file: str,
    reference: str,
    out_file: str,
    transform_file: str,
    matrix_file: str,
    *,
    levels_mm: tuple[float, ...] = (8.0, 4.0, 2.0),
    sampling: float = 0.15,
    bins: int = 32,
    iterations: int = 200,
    seed: int = 20240,
    omp_nthreads: int = 1,
) -> np.ndarray:
    """Register ``in_file`` (moving) rigidly to ``reference`` and resample it there.

    Parameters
    ----------
    in_file, reference : str
        Moving (FLAIR) and fixed (T1w) NIfTI images.
    out_file, transform_file, matrix_file : str
        Outputs: the resampled moving image (reference grid, float32), the ITK text
        transform (fixed→moving, LPS) and the RAS moving→reference 4×4 text matrix.
    levels_mm : tuple of float
        Target resolution of each pyramid level.  Both images are first binned
        (averaged over integer blocks) to voxels no larger than the finest level;
        at each level the fixed image is then shrunk by ``round(level / voxel)``
        (at least 1) and both are smoothed by ``level / 4`` mm.
    sampling : float
        Fraction of the fixed image's voxels (on a regular grid) used by the metric.
    bins, iterations, seed
        Mattes histogram bins, optimiser iterations per level, sampling seed.
    omp_nthreads : int
        Threads of the registration itself.  With 1 (default) the result is
        bit-for-bit reproducible; ITK's multi-threaded metric reduction sums in
        a scheduling-dependent order, so more threads give results that differ by
        ~1e-5 mm between runs.  Resampling always uses ITK's default threads.

    Returns
    -------
    numpy.ndarray
        The 4×4 moving→reference RAS matrix (also written to ``matrix_file``).

    Examples
    --------
    >>> import tempfile
    >>> from mrsisr.anatomy import flair_like_phantom, mni_head_phantom, rigid_matrix
    >>> d = tempfile.mkdtemp()
    >>> t1 = mni_head_phantom(2)[0]
    >>> t1.to_filename(d + "/T1w.nii.gz")
    >>> truth = rigid_matrix((3, 0, -2), (2, -1, 3))
    >>> flair_like_phantom(t1, truth).to_filename(d + "/FLAIR.nii.gz")
    >>> est = register_rigid_sitk(d + "/FLAIR.nii.gz", d + "/T1w.nii.gz", d + "/out.nii.gz",
    ...                           d + "/xfm.txt", d + "/ras.txt")
    >>> bool(np.abs(est - truth).max() < 0.2)
    True
    """
    import SimpleITK as sitk

    moving_img = load_nifti(in_file, "FLAIR (moving)", require_signal=True)
    fixed_img = load_nifti(reference, "T1w (reference)", require_signal=True)
    fixed, moving = nifti_to_sitk(fixed_img), nifti_to_sitk(moving_img)
    # register on copies binned (averaged) to at most the finest level's resolution:
    # the pyramid then smooths small images, the result (a physical transform) is unchanged
    fixed_work, moving_work = _bin_to(fixed, min(levels_mm)), _bin_to(moving, min(levels_mm))
    voxel = float(min(fixed_work.GetSpacing()))
    shrink = [max(1, int(round(level / voxel))) for level in levels_mm]
    initial = sitk.CenteredTransformInitializer(
        fixed_work, moving_work, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    reg = sitk.ImageRegistrationMethod()
    reg.SetNumberOfThreads(int(omp_nthreads))
    reg.SetNumberOfWorkUnits(int(omp_nthreads))
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(bins))
    reg.SetMetricUseFixedImageGradientFilter(False)  # no whole-image gradient filters per level:
    reg.SetMetricUseMovingImageGradientFilter(False)  # gradients at the sampled points only
    reg.SetMetricSamplingStrategy(reg.REGULAR)
    reg.SetMetricSamplingPercentage(float(sampling), int(seed))
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0,
        minStep=1e-3,
        numberOfIterations=int(iterations),
        relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-8,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(shrink)
    reg.SetSmoothingSigmasPerLevel([level / 4.0 for level in levels_mm])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(initial, inPlace=True)
    reg.Execute(fixed_work, moving_work)

    affine = sitk.AffineTransform(3)
    affine.SetMatrix(initial.GetMatrix())
    affine.SetTranslation(initial.GetTranslation())
    affine.SetCenter(initial.GetCenter())
    sitk.WriteTransform(affine, transform_file)

    fixed_to_moving = np.eye(4)
    fixed_to_moving[:3, :3] = np.reshape(initial.GetMatrix(), (3, 3))
    center = np.asarray(initial.GetCenter())
    fixed_to_moving[:3, 3] = np.asarray(initial.GetTranslation()) + center - fixed_to_moving[:3, :3] @ center
    ras = itk_to_ras(fixed_to_moving)
    write_matrix(matrix_file, ras)

    resampled = sitk.Resample(moving, fixed, affine, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    data = sitk.GetArrayFromImage(resampled).transpose(2, 1, 0)
    hdr = fixed_img.header.copy()
    hdr.set_data_dtype(np.float32)
    hdr.set_slope_inter(1.0, 0.0)
    nib.Nifti1Image(data, fixed_img.affine, hdr).to_filename(out_file)
    return ras


def flirt_to_ras(mat_file: str, in_file: str, reference: str, matrix_file: str) -> np.ndarray:
    """Convert FLIRT's ``.mat`` (FSL coordinates) to our RAS moving→reference text matrix."""
    ras = fsl_matrix_to_ras(read_matrix(mat_file), nib.load(in_file), nib.load(reference))
    write_matrix(matrix_file, ras)
    return ras
