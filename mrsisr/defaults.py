"""The defaults of a run, in one place.

Every layer (the command line, the run configuration, the workflow builders, the
Nipype interfaces and the pure functions below them) takes its default from here,
so a threshold is stated once. These are plain constants, not a mutable
configuration: builders and functions still receive every value explicitly.
"""

from __future__ import annotations

__all__ = [
    "BATCH_SIZE",
    "CRLB_MAX",
    "FLAIR_SUBSTITUTE",
    "FWHM_MAX_PPM",
    "MIN_SLICE_FRACTION",
    "MIN_VALID_FRACTION",
    "MRI_FACTOR",
    "OUTPUT_SPACES",
    "RATIO_DENOMINATOR_FLOOR",
    "SHARPNESS",
    "SKULLSTRIP_RESOLUTION_MM",
    "SNR_MIN",
    "TARGET_MATRIX",
    "UNCERTAINTY_SAMPLES",
]

#: Voxels with S/N below this are rejected (the paper's quality filter).
SNR_MIN: float = 2.5
#: Voxels with a linewidth (FWHM) above this many ppm are rejected (the paper's quality filter).
FWHM_MAX_PPM: float = 0.15
#: %SD (Cramér-Rao lower bound) above which a voxel is rejected; None: not applied.
CRLB_MAX: float | None = None
#: Slice selection (``--min-valid-fraction``, off unless given): keep axial slices whose valid voxels
#: reach this fraction of the in-plane matrix nx·ny (the paper's rule, calibrated on a 217.6 mm 7T slab).
MIN_VALID_FRACTION: float = 0.30
#: Slice selection, the app's default rule: keep axial slices whose valid voxels reach this fraction
#: of the fullest slice's (relative to the brain's extent on the grid, so it holds at any field of
#: view: on a 240 mm 3T grid of 16 slices it keeps the 10 slices with a brain section).
MIN_SLICE_FRACTION: float = 0.5
#: Without a FLAIR (T1w-only studies) the network's FLAIR encoder receives this image: the packaged
#: model was trained with both contrasts (MODEL_CARD.md), so the T1w stands in for the missing one.
FLAIR_SUBSTITUTE: str = "T1w"
#: Output in-plane matrix N of the super-resolved maps.
TARGET_MATRIX: int = 64
#: Sharpness weights λ of a run (one output each); the paper recommends 0–0.03.
SHARPNESS: tuple[float, ...] = (0.0,)
#: Maps per forward pass of the network.
BATCH_SIZE: int = 8
#: The MRI is resampled onto the MRSI grid at this many times its resolution, in every direction.
MRI_FACTOR: int = 3
#: Ratio maps: the denominator must exceed this fraction of its 99th percentile on its mask
#: (a relative floor, since the maps are in institutional units; 0.05 drops near-zero denominators
#: that would turn noise into huge ratios).
RATIO_DENOMINATOR_FLOOR: float = 0.05
#: Spaces the super-resolved maps are written in (fMRIPrep's ``--output-spaces``): the MRSI
#: output grid (``orig``) and the T1w grid (``T1w``).
OUTPUT_SPACES: tuple[str, ...] = ("orig", "T1w")
#: The python skull-strip (brainextractor) runs on an isotropic grid of this voxel size (mm) and its
#: mask is brought back to the T1w grid: the mask feeds a 3.4 mm quality filter and the MRI blocks
#: on a ~1.1 mm grid, and a 2 mm run has 8× fewer voxels than a 1 mm T1w (Dice ≥ 0.95 with the 1 mm
#: mask, tests/test_interfaces_anatomical.py).
SKULLSTRIP_RESOLUTION_MM: float = 2.0
#: Test-time transformations (flips, 90° turns, sub-voxel shifts) whose spread is the uncertainty map
#: written beside each super-resolved map (:mod:`mrsisr.uncertainty`); 0: no uncertainty map.
UNCERTAINTY_SAMPLES: int = 8
