"""Fidelity: do super-resolved maps follow the metabolism, or paint the MRI into it? (issue 14)

Two probes on held-out prepared slices, both measured as the *difference* a probe makes to a
method's output (so the method's ordinary error cancels):

* **MRI-occult metabolic lesions**: a Gaussian blob (full width at half maximum: several
  diameters; +100 % of the local concentration at its centre by default) is added to the
  high-resolution maps only; the low-resolution input
  is simulated from them, the MRI is untouched. Scores: the recovered *peak* rise as a fraction
  of the true one (1 is perfect) and the relative *shape error* ``‖recovered − true‖ / ‖true‖``
  within two voxels of the ball (0 is perfect).
* **MRI-only lesions**: a 6 mm ball multiplies the T1w (×0.7) and FLAIR (×1.8) blocks only; the
  maps and the input are untouched. Score: the *leak*, the largest ``|change|`` of the output
  within two voxels of the lesion relative to the local concentration, and the same at a control
  site far from every lesion (``leak_far``). Zero-filling leaks exactly 0.

Lesions sit inside the quality mask (away from its edge), several per slice, far apart; every
metabolite's map gets them at the same sites in one pass, which is exact because every method
treats each map on its own (as the network and the baselines do).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable

import numpy as np
from scipy import ndimage

from mrsisr import kspace
from mrsisr.evaluation.runner import Method
from mrsisr.lesions import NEIGHBOURHOOD_VOXELS, gaussian_blob, soft_ball
from mrsisr.slices import SubjectSlices

__all__ = ["FidelitySettings", "fidelity_study", "fidelity_markdown", "inject_metabolic_lesions",
           "inject_mri_lesions"]

#: Diameters (mm) of the MRI-occult metabolic lesions.
LESION_DIAMETERS_MM = (6.0, 10.0, 16.0)
#: The MRI-only lesion of issue 14: 6 mm across, T1w ×0.7, FLAIR ×1.8.
MRI_LESION_DIAMETER_MM = 6.0
MRI_LESION_FACTORS = {"t1": 0.7, "flair": 1.8}


@dataclass(frozen=True)
class FidelitySettings:
    """What the study injects (defaults: issue 14's probes)."""

    diameters_mm: tuple[float, ...] = LESION_DIAMETERS_MM
    rise: float = 1.0
    mri_diameter_mm: float = MRI_LESION_DIAMETER_MM
    sites_per_slice: int = 2
    far_voxels: float = 10.0
    seed: int = 0


@dataclass(frozen=True)
class Sites:
    """Lesion centres ``(slice, row, col)`` and, per slice, one control centre far from all of them."""

    lesions: list[tuple[int, int, int]]
    controls: dict[int, tuple[int, int]]


def _in_plane_mm(data: SubjectSlices) -> tuple[float, float]:
    """In-plane voxel size and slice thickness (mm) of the prepared maps."""
    zooms = np.linalg.norm(np.asarray(data.affine)[:3, :3], axis=0)
    return float(zooms[0]), float(zooms[2])


def _blob(shape: tuple[int, int], centre: tuple[int, int], radius: float) -> np.ndarray:
    """A Gaussian of peak 1 falling to 1/2 at ``radius`` (index units): a lesion without edges."""
    return gaussian_blob(_distance(shape, centre), radius)


def _distance(shape: tuple[int, int], centre: tuple[int, int]) -> np.ndarray:
    rows, cols = np.indices(shape)
    return np.hypot(rows - centre[0], cols - centre[1])


def choose_sites(data: SubjectSlices, radius_voxels: float, settings: FidelitySettings,
                 rng: np.random.Generator) -> Sites:
    """Random lesion sites deep inside every metabolite's mask, ``far_voxels`` apart, and controls."""
    valid = np.all(data.masks > 0, axis=1)
    lesions, controls = [], {}
    spacing = max(settings.far_voxels, 2 * (radius_voxels + NEIGHBOURHOOD_VOXELS) + 1)
    for s in range(valid.shape[0]):
        depth = ndimage.distance_transform_edt(np.pad(valid[s], 1))[1:-1, 1:-1]
        candidates = np.argwhere(depth > radius_voxels + NEIGHBOURHOOD_VOXELS + 1)
        chosen: list[tuple[int, int]] = []
        for index in rng.permutation(len(candidates)):
            site = tuple(int(v) for v in candidates[index])
            if all(np.hypot(site[0] - o[0], site[1] - o[1]) >= spacing for o in chosen):
                chosen.append(site)
            if len(chosen) == settings.sites_per_slice:
                break
        quiet = np.argwhere(depth > NEIGHBOURHOOD_VOXELS + 1)
        far = [tuple(int(v) for v in q) for q in quiet
               if all(np.hypot(q[0] - o[0], q[1] - o[1]) >= settings.far_voxels for o in chosen)]
        if chosen and far:
            lesions += [(s, *site) for site in chosen]
            controls[s] = far[int(rng.integers(len(far)))]
    return Sites(lesions, controls)


def inject_metabolic_lesions(data: SubjectSlices, sites: Sites, diameter_mm: float, rise: float) -> np.ndarray:
    """The true rise ``(S, M, N, N)``: a blob ``diameter_mm`` wide at half maximum at every site,
    peaking at ``rise`` × the local mean concentration."""
    voxel_mm, _ = _in_plane_mm(data)
    radius = diameter_mm / 2.0 / voxel_mm
    hr = data.maps * data.masks
    added = np.zeros(hr.shape, np.float64)
    size = hr.shape[-2:]
    for s, row, col in sites.lesions:
        ball = _blob(size, (row, col), radius)
        near = (_distance(size, (row, col)) <= radius + NEIGHBOURHOOD_VOXELS) & (data.masks[s].min(axis=0) > 0)
        for m in range(hr.shape[1]):
            added[s, m] += rise * hr[s, m][near].mean() * ball
    return added * (data.masks > 0)


def inject_mri_lesions(data: SubjectSlices, sites: Sites, diameter_mm: float) -> SubjectSlices:
    """The same slices with a T1w-dark, FLAIR-bright ball at every site (maps untouched)."""
    voxel_mm, slice_mm = _in_plane_mm(data)
    t1, flair = data.t1.astype(np.float32).copy(), data.flair.astype(np.float32).copy()
    block = t1.shape[1:]
    factor = block[0] // data.maps.shape[-1]
    spacing = np.array([voxel_mm / factor, voxel_mm / factor, slice_mm / block[2]])  # MRI voxel (mm)
    index = np.indices(block, dtype=np.float64)
    for s, row, col in sites.lesions:
        # MRSI voxel (row, col) is the centre of MRI voxels factor·row … factor·row + factor − 1.
        centre = np.array([factor * row + (factor - 1) / 2, factor * col + (factor - 1) / 2, (block[2] - 1) / 2])
        offset_mm = (index - centre[:, None, None, None]) * spacing[:, None, None, None]
        distance_mm = np.sqrt((offset_mm**2).sum(axis=0))
        ball = soft_ball(distance_mm, diameter_mm / 2.0, spacing[0])
        t1[s] *= 1.0 + (MRI_LESION_FACTORS["t1"] - 1.0) * ball
        flair[s] *= 1.0 + (MRI_LESION_FACTORS["flair"] - 1.0) * ball
    return replace(data, t1=t1, flair=flair)


def _lesion_scores(recovered: np.ndarray, true: np.ndarray, mask: np.ndarray, centre: tuple[int, int],
                   radius: float) -> tuple[float, float]:
    """Peak fraction and relative shape error of one lesion on one map."""
    distance = _distance(true.shape, centre)
    window = (distance <= radius + NEIGHBOURHOOD_VOXELS) & mask
    peak = true[window].max()
    if peak <= 0:  # an empty map there: nothing was injected
        return float("nan"), float("nan")
    recovered_peak = recovered[(distance <= radius + 1) & mask].max()
    error = np.linalg.norm((recovered - true)[window]) / max(np.linalg.norm(true[window]), 1e-12)
    return float(recovered_peak / peak), float(error)


def _leak(change: np.ndarray, reference: np.ndarray, mask: np.ndarray, centre: tuple[int, int],
          radius: float) -> float:
    """Largest |change| within ``NEIGHBOURHOOD_VOXELS`` of a lesion, relative to the local concentration."""
    near = (_distance(change.shape, centre) <= radius + NEIGHBOURHOOD_VOXELS) & mask
    local = reference[near].mean()
    return float(np.abs(change[near]).max() / local) if local > 0 else float("nan")


def _subject_rows(data: SubjectSlices, methods: list[Method], matrix_sizes: Iterable[int],
                  sharpness_values: Iterable[float], settings: FidelitySettings, rng: np.random.Generator,
                  progress: Callable[[str], None] | None) -> list[dict]:
    voxel_mm, _ = _in_plane_mm(data)
    radii = {d: d / 2.0 / voxel_mm for d in settings.diameters_mm}
    sites = choose_sites(data, max(radii.values()), settings, rng)
    if not sites.lesions:
        return []
    hr = (data.maps * data.masks).astype(np.float64)
    rises = {d: inject_metabolic_lesions(data, sites, d, settings.rise) for d in settings.diameters_mm}
    mri_data = inject_mri_lesions(data, sites, settings.mri_diameter_mm)
    mri_radius = settings.mri_diameter_mm / 2.0 / voxel_mm
    masks = data.masks > 0
    rows: list[dict] = []
    for n in matrix_sizes:
        base_lr = kspace.truncate(hr, n).astype(np.float32)
        lesion_inputs = {d: (replace(data, maps=(hr + rise).astype(np.float32)),
                             kspace.truncate(hr + rise, n).astype(np.float32)) for d, rise in rises.items()}
        for method in methods:
            for lam in (sharpness_values if method.uses_lambda else (0.0,)):
                if progress:
                    progress(f"fidelity {method.name} sub-{data.subject} n={n} λ={lam:g}")
                key = {"method": method.name, "subject": data.subject, "n": n, "lam": lam}
                base = method.predict(data, base_lr, n, lam).astype(np.float64)
                for diameter, (lesioned, lr) in lesion_inputs.items():
                    recovered = method.predict(lesioned, lr, n, lam) - base
                    for s, row, col in sites.lesions:
                        for m, name in enumerate(data.metabolites):
                            peak, error = _lesion_scores(recovered[s, m], rises[diameter][s, m], masks[s, m],
                                                         (row, col), radii[diameter])
                            rows.append({**key, "kind": "metabolic", "metabolite": name, "slice": int(data.slices[s]),
                                         "size_mm": diameter, "peak": peak, "shape_error": error})
                change = method.predict(mri_data, base_lr, n, lam) - base
                for s, row, col in sites.lesions:
                    for m, name in enumerate(data.metabolites):
                        rows.append({**key, "kind": "mri_only", "metabolite": name, "slice": int(data.slices[s]),
                                     "size_mm": settings.mri_diameter_mm,
                                     "leak": _leak(change[s, m], hr[s, m], masks[s, m], (row, col), mri_radius),
                                     "leak_far": _leak(change[s, m], hr[s, m], masks[s, m], sites.controls[s],
                                                       mri_radius)})
    return rows


def fidelity_study(subjects: list[SubjectSlices], methods: list[Method], matrix_sizes: Iterable[int],
                   sharpness_values: Iterable[float] = (0.0,), settings: FidelitySettings | None = None,
                   progress: Callable[[str], None] | None = None) -> dict:
    """Inject both probes into every subject and score every method at every n and λ.

    Returns ``{"settings", "rows", "lesions", "leaks"}``: one row per (method, n, λ, lesion,
    metabolite[, size]); ``lesions`` and ``leaks`` are their means per (method, n, λ, metabolite[, size]).
    """
    settings = settings or FidelitySettings()
    matrix_sizes, sharpness_values = list(matrix_sizes), list(sharpness_values)
    rows: list[dict] = []
    for index, data in enumerate(subjects):
        rng = np.random.default_rng([settings.seed, index])
        rows += _subject_rows(data, methods, matrix_sizes, sharpness_values, settings, rng, progress)
    if not rows:
        raise ValueError("no lesion site fits inside the quality masks of these subjects (masks too small?)")
    return {"settings": {**vars(settings), "diameters_mm": list(settings.diameters_mm),
                         "matrix_sizes": matrix_sizes, "sharpness": sharpness_values,
                         "subjects": [s.subject for s in subjects]},
            "rows": rows,
            "lesions": _means(rows, "metabolic", ("peak", "shape_error")),
            "leaks": _means(rows, "mri_only", ("leak", "leak_far"))}


def _means(rows: list[dict], kind: str, values: tuple[str, ...]) -> list[dict]:
    """Mean of ``values`` per (method, n, λ, metabolite, size) over lesions and subjects."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["kind"] == kind:
            key = (row["method"], row["n"], row["lam"], row["metabolite"], row["size_mm"])
            groups.setdefault(key, []).append(row)
    return [{"method": k[0], "n": k[1], "lam": k[2], "metabolite": k[3], "size_mm": k[4], "count": len(g),
             **{v: float(np.nanmean([r[v] for r in g])) for v in values}} for k, g in groups.items()]


def fidelity_markdown(result: dict) -> str:
    """A markdown table per (method, n, λ), averaged over metabolites: peaks, shape errors and leaks."""
    sizes = result["settings"]["diameters_mm"]
    header = (["method", "n", "λ"] + [f"peak {d:g} mm" for d in sizes] + [f"shape err {d:g} mm" for d in sizes]
              + ["leak (≤2 vox)", "leak far"])
    lines = ["# Fidelity: MRI-occult metabolic lesions and MRI-only lesions", "",
             f"Peak: recovered rise / true rise (1 = perfect); shape error: ‖recovered − true‖/‖true‖ (0 = perfect); "
             f"leak: max |change| near a {result['settings']['mri_diameter_mm']:g} mm MRI-only lesion / local "
             "concentration (far: the same at a control site). Means over metabolites, lesions and subjects.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    keys = sorted({(r["method"], r["n"], r["lam"]) for r in result["lesions"]}, key=lambda k: (k[1], k[2], k[0]))
    for method, n, lam in keys:
        def mean(table: str, value: str, size: float | None = None) -> float:
            picked = [r[value] for r in result[table] if (r["method"], r["n"], r["lam"]) == (method, n, lam)
                      and (size is None or r["size_mm"] == size)]
            return float(np.nanmean(picked)) if picked else float("nan")
        cells = ([method, str(n), f"{lam:g}"] + [f"{mean('lesions', 'peak', d):.2f}" for d in sizes]
                 + [f"{mean('lesions', 'shape_error', d):.2f}" for d in sizes]
                 + [f"{100 * mean('leaks', 'leak'):.1f} %", f"{100 * mean('leaks', 'leak_far'):.1f} %"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
