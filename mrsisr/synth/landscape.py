"""Metabolic variation that the MRI does not explain: smooth fields, regions and subjects.

If every concentration were a fixed function of the tissue classes that T1w and FLAIR show, a
network could "segment the MRI and paint the concentrations" (issue 14). Real metabolism varies
within a tissue class, so each species gets, multiplicatively:

* its own smooth log-normal field (amplitude ±20–30 % per species, correlation length 10–40 mm,
  partly shared between species), drawn per subject;
* regional differences between structures (deep grey matter, cerebellum, brainstem and the
  cortex of each lobe; e.g. more tCho and tCr in the cerebellum, less NAA), with per-subject
  jitter, blended smoothly between regions;
* a factor per subject (±8 %, plus age trends: NAA falls, tCho and Ins rise with age).

None of these touches T1w or FLAIR. Values are evaluated at MNI points.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mrsisr.synth.fields import SmoothRandomField
from mrsisr.synth.head import region_proximity

#: Per-species amplitude (SD of the log factor) and correlation length of the smooth fields.
AMPLITUDE_RANGE = (0.20, 0.30)
SCALE_RANGE_MM = (10.0, 40.0)
#: Weight of the field shared by all species (the rest is each species' own field).
SHARED_WEIGHT = 0.5

#: Structures (MNI ellipsoids: centre, radii in mm) and their typical concentration relative to
#: the cerebral cortex, after 7T/3T regional MRSI reports (ratios rounded; unlisted species: 1).
REGIONS: dict[str, tuple[tuple, dict[str, float]]] = {
    "deep_grey": ((((-12.0, -18.0, 6.0), (9.0, 13.0, 9.0)), ((12.0, -18.0, 6.0), (9.0, 13.0, 9.0)),
                   ((-22.0, 4.0, 2.0), (8.0, 14.0, 9.0)), ((22.0, 4.0, 2.0), (8.0, 14.0, 9.0))),
                  {"NAA": 1.05, "tCho": 1.2, "tCr": 1.08, "Glu": 0.9, "Gln": 0.9, "Ins": 0.9}),
    "cerebellum": ((((0.0, -62.0, -35.0), (45.0, 25.0, 18.0)),),
                   {"NAA": 0.85, "tCho": 1.3, "tCr": 1.35, "Glu": 1.05, "Gln": 1.2, "Ins": 1.3, "Gly": 1.2}),
    "brainstem": ((((0.0, -28.0, -30.0), (10.0, 12.0, 22.0)),),
                  {"NAA": 1.1, "tCho": 1.3, "tCr": 1.05, "Glu": 0.7, "Gln": 0.8, "Ins": 1.1}),
    "frontal": ((((0.0, 38.0, 18.0), (62.0, 40.0, 45.0)),), {"tCho": 1.1, "NAA": 0.97, "Ins": 1.05}),
    "parietal": ((((0.0, -52.0, 45.0), (62.0, 30.0, 30.0)),), {"tCho": 0.95, "Glu": 1.05}),
    "occipital": ((((0.0, -85.0, 8.0), (50.0, 22.0, 35.0)),), {"NAA": 1.05, "tCho": 0.85, "Glu": 1.1}),
    "temporal": ((((-48.0, -15.0, -15.0), (20.0, 45.0, 22.0)), ((48.0, -15.0, -15.0), (20.0, 45.0, 22.0))),
                 {"NAA": 0.93, "tCho": 1.1, "Ins": 1.1}),
}
#: Log-normal SD of each subject's regional ratios and global per-species factor.
REGION_JITTER = 0.05
SUBJECT_SD = 0.08
#: Relative change per year of age (after 50) of some species' concentration.
AGE_TREND_PER_YEAR = {"NAA": -0.003, "tCho": 0.002, "Ins": 0.004, "tCr": 0.001}


@dataclass(frozen=True)
class MetabolicLandscape:
    """A subject's MRI-independent multiplicative variation of every species."""

    shared: SmoothRandomField
    own: dict[str, SmoothRandomField]
    amplitude: dict[str, float]
    scale_mm: dict[str, float]
    regional: dict[str, dict[str, float]]
    subject_factor: dict[str, float]

    @classmethod
    def draw(cls, rng: np.random.Generator, species: tuple[str, ...], age: float = 50.0) -> MetabolicLandscape:
        """Independent fields, regional ratios and subject factors for ``species``."""
        shared = SmoothRandomField.draw(rng, scale_mm=25.0, half_extent_mm=110.0)
        scale = {name: float(rng.uniform(*SCALE_RANGE_MM)) for name in species}
        own = {name: SmoothRandomField.draw(rng, scale_mm=scale[name], half_extent_mm=110.0) for name in species}
        amplitude = {name: float(rng.uniform(*AMPLITUDE_RANGE)) for name in species}
        regional = {region: {name: float(ratio * np.exp(rng.normal(0.0, REGION_JITTER)))
                             for name, ratio in table.items()}
                    for region, (_, table) in REGIONS.items()}
        subject = {name: float(np.exp(rng.normal(0.0, SUBJECT_SD)) * (1.0 + AGE_TREND_PER_YEAR.get(name, 0.0)
                                                                          * (age - 50.0)))
                   for name in species}
        return cls(shared, own, amplitude, scale, regional, subject)

    def without(self, features: tuple[str, ...]) -> MetabolicLandscape:
        """The same landscape with ``metabolic_fields``, ``regions`` or ``subject_factors`` off."""
        landscape = self
        if "metabolic_fields" in features:
            landscape = replace(landscape, amplitude={name: 0.0 for name in self.amplitude})
        if "regions" in features:
            landscape = replace(landscape, regional={})
        if "subject_factors" in features:
            landscape = replace(landscape, subject_factor={name: 1.0 for name in self.subject_factor})
        return landscape

    def field_log(self, name: str, points_mni: np.ndarray, shared: np.ndarray | None = None) -> np.ndarray:
        """The smooth field's log factor of species ``name`` at MNI points ``(3, N)``."""
        shared = self.shared(points_mni) if shared is None else shared
        own_weight = np.sqrt(1.0 - SHARED_WEIGHT**2)
        return self.amplitude[name] * (SHARED_WEIGHT * shared + own_weight * self.own[name](points_mni))

    def region_weights(self, points_mni: np.ndarray) -> dict[str, np.ndarray]:
        """Soft membership (0–1) of every point in each region of :data:`REGIONS`."""
        return {region: region_proximity(points_mni, dict(enumerate(ellipsoids)), reach=0.3)
                for region, (ellipsoids, _) in REGIONS.items()}

    def factors(self, points_mni: np.ndarray) -> dict[str, np.ndarray]:
        """Multiplicative factor of every species at MNI points ``(3, N)`` (float32)."""
        shared = self.shared(points_mni)
        weights = self.region_weights(points_mni) if self.regional else {}
        out = {}
        for name in self.own:
            log = self.field_log(name, points_mni, shared) + np.log(self.subject_factor[name])
            for region, ratios in self.regional.items():
                log = log + weights[region] * np.float32(np.log(ratios.get(name, 1.0)))
            out[name] = np.exp(log).astype(np.float32)
        return out

    def record(self) -> dict:
        """JSON-friendly parameters."""
        return {
            "field_amplitude": {k: round(v, 4) for k, v in self.amplitude.items()},
            "field_scale_mm": {k: round(v, 3) for k, v in self.scale_mm.items()},
            "regional_ratio": {r: {k: round(v, 4) for k, v in t.items()} for r, t in self.regional.items()},
            "subject_factor": {k: round(v, 4) for k, v in self.subject_factor.items()},
        }
