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

import nibabel as nib
import numpy as np

from mrsisr.grid import check_same_grid
from mrsisr.io.errors import GeometryError, MapLoadingError

__all__ = [
    "CONVENTION",
    "MRSIGeometry",
    "check_in_plane_matrix",
    "geometry_from_json",
    "geometry_from_nifti",
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


def check_in_plane_matrix(geometry: MRSIGeometry) -> int:
    """The acquired in-plane matrix ``n``; non-square grids are refused, odd ones warned about.

    The super-resolution networks take square ``n x n`` slices with even ``n``.
    """
    nx, ny, _ = geometry.shape
    if nx != ny:
        raise GeometryError(
            f"{geometry.origin or 'the MRSI geometry'}: in-plane matrix {nx}x{ny} is not square; "
            "mrsisr needs an n x n acquisition"
        )
    if nx % 2:
        warnings.warn(
            f"{geometry.origin or 'the MRSI geometry'}: in-plane matrix {nx}x{nx} is odd; "
            "the networks were trained on even n (16-32)", stacklevel=2,
        )
    return nx


def lcmodel_to_ijk(array: np.ndarray) -> np.ndarray:
    """``[row-1, col-1, ...]`` to ``[i, j, ...]`` (swap the first two axes)."""
    return np.swapaxes(np.asarray(array), 0, 1)


def ijk_to_lcmodel(array: np.ndarray) -> np.ndarray:
    """``[i, j, ...]`` to ``[row-1, col-1, ...]`` (the inverse of :func:`lcmodel_to_ijk`)."""
    return np.swapaxes(np.asarray(array), 0, 1)
