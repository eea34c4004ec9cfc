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
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mrsisr.synth.head import SINUSES_MNI, TEMPORAL_MNI, HeadModel, region_proximity
from mrsisr.synth.fields import smoothstep
from mrsisr.synth.fit import FitReport, misc_values, simulate_fit
from mrsisr.synth.geometry import FINE_FACTOR, Grid, fine_mrsi_grid, kspace_truncate, kspace_truncate_volume
from mrsisr.synth.metabolites import SPECIES, MetaboliteVariation, concentration_maps
from mrsisr.synth.quality import FEATURES, QualityModel, relative_signal
from mrsisr.synth.tumour import Tumour, tumour_labels

#: A voxel whose FOV holds less head tissue than this has all-zero data (no LCModel output).
HEAD_FRACTION_WITH_DATA = 0.15


@dataclass(frozen=True)
class HighResolutionTruth:
    """Noise-free complex 64×64×Z maps (species → array) and quality features on the 64 grid."""

    grid: Grid
    maps: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    tumour_labels: np.ndarray


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


def sample_high_resolution(
    grid64: Grid,
    head: HeadModel,
    to_mni: Callable[[np.ndarray], np.ndarray],
    tumour: Tumour | None,
    variation: MetaboliteVariation,
    quality: QualityModel,
) -> HighResolutionTruth:
    """Sample the fine map slice by slice and k-space-sample it onto the 64×64×Z grid."""
    fine = fine_mrsi_grid(grid64)
    shape64 = grid64.shape
    maps = {name: np.zeros(shape64, np.complex64) for name in SPECIES}
    features = {name: np.zeros(shape64, np.float32) for name in FEATURES if name != "signal"}
    features["brain_mask"] = np.zeros(shape64, np.float32)
    labels = np.zeros(shape64, np.uint8)
    fine_shape = (fine.shape[0], fine.shape[1], FINE_FACTOR)
    names = ("gm", "wm", "csf", "envelope", "lipid", "head_mask", "depth", "brain_mask")
    for k in range(shape64[2]):
        points = fine.points(FINE_FACTOR * k, FINE_FACTOR * (k + 1))
        mni = to_mni(points)
        # Smooth fields are evaluated once per MRSI voxel (its centre) and shared by its
        # 3×3×3 fine voxels: they vary over centimetres, and this saves most of the time.
        centres = mni.reshape(3, *fine_shape)[:, ::FINE_FACTOR, ::FINE_FACTOR, FINE_FACTOR // 2].reshape(3, -1)
        expand = _expander(shape64[:2], fine_shape)
        tissues = head.sample(mni, names)
        lesion = tumour.fractions(mni, tissues["wm"], tissues["envelope"]) if tumour else None
        inositol = tumour.inositol_factor if tumour else 1.0
        factors = {name: expand(f) for name, f in variation.factors(centres).items()}
        concentrations = concentration_maps(tissues, lesion, factors, inositol)
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
    return HighResolutionTruth(grid64, maps, features, labels)


def acquire(
    truth: HighResolutionTruth,
    grid: Grid,
    quality: QualityModel,
    rng: np.random.Generator,
) -> AcquisitionResult:
    """Simulate the ``grid.shape[0]×grid.shape[0]`` acquisition and its LCModel fit."""
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
    noise_snr = quality.noise_snr(features, fwhm, matrix)
    snr = quality.reported_snr(noise_snr, features["signal"], rng)
    voxels = np.flatnonzero(has_data)
    voxel_truth = {name: m.ravel()[voxels] for name, m in maps.items()}
    report = simulate_fit(voxel_truth, noise_snr.ravel()[voxels], quality.snr_reference, rng)
    misc = misc_values(voxels.size, fwhm.ravel()[voxels], snr.ravel()[voxels], rng)
    snr = np.where(has_data, snr, 0.0).astype(np.float32)
    fwhm = np.where(has_data, np.round(fwhm, 3), 0.0).astype(np.float32)
    return AcquisitionResult(grid, maps, has_data, snr, fwhm, report, misc)
