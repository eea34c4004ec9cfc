"""Prepared-slice datasets for training: batching by condition, augmentation, the simulated acquisition.

The lesions that break the MRI→map shortcut are drawn and applied here too, per sample; their
shapes and probabilities live in :mod:`mrsisr.training.lesions`.

The prepared-slice format and the scaling contract live in :mod:`mrsisr.slices`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mrsisr import METABOLITES, TRAINED_MATRIX_SIZES, kspace
from mrsisr.slices import SubjectSlices, map_scale, scale_mri
from mrsisr.training.lesions import (NO_LESION, LesionAugmentation, apply_lesions, draw_lesions, focus_of,
                                     mri_without_lesion, voxel_mm)

__all__ = ["Batch", "BatchSampler", "make_batch", "augment", "Augmentation", "draw_augmentation",
           "apply_augmentation", "normalise_pair"]

_HOST_FIELDS = ("n", "metabolite", "lam")


@dataclass
class Batch:
    """Tensors of one batch (B samples sharing a metabolite); shapes as the generator expects."""

    t1: torch.Tensor  # (B, 1, 3N, 3N, 3)
    flair: torch.Tensor  # (B, 1, 3N, 3N, 3)
    lr: torch.Tensor  # (B, 1, N, N)
    target: torch.Tensor  # (B, 1, N, N)
    mask: torch.Tensor  # (B, 1, N, N)
    n: torch.Tensor  # (B,)
    metabolite: torch.Tensor  # (B,)
    lam: torch.Tensor  # (B,)
    focus: torch.Tensor  # (B, 1, N, N): 1 near the sample's injected lesions (mrsisr.training.lesions.lesion_focus)
    #: (B, 1, 3N, 3N, 3) each: the MRI without the MRI-only lesions, when the invariance term asks for it
    t1_clean: torch.Tensor | None = None
    flair_clean: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "Batch":
        """The images on ``device``; the conditions (n, metabolite, λ) stay on the host, where the
        network reads them to choose its path without waiting for the GPU."""
        return Batch(**{key: value if key in _HOST_FIELDS or value is None else value.to(device, non_blocking=True)
                        for key, value in vars(self).items()})

    def pin_memory(self) -> "Batch":
        """Page-locked copies (called by a DataLoader with ``pin_memory=True``)."""
        return Batch(**{key: None if value is None else value.pin_memory() for key, value in vars(self).items()})


def normalise_pair(hr: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate the ``n×n`` acquisition of ``hr`` (…, N, N) and scale both by the LR maximum.

    Returns ``(lr_scaled, hr_scaled, scale)`` with ``scale`` of shape (…, 1, 1).
    """
    lr = kspace.truncate(hr.astype(np.float64), n)
    scale = map_scale(lr)
    return (lr / scale).astype(np.float32), (hr / scale).astype(np.float32), scale


def _shift(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift the first two axes by whole pixels, filling with zeros (no wrap-around)."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    src_y, dst_y = slice(max(-dy, 0), h - max(dy, 0)), slice(max(dy, 0), h - max(-dy, 0))
    src_x, dst_x = slice(max(-dx, 0), w - max(dx, 0)), slice(max(dx, 0), w - max(-dx, 0))
    out[dst_y, dst_x] = image[src_y, src_x]
    return out


@dataclass(frozen=True)
class Augmentation:
    """One sample's transform: ``quarter_turns`` 90° rotations in-plane, then a ``flip`` of the second
    axis, then a shift by ``(dy, dx)`` MRSI voxels (3× that on the MRI, zero-filled), and a
    ``reverse`` of the MRI sub-slice order."""

    quarter_turns: int
    flip: bool
    dy: int
    dx: int
    reverse: bool


def draw_augmentation(rng: np.random.Generator, max_shift: int = 3) -> Augmentation:
    """The paper's random transform of one sample (uniform over turns, flips, shifts and reversals)."""
    k, flip = int(rng.integers(4)), bool(rng.integers(2))
    dy, dx = (int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))
    return Augmentation(k, flip, dy, dx, bool(rng.integers(2)))


def apply_augmentation(params: Augmentation, hr: np.ndarray, mask: np.ndarray, t1: np.ndarray,
                       flair: np.ndarray, focus: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Apply one transform to a sample: ``hr``, ``mask`` (N, N); ``t1``, ``flair`` (3N, 3N, 3).

    Returns ``(hr, mask, t1, flair)``, and the transformed ``focus`` (N, N) after them when one is given.
    """

    def geometric(image: np.ndarray, factor: int) -> np.ndarray:
        image = np.rot90(image, params.quarter_turns, axes=(0, 1))
        if params.flip:
            image = image[:, ::-1]
        return _shift(np.ascontiguousarray(image), factor * params.dy, factor * params.dx)

    t1, flair = (geometric(block, 3) for block in (t1, flair))
    if params.reverse:
        t1, flair = t1[..., ::-1], flair[..., ::-1]
    moved = (geometric(hr, 1), geometric(mask, 1), np.ascontiguousarray(t1), np.ascontiguousarray(flair))
    return moved if focus is None else (*moved, geometric(focus, 1))


def augment(rng: np.random.Generator, hr: np.ndarray, mask: np.ndarray, t1: np.ndarray, flair: np.ndarray,
            max_shift: int = 3) -> tuple[np.ndarray, ...]:
    """The paper's augmentation of one sample, identical for map, mask and MRI.

    Random 90° rotation and flip in-plane, a shift of up to ``max_shift`` MRSI voxels (3× that on
    the MRI), and a random reversal of the MRI sub-slice order. ``hr``, ``mask``: (N, N);
    ``t1``, ``flair``: (3N, 3N, 3).
    """
    return apply_augmentation(draw_augmentation(rng, max_shift), hr, mask, t1, flair)


def make_batch(items: list[tuple[SubjectSlices, int, int]], n: int, lam: float,
               rng: np.random.Generator | None = None, lesions: LesionAugmentation | None = None) -> Batch:
    """Assemble samples ``(subject, slice position, metabolite position)`` into a :class:`Batch`.

    With ``rng`` the samples are augmented: per sample, the geometric transform is drawn, then the
    ``lesions`` (:mod:`mrsisr.training.lesions`, applied first); the LR input is simulated after both.
    When the lesions :attr:`~mrsisr.training.lesions.LesionAugmentation.keeps_clean_mri`, the batch
    also holds the same MRI without the MRI-only lesions (``t1_clean``, ``flair_clean``).
    """
    keep_clean = rng is not None and lesions is not None and lesions.keeps_clean_mri
    columns: dict[str, list[np.ndarray]] = {key: [] for key in ("hr", "mask", "t1", "flair", "focus")}
    clean_columns: dict[str, list[np.ndarray]] = {"t1": [], "flair": []}
    metabolite_index = []
    for data, slice_pos, met_pos in items:
        mask = data.masks[slice_pos, met_pos]
        hr, t1, flair = (data.maps[slice_pos, met_pos], data.t1[slice_pos].astype(np.float32),
                         data.flair[slice_pos].astype(np.float32))
        focus = np.zeros(hr.shape, dtype=np.float32)
        sample = (hr, mask, t1, flair, focus)
        if rng is not None:
            transform = draw_augmentation(rng)
            draw = draw_lesions(rng, lesions, mask) if lesions is not None and lesions.active else NO_LESION
            clean_t1, clean_flair = mri_without_lesion(draw, t1, flair)
            if draw != NO_LESION:
                voxel, slice_mm = voxel_mm(data.affine)
                hr, t1, flair = apply_lesions(draw, hr, t1, flair, voxel, slice_mm)
                focus = focus_of(draw, hr.shape, voxel)
            sample = apply_augmentation(transform, hr, mask, t1, flair, focus)
            if keep_clean:
                _, _, clean_t1, clean_flair = apply_augmentation(transform, hr, mask, clean_t1, clean_flair)
                clean_columns["t1"].append(clean_t1)
                clean_columns["flair"].append(clean_flair)
        for key, value in zip(columns, sample):
            columns[key].append(value)
        metabolite_index.append(METABOLITES.index(data.metabolites[met_pos]))
    hr = np.stack(columns["hr"]) * np.stack(columns["mask"])
    lr, target, _ = normalise_pair(hr, n)
    size = len(items)
    return Batch(
        t1=torch.from_numpy(scale_mri(np.stack(columns["t1"]))[:, None]),
        flair=torch.from_numpy(scale_mri(np.stack(columns["flair"]))[:, None]),
        lr=torch.from_numpy(lr[:, None]), target=torch.from_numpy(target[:, None]),
        mask=torch.from_numpy(np.stack(columns["mask"]).astype(np.float32)[:, None]),
        n=torch.full((size,), n, dtype=torch.int64),
        metabolite=torch.tensor(metabolite_index, dtype=torch.int64),
        lam=torch.full((size,), float(lam), dtype=torch.float32),
        focus=torch.from_numpy(np.stack(columns["focus"]).astype(np.float32)[:, None]),
        **({f"{key}_clean": torch.from_numpy(scale_mri(np.stack(blocks))[:, None])
            for key, blocks in clean_columns.items()} if keep_clean else {}),
    )


class BatchSampler:
    """Draws the paper's batches: one metabolite, one n and one λ per batch.

    ``n`` is uniform over ``matrix_sizes`` (even 16…32); λ is uniform in ``[0, lam_max]`` except a
    fraction ``lam_zero_fraction`` of batches at λ = 0 (λ is always 0 when ``lam_max`` is 0).
    One epoch visits every (subject, slice, metabolite) sample once, in random order.
    """

    def __init__(self, subjects: list[SubjectSlices], batch_size: int = 8,
                 matrix_sizes: tuple[int, ...] = TRAINED_MATRIX_SIZES, lam_max: float = 0.0,
                 lam_zero_fraction: float = 0.1) -> None:
        if not subjects:
            raise ValueError("no training subjects")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.subjects = subjects
        self.batch_size = batch_size
        self.matrix_sizes = tuple(matrix_sizes)
        self.lam_max = lam_max
        self.lam_zero_fraction = lam_zero_fraction
        self.by_metabolite: dict[str, list[tuple[int, int, int]]] = {}
        for s_index, data in enumerate(subjects):
            for m_index, name in enumerate(data.metabolites):
                for slice_pos in range(data.maps.shape[0]):
                    self.by_metabolite.setdefault(name, []).append((s_index, slice_pos, m_index))

    def __len__(self) -> int:
        return sum(-(-len(v) // self.batch_size) for v in self.by_metabolite.values())

    def epoch(self, rng: np.random.Generator) -> list[tuple[list[tuple[SubjectSlices, int, int]], int, float]]:
        """The batches of one epoch: ``(items, n, λ)`` each, shuffled."""
        batches = []
        for entries in self.by_metabolite.values():
            order = rng.permutation(len(entries))
            for start in range(0, len(order), self.batch_size):
                chosen = [entries[i] for i in order[start:start + self.batch_size]]
                items = [(self.subjects[s], slice_pos, m) for s, slice_pos, m in chosen]
                n = int(rng.choice(self.matrix_sizes))
                lam = 0.0
                if self.lam_max > 0 and rng.random() >= self.lam_zero_fraction:
                    lam = float(rng.uniform(0.0, self.lam_max))
                batches.append((items, n, lam))
        return [batches[i] for i in rng.permutation(len(batches))]
