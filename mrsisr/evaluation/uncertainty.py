"""Does the uncertainty map know where a method is wrong? (issue 14, item 4)

The uncertainty is the spread of a method's outputs under test-time transformations
(:mod:`mrsisr.uncertainty`, as the app writes it). On held-out prepared slices, at every n and λ:

* **ranking**: Spearman ρ between the uncertainty and the absolute error ``|output − truth|`` over the
  quality-masked voxels, per metabolite (all slices and subjects pooled); positive when the
  uncertainty ranks the voxels by their error.
* **features the data cannot resolve**: MRI-occult metabolic lesions
  (:func:`mrsisr.evaluation.fidelity.inject_metabolic_lesions`, +100 % by default, 10 mm) are added to
  the maps; the mean uncertainty within two voxels of each lesion is compared with the same voxels
  without the lesion (``increase``) and with the rest of the mask far from every lesion (``ratio``).

Any :class:`~mrsisr.evaluation.runner.Method` can be studied: every input it sees (the
low-resolution map, the MRI and the high-resolution maps a baseline may read) is transformed alike.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Callable, Iterable

import numpy as np
from scipy import stats

from mrsisr import defaults, kspace
from mrsisr.evaluation.fidelity import FidelitySettings, choose_sites, inject_metabolic_lesions
from mrsisr.evaluation.runner import Method
from mrsisr.lesions import NEIGHBOURHOOD_VOXELS
from mrsisr.slices import SubjectSlices
from mrsisr.uncertainty import (Transform, outputs_under_transforms, spread, transform_maps, transform_masks,
                                uncertainty_transforms)

__all__ = ["UncertaintySettings", "method_uncertainty", "uncertainty_study", "uncertainty_markdown"]


@dataclass(frozen=True)
class UncertaintySettings:
    """How many transformations, and the lesions injected to probe the features."""

    samples: int = defaults.UNCERTAINTY_SAMPLES
    lesion_diameter_mm: float = 10.0
    rise: float = 1.0
    sites_per_slice: int = 2
    far_voxels: float = 10.0
    seed: int = 0


def method_uncertainty(method: Method, data: SubjectSlices, lr: np.ndarray, n: int, lam: float,
                       transforms: list[Transform]) -> tuple[np.ndarray, np.ndarray]:
    """The method's output (S, M, N, N) and its uncertainty (S, M, N, N): every transformed copy of the
    subject goes through ``method.predict`` in one call. The high-resolution maps a baseline may read move
    with the input; the masks by whole voxels only."""
    count = len(transforms)
    maps = np.concatenate([transform_maps(data.maps, t) for t in transforms]).astype(np.float32)
    masks = np.concatenate([transform_masks(data.masks, t) for t in transforms])

    def predict(lr_k: np.ndarray, t1_k: np.ndarray, flair_k: np.ndarray) -> np.ndarray:
        tiled = replace(data, maps=maps, masks=masks, t1=t1_k, flair=flair_k, slices=np.tile(data.slices, count))
        return method.predict(tiled, lr_k, n, lam)

    outputs = outputs_under_transforms(predict, lr, data.t1.astype(np.float32), data.flair.astype(np.float32),
                                       transforms)
    return outputs[0], spread(outputs)


def _distance(shape: tuple[int, int], centre: tuple[int, int]) -> np.ndarray:
    rows, cols = np.indices(shape)
    return np.hypot(rows - centre[0], cols - centre[1])


def _feature_rows(key: dict, data: SubjectSlices, sites, radius: float, sd_with: np.ndarray, sd_without: np.ndarray,
                  far: float) -> list[dict]:
    """Per lesion and metabolite: mean uncertainty near it (with and without it) and far from every lesion."""
    rows = []
    size = data.maps.shape[-2:]
    by_slice: dict[int, list[tuple[int, int]]] = {}
    for s, row, col in sites.lesions:
        by_slice.setdefault(s, []).append((row, col))
    for s, centres in by_slice.items():
        distances = np.stack([_distance(size, c) for c in centres])
        elsewhere_region = distances.min(axis=0) > radius + far
        for index, centre in enumerate(centres):
            near_region = distances[index] <= radius + NEIGHBOURHOOD_VOXELS
            for m, name in enumerate(data.metabolites):
                mask = data.masks[s, m] > 0
                near, elsewhere = near_region & mask, elsewhere_region & mask
                if not near.any() or not elsewhere.any():
                    continue
                rows.append({**key, "metabolite": name, "slice": int(data.slices[s]),
                             "sd_near": float(sd_with[s, m][near].mean()),
                             "sd_near_without": float(sd_without[s, m][near].mean()),
                             "sd_elsewhere": float(sd_with[s, m][elsewhere].mean())})
    return rows


def _subject(data: SubjectSlices, methods: list[Method], matrix_sizes: list[int], sharpness_values: list[float],
             settings: UncertaintySettings, transforms: list[Transform], rng: np.random.Generator,
             pooled: dict, progress: Callable[[str], None] | None) -> list[dict]:
    """Pool (uncertainty, |error|) per (method, n, λ, metabolite) into ``pooled``; return the feature rows."""
    voxel_mm = float(np.linalg.norm(np.asarray(data.affine)[:3, 0]))
    radius = settings.lesion_diameter_mm / 2.0 / voxel_mm
    fidelity = FidelitySettings(diameters_mm=(settings.lesion_diameter_mm,), rise=settings.rise,
                                sites_per_slice=settings.sites_per_slice, far_voxels=settings.far_voxels)
    sites = choose_sites(data, radius, fidelity, rng)
    hr = (data.maps * data.masks).astype(np.float64)
    rise = inject_metabolic_lesions(data, sites, settings.lesion_diameter_mm, settings.rise) if sites.lesions else 0
    lesioned = replace(data, maps=(hr + rise).astype(np.float32))
    masks = data.masks > 0
    rows: list[dict] = []
    for n in matrix_sizes:
        lr = kspace.truncate(hr, n).astype(np.float32)
        lr_lesioned = kspace.truncate(hr + rise, n).astype(np.float32)
        for method in methods:
            for lam in (sharpness_values if method.uses_lambda else (0.0,)):
                if progress:
                    progress(f"uncertainty {method.name} sub-{data.subject} n={n} λ={lam:g}")
                output, sd = method_uncertainty(method, data, lr, n, lam, transforms)
                error = np.abs(output - hr)
                for m, name in enumerate(data.metabolites):
                    bucket = pooled.setdefault((method.name, n, lam, name), ([], []))
                    bucket[0].append(sd[:, m][masks[:, m]])
                    bucket[1].append(error[:, m][masks[:, m]])
                if sites.lesions:
                    _, sd_lesioned = method_uncertainty(method, lesioned, lr_lesioned, n, lam, transforms)
                    key = {"method": method.name, "subject": data.subject, "n": n, "lam": lam}
                    rows += _feature_rows(key, data, sites, radius, sd_lesioned, sd, settings.far_voxels)
    return rows


def _spearman(uncertainty: np.ndarray, error: np.ndarray) -> tuple[float, float]:
    """Spearman ρ and its p-value; NaN when either is constant (a method without spread)."""
    if uncertainty.size < 3 or np.ptp(uncertainty) == 0 or np.ptp(error) == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        result = stats.spearmanr(uncertainty, error)
    return float(result.statistic), float(result.pvalue)


def uncertainty_study(subjects: list[SubjectSlices], methods: list[Method], matrix_sizes: Iterable[int],
                      sharpness_values: Iterable[float] = (0.0,), settings: UncertaintySettings | None = None,
                      progress: Callable[[str], None] | None = None) -> dict:
    """Score how well each method's uncertainty ranks its errors and marks unresolved lesions.

    Returns ``{"settings", "ranking", "features", "feature_rows"}``: ``ranking`` one row per (method, n,
    λ, metabolite) with ``spearman_rho``, ``p_value``, ``voxels`` and the mean uncertainty and error;
    ``features`` the means per (method, n, λ, metabolite) of ``sd_near``, ``sd_near_without`` and
    ``sd_elsewhere`` with ``increase`` = near / near without and ``ratio`` = near / elsewhere.
    """
    settings = settings or UncertaintySettings()
    matrix_sizes, sharpness_values = list(matrix_sizes), list(sharpness_values)
    transforms = uncertainty_transforms(settings.samples)
    pooled: dict[tuple, tuple[list, list]] = {}
    rows: list[dict] = []
    for index, data in enumerate(subjects):
        rng = np.random.default_rng([settings.seed, index])
        rows += _subject(data, methods, matrix_sizes, sharpness_values, settings, transforms, rng, pooled, progress)
    ranking = []
    for (method, n, lam, name), (sds, errors) in pooled.items():
        sd, error = np.concatenate(sds), np.concatenate(errors)
        rho, p_value = _spearman(sd, error)
        ranking.append({"method": method, "n": n, "lam": lam, "metabolite": name, "spearman_rho": rho,
                        "p_value": p_value, "voxels": int(sd.size), "mean_sd": float(sd.mean()) if sd.size else 0.0,
                        "mean_abs_error": float(error.mean()) if error.size else 0.0})
    return {"settings": {**vars(settings), "matrix_sizes": matrix_sizes, "sharpness": sharpness_values,
                         "subjects": [s.subject for s in subjects],
                         "transforms": [t.to_dict() for t in transforms]},
            "ranking": ranking, "features": _feature_means(rows), "feature_rows": rows}


def _feature_means(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["n"], row["lam"], row["metabolite"]), []).append(row)
    out = []
    for (method, n, lam, name), group in groups.items():
        near, without, far = (float(np.mean([r[v] for r in group])) for v in ("sd_near", "sd_near_without",
                                                                              "sd_elsewhere"))
        out.append({"method": method, "n": n, "lam": lam, "metabolite": name, "lesions": len(group),
                    "sd_near": near, "sd_near_without": without, "sd_elsewhere": far,
                    "increase": near / without if without > 0 else float("nan"),
                    "ratio": near / far if far > 0 else float("nan")})
    return out


def uncertainty_markdown(result: dict) -> str:
    """One table row per (method, n, λ, metabolite): ρ, mean uncertainty and error, and the lesion scores."""
    features = {(r["method"], r["n"], r["lam"], r["metabolite"]): r for r in result["features"]}
    settings = result["settings"]
    lines = ["# Uncertainty: does the spread under test-time transformations follow the error?", "",
             f"{settings['samples']} transformations (flips, 90° turns, sub-voxel shifts). ρ: Spearman rank "
             "correlation of the uncertainty with |output − truth| over the masked voxels (> 0: it ranks the "
             f"errors). At {settings['lesion_diameter_mm']:g} mm MRI-occult lesions (+{100 * settings['rise']:g} %): "
             "uncertainty near them / the same voxels without them (increase) and / the rest of the mask (ratio).",
             "", "| method | n | λ | metabolite | ρ | voxels | mean SD | mean abs. error | increase | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(result["ranking"], key=lambda r: (r["method"], r["n"], r["lam"], r["metabolite"])):
        feature = features.get((row["method"], row["n"], row["lam"], row["metabolite"]), {})
        cells = [row["method"], str(row["n"]), f"{row['lam']:g}", row["metabolite"], f"{row['spearman_rho']:.3f}",
                 str(row["voxels"]), f"{row['mean_sd']:.4g}", f"{row['mean_abs_error']:.4g}",
                 f"{feature.get('increase', float('nan')):.2f}", f"{feature.get('ratio', float('nan')):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
