"""Test-time-transformation uncertainty: how much a super-resolved map changes when its inputs are
flipped, turned by 90° or shifted by a fraction of a voxel, each transformation undone on the output.

A map that the data determine does not depend on which way the head faces or where the voxel grid
sits; where the network's answer moves under these transformations it is guessing. The spread
(standard deviation over the transformations, per voxel) is written beside each super-resolved map
(issue 14, item 4).

Conventions (maps ``(…, H, W)``: in-plane axes last; MRI blocks ``(S, fH, fW, D)``: in-plane axes 1
and 2, ``f`` the MRI factor):

* Rotations (:func:`numpy.rot90`) and flips act about the array centre, on both grids alike (the
  centre of the N-grid and of its f× MRI grid coincide), as the training augmentation does.
* A shift of the map is a phase ramp on its k-space: exact, periodic and exactly undone, and the
  measured central block is only multiplied by the ramp. The MRI moves by ``f`` times as many of its
  voxels with a cubic spline (:func:`scipy.ndimage.shift`, periodic too), clipped at zero.
* The first transformation is always the identity, so ``outputs[0]`` is the plain super-resolved map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage

__all__ = ["Transform", "uncertainty_transforms", "transform_maps", "undo_maps", "transform_masks",
           "transform_blocks", "outputs_under_transforms", "spread"]

#: Plastic-number increments of the R2 low-discrepancy sequence: sub-voxel shifts that cover the
#: voxel evenly for any count.
_R2 = (1 / 1.324717957244746, 1 / 1.324717957244746 ** 2)


@dataclass(frozen=True)
class Transform:
    """One test-time transformation: ``quarter_turns`` of :func:`numpy.rot90`, then a mirror of the
    second in-plane axis (``flip``), then a shift of ``shift`` N-grid voxels along the two axes."""

    quarter_turns: int = 0
    flip: bool = False
    shift: tuple[float, float] = (0.0, 0.0)

    def to_dict(self) -> dict:
        """As recorded in the sidecars."""
        return {"QuarterTurns": int(self.quarter_turns), "Flip": bool(self.flip),
                "ShiftVoxels": [round(float(v), 4) for v in self.shift]}


def uncertainty_transforms(count: int, square: bool = True, max_shift: float = 0.5) -> list[Transform]:
    """``count`` deterministic transformations: the identity, then the in-plane rotations and flips
    in turn (only the half turn and the flips when the grid is not ``square``), each with a
    sub-voxel shift in [-max_shift, max_shift) voxels."""
    if count < 2:
        raise ValueError(f"the spread needs at least 2 transformations (the identity and one more), got {count}")
    turns = (0, 1, 2, 3) if square else (0, 2)
    orientations = [(k, flip) for k in turns for flip in (False, True)]
    transforms = [Transform()]
    for index in range(1, count):
        k, flip = orientations[index % len(orientations)]
        shift = tuple(float((2 * ((0.5 + index * a) % 1.0) - 1) * max_shift) for a in _R2)
        transforms.append(Transform(k, flip, shift))
    return transforms


def _orient(image: np.ndarray, transform: Transform, axes: tuple[int, int]) -> np.ndarray:
    image = np.rot90(image, transform.quarter_turns, axes=axes)
    return np.flip(image, axis=axes[1]) if transform.flip else image


def _unorient(image: np.ndarray, transform: Transform, axes: tuple[int, int]) -> np.ndarray:
    if transform.flip:
        image = np.flip(image, axis=axes[1])
    return np.rot90(image, -transform.quarter_turns, axes=axes)


def _phase_ramp(size: int, shift: float) -> np.ndarray:
    """The 1-D k-space factor of a shift by ``shift`` voxels (``numpy.fft`` order). An even axis's
    Nyquist frequency has no partner of opposite sign: it stays unshifted, which keeps real images real
    and makes the opposite shift the exact inverse."""
    ramp = np.exp(-2j * np.pi * np.fft.fftfreq(size) * shift)
    if size % 2 == 0:
        ramp[size // 2] = 1.0
    return ramp


def _fourier_shift(maps: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """Shift the last two axes by ``shift`` voxels with a k-space phase ramp (periodic, exactly invertible)."""
    if not any(shift):
        return maps
    height, width = maps.shape[-2:]
    ramp = _phase_ramp(height, shift[0])[:, None] * _phase_ramp(width, shift[1])[None, :]
    return np.fft.ifft2(np.fft.fft2(maps) * ramp).real.astype(maps.dtype, copy=False)


def transform_maps(maps: np.ndarray, transform: Transform) -> np.ndarray:
    """Maps (…, H, W) turned, flipped, then shifted in k-space (a shifted magnitude rings below zero by
    well under 0.1 % of its peak; it is left so, and the measured k-space block is exactly the ramp
    times the measured one)."""
    return _fourier_shift(np.ascontiguousarray(_orient(maps, transform, (-2, -1))), transform.shift)


def undo_maps(maps: np.ndarray, transform: Transform) -> np.ndarray:
    """The inverse of :func:`transform_maps`, applied to an output (…, H, W)."""
    back = _fourier_shift(np.ascontiguousarray(maps), (-transform.shift[0], -transform.shift[1]))
    return np.ascontiguousarray(_unorient(back, transform, (-2, -1)))


def transform_masks(masks: np.ndarray, transform: Transform) -> np.ndarray:
    """Masks (…, H, W) turned and flipped, shifted by the nearest whole voxel (a mask has no sub-voxels)."""
    moved = np.ascontiguousarray(_orient(masks, transform, (-2, -1)))
    whole = tuple(int(np.round(v)) for v in transform.shift)
    return np.roll(moved, whole, axis=(-2, -1)) if any(whole) else moved


def transform_blocks(blocks: np.ndarray, transform: Transform, factor: int) -> np.ndarray:
    """MRI blocks (S, fH, fW, D) turned, flipped and shifted by ``factor`` × the map's shift."""
    moved = np.ascontiguousarray(_orient(np.asarray(blocks, np.float32), transform, (1, 2)))
    if not any(transform.shift):
        return moved
    # One 2-D spline per in-plane image: a 4-D call would interpolate the unshifted slice and depth
    # axes too (4⁴ taps instead of 4², the same values, 20× the time).
    offsets = (factor * transform.shift[0], factor * transform.shift[1])
    shifted = np.empty_like(moved)
    for index in np.ndindex(moved.shape[0], moved.shape[3]):
        plane = (index[0], slice(None), slice(None), index[1])
        shifted[plane] = ndimage.shift(moved[plane], offsets, order=3, mode="grid-wrap")
    return np.clip(shifted, 0, None, out=shifted)


#: ``predict(lr (B, M, H, W), t1 (B, fH, fW, D), flair) -> (…, B, M, H, W)``.
Predict = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def outputs_under_transforms(predict: Predict, lr: np.ndarray, t1: np.ndarray, flair: np.ndarray,
                             transforms: list[Transform]) -> np.ndarray:
    """Run ``predict`` once on all transformed copies of the inputs (one batch of K·S slices) and undo
    each transformation on its outputs.

    Args:
        predict: the method, e.g. :func:`mrsisr.inference.super_resolve_maps` with its conditions bound.
        lr: zero-filled maps (S, M, H, W); t1, flair: MRI blocks (S, fH, fW, D).
        transforms: from :func:`uncertainty_transforms` (the first should be the identity).

    Returns:
        (K, …, S, M, H, W): the outputs of each transformation, back on the original grid.
    """
    slices, height = lr.shape[0], lr.shape[-2]
    if height != lr.shape[-1] and any(t.quarter_turns % 2 for t in transforms):
        raise ValueError(f"quarter turns need a square grid, not {lr.shape[-2:]}: "
                         "use uncertainty_transforms(…, square=False)")
    if t1.shape != flair.shape or t1.shape[0] != slices or t1.shape[1] % height:
        raise ValueError(f"MRI blocks {t1.shape}/{flair.shape} must be (S={slices}, f·{height}, f·W, D)")
    factor = t1.shape[1] // height
    out = predict(np.concatenate([transform_maps(lr, t) for t in transforms]),
                  np.concatenate([transform_blocks(t1, t, factor) for t in transforms]),
                  np.concatenate([transform_blocks(flair, t, factor) for t in transforms]))
    out = np.asarray(out).reshape(out.shape[:-4] + (len(transforms), slices) + out.shape[-3:])
    return np.stack([undo_maps(np.take(out, k, axis=-5), t) for k, t in enumerate(transforms)])


def spread(outputs: np.ndarray) -> np.ndarray:
    """The uncertainty: standard deviation over the transformations (axis 0), as float32."""
    return np.asarray(outputs, np.float64).std(axis=0).astype(np.float32)
