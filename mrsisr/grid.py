"""Voxel grids, image checks and anti-aliased resampling shared by the nodes (moving images between the
MRI and MRSI spaces builds on them: :mod:`mrsisr.spaces`).

A *grid* is a ``(shape, affine)`` pair: ``shape`` is the number of voxels
along each voxel axis ``(i, j, k)`` and the 4×4 ``affine`` maps a voxel index
to scanner RAS millimetres (NIfTI convention, voxel centres at integer
indices). Every function here works on numpy arrays and affines so that it
can be tested without Nipype; the interfaces in :mod:`mrsisr.interfaces`
only read the files, call these functions and write the results.

Resampling always goes through :func:`scipy.ndimage.affine_transform` (no
hand-written interpolation). When the target voxels are larger than the
source voxels, a Gaussian pre-filter (:func:`scipy.ndimage.gaussian_filter`)
removes the frequencies the target grid cannot represent (see
:func:`antialias_sigma`).

>>> import numpy as np
>>> shape, affine = upsampled_grid((64, 64, 39), np.diag([3.4, 3.4, 3.4, 1.0]), 3)
>>> shape
(192, 192, 117)
>>> np.round(affine[:3, :], 4).tolist()[0]
[1.1333, 0.0, 0.0, -1.1333]
"""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from mrsisr.io.errors import GeometryError, ImageError, ImageNotFoundError

#: Ratio of a Gaussian's full width at half maximum to its standard deviation.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))  # ≈ 2.3548

Grid = tuple[tuple[int, int, int], np.ndarray]


# --------------------------------------------------------------------------
# Loading and checking images
# --------------------------------------------------------------------------
def load_nifti(
    path: str | Path,
    what: str,
    *,
    ndims: tuple[int, ...] = (3,),
    allow_nonfinite: bool = False,
    allow_nan: bool = False,
    require_signal: bool = False,
    grid=None,
) -> nib.Nifti1Image:
    """Load a NIfTI image after checking that it is usable: the one checked loader of mrsisr.

    ``what`` names the image in error messages (``"T1w"``, ``"NAA concentration map"``). Trailing
    singleton dimensions (``x×y×z×1``) are dropped before the number of dimensions is checked
    against ``ndims``. NaN/±Inf raise unless ``allow_nonfinite`` (the caller then decides what
    they mean); ``allow_nan`` accepts NaN (a missing voxel) but still refuses ±Inf;
    ``require_signal`` also refuses a constant image (an anatomical scan must have one).
    ``grid``, when given, is an object whose ``check_image(img, name)`` refuses an image off
    its grid (e.g. :class:`mrsisr.io.geometry.MRSIGeometry`, through :func:`check_same_grid`).

    Raises
    ------
    ImageNotFoundError
        The file does not exist (a :class:`FileNotFoundError`).
    GeometryError
        Wrong number of dimensions, no voxels, or not on ``grid``.
    ImageError
        Unreadable file, non-finite values, no signal (when required) or a singular affine.

    Examples
    --------
    >>> import tempfile
    >>> f = tempfile.mkdtemp() + "/t1.nii.gz"
    >>> nib.Nifti1Image(np.zeros((4, 4, 4), "f4"), np.eye(4)).to_filename(f)
    >>> try:
    ...     load_nifti(f, "T1w", require_signal=True)
    ... except ImageError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    T1w image .../t1.nii.gz is empty: all 64 voxels equal 0.0; expected an image with signal.
    """
    path = Path(path)
    name = f"{what} image {path}"
    if not path.is_file():
        raise ImageNotFoundError(f"{name} does not exist (expected a NIfTI file).")
    try:
        stored = nib.load(str(path))
        img = nib.squeeze_image(stored)
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel raises many kinds for a bad file
        raise ImageError(f"{name} could not be read as NIfTI ({type(exc).__name__}: {exc}); "
                         "expected a readable .nii or .nii.gz file.") from exc
    if data.size == 0:
        raise GeometryError(f"{name} is empty: shape {tuple(stored.shape)} has no voxels.")
    if data.ndim not in ndims:
        expected = " or ".join(f"{n}-D" for n in ndims)
        raise GeometryError(f"{name} has shape {data.shape} ({data.ndim}-D); expected {expected}.")
    if not allow_nonfinite and (np.issubdtype(data.dtype, np.floating) or np.iscomplexobj(data)):
        n_nan, n_inf = int(np.count_nonzero(np.isnan(data))), int(np.count_nonzero(np.isinf(data)))
        if n_inf or (n_nan and not allow_nan):
            raise ImageError(f"{name} contains {n_nan + n_inf} NaN/Inf voxel(s) of {data.size} (it contains "
                             f"{n_nan} NaN and {n_inf} infinite values); expected finite values (replace or mask them first).")
    if require_signal and data.min() == data.max():
        raise ImageError(f"{name} is empty: all {data.size} voxels equal {data.min()}; "
                         "expected an image with signal.")
    if abs(np.linalg.det(img.affine[:3, :3])) < 1e-12:
        raise ImageError(f"{name} has a singular affine {img.affine.tolist()}.")
    if grid is not None:
        grid.check_image(img, name)
    return img


def load_image(
    path: str | Path,
    what: str,
    *,
    ndims: tuple[int, ...] = (3,),
    allow_nonfinite: bool = False,
    allow_nan: bool = False,
    grid=None,
    dtype=None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`load_nifti` returning ``(data, affine)`` (data as ``dtype`` when given), for code on arrays."""
    img = load_nifti(path, what, ndims=ndims, allow_nonfinite=allow_nonfinite, allow_nan=allow_nan, grid=grid)
    data = np.asanyarray(img.dataobj) if dtype is None else np.asarray(img.dataobj, dtype=dtype)
    return data, np.asarray(img.affine, dtype=float)


def check_same_grid(
    shape_a: tuple[int, ...],
    affine_a: np.ndarray,
    name_a: str,
    shape_b: tuple[int, ...],
    affine_b: np.ndarray,
    name_b: str,
    *,
    origin_b: str = "",
    atol_mm: float = 1e-3,
) -> None:
    """Raise :class:`GeometryError` (a ``ValueError``) when two images do not share one spatial grid.

    The one grid check of mrsisr. Only the first three dimensions are compared (a 4-D
    per-metabolite map and a 3-D map on the same grid agree). Affines may differ by
    ``atol_mm`` (rounding in NIfTI headers). ``origin_b`` says where grid b came from.
    """
    origin = f" (from {origin_b})" if origin_b else ""
    if tuple(shape_a[:3]) != tuple(shape_b[:3]):
        raise GeometryError(
            f"{name_a}: grid {tuple(shape_a[:3])} disagrees with {name_b} {tuple(shape_b[:3])}{origin}; "
            "both must be on the same MRSI grid"
        )
    if not np.allclose(affine_a, affine_b, atol=atol_mm, rtol=0):
        raise GeometryError(
            f"{name_a}: affine {np.round(np.asarray(affine_a, float), 3).tolist()} disagrees with {name_b}'s "
            f"{np.round(np.asarray(affine_b, float), 3).tolist()}{origin}: different affines, but both must be on "
            "the same MRSI grid"
        )


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    """Voxel edge lengths (mm) along the three voxel axes of ``affine``."""
    return np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))


# --------------------------------------------------------------------------
# Grids derived from the MRSI grid
# --------------------------------------------------------------------------
def upsampled_grid(shape: tuple[int, ...], affine: np.ndarray, factor: int) -> Grid:
    """The grid that tiles every voxel of ``(shape, affine)`` by ``factor``³ sub-voxels.

    Fine voxel ``u = factor·i + a`` (``a = 0 … factor−1``) sits at coarse voxel
    coordinate ``i + (a − (factor − 1)/2)/factor``: for ``factor = 3`` the
    sub-voxel centres are at −1/3, 0, +1/3 of a coarse voxel around each
    coarse centre, so every coarse centre is the mean of its ``factor``³
    sub-voxel centres and the fine grid covers exactly the same field of view.
    """
    if int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    factor = int(factor)
    shift = -(factor - 1) / (2.0 * factor)
    fine_to_coarse = np.diag([1.0 / factor] * 3 + [1.0])
    fine_to_coarse[:3, 3] = shift
    new_shape = tuple(int(n) * factor for n in shape[:3])
    return new_shape, np.asarray(affine, dtype=float) @ fine_to_coarse


def padded_grid(shape: tuple[int, ...], affine: np.ndarray, pad: int) -> Grid:
    """The same grid with ``pad`` extra voxels on every side (voxel ``pad`` = old voxel 0)."""
    shift = np.eye(4)
    shift[:3, 3] = -pad
    return tuple(int(n) + 2 * pad for n in shape[:3]), np.asarray(affine, float) @ shift


def cropped_grid(shape: tuple[int, ...], affine: np.ndarray, k_start: int, k_stop: int) -> Grid:
    """The slab of slices ``k_start ≤ k < k_stop`` along the third voxel axis."""
    if not 0 <= k_start < k_stop <= shape[2]:
        raise ValueError(f"slice range [{k_start}, {k_stop}) is outside 0…{shape[2]}")
    shift = np.eye(4)
    shift[2, 3] = k_start
    return (int(shape[0]), int(shape[1]), k_stop - k_start), np.asarray(affine, float) @ shift


# --------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------
def antialias_sigma(source_affine: np.ndarray, target_affine: np.ndarray) -> np.ndarray:
    """Gaussian pre-filter widths (in source voxels) for resampling onto a coarser grid.

    ``M = inv(A_source) · A_target`` maps one target-voxel step into source
    voxels; the footprint of a target voxel along source axis ``a`` is the
    norm of row ``a`` of ``M[:3, :3]`` (= the voxel-size ratio for aligned
    grids, rotation-invariant for isotropic target voxels). Treating a voxel
    as a Gaussian of FWHM equal to its size, bringing a source voxel (FWHM 1)
    to the target footprint ``r`` needs ``σ = √(r² − 1) / 2.3548``. Axes with
    ``r ≤ 1`` (not downsampled) get ``σ = 0``: no blurring.

    >>> antialias_sigma(np.eye(4), np.diag([3.0, 3.0, 1.0, 1.0])).round(3).tolist()
    [1.201, 1.201, 0.0]
    """
    mapping = np.linalg.solve(np.asarray(source_affine, float), np.asarray(target_affine, float))
    footprint = np.sqrt((mapping[:3, :3] ** 2).sum(axis=1))
    return np.sqrt(np.clip(footprint**2 - 1.0, 0.0, None)) / FWHM_PER_SIGMA


def resample_to_grid(
    data: np.ndarray,
    source_affine: np.ndarray,
    target_shape: tuple[int, ...],
    target_affine: np.ndarray,
    *,
    order: int = 1,
    antialias: bool = True,
) -> np.ndarray:
    """Resample a 3-D image onto another grid in the same scanner space (float32).

    The source is converted to float32 once, optionally Gaussian pre-filtered
    along the axes that are downsampled (:func:`antialias_sigma`), then
    interpolated at the target voxel centres with
    :func:`scipy.ndimage.affine_transform` (``order`` 0 nearest, 1 trilinear,
    3 cubic B-spline). Outside the source's field of view the image is taken
    as 0 (background, as after skull-stripping).

    >>> img = np.zeros((9, 9, 9)); img[3:6, 3:6, 3:6] = 1.0
    >>> out = resample_to_grid(img, np.eye(4), (3, 3, 3), np.diag([3.0, 3, 3, 1]))
    >>> int(np.argmax(out)), out.dtype.name
    (13, 'float32')
    """
    if data.ndim != 3:
        raise ValueError(f"expected a 3-D image, got shape {data.shape}")
    sigma = antialias_sigma(source_affine, target_affine) if antialias else np.zeros(3)
    if np.any(sigma > 0):
        source = data.astype(np.float32)  # a private copy, filtered in place
        ndimage.gaussian_filter(source, sigma, output=source, mode="constant", cval=0.0)
    else:
        source = np.asarray(data, dtype=np.float32)
    mapping = np.linalg.solve(np.asarray(source_affine, float), np.asarray(target_affine, float))
    return ndimage.affine_transform(
        source,
        mapping[:3, :3],
        offset=mapping[:3, 3],
        output_shape=tuple(int(n) for n in target_shape[:3]),
        output=np.float32,
        order=order,
        mode="grid-constant",
        cval=0.0,
        prefilter=order > 1,
    )


def mask_fraction_on_grid(
    mask: np.ndarray,
    mask_affine: np.ndarray,
    target_shape: tuple[int, ...],
    target_affine: np.ndarray,
    *,
    oversample: int | None = None,
) -> np.ndarray:
    """Fraction of each target voxel's volume that lies inside a binary mask.

    The mask (nonzero = inside) is sampled by trilinear interpolation at
    ``oversample``³ sub-voxel centres tiling each target voxel
    (:func:`upsampled_grid`), and the sub-voxel values are averaged per
    target voxel: a box average over the voxel, not a nearest-neighbour
    pick. ``oversample`` defaults to ``ceil(target voxel / mask voxel)``
    (at least 2, at most 8), so sub-voxels are no larger than mask voxels
    (4 for a 3.4 mm MRSI grid over a 1 mm mask). Outside the mask's field of
    view counts as outside.

    >>> m = np.zeros((8, 8, 8)); m[:5] = 1          # x < 4.5 mm is inside
    >>> grid = np.diag([4.0, 4, 4, 1]); grid[:3, 3] = 1.5  # voxels [-0.5, 3.5), [3.5, 7.5)
    >>> f = mask_fraction_on_grid(m, np.eye(4), (2, 2, 2), grid)
    >>> f[:, 0, 0].round(3).tolist()
    [1.0, 0.25]
    """
    if oversample is None:
        ratio = voxel_sizes(target_affine).max() / voxel_sizes(mask_affine).min()
        oversample = int(min(max(math.ceil(ratio - 1e-6), 2), 8))
    fine_shape, fine_affine = upsampled_grid(target_shape, target_affine, oversample)
    fine = resample_to_grid(
        (mask != 0).astype(np.float32), mask_affine, fine_shape, fine_affine,
        order=1, antialias=False,
    )
    nx, ny, nz = (int(n) for n in target_shape[:3])
    s = oversample
    fraction = fine.reshape(nx, s, ny, s, nz, s).mean(axis=(1, 3, 5), dtype=np.float64)
    return np.clip(fraction, 0.0, 1.0).astype(np.float32)


def brain_mask_on_grid(
    mask: np.ndarray,
    mask_affine: np.ndarray,
    shape: tuple[int, ...],
    affine: np.ndarray,
    *,
    min_fraction: float = 0.5,
    erode_voxels: int = 1,
    erode_in_plane: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Bring a brain mask onto the MRSI grid as a volume fraction, threshold and erode it.

    Returns ``(fraction, brain)``: the fraction of each MRSI voxel's volume
    inside the brain (box average, :func:`mrsisr.grid.mask_fraction_on_grid`)
    and the brain mask: ``fraction ≥ min_fraction``, then eroded
    ``erode_voxels`` times with a face-connected structuring element (6
    neighbours in 3-D, or 4 in-plane neighbours when ``erode_in_plane``), so
    that voxels touching the skull are removed. The erosion is computed on a
    grid padded by ``erode_voxels`` voxels on every side, so the edges of the
    MRSI slab erode only where the brain really ends, not because the slab
    stops.

    >>> m = np.zeros((40, 40, 40)); m[8:32, 8:32, 8:32] = 1
    >>> grid = np.diag([4.0, 4, 4, 1])
    >>> frac, brain = brain_mask_on_grid(m, np.eye(4), (10, 10, 10), grid)
    >>> int((frac >= 0.5).sum()), int(brain.sum())
    (200, 64)
    """
    if not 0.0 < min_fraction <= 1.0:
        raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction}")
    if erode_voxels < 0:
        raise ValueError(f"erode_voxels must be ≥ 0, got {erode_voxels}")
    pad = int(erode_voxels)
    padded_shape, padded_affine = padded_grid(shape, affine, pad)
    fraction = mask_fraction_on_grid(mask, mask_affine, padded_shape, padded_affine)
    brain = fraction >= min_fraction
    if pad:
        structure = ndimage.generate_binary_structure(3, 1)
        if erode_in_plane:
            structure[:, :, [0, 2]] = False
        brain = ndimage.binary_erosion(brain, structure, iterations=pad, border_value=0)
        inner = (slice(pad, -pad),) * 3
        fraction, brain = fraction[inner], brain[inner]
    return fraction, brain
