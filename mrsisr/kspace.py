"""Centred, orthonormal 2-D k-space tools for MRSI metabolite maps.

Conventions
-----------
* The k-space of an ``N×N`` map is ``fftshift(fft2(ifftshift(x), norm="ortho"))``: the DC
  component sits at index ``N // 2`` of both in-plane axes, and Parseval holds.
* An ``n×n`` acquisition (``n`` even, ``n ≤ N``) measures the central ``n×n`` block of that
  k-space, i.e. indices ``N//2 - n//2 … N//2 + n//2 - 1``. Its image grid is aligned with the
  ``N`` grid so that voxel ``n // 2`` of the coarse grid and voxel ``N // 2`` of the fine grid
  share their centre (the image origin of the centred FFT); :func:`coarse_grid_affine` gives the
  matching NIfTI affine.
* Intensities are physical: an acquired ``n×n`` map of constant concentration ``c`` zero-fills to
  ``c``. Because the orthonormal transform of an ``n×n`` image carries a factor ``1/n`` rather
  than ``1/N``, moving between the two grids multiplies the k-space by ``N/n`` (zero-filling) or
  ``n/N`` (cropping).

Real, magnitude-only maps
-------------------------
LCModel concentrations are real and non-negative. Truncating the k-space of a real map with an even
``n`` is not exactly Hermitian (frequency ``-n/2`` has no ``+n/2`` partner), so the low-resolution
image is complex with a small imaginary part, and its Gibbs ringing can go negative. As in the paper,
the network input is the **magnitude** of the zero-filled image. :func:`data_consistency` takes that
real magnitude image as the measurement: its central k-space block stands for the acquired data. The
measurement is therefore a fixed point (``data_consistency(lr, lr, n) == lr``), and, before the final
magnitude, the central block of the result equals the measurement's exactly.

All functions accept numpy arrays or torch tensors whose last two axes are the in-plane axes, with
any leading batch axes; ``n`` may be a scalar or, for torch tensors, a tensor with one value per
leading batch element (shape ``(B,)``).

Non-square acquisitions
-----------------------
The network takes square ``n×n`` acquisitions on a square ``N×N`` grid. :class:`InPlaneEmbedding`
brings an ``nx×ny`` grid there and back (:func:`mrsisr.io.geometry.in_plane_embedding` decides which
kind from the voxel sizes):

* ``rectangular_fov`` (square voxels, e.g. 32×24 at 7.5 mm = 240×180 mm): both axes sample the same
  k-space extent, the shorter one more coarsely. The image is zero-padded to ``n×n`` (``n`` the longer
  side; the shorter axis gains field of view, which is sinc interpolation of its k-space onto the
  longer axis' spacing), processed as an ``n×n`` acquisition, and the output is cropped back to the
  acquired field of view: ``N × N·ny/nx``, same voxel size as the square path.
* ``anisotropic`` (one field of view, e.g. 32×24 over 240×240 mm): the acquisition is the central
  ``nx×ny`` block of the ``N×N`` k-space; each axis is zero-filled to ``N`` (:func:`zero_fill`).
  The network's ``n`` is the larger side. Limitation: the network (trained on square blocks) and its
  data consistency see an ``n×n`` measurement, so along the coarser axis the band between its own
  ``ny`` and ``n`` keeps the zero-filled (empty) k-space; that axis gains detail only beyond ``n``.
  Taking the smaller side instead would discard measured frequencies of the finer axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]
MatrixSize = Union[int, torch.Tensor]

__all__ = [
    "fft2c",
    "ifft2c",
    "central_mask",
    "truncate",
    "crop_acquisition",
    "zero_fill",
    "data_consistency",
    "coarse_grid_affine",
    "fine_grid_affine",
    "coarse_index",
    "InPlaneEmbedding",
    "EMBEDDING_KINDS",
]


def _is_torch(x: ArrayLike) -> bool:
    return isinstance(x, torch.Tensor)


def fft2c(image: ArrayLike) -> ArrayLike:
    """Centred orthonormal 2-D FFT over the last two axes."""
    if _is_torch(image):
        shifted = torch.fft.ifftshift(image, dim=(-2, -1))
        return torch.fft.fftshift(torch.fft.fft2(shifted, norm="ortho"), dim=(-2, -1))
    shifted = np.fft.ifftshift(image, axes=(-2, -1))
    return np.fft.fftshift(np.fft.fft2(shifted, norm="ortho"), axes=(-2, -1))


def ifft2c(kspace: ArrayLike) -> ArrayLike:
    """Centred orthonormal inverse 2-D FFT over the last two axes."""
    if _is_torch(kspace):
        shifted = torch.fft.ifftshift(kspace, dim=(-2, -1))
        return torch.fft.fftshift(torch.fft.ifft2(shifted, norm="ortho"), dim=(-2, -1))
    shifted = np.fft.ifftshift(kspace, axes=(-2, -1))
    return np.fft.fftshift(np.fft.ifft2(shifted, norm="ortho"), axes=(-2, -1))


def _check_matrix(n: int, size: int) -> None:
    if n % 2 or n < 2 or n > size:
        raise ValueError(f"acquired matrix n={n} must be even and between 2 and the grid size {size}")


def central_mask(size: int, n: MatrixSize, device: torch.device | None = None) -> ArrayLike:
    """Boolean mask of the central ``n×n`` k-space block of a ``size×size`` grid.

    With an integer ``n`` returns a numpy ``(size, size)`` array; with a tensor of shape ``(B,)``
    returns a torch tensor ``(B, 1, size, size)`` (one mask per sample, built without a loop).
    """
    if _is_torch(n):
        n = n.to(dtype=torch.int64).reshape(-1)
        # checked where n lives (free for host tensors; a GPU tensor here waits for the GPU)
        if torch.any(n % 2 != 0) or torch.any(n < 2) or torch.any(n > size):
            raise ValueError(f"acquired matrix sizes {n.tolist()} must be even and within 2…{size}")
        n = n.to(device=device, non_blocking=True)
        freq = torch.arange(size, device=n.device) - size // 2  # -N/2 … N/2-1
        half = (n // 2).reshape(-1, 1)
        inside = (freq[None, :] >= -half) & (freq[None, :] < half)  # (B, size)
        return (inside[:, :, None] & inside[:, None, :]).unsqueeze(1)
    n = int(n)
    _check_matrix(n, size)
    freq = np.arange(size) - size // 2
    inside = (freq >= -(n // 2)) & (freq < n // 2)
    return inside[:, None] & inside[None, :]


def truncate(hr: ArrayLike, n: MatrixSize) -> ArrayLike:
    """Simulate an ``n×n`` acquisition of a high-resolution map on its own ``N×N`` grid.

    Keeps the central ``n×n`` k-space block, zeroes the rest, inverse-transforms and returns the
    magnitude (the network's input). Same type, shape and (real) dtype as ``hr``.
    """
    size = hr.shape[-1]
    if hr.shape[-2] != size:
        raise ValueError(f"maps must be square, got in-plane shape {tuple(hr.shape[-2:])}")
    kspace = fft2c(hr)
    mask = central_mask(size, n, device=hr.device if _is_torch(hr) else None)
    if _is_torch(hr):
        if not _is_torch(mask):  # an integer n gives a numpy mask: bring it to the map's device
            mask = torch.from_numpy(mask).to(hr.device, non_blocking=True)
        if mask.ndim == 4 and hr.ndim == 3:
            mask = mask[:, 0]
        return ifft2c(kspace * mask).abs().to(hr.dtype)
    return np.abs(ifft2c(kspace * mask)).astype(hr.dtype, copy=False)


def crop_acquisition(hr: np.ndarray, n: int) -> np.ndarray:
    """The complex ``n×n`` image an ``n×n`` acquisition of ``hr`` would give, in physical units.

    It lies on the coarse grid of the same field of view (a constant map keeps its value). Its k-space
    is the central ``n×n`` block of ``hr``'s k-space scaled by ``n/N``, so that
    ``zero_fill(crop_acquisition(hr, n), N)`` equals ``truncate(hr, n)`` before the magnitude.
    """
    size = hr.shape[-1]
    _check_matrix(int(n), size)
    lo, hi = size // 2 - n // 2, size // 2 + n // 2
    block = fft2c(hr)[..., lo:hi, lo:hi] * (n / size)
    return ifft2c(block)


def zero_fill(acquired: np.ndarray, size: int, magnitude: bool = True) -> np.ndarray:
    """Place an acquired ``nx×ny`` map (real or complex) on the ``size×size`` grid by k-space zero-filling.

    The standard reconstruction of a low-resolution MRSI acquisition, and the network's input.
    Each in-plane axis is zero-filled to ``size`` (``nx ≠ ny``: one field of view, anisotropic
    voxels). The k-space is scaled by ``size/√(nx·ny)`` (``size/n`` when square) so concentrations
    keep their physical values. Returns the magnitude (float) unless ``magnitude=False`` (complex).
    """
    nx, ny = acquired.shape[-2:]
    _check_matrix(nx, size)
    _check_matrix(ny, size)
    lo_x, lo_y = size // 2 - nx // 2, size // 2 - ny // 2
    padded = np.zeros(acquired.shape[:-2] + (size, size), dtype=np.complex128)
    padded[..., lo_x:lo_x + nx, lo_y:lo_y + ny] = fft2c(np.asarray(acquired)) * (size / np.sqrt(nx * ny))
    image = ifft2c(padded)
    return np.abs(image) if magnitude else image


def data_consistency(
    lr: ArrayLike, output: ArrayLike, n: MatrixSize, magnitude: bool = True, mask: ArrayLike | None = None
) -> ArrayLike:
    """Replace the central ``n×n`` k-space block of ``output`` by that of the measurement ``lr``.

    ``lr`` and ``output`` share the ``N×N`` grid (``lr`` is the zero-filled measurement). Returns
    the magnitude of the corrected image, or the complex image with ``magnitude=False``.
    Differentiable for torch tensors; ``n`` may be a ``(B,)`` tensor for per-sample sizes.
    ``mask``: ``central_mask(N, n)`` when the caller has it already (``n`` is then not read).
    """
    size = output.shape[-1]
    if mask is None:
        mask = central_mask(size, n, device=output.device if _is_torch(output) else None)
    if _is_torch(output):
        mask = torch.as_tensor(mask, device=output.device)  # an integer n gives a numpy mask
        if mask.ndim == 4 and output.ndim == 3:
            mask = mask[:, 0]
        merged = torch.where(mask, fft2c(lr.to(output.dtype)), fft2c(output))
        image = ifft2c(merged)
        return image.abs() if magnitude else image
    merged = np.where(mask, fft2c(lr), fft2c(output))
    image = ifft2c(merged)
    return np.abs(image) if magnitude else image


def _index_map(coarse: int | tuple[int, int], fine: int | tuple[int, int]) -> np.ndarray:
    """Fine-grid voxel index -> coarse-grid voxel index is ``inv`` of this; per in-plane axis."""
    coarse = (coarse, coarse) if np.isscalar(coarse) else tuple(coarse)
    fine = (fine, fine) if np.isscalar(fine) else tuple(fine)
    index_map = np.eye(4)
    for axis in (0, 1):
        factor = fine[axis] / coarse[axis]
        index_map[axis, axis] = factor
        index_map[axis, 3] = fine[axis] // 2 - factor * (coarse[axis] // 2)
    return index_map


def coarse_grid_affine(fine_affine: np.ndarray, fine_size: int | tuple[int, int],
                       n: int | tuple[int, int]) -> np.ndarray:
    """NIfTI affine of the ``n×n`` acquisition grid covering the same field of view as ``fine_affine``.

    Each in-plane axis (the first two voxel axes) is coarsened by ``fine_size/n`` (per axis when
    given as pairs); the through-plane axis is unchanged. Coarse voxel ``n//2`` shares its centre
    with fine voxel ``fine_size//2``, as the centred FFT implies.
    """
    return np.asarray(fine_affine, dtype=float) @ _index_map(n, fine_size)


def fine_grid_affine(coarse_affine: np.ndarray, n: int | tuple[int, int],
                     fine_size: int | tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`coarse_grid_affine`: the ``fine_size`` grid of an ``n×n`` (or ``(nx, ny)``) grid."""
    return np.asarray(coarse_affine, dtype=float) @ np.linalg.inv(_index_map(n, fine_size))


def coarse_index(fine_size: int, n: int) -> np.ndarray:
    """For each fine in-plane index, the coarse (``n``-grid) voxel whose area holds its centre."""
    factor = fine_size / n
    coarse = (np.arange(fine_size) - fine_size // 2) / factor + n // 2
    return np.clip(np.floor(coarse + 0.5).astype(int), 0, n - 1)


#: How an acquired in-plane grid reaches the network's square grid (see the module docstring).
EMBEDDING_KINDS = ("square", "rectangular_fov", "anisotropic")


@dataclass(frozen=True)
class InPlaneEmbedding:
    """An acquired ``nx×ny`` grid on the network's ``N×N`` grid (``target``) and back.

    ``kind`` is one of :data:`EMBEDDING_KINDS`; :func:`mrsisr.io.geometry.in_plane_embedding` chooses
    it from the voxel sizes. Arrays in NIfTI layout have the in-plane axes first; k-space arrays
    (``network_input``) last. Impossible combinations raise ``ValueError`` with the reason.
    """

    matrix: tuple[int, int]
    target: int
    kind: str = "square"

    def __post_init__(self):
        nx, ny = (int(v) for v in self.matrix)
        object.__setattr__(self, "matrix", (nx, ny))
        if self.kind not in EMBEDDING_KINDS:
            raise ValueError(f"embedding kind {self.kind!r} is not one of {EMBEDDING_KINDS}")
        if self.kind == "square" and nx != ny:
            raise ValueError(f"in-plane matrix {nx}x{ny} is not square: state whether it has a rectangular field "
                             "of view or anisotropic voxels (mrsisr.io.geometry.in_plane_embedding decides it)")
        n, size = self.n, int(self.target)
        if n % 2 or n < 2:
            raise ValueError(f"in-plane matrix {nx}x{ny}: the network's n = {n} must be even (its data consistency "
                             "keeps a centred n x n k-space block)")
        if n > size:
            raise ValueError(f"in-plane matrix {nx}x{ny}: the network's n = {n} exceeds the target matrix {size}; "
                             f"choose --target-matrix {n} or more")
        if self.kind == "anisotropic" and min(nx, ny) % 2:
            raise ValueError(f"in-plane matrix {nx}x{ny}: zero-filling each axis needs even sides")
        if self.kind == "rectangular_fov":
            short = min(nx, ny)
            pad = (n - short) // 2
            step = math.lcm(n // math.gcd(n, short), n // math.gcd(n, pad) if pad else 1)
            if size % step:
                raise ValueError(
                    f"in-plane matrix {nx}x{ny} (rectangular field of view): on a {size}x{size} grid the acquired "
                    f"field of view would span {size * short / n:g} voxels from voxel {size * pad / n:g}, not whole "
                    f"voxels; choose a --target-matrix that is a multiple of {step}")

    @property
    def n(self) -> int:
        """The matrix size the network is conditioned on (the longer side)."""
        return max(self.matrix)

    @property
    def padding(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Image-domain zero-padding ``((x_lo, x_hi), (y_lo, y_hi))`` to ``n×n`` (rectangular FOV only)."""
        if self.kind != "rectangular_fov":
            return (0, 0), (0, 0)
        return tuple(((self.n - m) // 2, self.n - m - (self.n - m) // 2) for m in self.matrix)

    @property
    def crop(self) -> tuple[slice, slice]:
        """The part of the network's ``N×N`` grid that the output keeps (the acquired field of view)."""
        if self.kind != "rectangular_fov":
            return slice(0, self.target), slice(0, self.target)
        return tuple(slice(self.target * lo // self.n, self.target * (lo + m) // self.n)
                     for (lo, _), m in zip(self.padding, self.matrix))

    @property
    def output_shape(self) -> tuple[int, int]:
        """In-plane shape of the output grid (``N × N·ny/nx`` for a rectangular FOV, else ``N×N``)."""
        return tuple(s.stop - s.start for s in self.crop)

    def _network_matrix(self) -> tuple[int, int]:
        return (self.n, self.n) if self.kind == "rectangular_fov" else self.matrix

    def network_affine(self, affine: np.ndarray) -> np.ndarray:
        """Affine of the network's ``N×N`` grid (where the MRI is resampled) from the acquired grid's."""
        (x_lo, _), (y_lo, _) = self.padding
        shift = np.eye(4)
        shift[:2, 3] = -x_lo, -y_lo  # padded voxel (x_lo, y_lo) is acquired voxel (0, 0)
        return fine_grid_affine(np.asarray(affine, float) @ shift, self._network_matrix(), self.target)

    def output_affine(self, affine: np.ndarray) -> np.ndarray:
        """Affine of the output grid: the network grid cropped to :attr:`crop`."""
        shift = np.eye(4)
        shift[:2, 3] = self.crop[0].start, self.crop[1].start
        return self.network_affine(affine) @ shift

    def network_input(self, planes: np.ndarray) -> np.ndarray:
        """Zero-filled magnitude maps ``(..., N, N)`` of acquired maps ``(..., nx, ny)`` (in-plane last)."""
        if tuple(planes.shape[-2:]) != self.matrix:
            raise ValueError(f"maps of in-plane shape {tuple(planes.shape[-2:])} are not the {self.matrix} acquisition")
        padded = np.pad(planes, ((0, 0),) * (planes.ndim - 2) + self.padding)
        return zero_fill(padded, self.target)

    def network_mask(self, mask: np.ndarray) -> np.ndarray:
        """An acquired-grid mask ``(nx, ny, ...)`` on the network's ``N×N`` grid (nearest coarse voxel)."""
        padded = np.pad(mask, self.padding + ((0, 0),) * (mask.ndim - 2))
        nx, ny = self._network_matrix()
        return padded[coarse_index(self.target, nx)][:, coarse_index(self.target, ny)]

    def to_output(self, array: np.ndarray, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
        """Crop an array on the network grid (in-plane ``axes``) to the output grid."""
        index = [slice(None)] * array.ndim
        index[axes[0]], index[axes[1]] = self.crop
        return array[tuple(index)]
