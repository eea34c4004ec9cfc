"""Image grids of the synthetic study and the k-space sampling that links the MRSI grids.

Every image the generator writes is a regular grid placed in scanner space (RAS, mm) by a
4×4 affine. The anatomy is a continuous function of position, so each grid is produced by
evaluating that function at its voxel centres; this keeps T1w, FLAIR and every MRSI grid
consistent by construction.

MRSI geometry (fixed by the project's contract)
-----------------------------------------------
LCModel row ``r``, column ``c`` and slice ``s`` (1-based, (1, 1) top-left) are NIfTI voxel
``(i, j, k) = (c - 1, r - 1, s - 1)``. The grid is axial: columns run from the patient's right
to left, rows from anterior to posterior and slices from inferior to superior, so the affine's
axes point along −x, −y and +z (NIfTI orientation ``LPS``, as scanners store MRSI).

An ``n×n`` acquisition covers the same field of view as the 64×64 one. In the centred,
orthonormal FFT convention (``fftshift(fft2(ifftshift(x)))``) voxel ``n // 2`` of every grid is
the image origin, so it shares its centre with voxel ``32`` of the 64 grid.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

#: Nominal MRSI voxel size (mm) of the 64×64 acquisition (the paper's grid).
MRSI_VOXEL_MM = 3.4
#: Matrix of the high-resolution (ground-truth) acquisition.
HIGH_RES_MATRIX = 64
#: In-plane and through-plane oversampling of the underlying map sampled by the MRSI.
FINE_FACTOR = 3

GEOMETRY_CONVENTION = (
    "LCModel row r, column c, slice s (1-based; (1,1) top-left) correspond to NIfTI voxel "
    "index (i, j, k) = (c-1, r-1, s-1); 'affine' maps (i, j, k) to scanner RAS mm. Voxel n//2 "
    "of an n x n grid is the k-space origin and shares its centre with voxel 32 of the 64 grid."
)


@dataclass(frozen=True)
class Grid:
    """A regular 3-D grid: ``shape`` voxels placed in scanner RAS mm by ``affine``."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def zooms(self) -> tuple[float, float, float]:
        """Voxel sizes (mm) along the three voxel axes."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))

    def points(self, k_start: int = 0, k_stop: int | None = None) -> np.ndarray:
        """Scanner coordinates (3, N) of the voxel centres of slices ``k_start:k_stop``.

        Points are ordered like ``array[:, :, k_start:k_stop].ravel()`` (C order), so a
        result of length N reshapes to ``(nx, ny, k_stop - k_start)``.
        """
        k_stop = self.shape[2] if k_stop is None else k_stop
        ii, jj, kk = np.meshgrid(
            np.arange(self.shape[0], dtype=np.float32),
            np.arange(self.shape[1], dtype=np.float32),
            np.arange(k_start, k_stop, dtype=np.float32),
            indexing="ij",
        )
        index = np.stack([ii.ravel(), jj.ravel(), kk.ravel()])
        return (self.affine[:3, :3].astype(np.float32) @ index) + self.affine[:3, 3:4].astype(
            np.float32
        )

    def slabs(self, max_points: int = 2_000_000) -> Iterator[tuple[int, int]]:
        """Yield ``(k_start, k_stop)`` chunks holding at most ``max_points`` voxels each."""
        per_slice = self.shape[0] * self.shape[1]
        step = max(1, max_points // per_slice)
        for k_start in range(0, self.shape[2], step):
            yield k_start, min(self.shape[2], k_start + step)


def axial_grid(
    centre_mm: np.ndarray, shape: tuple[int, int, int], zooms: tuple[float, float, float]
) -> Grid:
    """An axis-aligned RAS grid (``i`` → +x, ``j`` → +y, ``k`` → +z) centred on ``centre_mm``."""
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = np.asarray(centre_mm, float) - np.asarray(zooms) * (np.asarray(shape) - 1) / 2
    return Grid(tuple(int(s) for s in shape), affine)


def mrsi_grid(centre_mm: np.ndarray, n_slices: int, matrix: int = HIGH_RES_MATRIX,
              voxel_mm: float = MRSI_VOXEL_MM, slice_mm: float = MRSI_VOXEL_MM) -> Grid:
    """The MRSI grid of an ``matrix×matrix×n_slices`` acquisition of the ``64·voxel_mm`` FOV.

    ``voxel_mm`` and ``slice_mm`` are the 64×64 acquisition's voxel (3.4 mm at 7T; coarser for a
    3T-like protocol). In-plane voxel ``matrix // 2`` and the middle of the slab sit on ``centre_mm``.
    """
    in_plane = voxel_mm * HIGH_RES_MATRIX / matrix
    affine = np.diag([-in_plane, -in_plane, slice_mm, 1.0])
    origin_index = np.array([matrix // 2, matrix // 2, (n_slices - 1) / 2])
    affine[:3, 3] = np.asarray(centre_mm, float) - affine[:3, :3] @ origin_index
    return Grid((matrix, matrix, n_slices), affine)


def fine_mrsi_grid(grid64: Grid, factor: int = FINE_FACTOR) -> Grid:
    """The finer grid whose map the 64×64 MRSI samples: ``factor``× in every direction.

    Fine in-plane voxel ``factor * 32`` shares its centre with voxel 32 of ``grid64``; each MRSI
    slice ``k`` holds the fine sub-slices ``factor*k … factor*k + factor - 1``.
    """
    n = grid64.shape[0]
    to_coarse = np.diag([1.0 / factor, 1.0 / factor, 1.0 / factor, 1.0])
    to_coarse[:2, 3] = n // 2 - (factor * n // 2) / factor
    to_coarse[2, 3] = -(factor - 1) / (2.0 * factor)
    shape = (factor * n, factor * n, factor * grid64.shape[2])
    return Grid(shape, grid64.affine @ to_coarse)


def kspace_truncate(image: np.ndarray, matrix: int) -> np.ndarray:
    """The complex ``matrix×matrix`` image an acquisition of ``image`` measures: :func:`mrsisr.kspace.crop_acquisition`."""
    from mrsisr.kspace import crop_acquisition

    return crop_acquisition(image, matrix)


def kspace_truncate_volume(volume: np.ndarray, matrix: int) -> np.ndarray:
    """:func:`kspace_truncate` of a ``(N, N, Z)`` volume, slice by slice; returns ``(n, n, Z)``."""
    moved = np.moveaxis(volume, 2, 0)
    return np.moveaxis(kspace_truncate(moved, matrix), 0, 2)


def geometry_record(grid: Grid) -> dict:
    """The ``geometry.json`` content of an MRSI grid."""
    return {
        "shape": [int(s) for s in grid.shape],
        "affine": [[float(v) for v in row] for row in grid.affine],
        "convention": GEOMETRY_CONVENTION,
    }
