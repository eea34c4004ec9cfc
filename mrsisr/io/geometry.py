"""The MRSI grid: voxel shape plus the affine to scanner RAS (mm), and LCModel's indexing.

LCModel knows voxels by (slice, row, column), 1-based, (1, 1) top-left.  mrsisr fixes
one correspondence with NIfTI voxel indices, used by every reader and writer:

    LCModel row r, column c, slice s  <->  NIfTI voxel (i, j, k) = (c - 1, r - 1, s - 1)

so an array indexed ``[row-1, col-1(, slice-1)]`` (as :mod:`mrsisr.io.lcmodel`
returns) becomes ``[i, j(, k)]`` by swapping its first two axes
(:func:`lcmodel_to_ijk`).  The grid comes from a reference NIfTI (e.g. the raw
MRSI in BIDS ``mrs/``, whose spectral dimensions are ignored), a ``geometry.json``
(``{"shape": [nx, ny, nz], "affine": 4x4, "convention": ...}``) or explicit values.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np

from mrsisr.defaults import TARGET_MATRIX
from mrsisr.grid import check_same_grid
from mrsisr.io.errors import GeometryError, MapLoadingError

if TYPE_CHECKING:  # mrsisr.kspace imports torch: only when an embedding is made
    from mrsisr.kspace import InPlaneEmbedding

__all__ = [
    "CONVENTION",
    "MRSIGeometry",
    "check_in_plane_matrix",
    "geometry_from_json",
    "geometry_from_nifti",
    "in_plane_embedding",
    "ijk_to_lcmodel",
    "lcmodel_to_ijk",
    "write_geometry_json",
]

#: The row/column/slice to voxel correspondence, as recorded in geometry files.
CONVENTION = "LCModel (row r, col c, slice s) -> NIfTI voxel (i, j, k) = (c-1, r-1, s-1)"


@dataclass(frozen=True)
class MRSIGeometry:
    """The MRSI grid: ``shape`` ``(nx, ny, nz)`` in NIfTI voxel order and its 4x4 ``affine``."""

    shape: tuple[int, int, int]
    affine: np.ndarray
    origin: str = ""

    def __post_init__(self):
        where = self.origin or "the MRSI geometry"
        shape = tuple(int(v) for v in self.shape)
        if len(shape) != 3 or min(shape) < 1:
            raise GeometryError(f"{where}: shape {list(self.shape)} is not 3 positive integers (nx, ny, nz)")
        affine = np.asarray(self.affine, dtype=float)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise GeometryError(f"{where}: the affine must be a finite 4x4 matrix, got shape {affine.shape}")
        if not np.allclose(affine[3], [0, 0, 0, 1]) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise GeometryError(f"{where}: the affine {affine.tolist()} is not an invertible voxel-to-mm transform")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "affine", affine)

    @property
    def lcmodel_shape(self) -> tuple[int, int, int]:
        """``(rows, cols, slices)`` = ``(ny, nx, nz)`` under the fixed convention."""
        return self.shape[1], self.shape[0], self.shape[2]

    @property
    def zooms(self) -> tuple[float, float, float]:
        """Voxel sizes in mm."""
        return tuple(float(v) for v in np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0)))

    def check_image(self, img: nib.spatialimages.SpatialImage, path: str | Path) -> None:
        """Raise :class:`GeometryError` when ``img`` is not on this grid (:func:`mrsisr.grid.check_same_grid`)."""
        check_same_grid(img.shape, img.affine, str(path), self.shape, self.affine, "the MRSI geometry",
                        origin_b=self.origin or "the stated geometry")


def geometry_from_nifti(path: str | Path) -> MRSIGeometry:
    """The grid of a NIfTI image (3-D map, or NIfTI-MRS whose extra dimensions are spectral)."""
    path = Path(path)
    if not path.is_file():
        raise MapLoadingError(f"reference image {path} does not exist")
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises several types for unreadable files
        raise MapLoadingError(f"reference image {path} cannot be read as NIfTI: {exc}") from exc
    if len(img.shape) < 3:
        raise GeometryError(f"reference image {path} has shape {img.shape}; expected at least 3 dimensions")
    return MRSIGeometry(tuple(img.shape[:3]), img.affine, origin=str(path))


def geometry_from_json(path: str | Path) -> MRSIGeometry:
    """Read ``{"shape": [nx, ny, nz], "affine": [[...] x4], "convention": ...}``."""
    path = Path(path)
    if not path.is_file():
        raise MapLoadingError(f"geometry file {path} does not exist")
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MapLoadingError(f"geometry file {path} is not readable JSON: {exc}") from exc
    missing = [key for key in ("shape", "affine") if not isinstance(spec, dict) or key not in spec]
    if missing:
        raise GeometryError(f"geometry file {path} lacks {missing}; expected keys 'shape' [nx, ny, nz] and 'affine' 4x4")
    try:
        affine = np.asarray(spec["affine"], dtype=float)
        shape = tuple(int(v) for v in spec["shape"])
    except (TypeError, ValueError) as exc:
        raise GeometryError(f"geometry file {path}: 'shape' or 'affine' is not numeric: {exc}") from exc
    convention = spec.get("convention")
    if isinstance(convention, str) and "(c-1,r-1,s-1)" not in convention.replace(" ", ""):
        warnings.warn(
            f"geometry file {path} states the convention {convention!r}; mrsisr reads LCModel voxels as {CONVENTION}",
            stacklevel=2,
        )
    return MRSIGeometry(shape, affine, origin=str(path))


def write_geometry_json(geometry: MRSIGeometry, path: str | Path) -> Path:
    """Write a geometry file in the format :func:`geometry_from_json` reads."""
    path = Path(path)
    spec = {"shape": list(geometry.shape), "affine": geometry.affine.tolist(), "convention": CONVENTION}
    path.write_text(json.dumps(spec, indent=2))
    return path


#: Relative tolerance when comparing in-plane voxel sizes or fields of view.
_SAME_SIZE_RTOL = 1e-3


def in_plane_embedding(geometry: MRSIGeometry, target_matrix: int = TARGET_MATRIX) -> "InPlaneEmbedding":
    """How the acquired in-plane grid reaches the network's square ``target_matrix`` grid.

    A square matrix is used as it is. A non-square one is a rectangular field of view when its voxels
    are square (embedded in the square k-space of its longer side, output cropped back to the
    acquired field of view), or anisotropic voxels when both axes span one field of view (each axis
    zero-filled; the network's n is the longer side). Anything else, and any grid the network cannot
    take (odd n, n above ``target_matrix``, an output that does not fall on whole voxels), raises
    :class:`GeometryError` with the reason, before any work.

    >>> rect = in_plane_embedding(MRSIGeometry((32, 24, 8), np.diag([7.5, 7.5, 10.0, 1.0])), 64)
    >>> rect.kind, rect.n, rect.output_shape
    ('rectangular_fov', 32, (64, 48))
    """
    from mrsisr.kspace import InPlaneEmbedding

    where = geometry.origin or "the MRSI geometry"
    nx, ny, _ = geometry.shape
    dx, dy, _ = geometry.zooms
    if nx == ny:
        kind = "square"
    elif np.isclose(dx, dy, rtol=_SAME_SIZE_RTOL):
        kind = "rectangular_fov"
    elif np.isclose(nx * dx, ny * dy, rtol=_SAME_SIZE_RTOL):
        kind = "anisotropic"
    else:
        raise GeometryError(
            f"{where}: in-plane matrix {nx}x{ny} of {dx:g}x{dy:g} mm voxels ({nx * dx:g}x{ny * dy:g} mm field of "
            "view) has neither square voxels (a rectangular field of view) nor one field of view on both axes "
            "(anisotropic voxels): its k-space is no block of a square one, so mrsisr cannot super-resolve it; "
            "reconstruct the MRSI with square voxels or a square field of view"
        )
    try:
        return InPlaneEmbedding((nx, ny), int(target_matrix), kind)
    except ValueError as exc:
        raise GeometryError(f"{where}: {exc}") from exc


def check_in_plane_matrix(geometry: MRSIGeometry, target_matrix: int | None = None) -> int:
    """The network's in-plane matrix ``n`` for this grid, or :class:`GeometryError` when it cannot work.

    With ``target_matrix`` every check of :func:`in_plane_embedding` is made; without it only those
    that do not depend on the output grid (kind of grid, even n).
    """
    target = max(geometry.shape[:2]) if target_matrix is None else target_matrix
    return in_plane_embedding(geometry, target).n


def lcmodel_to_ijk(array: np.ndarray) -> np.ndarray:
    """``[row-1, col-1, ...]`` to ``[i, j, ...]`` (swap the first two axes)."""
    return np.swapaxes(np.asarray(array), 0, 1)


def ijk_to_lcmodel(array: np.ndarray) -> np.ndarray:
    """``[i, j, ...]`` to ``[row-1, col-1, ...]`` (the inverse of :func:`lcmodel_to_ijk`)."""
    return np.swapaxes(np.asarray(array), 0, 1)
