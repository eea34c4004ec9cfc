"""The MRSI acquisitions of a subject: k-space sampling of a fine map, then LCModel-like fits.

The underlying map lives on a grid three times finer than the 64×64×Z MRSI in every
direction. A 64×64 acquisition measures the central 64×64 block of each fine sub-slice's
k-space (the point-spread function of a real Cartesian acquisition) and averages the three
sub-slices (a box slice profile); an ``n×n`` acquisition of the same FOV measures the central
``n×n`` block of that. The noise-free magnitude is the ground truth, and LCModel's report
(:mod:`mrsisr.synth.fit`) adds noise, quality measures and the lipid/MM rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from mrsisr.synth.head import SINUSES_MNI, TEMPORAL_MNI, HeadModel, region_proximity
from mrsisr.synth.fields import smoothstep
from mrsisr.synth.fit import FitReport, misc_values, simulate_fit
from mrsisr.synth.geometry import FINE_FACTOR, Grid, fine_mrsi_grid, kspace_truncate, kspace_truncate_volume
from mrsisr.synth.findings import Findings
from mrsisr.synth.landscape import MetabolicLandscape
from mrsisr.metabolites import TOTALS
from mrsisr.synth.metabolites import SPECIES, concentration_maps
from mrsisr.synth.quality import FEATURES, QualityModel, relative_signal
from mrsisr.synth.tumour import Tumour, tumour_labels

#: A voxel whose FOV holds less head tissue than this has all-zero data (no LCModel output).
HEAD_FRACTION_WITH_DATA = 0.15
#: Fraction maps of injected features written beside the ground truth.
INJECTED_FRACTIONS = ("infiltration", "nonenhancing", "mri_lesion", "cavity", "gliosis")


@dataclass(frozen=True)
class HighResolutionTruth:
    """Noise-free complex 64×64×Z maps (species → array) and quality features on the 64 grid.

    ``injected`` holds a map of every feature the MRI does not fully explain, on the same grid:
    fractions (``infiltration``, ``nonenhancing``, ``mri_lesion``, ``cavity``, ``gliosis``) and
    per network metabolite the factors of the smooth/regional/subject variation
    (``variation_<met>``) and of the hot/cold spots (``spots_<met>``).
    """

    grid: Grid
    maps: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    tumour_labels: np.ndarray
    injected: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class AcquisitionResult:
    """One acquisition as LCModel reports it, on its ``grid``; ``has_data`` marks fitted voxels."""

    grid: Grid
    truth: dict[str, np.ndarray]
    has_data: np.ndarray
    snr: np.ndarray
    fwhm: np.ndarray
    report: FitReport
    misc: dict[str, np.ndarray]


def _block_mean(fine: np.ndarray) -> np.ndarray:
    """Mean over each MRSI voxel's 3×3×3 fine voxels (centred blocks) → 64×64×1."""
    smooth = ndimage.uniform_filter(fine, size=FINE_FACTOR, mode="nearest")
    half = FINE_FACTOR // 2
    return smooth[::FINE_FACTOR, ::FINE_FACTOR, half::FINE_FACTOR]


def _expander(coarse_shape: tuple[int, int], fine_shape: tuple[int, int, int]):
    """Function spreading per-voxel values (64×64) over the voxels' fine points (flattened)."""

    def expand(values: np.ndarray) -> np.ndarray:
        block = values.reshape(coarse_shape)
        fine = np.repeat(np.repeat(block, FINE_FACTOR, axis=0), FINE_FACTOR, axis=1)
        fine = np.roll(fine, -(FINE_FACTOR // 2), axis=(0, 1))  # fine 3i-1…3i+1 belong to voxel i
        return np.repeat(fine[:, :, None], fine_shape[2], axis=2).ravel()

    return expand


def _injected_slice(found: dict, lesion: dict | None, variation: dict, spots: dict,
                    fine_shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """One MRSI slice of the injected-feature maps (fractions as means over each voxel)."""
    fine = {**found, **({n: lesion[n] for n in ("infiltration", "nonenhancing")} if lesion else {})}
    fine.update({f"spots_{met}": spots[met] for met in TOTALS if met in spots})
    out = {name: _block_mean(values.reshape(fine_shape))[:, :, 0] for name, values in fine.items()}
    coarse_shape = (fine_shape[0] // FINE_FACTOR, fine_shape[1] // FINE_FACTOR)
    out.update({f"variation_{met}": variation[met].reshape(coarse_shape) for met in TOTALS})
    return out


def sample_high_resolution(
    grid64: Grid,
    head: HeadModel,
    to_mni: Callable[[np.ndarray], np.ndarray],
    tumour: Tumour | None,
    landscape: MetabolicLandscape,
    quality: QualityModel,
    findings: Findings | None = None,
) -> HighResolutionTruth:
    """Sample the fine map slice by slice and k-space-sample it onto the 64×64×Z grid."""
    findings = findings or Findings((), (), None, 0.0)
    fine = fine_mrsi_grid(grid64)
    shape64 = grid64.shape
    maps = {name: np.zeros(shape64, np.complex64) for name in SPECIES}
    features = {name: np.zeros(shape64, np.float32) for name in FEATURES if name != "signal"}
    features["brain_mask"] = np.zeros(shape64, np.float32)
    labels = np.zeros(shape64, np.uint8)
    injected = {name: np.zeros(shape64, np.float32) for name in INJECTED_FRACTIONS}
    injected.update({f"{kind}_{met}": np.ones(shape64, np.float32)
                     for kind in ("variation", "spots") for met in TOTALS})
    fine_shape = (fine.shape[0], fine.shape[1], FINE_FACTOR)
    names = ("gm", "wm", "csf", "envelope", "lipid", "head_mask", "depth", "brain_mask")
    for k in range(shape64[2]):
        points = fine.points(FINE_FACTOR * k, FINE_FACTOR * (k + 1))
        mni = to_mni(points)
        # Smooth fields are evaluated once per MRSI voxel (its centre) and shared by its
        # 3×3×3 fine voxels: they vary over centimetres, and this saves most of the time.
        centres = mni.reshape(3, *fine_shape)[:, ::FINE_FACTOR, ::FINE_FACTOR, FINE_FACTOR // 2].reshape(3, -1)
        expand = _expander(shape64[:2], fine_shape)
        found = findings.fractions(mni)
        tissues = findings.apply_to_tissues(head.sample(mni, names), found)
        lesion = tumour.fractions(mni, tissues["wm"], tissues["envelope"]) if tumour else None
        inositol = tumour.inositol_factor if tumour else 1.0
        variation = landscape.factors(centres)
        factors = {name: expand(f) for name, f in variation.items()}
        spots = findings.spot_factors(mni)
        tissue_factors = findings.tissue_factors(spots, found)
        if tumour:
            for name, f in tumour.infiltration_tissue_factors(lesion["infiltration"]).items():
                tissue_factors[name] = tissue_factors.get(name, np.float32(1.0)) * f
        concentrations = concentration_maps(tissues, lesion, factors, inositol, tissue_factors)
        for name, values in _injected_slice(found, lesion, variation, spots, fine_shape).items():
            injected[name][:, :, k] = values
        for name, values in concentrations.items():
            sub_slices = np.moveaxis(values.reshape(fine_shape), 2, 0)
            maps[name][:, :, k] = kspace_truncate(sub_slices, shape64[0]).mean(axis=0)
        core = lesion["necrosis"] + lesion["enhancing"] if lesion else 0.0
        per_point = {
            "brain": np.clip(tissues["gm"] + tissues["wm"] + core, 0.0, 1.0),
            "head": np.clip(tissues["head_mask"] + tissues["envelope"], 0.0, 1.0),
            "depth": tissues["depth"],
            "brain_mask": np.maximum(tissues["brain_mask"], core),
        }
        for name, values in per_point.items():
            features[name][:, :, k] = _block_mean(values.reshape(fine_shape))[:, :, 0]
        per_voxel = {
            "sinus": region_proximity(centres, SINUSES_MNI, reach=2.5),
            "temporal": region_proximity(centres, TEMPORAL_MNI),
            "inferior": smoothstep((-centres[2] - 15.0) / 35.0),
            "shim": quality.shim_field(centres),
            "coil": quality.coil_field(centres),
        }
        for name, values in per_voxel.items():
            features[name][:, :, k] = values.reshape(shape64[:2])
        if lesion:
            lesion_means = {n: _block_mean(v.reshape(fine_shape))[:, :, 0] for n, v in lesion.items()}
            labels[:, :, k] = tumour_labels(lesion_means)
    return HighResolutionTruth(grid64, maps, features, labels, injected)


def acquire(
    truth: HighResolutionTruth,
    grid: Grid,
    quality: QualityModel,
    rng: np.random.Generator,
    snr_factor: float = 1.0,
) -> AcquisitionResult:
    """Simulate the ``grid.shape[0]×grid.shape[0]`` acquisition and its LCModel fit.

    ``snr_factor`` scales the S/N (and so the noise) of a protocol, e.g. a 3T-like one.
    """
    matrix = grid.shape[0]
    if matrix == truth.grid.shape[0]:
        maps = {name: np.abs(m) for name, m in truth.maps.items()}
        features = dict(truth.features)
    else:
        maps = {name: np.abs(kspace_truncate_volume(m, matrix)) for name, m in truth.maps.items()}
        features = {name: kspace_truncate_volume(f, matrix).real for name, f in truth.features.items()}
    has_data = features["head"] >= HEAD_FRACTION_WITH_DATA
    features["signal"] = relative_signal(maps["NAA"], maps["tCr"])
    fwhm = quality.fwhm(features, matrix, rng)
    noise_snr = quality.noise_snr(features, fwhm, matrix) * np.float32(snr_factor)
    snr = quality.reported_snr(noise_snr, features["signal"], rng)
    voxels = np.flatnonzero(has_data)
    voxel_truth = {name: m.ravel()[voxels] for name, m in maps.items()}
    report = simulate_fit(voxel_truth, noise_snr.ravel()[voxels], quality.snr_reference, rng)
    misc = misc_values(voxels.size, fwhm.ravel()[voxels], snr.ravel()[voxels], rng)
    snr = np.where(has_data, snr, 0.0).astype(np.float32)
    fwhm = np.where(has_data, np.round(fwhm, 3), 0.0).astype(np.float32)
    return AcquisitionResult(grid, maps, has_data, snr, fwhm, report, misc)
