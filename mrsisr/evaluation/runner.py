"""Evaluate super-resolution methods on prepared slices with simulated low-resolution acquisitions.

Every method sees the same inputs: the ``n×n`` central k-space of each quality-masked
high-resolution slice. Rows are scored with PSNR and SSIM on the masked ground truth
(:mod:`mrsisr.metrics`), plus a sharpness measure for the λ sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
from scipy import ndimage

from mrsisr import METABOLITES, kspace
from mrsisr.defaults import BATCH_SIZE
from mrsisr.inference import super_resolve_maps
from mrsisr.metrics import high_frequency_error, map_metrics, sharpness
from mrsisr.models import variant_spec
from mrsisr.slices import SubjectSlices

__all__ = ["Method", "model_method", "zero_fill_method", "bicubic_method", "evaluate", "mismatch_study"]

#: ``method(data, lr_maps (S, M, N, N), n, lam) -> (S, M, N, N)`` super-resolved maps.
Predict = Callable[[SubjectSlices, np.ndarray, int, float], np.ndarray]


@dataclass(frozen=True)
class Method:
    """A named way of getting N×N maps from n×n acquisitions."""

    name: str
    predict: Predict
    uses_lambda: bool = False


def model_method(name: str, model: torch.nn.Module, batch_size: int = BATCH_SIZE) -> Method:
    """The network (conditioned on the true n, metabolite and λ)."""
    def predict(data: SubjectSlices, lr: np.ndarray, n: int, lam: float) -> np.ndarray:
        return super_resolve_maps(model, lr, data.t1.astype(np.float32), data.flair.astype(np.float32), n,
                                  list(data.metabolites), [lam], batch_size)[0]
    return Method(name, predict, uses_lambda=variant_spec(model.variant).uses_lambda)


def zero_fill_method() -> Method:
    """Standard k-space zero-filling (the network's input itself)."""
    return Method("zero-fill", lambda data, lr, n, lam: lr)


def bicubic_method() -> Method:
    """Bicubic interpolation of the acquired n×n magnitude image onto the N grid."""
    def predict(data: SubjectSlices, lr: np.ndarray, n: int, lam: float) -> np.ndarray:
        size = lr.shape[-1]
        coarse = np.abs(kspace.crop_acquisition(data.maps * data.masks, n))
        # Map fine voxel centres into the coarse grid (same alignment as the centred FFT).
        coords = (np.arange(size) - size // 2) * n / size + n // 2
        yy, xx = np.meshgrid(coords, coords, indexing="ij")
        out = np.empty_like(lr)
        for s in range(lr.shape[0]):
            for m in range(lr.shape[1]):
                out[s, m] = ndimage.map_coordinates(coarse[s, m], [yy, xx], order=3, mode="nearest")
        return np.clip(out, 0, None)
    return Method("bicubic", predict)


def _score_rows(method: str, data: SubjectSlices, output: np.ndarray, n: int, lam: float,
                metabolite_labels: Iterable[str] | None = None) -> list[dict]:
    rows = []
    labels = list(metabolite_labels or data.metabolites)
    for s in range(output.shape[0]):
        for m, name in enumerate(data.metabolites):
            mask = data.masks[s, m] > 0
            if mask.sum() < 16 or data.maps[s, m][mask].max() <= 0:
                continue
            psnr, ssim = map_metrics(output[s, m], data.maps[s, m], mask)
            rows.append({"method": method, "subject": data.subject, "slice": int(data.slices[s]),
                         "metabolite": name, "condition": labels[m], "n": n, "lam": lam, "psnr": psnr, "ssim": ssim,
                         "sharpness": sharpness(output[s, m] * mask, mask),
                         "hf_error": high_frequency_error(output[s, m], data.maps[s, m], mask)})
    return rows


def evaluate(subjects: list[SubjectSlices], methods: list[Method], matrix_sizes: Iterable[int],
             sharpness_values: Iterable[float] = (0.0,), progress: Callable[[str], None] | None = None) -> list[dict]:
    """Score every method on every (subject, slice, metabolite, n[, λ]). Returns one dict per map."""
    rows: list[dict] = []
    for data in subjects:
        hr = data.maps * data.masks
        for n in matrix_sizes:
            lr = kspace.truncate(hr.astype(np.float64), n).astype(np.float32)
            for method in methods:
                for lam in (sharpness_values if method.uses_lambda else (0.0,)):
                    if progress:
                        progress(f"{method.name} sub-{data.subject} n={n} λ={lam:g}")
                    rows += _score_rows(method.name, data, method.predict(data, lr, n, lam), n, lam)
    return rows


def mismatch_study(subjects: list[SubjectSlices], model: torch.nn.Module, matrix_sizes: list[int],
                   batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
    """The paper's Fig. 2: mean SSIM when the conditions disagree with the input.

    Returns ``{"n": (len(sizes), len(sizes)) [input n, condition n], "metabolite": (7, 7) [input met,
    condition met]}``; the metabolite study averages over ``matrix_sizes``.
    """
    by_n = np.zeros((len(matrix_sizes), len(matrix_sizes)))
    by_met = np.zeros((len(METABOLITES), len(METABOLITES)))
    met_count = np.zeros_like(by_met)
    for data in subjects:
        hr = data.maps * data.masks
        t1, flair = data.t1.astype(np.float32), data.flair.astype(np.float32)
        for i, n_in in enumerate(matrix_sizes):
            lr = kspace.truncate(hr.astype(np.float64), n_in).astype(np.float32)
            for j, n_cond in enumerate(matrix_sizes):
                out = super_resolve_maps(model, lr, t1, flair, n_cond, list(data.metabolites), [0.0], batch_size)[0]
                by_n[i, j] += np.mean([r["ssim"] for r in _score_rows("", data, out, n_in, 0.0)])
            for c, cond_name in enumerate(METABOLITES):
                out = super_resolve_maps(model, lr, t1, flair, n_in, [cond_name] * len(data.metabolites), [0.0],
                                         batch_size)[0]
                for row in _score_rows("", data, out, n_in, 0.0):
                    by_met[METABOLITES.index(row["metabolite"]), c] += row["ssim"]
                    met_count[METABOLITES.index(row["metabolite"]), c] += 1
    return {"n": by_n / len(subjects), "metabolite": by_met / np.maximum(met_count, 1)}
