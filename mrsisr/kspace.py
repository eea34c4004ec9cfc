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
"""

from __future__ import annotations

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
    """Place an acquired ``n×n`` map (real or complex) on the ``size×size`` grid by k-space zero-filling.

    The standard reconstruction of a low-resolution MRSI acquisition, and the network's input.
    The k-space is scaled by ``size/n`` so concentrations keep their physical values. Returns the
    magnitude (float) unless ``magnitude=False`` (complex).
    """
    n = acquired.shape[-1]
    if acquired.shape[-2] != n:
        raise ValueError(f"acquired map must be square, got in-plane shape {acquired.shape[-2:]}")
    _check_matrix(n, size)
    lo, hi = size // 2 - n // 2, size // 2 + n // 2
    padded = np.zeros(acquired.shape[:-2] + (size, size), dtype=np.complex128)
    padded[..., lo:hi, lo:hi] = fft2c(np.asarray(acquired)) * (size / n)
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


def coarse_grid_affine(fine_affine: np.ndarray, fine_size: int, n: int) -> np.ndarray:
    """NIfTI affine of the ``n×n`` acquisition grid covering the same field of view as ``fine_affine``.

    Both in-plane axes (the first two voxel axes) are coarsened by ``fine_size/n``; the through-plane
    axis is unchanged. Coarse voxel ``n//2`` shares its centre with fine voxel ``fine_size//2``, as the
    centred FFT implies.
    """
    factor = fine_size / n
    index_map = np.eye(4)
    for axis in (0, 1):
        index_map[axis, axis] = factor
        index_map[axis, 3] = fine_size // 2 - factor * (n // 2)
    return np.asarray(fine_affine, dtype=float) @ index_map


def fine_grid_affine(coarse_affine: np.ndarray, n: int, fine_size: int) -> np.ndarray:
    """Inverse of :func:`coarse_grid_affine`: the ``fine_size`` grid of an ``n×n`` acquisition grid."""
    factor = fine_size / n
    index_map = np.eye(4)
    for axis in (0, 1):
        index_map[axis, axis] = factor
        index_map[axis, 3] = fine_size // 2 - factor * (n // 2)
    return np.asarray(coarse_affine, dtype=float) @ np.linalg.inv(index_map)


def coarse_index(fine_size: int, n: int) -> np.ndarray:
    """For each fine in-plane index, the coarse (``n``-grid) voxel whose area holds its centre."""
    factor = fine_size / n
    coarse = (np.arange(fine_size) - fine_size // 2) / factor + n // 2
    return np.clip(np.floor(coarse + 0.5).astype(int), 0, n - 1)
