"""Augmentations that break the MRI→map shortcut (issue 14): lesions the other modality does not show.

A network trained on maps that follow the tissue classes learns "segment the MRI, paint the
concentrations". Three per-sample augmentations, each with its own probability, take that away:

* **MRI-only lesion** — a FLAIR-bright, T1w-dark ball 3–15 mm across is added to the MRI inputs;
  the maps (target and low-resolution input) are untouched, so the right output ignores it.
* **Metabolic-only lesion** — a hot or cold Gaussian blob 4–20 mm across (×1.35–2 or ×0.5–0.75 at
  its centre, the synthetic cohort's spot range) multiplies the target map, and hence the
  low-resolution input simulated from it; the MRI is untouched, so the network must take it from
  the input.
* **FLAIR drop** — the FLAIR is replaced by :func:`mrsisr.slices.flair_substitute` (what the app
  gives a subject without FLAIR), so the model serves the T1w-only path.

A lesion covers a few voxels of a map, so the error it causes is a small share of the whole map's
loss. The **lesion focus** (:func:`lesion_focus`) marks each sample's lesion neighbourhoods: within 2
voxels of an MRI-only lesion, where the fidelity evaluation measures its leak, and within twice the
half width of a metabolic-only one. With ``focus_weight`` > 0 the trainer adds that weight times the
mean absolute error over those voxels to the loss (:func:`mrsisr.losses.generator_loss`). The result
does not change what the best possible network would output, but it gives these voxels a much larger
share of the gradient.

The **MRI-lesion invariance** (``invariance_weight``) asks for the property the fidelity evaluation
measures, directly: the batch also carries each sample's MRI without its MRI-only lesion, the
trainer runs the generator on it as well (without gradient), and adds that weight times the mean
absolute difference of the two outputs over the lesion neighbourhoods. The focus term pulls the
output towards the target, which an adversarial term pulls away from on purpose; the invariance
term leaves the sharpening free and forbids only that the MRI-only lesion moves it.

Lesions are centred on a random voxel of the sample's quality mask (the brain) and applied before
the geometric transform, so they move with the sample. The shapes are :mod:`mrsisr.lesions`'s
(those of the fidelity probes). :func:`draw_lesions` draws on the host from the batch's generator;
:func:`mri_lesion_gain` and :func:`metabolic_lesion_gain` use arithmetic only, so the NumPy path
(:func:`apply_lesions`) and the device path (:mod:`mrsisr.training.device_data`) render the same
draws into the same arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from nibabel.affines import voxel_sizes

from mrsisr.defaults import FLAIR_SUBSTITUTE
from mrsisr.lesions import NEIGHBOURHOOD_VOXELS, gaussian_blob, soft_ball
from mrsisr.slices import flair_substitute

__all__ = ["LesionAugmentation", "LesionDraw", "NO_LESION", "draw_lesions", "apply_lesions",
           "mri_lesion_gain", "metabolic_lesion_gain", "lesion_focus", "focus_of", "voxel_mm", "mri_without_lesion",
           "augmentations_record"]

MRI_LESION_DIAMETERS_MM = (3.0, 15.0)
MRI_LESION_T1W_FACTORS = (0.6, 0.85)
MRI_LESION_FLAIR_FACTORS = (1.3, 2.0)
METABOLIC_LESION_DIAMETERS_MM = (4.0, 20.0)
METABOLIC_HOT_FACTORS = (1.35, 2.0)
METABOLIC_COLD_FACTORS = (0.5, 0.75)
#: the lesion focus of a metabolic-only lesion: this many half widths (an MRI-only lesion's is its
#: neighbourhood, mrsisr.lesions.NEIGHBOURHOOD_VOXELS beyond its radius)
FOCUS_METABOLIC_REACH = 2.0
#: the largest lesion-focus weight accepted (the focus term then outweighs the rest of the loss many times)
MAX_FOCUS_WEIGHT = 10.0


@dataclass(frozen=True)
class LesionAugmentation:
    """Per-sample probabilities of the three shortcut-breaking augmentations (0: off), and the weight
    of the lesion-focus loss term (0: off)."""

    mri_lesion: float = 0.0
    metabolic_lesion: float = 0.0
    flair_drop: float = 0.0
    focus_weight: float = 0.0
    invariance_weight: float = 0.0

    def __post_init__(self) -> None:
        for name, value in self._probabilities().items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"the {name.replace('_', ' ')} probability must be in [0, 1], got {value}")
        if not 0.0 <= self.focus_weight <= MAX_FOCUS_WEIGHT:
            raise ValueError(f"the lesion-focus weight must be in [0, {MAX_FOCUS_WEIGHT:g}], got {self.focus_weight}")
        if self.focus_weight > 0 and not (self.mri_lesion > 0 or self.metabolic_lesion > 0):
            raise ValueError("a lesion-focus weight needs lesions to focus on: give --mri-lesions or "
                             "--metabolic-lesions a probability above 0")
        if not 0.0 <= self.invariance_weight <= MAX_FOCUS_WEIGHT:
            raise ValueError(f"the MRI-lesion invariance weight must be in [0, {MAX_FOCUS_WEIGHT:g}], "
                             f"got {self.invariance_weight}")
        if self.invariance_weight > 0 and not self.mri_lesion > 0:
            raise ValueError("an MRI-lesion invariance weight needs MRI-only lesions: give --mri-lesions "
                             "a probability above 0")

    def _probabilities(self) -> dict[str, float]:
        return {"mri_lesion": self.mri_lesion, "metabolic_lesion": self.metabolic_lesion,
                "flair_drop": self.flair_drop}

    @property
    def keeps_clean_mri(self) -> bool:
        """Whether batches carry each sample's MRI without its MRI-only lesion (for the invariance term)."""
        return self.invariance_weight > 0

    @property
    def active(self) -> bool:
        """Whether any augmentation is drawn (the focus weight alone draws nothing)."""
        return any(value > 0 for value in self._probabilities().values())

    def record(self) -> dict:
        """What a model card states: each augmentation's probability and what it adds."""
        return {
            "mri_only_lesions": {"probability": self.mri_lesion, "diameter_mm": list(MRI_LESION_DIAMETERS_MM),
                                 "t1w_factor": list(MRI_LESION_T1W_FACTORS),
                                 "flair_factor": list(MRI_LESION_FLAIR_FACTORS), "maps": "untouched"},
            "metabolic_only_lesions": {"probability": self.metabolic_lesion,
                                       "diameter_mm": list(METABOLIC_LESION_DIAMETERS_MM),
                                       "hot_factor": list(METABOLIC_HOT_FACTORS),
                                       "cold_factor": list(METABOLIC_COLD_FACTORS), "mri": "untouched"},
            "flair_drop": {"probability": self.flair_drop,
                           "substitute": f"the {FLAIR_SUBSTITUTE} (the same image in both encoders)"},
            "lesion_focus": {"weight": self.focus_weight,
                             "region": f"within {NEIGHBOURHOOD_VOXELS:g} MRSI voxels of an MRI-only lesion and "
                                       f"{FOCUS_METABOLIC_REACH:g}× the half width of a metabolic-only one",
                             "term": "weight × mean absolute error over the region, added to the loss"},
            "mri_invariance": {"weight": self.invariance_weight,
                               "term": "weight × mean absolute difference, over the lesion-focus region, between "
                                       "the outputs with and without the MRI-only lesion (the latter without "
                                       "gradient), added to the loss"},
        }


def augmentations_record(geometric: bool, lesions: LesionAugmentation) -> dict:
    """What the model card and the weights' metadata state about a run's augmentations (none
    without ``geometric``: the trainer augments nothing then)."""
    return {"geometric": "90° rotations, flips, shifts up to ±3 MRSI voxels, MRI sub-slice reversal"
            if geometric else "none", **(lesions if geometric else LesionAugmentation()).record()}


@dataclass(frozen=True)
class LesionDraw:
    """One sample's lesions. Centres in MRSI voxel indices of the untransformed sample (``mri_plane``:
    MRI sub-slice index 0–2); radii in mm; a factor of 1 is no lesion."""

    mri_row: float = 0.0
    mri_col: float = 0.0
    mri_plane: float = 1.0
    mri_radius_mm: float = 1.0
    t1_factor: float = 1.0
    flair_factor: float = 1.0
    met_row: float = 0.0
    met_col: float = 0.0
    met_radius_mm: float = 1.0
    met_factor: float = 1.0
    drop_flair: bool = False

    @property
    def has_mri_lesion(self) -> bool:
        return self.t1_factor != 1.0 or self.flair_factor != 1.0

    @property
    def has_metabolic_lesion(self) -> bool:
        return self.met_factor != 1.0

    def vector(self) -> list[float]:
        """The draw as numbers (the device path's packed parameters), in field order."""
        return [float(value) for value in asdict(self).values()]


NO_LESION = LesionDraw()


def voxel_mm(affine: np.ndarray) -> tuple[float, float]:
    """In-plane voxel size and slice thickness (mm) of a prepared subject's MRSI grid."""
    zooms = voxel_sizes(np.asarray(affine))
    return float(zooms[0]), float(zooms[2])


def _centre(rng: np.random.Generator, mask: np.ndarray) -> tuple[float, float] | None:
    """A random point within a random voxel of ``mask`` (None when the mask is empty)."""
    candidates = np.argwhere(mask > 0)
    if not len(candidates):
        return None
    row, col = candidates[int(rng.integers(len(candidates)))] + rng.uniform(-0.5, 0.5, size=2)
    return float(row), float(col)


def draw_lesions(rng: np.random.Generator, settings: LesionAugmentation, mask: np.ndarray) -> LesionDraw:
    """One sample's lesions, drawn in a fixed order (MRI lesion, metabolic lesion, FLAIR drop); an
    augmentation of probability 0 draws nothing, so a run without it keeps its random sequence."""
    fields: dict = {}
    if settings.mri_lesion > 0 and rng.random() < settings.mri_lesion:
        centre = _centre(rng, mask)
        if centre is not None:
            fields.update(mri_row=centre[0], mri_col=centre[1], mri_plane=float(rng.uniform(0.0, 2.0)),
                          mri_radius_mm=float(rng.uniform(*MRI_LESION_DIAMETERS_MM)) / 2.0,
                          t1_factor=float(rng.uniform(*MRI_LESION_T1W_FACTORS)),
                          flair_factor=float(rng.uniform(*MRI_LESION_FLAIR_FACTORS)))
    if settings.metabolic_lesion > 0 and rng.random() < settings.metabolic_lesion:
        centre = _centre(rng, mask)
        if centre is not None:
            hot = bool(rng.integers(2))
            fields.update(met_row=centre[0], met_col=centre[1],
                          met_radius_mm=float(rng.uniform(*METABOLIC_LESION_DIAMETERS_MM)) / 2.0,
                          met_factor=float(rng.uniform(*(METABOLIC_HOT_FACTORS if hot else METABOLIC_COLD_FACTORS))))
    if settings.flair_drop > 0:
        fields["drop_flair"] = bool(rng.random() < settings.flair_drop)
    return LesionDraw(**fields)


def mri_lesion_gain(rows, cols, planes, row, col, plane, radius_mm, factor, voxel: float, slice_mm: float,
                    scale: int = 3):
    """``1 + (factor − 1)·ball`` on the ``scale``× MRI grid (index grids ``rows``, ``cols``, ``planes``).

    MRSI voxel ``row`` is the centre of MRI rows ``scale·row … scale·row + scale − 1``; the ball's
    edge is one MRI voxel wide. NumPy or torch alike (parameters broadcast against the grids).
    """
    step, step_z = voxel / scale, slice_mm / scale
    dy = (rows - (scale * row + (scale - 1) / 2)) * step
    dx = (cols - (scale * col + (scale - 1) / 2)) * step
    dz = (planes - plane) * step_z
    return 1.0 + (factor - 1.0) * soft_ball((dy * dy + dx * dx + dz * dz) ** 0.5, radius_mm, step)


def metabolic_lesion_gain(rows, cols, row, col, radius_mm, factor, voxel: float):
    """``1 + (factor − 1)·blob`` on the MRSI grid: a Gaussian of half width ``radius_mm`` at half maximum."""
    dy, dx = (rows - row) * voxel, (cols - col) * voxel
    return 1.0 + (factor - 1.0) * gaussian_blob((dy * dy + dx * dx) ** 0.5, radius_mm)


def lesion_focus(rows, cols, mri_row, mri_col, mri_radius_mm, mri_present, met_row, met_col, met_radius_mm,
                 met_present, voxel: float):
    """Boolean map of a sample's lesion neighbourhoods on the MRSI grid (index grids ``rows``, ``cols``).

    True within ``NEIGHBOURHOOD_VOXELS`` voxels of the MRI-only lesion's in-plane radius (where
    ``mri_present``) and within ``FOCUS_METABOLIC_REACH`` half widths of the metabolic-only lesion
    (where ``met_present``). Squared distances and comparisons only, so NumPy and torch give the same map.
    """
    mri_reach = mri_radius_mm + NEIGHBOURHOOD_VOXELS * voxel
    met_reach = FOCUS_METABOLIC_REACH * met_radius_mm
    dy, dx = (rows - mri_row) * voxel, (cols - mri_col) * voxel
    near_mri = (dy * dy + dx * dx <= mri_reach * mri_reach) & mri_present
    dy, dx = (rows - met_row) * voxel, (cols - met_col) * voxel
    near_met = (dy * dy + dx * dx <= met_reach * met_reach) & met_present
    return near_mri | near_met


def focus_of(draw: LesionDraw, shape: tuple[int, int], voxel: float) -> np.ndarray:
    """:func:`lesion_focus` of one draw on an ``shape`` MRSI grid, float32 0/1 (all 0 without lesions)."""
    f32 = np.float32
    rows, cols = (axis.astype(f32) for axis in np.indices(shape))
    focus = lesion_focus(rows, cols, f32(draw.mri_row), f32(draw.mri_col), f32(draw.mri_radius_mm),
                         draw.has_mri_lesion, f32(draw.met_row), f32(draw.met_col), f32(draw.met_radius_mm),
                         draw.has_metabolic_lesion, f32(voxel))
    return focus.astype(f32)


def mri_without_lesion(draw: LesionDraw, t1, flair):
    """The MRI ``draw`` gives without its MRI-only lesion (the invariance term's reference): the
    inputs as they are, with the FLAIR drop alone. NumPy or torch alike."""
    return t1, (flair_substitute(t1) if draw.drop_flair else flair)


def apply_lesions(draw: LesionDraw, hr: np.ndarray, t1: np.ndarray, flair: np.ndarray, voxel: float,
                  slice_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sample with its lesions: ``hr`` (N, N), ``t1``/``flair`` (3N, 3N, 3), all float32."""
    f32 = np.float32
    d = draw
    if d.has_metabolic_lesion:
        rows, cols = (axis.astype(f32) for axis in np.indices(hr.shape))
        hr = hr * metabolic_lesion_gain(rows, cols, f32(d.met_row), f32(d.met_col), f32(d.met_radius_mm),
                                        f32(d.met_factor), f32(voxel))
    if d.has_mri_lesion:
        rows, cols, planes = (axis.astype(f32) for axis in np.indices(t1.shape))
        common = (rows, cols, planes, f32(d.mri_row), f32(d.mri_col), f32(d.mri_plane), f32(d.mri_radius_mm))
        scale = t1.shape[0] // hr.shape[0]
        t1 = t1 * mri_lesion_gain(*common, f32(d.t1_factor), f32(voxel), f32(slice_mm), scale)
        flair = flair * mri_lesion_gain(*common, f32(d.flair_factor), f32(voxel), f32(slice_mm), scale)
    if d.drop_flair:
        flair = flair_substitute(t1)
    return hr.astype(f32, copy=False), t1.astype(f32, copy=False), flair.astype(f32, copy=False)
