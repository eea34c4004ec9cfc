"""Smooth random fields and volume sampling: the building blocks of every spatial variation.

Deformations, bias fields, within-tissue concentration variation and the MRSI quality maps
are all smooth random functions of position. :class:`SmoothRandomField` draws one on a coarse
lattice in millimetres and evaluates it anywhere by trilinear interpolation, so it costs the
same for a 1 mm T1w grid or a 3.4 mm MRSI grid and gives the same value at the same place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class SmoothRandomField:
    """A zero-mean, unit-variance random field with correlation length ``scale_mm``.

    Values live on a lattice of spacing ``scale_mm / 3`` covering ``centre_mm ± half_extent_mm``
    (beyond it the field fades to zero); the lattice noise is Gaussian-smoothed by 3 cells.
    """

    origin_mm: np.ndarray
    spacing_mm: float
    values: np.ndarray

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        scale_mm: float,
        centre_mm: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0),
        half_extent_mm: float = 160.0,
    ) -> SmoothRandomField:
        """Draw a new field from ``rng``."""
        spacing = scale_mm / 3.0
        cells = int(np.ceil(2 * half_extent_mm / spacing)) + 1
        noise = rng.standard_normal((cells, cells, cells))
        smooth = ndimage.gaussian_filter(noise, sigma=3.0, mode="wrap")
        smooth = (smooth - smooth.mean()) / (smooth.std() + 1e-12)
        origin = np.asarray(centre_mm, float) - half_extent_mm
        return cls(origin, float(spacing), smooth.astype(np.float32))

    def __call__(self, points_mm: np.ndarray) -> np.ndarray:
        """Field values at scanner/model points ``(3, N)`` (mm); returns ``(N,)`` float32."""
        index = (points_mm - self.origin_mm[:, None].astype(np.float32)) / np.float32(self.spacing_mm)
        return ndimage.map_coordinates(self.values, index, order=1, mode="constant", output=np.float32)


def sample_volume(
    volume: np.ndarray, inverse_affine: np.ndarray, points_mm: np.ndarray, order: int = 1
) -> np.ndarray:
    """Interpolate ``volume`` (voxel → mm via the inverse of ``inverse_affine``) at ``points_mm``.

    Points outside the volume read 0.
    """
    index = inverse_affine[:3, :3].astype(np.float32) @ points_mm + inverse_affine[:3, 3:4].astype(
        np.float32
    )
    return ndimage.map_coordinates(volume, index, order=order, mode="constant", output=np.float32)


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Cubic ramp from 0 (x ≤ 0) to 1 (x ≥ 1): soft, partial-volume-like edges."""
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
