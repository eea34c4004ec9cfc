"""Spectral quality per MRSI voxel, as LCModel reports it: S/N, FWHM (ppm) and noise level.

Model (7T FID-MRSI, 3.4 mm voxels):

* **FWHM** grows where B0 is poor — near the air-filled sinuses, in the inferior temporal
  lobes and at the skull (lipid and susceptibility) — and with partial volume of non-brain
  tissue; a smooth random field adds subject-specific shim quality. Larger voxels of coarse
  acquisitions average more field inhomogeneity (+8 % per doubling of the voxel edge).
* **S/N** (NAA or Cr peak over noise, rounded like LCModel) is the voxel's metabolite signal
  times a receive/transmit (B1) profile that is weak in the temporal lobes and inferiorly,
  divided by the line width; an ``n×n`` acquisition of the same FOV and duration gains
  ``64 / n`` (voxel volume × √(fewer encodings)).
* **Noise** on every concentration is Gaussian with a standard deviation set by the
  metabolite's %SD at the reference S/N (:data:`RELATIVE_SD_AT_REFERENCE`), scaled by the
  voxel's noise level; LCModel's %SD is that SD relative to the fitted value.

Rejected by the pipeline (DESIGN.md §3): S/N < 2.5 or FWHM > 0.15 ppm. The parameters give
about 8–20 % of in-brain voxels rejected at 64×64 for a whole-brain slab, more at the
brain's edge and for coarser acquisitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrsisr.synth.fields import SmoothRandomField

#: %SD / 100 of each species at the reference S/N in white matter (sets the noise level).
RELATIVE_SD_AT_REFERENCE = {
    "tCho": 0.05, "tCr": 0.03, "NAA": 0.03, "Gly": 0.20, "Gln": 0.12, "Glu": 0.06, "Ins": 0.05,
    "Asp": 0.25, "GABA": 0.30, "GSH": 0.15, "Tau": 0.25, "Lac": 0.40, "MM": 0.12, "Lip": 0.30,
}
#: White-matter concentration that the relative SDs refer to.
REFERENCE_CONCENTRATION = {
    "tCho": 1.5, "tCr": 6.0, "NAA": 8.8, "Gly": 0.6, "Gln": 2.2, "Glu": 6.5, "Ins": 5.2,
    "Asp": 1.8, "GABA": 0.9, "GSH": 1.4, "Tau": 1.2, "Lac": 0.5, "MM": 8.0, "Lip": 4.0,
}
REFERENCE_FWHM_PPM = 0.065
#: Feature maps that the quality model needs on each MRSI grid.
FEATURES = ("brain", "head", "depth", "sinus", "temporal", "inferior", "shim", "coil", "signal")


@dataclass(frozen=True)
class QualityModel:
    """Per-subject parameters of the S/N and FWHM maps."""

    snr_reference: float
    fwhm_base_ppm: float
    sinus_ppm: float
    temporal_ppm: float
    skull_ppm: float
    shim_field: SmoothRandomField
    coil_field: SmoothRandomField

    @classmethod
    def draw(cls, rng: np.random.Generator) -> QualityModel:
        """Random but realistic shim and coil quality for one session."""
        return cls(
            snr_reference=float(rng.uniform(12.0, 22.0)),
            fwhm_base_ppm=float(rng.uniform(0.055, 0.065)),
            sinus_ppm=float(rng.uniform(0.10, 0.16)),
            temporal_ppm=float(rng.uniform(0.05, 0.09)),
            skull_ppm=float(rng.uniform(0.06, 0.09)),
            shim_field=SmoothRandomField.draw(rng, scale_mm=45.0, half_extent_mm=120.0),
            coil_field=SmoothRandomField.draw(rng, scale_mm=60.0, half_extent_mm=120.0),
        )

    def fwhm(self, features: dict[str, np.ndarray], matrix: int, rng: np.random.Generator) -> np.ndarray:
        """Line width (ppm) per voxel of an ``matrix×matrix`` acquisition."""
        width = (
            self.fwhm_base_ppm * (1.0 + 0.15 * features["shim"])
            + 0.04 * np.clip(features["shim"] - 1.0, 0.0, None)  # poorly shimmed patches
            + self.sinus_ppm * features["sinus"]
            + self.temporal_ppm * features["temporal"]
            + self.skull_ppm * np.exp(-np.maximum(features["depth"], 0.0) / 12.0)
            + 0.06 * (1.0 - np.clip(features["brain"], 0.0, 1.0))
        )
        width = width * (1.0 + 0.08 * np.log2(64.0 / matrix))
        width = width + rng.normal(0.0, 0.004, width.shape)
        return np.clip(width, 0.02, 0.6).astype(np.float32)

    def noise_snr(self, features: dict[str, np.ndarray], fwhm: np.ndarray, matrix: int) -> np.ndarray:
        """S/N a voxel full of reference tissue would have (sets the concentration noise)."""
        b1 = 1.0 - 0.45 * features["temporal"] - 0.3 * features["inferior"] + 0.12 * features["coil"]
        b1 = np.clip(b1, 0.15, 1.4)
        return (self.snr_reference * b1 * (REFERENCE_FWHM_PPM / fwhm) * (64.0 / matrix)).astype(np.float32)

    def reported_snr(
        self, noise_snr: np.ndarray, signal: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """LCModel's S/N: integer, from the voxel's relative metabolite signal."""
        snr = noise_snr * np.clip(signal, 0.0, None) + rng.normal(0.0, 0.6, noise_snr.shape)
        return np.maximum(np.rint(snr), 0.0).astype(np.float32)


def concentration_sd(species: str, noise_snr: np.ndarray, snr_reference: float) -> np.ndarray:
    """Absolute standard deviation of a species' fitted concentration per voxel."""
    reference_sd = RELATIVE_SD_AT_REFERENCE[species] * REFERENCE_CONCENTRATION[species]
    return (reference_sd * snr_reference / np.maximum(noise_snr, 1e-3)).astype(np.float32)


def relative_signal(naa: np.ndarray, total_creatine: np.ndarray) -> np.ndarray:
    """The voxel's tallest-peak signal relative to white matter (NAA or Cr, whichever wins)."""
    return np.maximum(naa / REFERENCE_CONCENTRATION["NAA"], total_creatine / REFERENCE_CONCENTRATION["tCr"])


def failure_mask(snr: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """The pipeline's LCModel rejection rule: S/N < 2.5 or FWHM > 0.15 ppm."""
    return (snr < 2.5) | (fwhm > 0.15)
