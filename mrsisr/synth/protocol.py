"""The acquisition protocol of a subject: 7T with T1w and FLAIR, or variants the app must serve.

By default every subject is the paper's protocol (7T, 3.4 mm isotropic MRSI voxels, T1w and
FLAIR). Two options give a share of subjects another one:

* **no FLAIR** (what the app's T1w-only path receives): the FLAIR is neither rendered nor written;
* **3T-like**: coarser MRSI voxels (4.0 mm in-plane, 5 mm slices, same 64×64 matrix) and a lower
  S/N (about 0.4× per unit volume, so ≈0.7–0.8× per voxel after the larger volume).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrsisr.synth.geometry import MRSI_VOXEL_MM

#: MRSI voxel of the 3T-like protocol (in-plane, slice; mm).
VOXEL_3T_MM = (4.0, 5.0)
#: Range of the 3T/7T S/N ratio per unit volume.
SNR_PER_VOLUME_3T = (0.35, 0.40)


@dataclass(frozen=True)
class Protocol:
    """What the scanner acquired for one subject."""

    field_strength: str
    has_flair: bool
    mrsi_voxel_mm: float = MRSI_VOXEL_MM
    mrsi_slice_mm: float = MRSI_VOXEL_MM
    snr_factor: float = 1.0

    @classmethod
    def draw(cls, rng: np.random.Generator, share_without_flair: float = 0.0, share_3t: float = 0.0) -> Protocol:
        """The paper's protocol, or (with the given probabilities) no FLAIR and/or a 3T-like one."""
        for name, share in (("share_without_flair", share_without_flair), ("share_3t", share_3t)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {share}")
        has_flair = not rng.random() < share_without_flair
        is_3t = rng.random() < share_3t
        per_volume = float(rng.uniform(*SNR_PER_VOLUME_3T))
        if not is_3t:
            return cls("7T", has_flair)
        voxel, thickness = VOXEL_3T_MM
        volume_ratio = voxel * voxel * thickness / MRSI_VOXEL_MM**3
        return cls("3T", has_flair, voxel, thickness, per_volume * volume_ratio)

    def record(self) -> dict:
        """JSON-friendly description."""
        return {"field_strength": self.field_strength, "flair": self.has_flair,
                "mrsi_voxel_mm": [self.mrsi_voxel_mm, self.mrsi_voxel_mm, self.mrsi_slice_mm],
                "snr_factor": round(self.snr_factor, 4)}
