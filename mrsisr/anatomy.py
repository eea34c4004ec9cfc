"""Pure helpers for the anatomical nodes: coordinate conventions, matrices, test heads.

Nothing here imports nipype: :mod:`mrsisr.registration`, :mod:`mrsisr.skullstrip` and the
interfaces above them call these functions (and check their input images with
:func:`mrsisr.grid.load_nifti`), and tests exercise them directly.

Coordinate conventions
----------------------
*RAS world* (nibabel, NIfTI): ``x`` to the subject's Right, ``y`` Anterior, ``z``
Superior, in mm; an image's ``affine`` maps voxel indices ``(i, j, k, 1)`` to it.

*FSL (FLIRT) coordinates*: voxel indices scaled by the voxel sizes, ``diag(dx, dy, dz)``,
and, when the image's voxel-to-world matrix has a **positive determinant**
("neurological" storage), ``i`` first flipped to ``nx - 1 - i``.  A FLIRT ``.mat``
maps the *input* image's FSL coordinates to the *reference* image's FSL coordinates.

*ITK/SimpleITK physical space*: LPS (``x`` to the Left, ``y`` Posterior), so
``LPS = diag(-1, -1, 1) @ RAS``.  An ITK registration transform maps points of the
*fixed* image (here the T1w reference) to points of the *moving* image (the FLAIR).

Every ``out_matrix`` written by :class:`~mrsisr.interfaces.registration.CoRegister`
follows one convention whatever the backend: a 4×4 matrix ``M`` with
``p_reference_RAS = M @ p_moving_RAS`` (homogeneous mm), i.e. it maps where a point
lies in the FLAIR's scanner coordinates to where the same anatomy lies in the T1w's.
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np

__all__ = [
    "fsl_matrix_to_ras",
    "flair_like_phantom",
    "fsl_voxel_to_fsl",
    "itk_to_ras",
    "mni_head_phantom",
    "ras_to_fsl_matrix",
    "ras_to_itk",
    "read_matrix",
    "rigid_matrix",
    "rigid_error",
    "write_matrix",
]

#: RAS <-> LPS (its own inverse).
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


# --------------------------------------------------------------------------- matrices
def read_matrix(path: str | os.PathLike) -> np.ndarray:
    """Read a 4×4 matrix from a whitespace-separated text file (FLIRT ``.mat`` or ours)."""
    mat = np.loadtxt(path, dtype=float)
    if mat.shape != (4, 4):
        raise ValueError(f"{path} holds a {mat.shape} array; expected a 4x4 matrix.")
    return mat


def write_matrix(path: str | os.PathLike, matrix: np.ndarray) -> str:
    """Write a 4×4 matrix as four lines of text (``numpy.loadtxt`` reads it back)."""
    np.savetxt(path, np.asarray(matrix, dtype=float).reshape(4, 4), fmt="%.10f")
    return str(path)


def fsl_voxel_to_fsl(img: nib.Nifti1Image) -> np.ndarray:
    """The 4×4 matrix from voxel indices to FSL's scaled-voxel coordinates of ``img``.

    ``diag(zooms)``, preceded by the flip ``i -> nx - 1 - i`` when the affine has a
    positive determinant (FSL's rule for "neurological" images).
    """
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    scale = np.diag([*zooms, 1.0])
    if np.linalg.det(img.affine[:3, :3]) > 0:
        flip = np.eye(4)
        flip[0, 0] = -1.0
        flip[0, 3] = img.shape[0] - 1
        scale = scale @ flip
    return scale


def fsl_matrix_to_ras(fsl_mat: np.ndarray, moving: nib.Nifti1Image, reference: nib.Nifti1Image) -> np.ndarray:
    """Convert a FLIRT matrix (moving → reference, FSL coordinates) to RAS world mm.

    ``M_ras = A_ref @ inv(S_ref) @ M_fsl @ S_mov @ inv(A_mov)``, where ``A`` is an
    image's affine and ``S`` its :func:`fsl_voxel_to_fsl` matrix.

    Examples
    --------
    Two 2 mm RAS images (positive determinant: FSL flips x) on the same grid: the
    FLIRT identity is the world identity, and a FLIRT shift of +2 mm along FSL's
    x is a shift of -2 mm along R.

    >>> img = nib.Nifti1Image(np.zeros((10, 10, 10), "f4"), np.diag([2.0, 2, 2, 1]))
    >>> shift = np.eye(4)
    >>> shift[0, 3] = 2.0
    >>> fsl_matrix_to_ras(np.eye(4), img, img)[:3, 3].tolist(), fsl_matrix_to_ras(shift, img, img)[:3, 3].tolist()
    ([0.0, 0.0, 0.0], [-2.0, 0.0, 0.0])
    """
    s_mov, s_ref = fsl_voxel_to_fsl(moving), fsl_voxel_to_fsl(reference)
    return reference.affine @ np.linalg.inv(s_ref) @ np.asarray(fsl_mat) @ s_mov @ np.linalg.inv(moving.affine)


def ras_to_fsl_matrix(ras_mat: np.ndarray, moving: nib.Nifti1Image, reference: nib.Nifti1Image) -> np.ndarray:
    """The inverse of :func:`fsl_matrix_to_ras` (write a RAS transform as a FLIRT ``.mat``)."""
    s_mov, s_ref = fsl_voxel_to_fsl(moving), fsl_voxel_to_fsl(reference)
    return s_ref @ np.linalg.inv(reference.affine) @ np.asarray(ras_mat) @ moving.affine @ np.linalg.inv(s_mov)


def itk_to_ras(fixed_to_moving_lps: np.ndarray) -> np.ndarray:
    """Convert an ITK transform (fixed → moving points, LPS) to moving → fixed in RAS."""
    return np.linalg.inv(LPS @ np.asarray(fixed_to_moving_lps) @ LPS)


def ras_to_itk(moving_to_fixed_ras: np.ndarray) -> np.ndarray:
    """The inverse of :func:`itk_to_ras`."""
    return LPS @ np.linalg.inv(np.asarray(moving_to_fixed_ras)) @ LPS


def rigid_matrix(
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    center: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """A 4×4 rigid transform: rotations about x, then y, then z (degrees) about ``center``, then a shift."""
    ax, ay, az = np.deg2rad(rotation_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    rot = rz @ ry @ rx
    c = np.asarray(center, dtype=float)
    mat = np.eye(4)
    mat[:3, :3] = rot
    mat[:3, 3] = c - rot @ c + np.asarray(translation_mm, dtype=float)
    return mat


def rigid_error(estimate: np.ndarray, truth: np.ndarray, points_mm: np.ndarray) -> tuple[float, float]:
    """Rotation angle (degrees) of ``R_est @ R_true⁻¹`` and mean displacement (mm) over ``points_mm`` (N×3)."""
    delta = np.asarray(estimate) @ np.linalg.inv(truth)
    cos = np.clip((np.trace(delta[:3, :3]) - 1.0) / 2.0, -1.0, 1.0)
    pts = np.c_[points_mm, np.ones(len(points_mm))]
    disp = np.linalg.norm((pts @ (estimate - truth).T)[:, :3], axis=1)
    return float(np.degrees(np.arccos(cos))), float(disp.mean())


# --------------------------------------------------------------------------- test heads
def mni_head_phantom(resolution: int = 2, pad_mm: float = 24.0, seed: int = 0):
    """A T1w-like head built from nilearn's packaged MNI152 template (works offline).

    The template is skull-stripped, so a synthetic shell is added around the brain
    mask: a dark CSF layer (0–3 mm), dark skull (3–8 mm) and bright scalp (8–14 mm),
    plus mild noise; the grid is padded by ``pad_mm`` on every side.

    Returns
    -------
    head, brain_mask : nibabel.Nifti1Image
        The float32 head and its true uint8 brain mask, on the same grid.

    Examples
    --------
    >>> head, mask = mni_head_phantom(resolution=2)
    >>> head.shape, int(mask.get_fdata().sum()) > 200_000
    ((123, 141, 119), True)
    """
    from nilearn import datasets
    from scipy import ndimage as ndi

    tpl = datasets.load_mni152_template(resolution=resolution)
    msk = datasets.load_mni152_brain_mask(resolution=resolution)
    pad = int(round(pad_mm / resolution))
    brain = np.pad(tpl.get_fdata(dtype=np.float32), pad)
    inside = np.pad(np.asarray(msk.dataobj) > 0, pad)
    affine = tpl.affine.copy()
    affine[:3, 3] -= affine[:3, :3] @ [pad, pad, pad]
    zooms = np.abs(np.diag(affine)[:3])
    dist = ndi.distance_transform_edt(~inside, sampling=zooms)
    shell = np.zeros_like(brain)
    shell[(dist > 0) & (dist <= 3)] = 0.12
    shell[(dist > 3) & (dist <= 8)] = 0.04
    shell[(dist > 8) & (dist <= 14)] = 0.7
    shell = ndi.gaussian_filter(shell, 1.2 / resolution)
    head = np.where(inside, brain, shell)
    noise = np.random.default_rng(seed).normal(0.0, 0.01, head.shape)
    head = np.clip(head + noise * (head > 0.01), 0.0, None).astype(np.float32)
    return nib.Nifti1Image(head, affine), nib.Nifti1Image(inside.astype(np.uint8), affine)


def flair_like_phantom(
    t1: nib.Nifti1Image,
    moving_to_t1: np.ndarray,
    zooms: tuple[float, float, float] = (2.6, 2.6, 3.2),
    seed: int = 1,
) -> nib.Nifti1Image:
    """An inverted-contrast, FLAIR-like image of the head ``t1``, moved rigidly.

    ``moving_to_t1`` is the truth in the ``out_matrix`` convention (FLAIR RAS → T1w
    RAS).  The image is stored LAS (negative determinant) on an anisotropic grid of
    ``zooms`` covering the T1w field of view; white matter is darker than grey
    matter, CSF and skull dark, scalp bright; mild noise.

    Examples
    --------
    >>> t1 = mni_head_phantom(2)[0]
    >>> flair = flair_like_phantom(t1, rigid_matrix((3, 0, 0), (2, 0, 0)))
    >>> flair.shape, bool(np.linalg.det(flair.affine) < 0)
    ((95, 109, 75), True)
    """
    from scipy import ndimage as ndi

    zooms_arr = np.asarray(zooms, dtype=float)
    shape = np.ceil(np.array(t1.shape) * np.linalg.norm(t1.affine[:3, :3], axis=0) / zooms_arr).astype(int)
    aff = np.diag([-zooms_arr[0], zooms_arr[1], zooms_arr[2], 1.0])
    centre = t1.affine[:3, :3] @ ((np.array(t1.shape) - 1) / 2) + t1.affine[:3, 3]
    aff[:3, 3] = centre - aff[:3, :3] @ ((shape - 1) / 2)
    to_t1_vox = np.linalg.inv(t1.affine) @ np.asarray(moving_to_t1) @ aff
    ijk = np.indices(shape).reshape(3, -1)
    vox = to_t1_vox[:3, :3] @ ijk + to_t1_vox[:3, 3:4]
    t = ndi.map_coordinates(t1.get_fdata(dtype=np.float32), vox, order=1).reshape(shape)
    flair = np.interp(t, [0.0, 0.2, 0.6, 1.0], [0.0, 0.15, 0.75, 0.35])
    flair += np.random.default_rng(seed).normal(0.0, 0.01, shape) * (flair > 0.01)
    return nib.Nifti1Image(np.clip(flair, 0, None).astype(np.float32), aff)
