"""The training data on the device: every prepared slice as tensors there, batches assembled and augmented there.

On a GPU the loader of :mod:`mrsisr.training.data` (NumPy in worker processes, then a copy of each
batch to the device) costs more per batch than the network's step. Here the whole training set is
copied to the device once (a 15-subject cohort is about 150 MB: MRI blocks in float16 as stored)
and each batch is gathered, augmented, simulated (k-space truncation) and scaled by a handful of
vectorised tensor operations, with one small host-to-device copy of the batch's indices and
transform parameters.

The transforms (and the lesions of :mod:`mrsisr.training.lesions`) are drawn on the host by
:func:`mrsisr.training.data.draw_augmentation` (and :func:`~mrsisr.training.lesions.draw_lesions`)
from the same random generator, in the same order, as :func:`mrsisr.training.data.make_batch` draws them, so
both paths give the same batches (``tests/test_device_data.py``): the same distribution and, for a
given seed, the same samples.
"""

from __future__ import annotations

import numpy as np
import torch

from mrsisr import METABOLITES, kspace
from mrsisr.slices import SubjectSlices, flair_substitute
from mrsisr.training.data import Batch, draw_augmentation
from mrsisr.training.lesions import (NO_LESION, LesionAugmentation, draw_lesions, lesion_focus,
                                     metabolic_lesion_gain, mri_lesion_gain, voxel_mm)

__all__ = ["DeviceDataset", "DeviceBatches", "augment_on_device", "lesions_on_device"]


def _source_index(params: torch.Tensor, size: int, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each output pixel of the transformed image comes from.

    ``params`` (B, 5) = (quarter turns, flip, dy, dx, reverse) as in
    :class:`~mrsisr.training.data.Augmentation`. Returns the flat source index (B, size·size) and
    whether the pixel has a source (False where the shift brought in zeros).
    """
    k, flip, dy, dx = (params[:, i, None, None] for i in range(4))
    grid = torch.arange(size, device=params.device)
    i = grid[None, :, None] - factor * dy  # undo the shift
    j = grid[None, None, :] - factor * dx
    valid = (i >= 0) & (i < size) & (j >= 0) & (j < size)
    last = size - 1
    j = torch.where(flip.bool(), last - j, j)  # undo the flip
    # undo np.rot90(image, k): out[i, j] = image[a, b]
    a = torch.where(k == 0, i, torch.where(k == 1, j, torch.where(k == 2, last - i, last - j)))
    b = torch.where(k == 0, j, torch.where(k == 1, last - i, torch.where(k == 2, last - j, i)))
    flat = torch.where(valid, a * size + b, 0)
    return flat.flatten(1), valid.flatten(1)


def augment_on_device(params: torch.Tensor, hr: torch.Tensor, mask: torch.Tensor, t1: torch.Tensor,
                      flair: torch.Tensor, focus: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """:func:`~mrsisr.training.data.apply_augmentation` for a batch, one transform per sample.

    ``params`` (B, 5) integer tensor; ``hr``, ``mask`` (and ``focus``, when given) (B, N, N);
    ``t1``, ``flair`` (B, 3N, 3N, 3). Returns them in that order, ``focus`` last.
    """
    size = hr.shape[-1]
    source, valid = _source_index(params, size, 1)

    def move_map(image: torch.Tensor) -> torch.Tensor:
        moved = image.flatten(1).gather(1, source)
        return torch.where(valid, moved, torch.zeros((), dtype=moved.dtype, device=moved.device)).view_as(image)

    mri_source, mri_valid = _source_index(params, 3 * size, 3)
    reverse = params[:, 4].bool()[:, None, None, None]

    def move_mri(block: torch.Tensor) -> torch.Tensor:
        flat = block.flatten(1, 2)
        moved = flat.gather(1, mri_source[..., None].expand(-1, -1, flat.shape[-1]))
        moved = torch.where(mri_valid[..., None], moved, torch.zeros((), dtype=moved.dtype, device=moved.device))
        moved = moved.view_as(block)
        return torch.where(reverse, moved.flip(-1), moved)

    moved = (move_map(hr), move_map(mask), move_mri(t1), move_mri(flair))
    return moved if focus is None else (*moved, move_map(focus))


def lesions_on_device(params: torch.Tensor, hr: torch.Tensor, t1: torch.Tensor,
                      flair: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """:func:`~mrsisr.training.lesions.apply_lesions` for a batch, one draw per sample, and the
    lesions' focus (:func:`~mrsisr.training.lesions.focus_of`).

    ``params`` (B, 13) float: :meth:`~mrsisr.training.lesions.LesionDraw.vector`, then the in-plane
    voxel size and the slice thickness (mm); ``hr`` (B, N, N), ``t1``/``flair`` (B, 3N, 3N, 3) float32.
    Returns ``(hr, t1, flair, focus)``, ``focus`` (B, N, N) float32 0/1.
    """
    (mri_row, mri_col, mri_plane, mri_radius, t1_factor, flair_factor, met_row, met_col, met_radius, met_factor,
     drop, voxel, slice_mm) = (params[:, i, None, None, None] for i in range(params.shape[1]))
    grid = lambda size: torch.arange(size, device=params.device, dtype=torch.float32)
    rows, cols = grid(hr.shape[-2])[:, None], grid(hr.shape[-1])[None, :]
    hr = hr * metabolic_lesion_gain(rows, cols, met_row[..., 0], met_col[..., 0], met_radius[..., 0],
                                    met_factor[..., 0], voxel[..., 0])
    focus = lesion_focus(rows, cols, mri_row[..., 0], mri_col[..., 0], mri_radius[..., 0],
                         (t1_factor[..., 0] != 1.0) | (flair_factor[..., 0] != 1.0), met_row[..., 0],
                         met_col[..., 0], met_radius[..., 0], met_factor[..., 0] != 1.0, voxel[..., 0]).float()
    rows, cols, planes = grid(t1.shape[1])[:, None, None], grid(t1.shape[2])[None, :, None], grid(t1.shape[3])
    common = (rows, cols, planes, mri_row, mri_col, mri_plane, mri_radius)
    scale = t1.shape[1] // hr.shape[-1]
    t1 = t1 * mri_lesion_gain(*common, t1_factor, voxel, slice_mm, scale)
    flair = flair * mri_lesion_gain(*common, flair_factor, voxel, slice_mm, scale)
    return hr, t1, torch.where(drop > 0, flair_substitute(t1), flair), focus


class DeviceDataset:
    """Prepared subjects held on ``device``; :meth:`batch` is :func:`~mrsisr.training.data.make_batch` there.

    Args:
        subjects: the training subjects (as given to :class:`~mrsisr.training.data.BatchSampler`).
        device: where the tensors live (``cuda`` in practice; ``cpu`` works and is what the tests use).
    """

    def __init__(self, subjects: list[SubjectSlices], device: torch.device | str) -> None:
        if not subjects:
            raise ValueError("no subjects to put on the device")
        self.device = torch.device(device)
        self._offsets: dict[int, tuple[int, int, int]] = {}  # id(subject) → (first slice, first map, maps per slice)
        slice_start = map_start = 0
        maps, masks, metabolites = [], [], []
        for data in subjects:
            s, m = data.maps.shape[:2]
            self._offsets[id(data)] = (slice_start, map_start, m)
            maps.append(data.maps.reshape(s * m, *data.maps.shape[2:]))
            masks.append(data.masks.reshape(s * m, *data.masks.shape[2:]))
            metabolites += [METABOLITES.index(name) for name in data.metabolites] * s
            slice_start, map_start = slice_start + s, map_start + s * m
        self.maps = torch.from_numpy(np.concatenate(maps).astype(np.float32)).to(self.device)
        self.masks = torch.from_numpy(np.concatenate(masks).astype(np.uint8)).to(self.device)
        self.t1 = torch.from_numpy(np.concatenate([d.t1 for d in subjects]).astype(np.float16)).to(self.device)
        self.flair = torch.from_numpy(np.concatenate([d.flair for d in subjects]).astype(np.float16)).to(self.device)
        self.metabolite_index = np.asarray(metabolites, dtype=np.int64)
        self.subjects = subjects

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.maps, self.masks, self.t1, self.flair))

    def batch(self, items: list[tuple[SubjectSlices, int, int]], n: int, lam: float,
              rng: np.random.Generator | None = None, lesions: LesionAugmentation | None = None) -> Batch:
        """The batch :func:`~mrsisr.training.data.make_batch` builds from the same arguments, on the device."""
        rows, slices = [], []
        for data, slice_pos, met_pos in items:
            if id(data) not in self._offsets:
                raise ValueError(f"subject {data.subject} is not in this DeviceDataset")
            first_slice, first_map, per_slice = self._offsets[id(data)]
            slices.append(first_slice + slice_pos)
            rows.append(first_map + slice_pos * per_slice + met_pos)
        params, draws = [[0, 0, 0, 0, 0]] * len(items), [NO_LESION] * len(items)
        if rng is not None:  # drawn per sample in make_batch's order
            params, draws = [], []
            for data, slice_pos, met_pos in items:
                p = draw_augmentation(rng)
                params.append([p.quarter_turns, int(p.flip), p.dy, p.dx, int(p.reverse)])
                draws.append(draw_lesions(rng, lesions, data.masks[slice_pos, met_pos])
                             if lesions is not None and lesions.active else NO_LESION)
        host = torch.tensor([[r, s, *p] for r, s, p in zip(rows, slices, params)], dtype=torch.int64)
        if self.device.type == "cuda":
            host = host.pin_memory()
        packed = host.to(self.device, non_blocking=True)
        row, slice_index, params = packed[:, 0], packed[:, 1], packed[:, 2:]
        hr, mask = self.maps[row], self.masks[row]
        t1, flair = self.t1[slice_index].float(), self.flair[slice_index].float()
        focus = torch.zeros(hr.shape, dtype=torch.float32, device=self.device)
        keep_clean = rng is not None and lesions is not None and lesions.keeps_clean_mri
        clean_t1, clean_flair = t1, flair  # the MRI without its lesions: the FLAIR drop alone
        if keep_clean and any(draw.drop_flair for draw in draws):
            dropped = torch.tensor([draw.drop_flair for draw in draws], device=self.device)[:, None, None, None]
            clean_flair = torch.where(dropped, flair_substitute(t1), flair)
        if any(draw != NO_LESION for draw in draws):
            lesion_params = torch.tensor([draw.vector() + list(voxel_mm(data.affine))
                                          for draw, (data, _, _) in zip(draws, items)], dtype=torch.float32)
            hr, t1, flair, focus = lesions_on_device(lesion_params.to(self.device), hr, t1, flair)
        if rng is not None:
            if keep_clean:
                _, _, clean_t1, clean_flair = augment_on_device(params, hr, mask, clean_t1, clean_flair)
            hr, mask, t1, flair, focus = augment_on_device(params, hr, mask, t1, flair, focus)
        hr = hr * mask
        lr = kspace.truncate(hr.double(), n)  # in float64, as the NumPy path
        scale = lr.amax(dim=(-2, -1), keepdim=True)
        scale = torch.where(scale > 0, scale, torch.ones((), dtype=scale.dtype, device=scale.device))
        size = len(items)
        return Batch(
            t1=_scale_mri(t1)[:, None], flair=_scale_mri(flair)[:, None],
            lr=(lr / scale).float()[:, None], target=(hr.double() / scale).float()[:, None],
            mask=mask.float()[:, None],
            n=torch.full((size,), n, dtype=torch.int64),
            metabolite=torch.from_numpy(self.metabolite_index[rows]),
            lam=torch.full((size,), float(lam), dtype=torch.float32),
            focus=focus[:, None],
            **({"t1_clean": _scale_mri(clean_t1)[:, None], "flair_clean": _scale_mri(clean_flair)[:, None]}
               if keep_clean else {}),
        )


def _scale_mri(blocks: torch.Tensor) -> torch.Tensor:
    """Each block (B, …) divided by its own maximum (left as is where that is not positive)."""
    peak = blocks.amax(dim=tuple(range(1, blocks.ndim)), keepdim=True)
    return blocks / torch.where(peak > 0, peak, torch.ones((), dtype=peak.dtype, device=peak.device))


class DeviceBatches:
    """One epoch's batches from a :class:`DeviceDataset`, in the trainer's plan order.

    ``plan`` is :meth:`~mrsisr.training.data.BatchSampler.epoch`'s list and ``indices`` the positions
    this process trains on; batch ``index`` is augmented with ``default_rng([seed, epoch, index])``,
    as the loader of :class:`~mrsisr.training.trainer.Trainer` does.
    """

    def __init__(self, dataset: DeviceDataset, plan: list, indices: list[int], seed: int, epoch: int,
                 augment: bool = True, lesions: LesionAugmentation | None = None) -> None:
        self.dataset, self.plan, self.indices = dataset, plan, indices
        self.seed, self.epoch, self.augment, self.lesions = seed, epoch, augment, lesions

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self):
        # A DataLoader draws a base seed from torch's generator whenever an iterator is made; so does
        # this, so a seeded run's later draws (the gradient penalty's mixes) match on both paths.
        torch.empty((), dtype=torch.int64).random_()
        return self._generate()

    def _generate(self):
        for index in self.indices:
            items, n, lam = self.plan[index]
            rng = np.random.default_rng([self.seed, self.epoch, index]) if self.augment else None
            yield self.dataset.batch(items, n, lam, rng, self.lesions)
