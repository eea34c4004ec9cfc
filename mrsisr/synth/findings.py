"""Findings that separate the MRI from the metabolism, in normal-appearing brain.

* **Metabolic hot and cold spots** (4–20 mm across, one species each, ×0.5–0.75 or ×1.35–2):
  the metabolism changes, the MRI does not.
* **MRI-only lesions** (white-matter hyperintensities, plaques; 3–15 mm across): FLAIR-bright and
  T1-dark (:data:`HYPERINTENSITY_SIGNAL`), no metabolic change at all.
* **A resection cavity** (a share of subjects): fluid (CSF on the MRI, no metabolites, as the
  tissue is gone) inside a 2–4 mm gliotic rim that is FLAIR-bright with only a weak metabolic
  change (:data:`GLIOSIS_FACTORS`).

Everything lives in MNI mm, like the tumour, and stays clear of the tumour's metabolic extent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mrsisr.synth.fields import smoothstep
from mrsisr.metabolites import TOTALS

#: T1w and FLAIR signal of brain tissue that is an MRI-only lesion or gliosis.
HYPERINTENSITY_SIGNAL = {"t1w": 0.60, "flair": 1.0}
#: The gliotic rim's weak metabolic change (species → factor).
GLIOSIS_FACTORS = {"NAA": 0.92, "tCho": 1.05, "Ins": 1.08}
CAVITY_PROBABILITY = 0.2
SPOT_COUNT = (2, 6)
MRI_LESION_COUNT = (1, 5)
#: Labels of the T1w-space findings segmentation.
MRI_LESION_LABEL, CAVITY_LABEL, GLIOSIS_LABEL = 1, 2, 3
#: Feature names that :meth:`Findings.without` understands.
FEATURES = ("spots", "mri_lesions", "cavity")


@dataclass(frozen=True)
class Ball:
    """A sphere in MNI mm with a soft (1 mm) edge."""

    centre_mni: np.ndarray
    radius_mm: float

    def fraction(self, points_mni: np.ndarray) -> np.ndarray:
        """Volume fraction (0–1) inside the ball at points ``(3, N)``."""
        offset = points_mni - self.centre_mni[:, None].astype(np.float32)
        distance = np.sqrt((offset**2).sum(axis=0))
        return (1.0 - smoothstep(distance - self.radius_mm + 0.5)).astype(np.float32)

    def record(self) -> dict:
        return {"centre_mni_mm": [round(float(v), 3) for v in self.centre_mni], "radius_mm": round(self.radius_mm, 3)}


@dataclass(frozen=True)
class MetabolicSpot:
    """A hot (``factor > 1``) or cold spot of one species."""

    ball: Ball
    metabolite: str
    factor: float


@dataclass(frozen=True)
class Findings:
    """A subject's MRI-independent spots, metabolism-independent lesions and resection cavity."""

    spots: tuple[MetabolicSpot, ...]
    mri_lesions: tuple[Ball, ...]
    cavity: Ball | None
    gliosis_rim_mm: float

    @classmethod
    def draw(cls, rng: np.random.Generator, brain_points_mni: np.ndarray, white_matter_points_mni: np.ndarray,
             avoid: Ball | None = None) -> Findings:
        """Random findings at candidate points ``(3, M)``, clear of ``avoid`` (the tumour) and each other."""
        placed = [avoid] if avoid is not None else []
        has_cavity = rng.random() < CAVITY_PROBABILITY
        cavity = _place(rng, white_matter_points_mni, float(rng.uniform(6.0, 12.0)), placed)
        rim = float(rng.uniform(2.0, 4.0))
        if cavity is not None and has_cavity:
            placed.append(Ball(cavity.centre_mni, cavity.radius_mm + rim))
        lesions = []
        for _ in range(int(rng.integers(MRI_LESION_COUNT[0], MRI_LESION_COUNT[1] + 1))):
            ball = _place(rng, white_matter_points_mni, float(rng.uniform(1.5, 7.5)), placed)
            if ball is not None:
                lesions.append(ball)
                placed.append(ball)
        spots = []
        names = tuple(TOTALS)
        for _ in range(int(rng.integers(SPOT_COUNT[0], SPOT_COUNT[1] + 1))):
            ball = _place(rng, brain_points_mni, float(rng.uniform(2.0, 10.0)), placed)
            metabolite = names[int(rng.integers(len(names)))]
            factor = float(rng.uniform(1.35, 2.0) if rng.random() < 0.5 else rng.uniform(0.5, 0.75))
            if ball is not None:
                spots.append(MetabolicSpot(ball, metabolite, factor))
                placed.append(ball)
        return cls(tuple(spots), tuple(lesions), cavity if has_cavity else None, rim)

    def without(self, features: tuple[str, ...]) -> Findings:
        """The same findings with any of :data:`FEATURES` removed."""
        unknown = set(features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown findings {sorted(unknown)}; choose from {FEATURES}")
        findings = self
        if "spots" in features:
            findings = replace(findings, spots=())
        if "mri_lesions" in features:
            findings = replace(findings, mri_lesions=())
        if "cavity" in features:
            findings = replace(findings, cavity=None)
        return findings

    def fractions(self, points_mni: np.ndarray) -> dict[str, np.ndarray]:
        """``mri_lesion``, ``cavity`` and ``gliosis`` volume fractions at points ``(3, N)``."""
        zeros = np.zeros(points_mni.shape[1], np.float32)
        lesion = zeros.copy()
        for ball in self.mri_lesions:
            lesion = np.maximum(lesion, ball.fraction(points_mni))
        cavity, gliosis = zeros.copy(), zeros.copy()
        if self.cavity is not None:
            cavity = self.cavity.fraction(points_mni)
            gliosis = np.clip(Ball(self.cavity.centre_mni, self.cavity.radius_mm + self.gliosis_rim_mm)
                              .fraction(points_mni) - cavity, 0.0, 1.0)
        return {"mri_lesion": lesion, "cavity": cavity, "gliosis": gliosis}

    def apply_to_tissues(self, tissues: dict[str, np.ndarray], fractions: dict[str, np.ndarray]) -> dict:
        """Tissues with the cavity's brain replaced by fluid (``gm``, ``wm`` → ``csf``)."""
        cavity = fractions["cavity"]
        if not cavity.any():
            return tissues
        out = dict(tissues)
        out["csf"] = np.clip(tissues["csf"] + cavity * (tissues["gm"] + tissues["wm"]), 0.0, 1.0)
        out["gm"], out["wm"] = tissues["gm"] * (1.0 - cavity), tissues["wm"] * (1.0 - cavity)
        return out

    def spot_factors(self, points_mni: np.ndarray) -> dict[str, np.ndarray]:
        """Per-species factors of the hot and cold spots at points ``(3, N)`` (species without: absent)."""
        factors: dict[str, np.ndarray] = {}
        for spot in self.spots:
            weight = spot.ball.fraction(points_mni)
            previous = factors.get(spot.metabolite, np.float32(1.0))
            factors[spot.metabolite] = (previous * np.power(np.float32(spot.factor), weight)).astype(np.float32)
        return factors

    def tissue_factors(self, spots: dict[str, np.ndarray], fractions: dict[str, np.ndarray]) -> dict:
        """Per-species factors on brain tissue: the ``spots`` times the gliotic rim's weak change."""
        factors = dict(spots)
        if fractions["gliosis"].any():
            for name, factor in GLIOSIS_FACTORS.items():
                previous = factors.get(name, np.float32(1.0))
                factors[name] = (previous * np.power(np.float32(factor), fractions["gliosis"])).astype(np.float32)
        return factors

    def hyperintensity(self, fractions: dict[str, np.ndarray]) -> np.ndarray:
        """Fraction of brain tissue that looks like a lesion on the MRI (lesions and gliosis)."""
        return np.maximum(fractions["mri_lesion"], fractions["gliosis"])

    def record(self) -> dict:
        """JSON-friendly parameters (MNI mm)."""
        return {
            "metabolic_spots": [{**s.ball.record(), "metabolite": s.metabolite, "factor": round(s.factor, 3)}
                                for s in self.spots],
            "mri_only_lesions": [ball.record() for ball in self.mri_lesions],
            "resection_cavity": None if self.cavity is None
            else {**self.cavity.record(), "gliotic_rim_mm": round(self.gliosis_rim_mm, 3)},
        }


def _place(rng: np.random.Generator, candidates: np.ndarray, radius: float, placed: list[Ball],
           tries: int = 50, gap_mm: float = 4.0) -> Ball | None:
    """A ball of ``radius`` at a random candidate point clear of every ``placed`` ball (or None)."""
    for _ in range(tries):
        centre = candidates[:, int(rng.integers(candidates.shape[1]))].astype(float)
        if all(np.linalg.norm(centre - b.centre_mni) > b.radius_mm + radius + gap_mm for b in placed):
            return Ball(centre, radius)
    return None


def findings_labels(fractions: dict[str, np.ndarray]) -> np.ndarray:
    """Hard labels (0, 1 MRI-only lesion, 2 cavity, 3 gliotic rim) from findings fractions."""
    labels = np.zeros(fractions["mri_lesion"].shape, np.uint8)
    labels[fractions["gliosis"] >= 0.5] = GLIOSIS_LABEL
    labels[fractions["cavity"] >= 0.5] = CAVITY_LABEL
    labels[fractions["mri_lesion"] >= 0.5] = MRI_LESION_LABEL
    return labels


def brain_candidates(brain: dict[str, np.ndarray], inverse_affine: np.ndarray, z_range_mni: tuple[float, float],
                     tissue: str = "brain") -> np.ndarray:
    """MNI points ``(3, M)`` of cerebral tissue (``brain``: GM+WM, or ``wm``) within ``z_range_mni``."""
    fraction = brain["wm"] if tissue == "wm" else brain["gm"] + brain["wm"]
    index = np.argwhere(fraction[::2, ::2, ::2] > 0.9).T * 2
    affine = np.linalg.inv(inverse_affine)
    points = affine[:3, :3] @ index + affine[:3, 3:4]
    keep = (np.abs(points[0]) < 60.0) & (points[1] > -90.0) & (points[1] < 60.0)
    in_slab = keep & (points[2] >= z_range_mni[0]) & (points[2] <= z_range_mni[1])
    if in_slab.sum() >= 20:
        return points[:, in_slab]
    order = np.argsort(np.where(keep, np.abs(points[2] - np.mean(z_range_mni)), np.inf))
    return points[:, order[:200]]
