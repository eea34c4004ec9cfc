"""A high-grade glioma: necrotic core, enhancing rim and surrounding oedema.

The tumour is defined in MNI space, so it deforms with the subject's anatomy and can be
evaluated at any point. Its outline is a sphere whose radius is modulated by a few smooth
random lobes (no two tumours alike). Compartments, from the centre outwards:

* necrotic core (label 1): no viable tissue, metabolites near zero (some lactate and lipid);
* enhancing rim (label 3): proliferating tumour, bright on contrast-enhanced T1w;
* oedema (label 2): infiltrated, water-logged white matter, FLAIR-bright, spreading along WM;
  in most tumours part of it is non-enhancing tumour (tumour metabolism, oedema on the MRI);
* infiltration (no label, normal on the MRI): tumour cells 5–20 mm past the FLAIR abnormality,
  raising tCho and lowering NAA, fading outwards (:attr:`Tumour.infiltration_factors`).

Labels follow the BraTS 2023 convention (1 necrosis, 2 oedema, 3 enhancing tumour).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from mrsisr.synth.fields import smoothstep

NECROSIS_LABEL, OEDEMA_LABEL, ENHANCING_LABEL = 1, 2, 3
#: Infiltration's factor on brain tissue at the FLAIR edge (uniform ranges), fading to 1 outwards.
INFILTRATION_RANGES = {"tCho": (1.3, 1.8), "NAA": (0.55, 0.85), "tCr": (0.85, 1.0), "Gly": (1.0, 1.4),
                       "Gln": (1.0, 1.3), "Glu": (0.8, 1.0), "Ins": (1.0, 1.3)}
NON_ENHANCING_PROBABILITY = 0.6


@dataclass(frozen=True)
class Tumour:
    """Geometry and biology of one glioma (lengths in MNI mm)."""

    centre_mni: np.ndarray
    necrosis_radius_mm: float
    rim_mm: float
    oedema_margin_mm: float
    lobe_directions: np.ndarray
    lobe_weights: np.ndarray
    inositol_factor: float
    hemisphere: str
    infiltration_mm: float = 0.0
    infiltration_factors: dict[str, float] = field(default_factory=dict)
    nonenhancing_centre_mni: np.ndarray | None = None
    nonenhancing_radius_mm: float = 0.0

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        white_matter_candidates_mni: np.ndarray,
    ) -> Tumour:
        """Random glioma centred on one of the candidate white-matter points ``(3, M)``."""
        hemisphere = "left" if rng.random() < 0.5 else "right"
        side = white_matter_candidates_mni[0] < 0 if hemisphere == "left" else white_matter_candidates_mni[0] > 0
        pool = white_matter_candidates_mni[:, side]
        centre = pool[:, rng.integers(pool.shape[1])].astype(float)
        directions = rng.standard_normal((3, 6))
        directions /= np.linalg.norm(directions, axis=0)
        necrosis, rim = float(rng.uniform(5.0, 11.0)), float(rng.uniform(3.0, 6.0))
        margin = float(rng.uniform(10.0, 22.0))
        lobe_weights, inositol = rng.uniform(-0.15, 0.3, 6), float(rng.uniform(0.5, 1.8))
        # Drawn after the geometry, so the MRI-visible tumour of a seed is unchanged by them.
        infiltration_mm = float(rng.uniform(5.0, 20.0))
        factors = {name: float(rng.uniform(*bounds)) for name, bounds in INFILTRATION_RANGES.items()}
        has_nonenhancing = rng.random() < NON_ENHANCING_PROBABILITY
        direction = rng.standard_normal(3)
        radius = float(rng.uniform(4.0, 10.0))
        offset = direction / np.linalg.norm(direction) * (necrosis + rim + 0.6 * radius)
        return cls(
            centre_mni=centre, necrosis_radius_mm=necrosis, rim_mm=rim, oedema_margin_mm=margin,
            lobe_directions=directions, lobe_weights=lobe_weights, inositol_factor=inositol,
            hemisphere=hemisphere, infiltration_mm=infiltration_mm, infiltration_factors=factors,
            nonenhancing_centre_mni=centre + offset if has_nonenhancing else None,
            nonenhancing_radius_mm=radius if has_nonenhancing else 0.0,
        )

    def without(self, features: tuple[str, ...]) -> Tumour:
        """The same tumour with its ``infiltration`` or ``nonenhancing`` component removed."""
        tumour = self
        if "infiltration" in features:
            tumour = replace(tumour, infiltration_mm=0.0, infiltration_factors={})
        if "nonenhancing" in features:
            tumour = replace(tumour, nonenhancing_centre_mni=None, nonenhancing_radius_mm=0.0)
        return tumour

    @property
    def flair_edge_mm(self) -> float:
        """Shape radius (mm) where the oedema, hence the FLAIR abnormality, ends."""
        return self.necrosis_radius_mm + self.rim_mm + self.oedema_margin_mm + 3.0

    @property
    def metabolic_extent_mm(self) -> float:
        """Shape radius (mm) beyond which the tumour changes nothing."""
        return self.flair_edge_mm + self.infiltration_mm

    def infiltration_tissue_factors(self, infiltration: np.ndarray) -> dict[str, np.ndarray]:
        """Per-species factors on brain tissue from the ``infiltration`` weight (0–1) per point."""
        return {name: np.power(np.float32(f), infiltration).astype(np.float32)
                for name, f in self.infiltration_factors.items()}

    def _shape_radius(self, points_mni: np.ndarray) -> np.ndarray:
        """Distance from the centre divided by the lobe modulation of its direction."""
        offset = points_mni - self.centre_mni[:, None].astype(np.float32)
        distance = np.sqrt((offset**2).sum(axis=0)) + 1e-6
        cosines = self.lobe_directions.T.astype(np.float32) @ (offset / distance)
        modulation = 1.0 + (self.lobe_weights[:, None] * np.exp(3.0 * (cosines - 1.0))).sum(axis=0)
        return distance / modulation.astype(np.float32)

    def fractions(self, points_mni: np.ndarray, white_matter: np.ndarray, envelope: np.ndarray) -> dict:
        """Volume fractions ``necrosis``, ``enhancing`` and ``oedema`` at points ``(3, N)``.

        ``white_matter`` and ``envelope`` are the WM fraction and intracranial fraction there:
        the tumour stays inside the skull and its oedema follows the white matter.
        """
        r = self._shape_radius(points_mni)
        core_radius = self.necrosis_radius_mm + self.rim_mm
        necrosis = 1.0 - smoothstep((r - self.necrosis_radius_mm) / 2.0 + 0.5)
        core = 1.0 - smoothstep((r - core_radius) / 2.0 + 0.5)
        oedema_extent = 1.0 - smoothstep((r - core_radius - self.oedema_margin_mm) / 6.0 + 0.5)
        inside = np.clip(envelope, 0.0, 1.0)
        oedema = np.clip(oedema_extent - core, 0.0, 1.0) * np.sqrt(np.clip(white_matter, 0, 1)) * inside
        out = {
            "necrosis": (necrosis * inside).astype(np.float32),
            "enhancing": ((core - necrosis) * inside).astype(np.float32),
            "oedema": oedema.astype(np.float32),
            "infiltration": np.zeros_like(oedema, dtype=np.float32),
            "nonenhancing": np.zeros_like(oedema, dtype=np.float32),
        }
        if self.infiltration_mm > 0:
            beyond = np.clip((r - self.flair_edge_mm) / self.infiltration_mm, 0.0, None)
            out["infiltration"] = ((1.0 - smoothstep(beyond)) * inside).astype(np.float32)
        if self.nonenhancing_centre_mni is not None:
            offset = points_mni - self.nonenhancing_centre_mni[:, None].astype(np.float32)
            distance = np.sqrt((offset**2).sum(axis=0))
            ball = 1.0 - smoothstep((distance - self.nonenhancing_radius_mm) / 2.0 + 0.5)
            out["nonenhancing"] = (ball * oedema).astype(np.float32)
        return out

    def record(self) -> dict:
        """JSON-friendly parameters (MNI mm)."""
        return {
            "hemisphere": self.hemisphere,
            "centre_mni_mm": [round(float(v), 3) for v in self.centre_mni],
            "necrosis_radius_mm": round(self.necrosis_radius_mm, 3),
            "enhancing_rim_mm": round(self.rim_mm, 3),
            "oedema_margin_mm": round(self.oedema_margin_mm, 3),
            "inositol_factor_in_enhancing_rim": round(self.inositol_factor, 3),
            "flair_edge_mm": round(self.flair_edge_mm, 3),
            "infiltration_beyond_flair_mm": round(self.infiltration_mm, 3),
            "infiltration_factor_at_flair_edge": {k: round(v, 3) for k, v in self.infiltration_factors.items()},
            "nonenhancing_centre_mni_mm": None if self.nonenhancing_centre_mni is None
            else [round(float(v), 3) for v in self.nonenhancing_centre_mni],
            "nonenhancing_radius_mm": round(self.nonenhancing_radius_mm, 3),
        }


def tumour_labels(fractions: dict) -> np.ndarray:
    """Hard labels (0 background, 1 necrosis, 2 oedema, 3 enhancing) from tumour fractions."""
    labels = np.zeros(fractions["necrosis"].shape, np.uint8)
    labels[fractions["oedema"] >= 0.35] = OEDEMA_LABEL
    core = fractions["necrosis"] + fractions["enhancing"]
    labels[(core >= 0.5) & (fractions["enhancing"] >= fractions["necrosis"])] = ENHANCING_LABEL
    labels[(core >= 0.5) & (fractions["necrosis"] > fractions["enhancing"])] = NECROSIS_LABEL
    return labels


def white_matter_candidates(
    white_matter: np.ndarray, inverse_affine: np.ndarray, z_range_mni: tuple[float, float]
) -> np.ndarray:
    """MNI points ``(3, M)`` of deep white matter, away from the midline, within ``z_range_mni``."""
    index = np.argwhere(white_matter[::2, ::2, ::2] > 0.9).T * 2
    affine = np.linalg.inv(inverse_affine)
    points = affine[:3, :3] @ index + affine[:3, 3:4]
    keep = (
        (np.abs(points[0]) > 18.0)
        & (np.abs(points[0]) < 42.0)
        & (points[1] > -70.0)
        & (points[1] < 35.0)
        & (points[2] >= z_range_mni[0])
        & (points[2] <= z_range_mni[1])
    )
    if keep.sum() < 20:  # a very thin slab: fall back to the nearest white matter
        keep = (np.abs(points[0]) > 18.0) & (np.abs(points[0]) < 42.0)
        order = np.argsort(np.abs(points[2] - np.mean(z_range_mni)))
        keep[order[200:]] = False
    return points[:, keep]
