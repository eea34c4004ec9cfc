"""T1w and FLAIR images of a subject: tissue contrast, bias field and Rician noise.

Each image is rendered on its own grid by pulling every voxel centre back to MNI space (for
the FLAIR, first through the true FLAIR→T1w head motion), mixing the tissue fractions found
there with the contrast tables of :mod:`mrsisr.synth.head`, multiplying a smooth receive
bias field and adding complex Gaussian noise whose magnitude is taken (Rician statistics, as
in a real magnitude image). Thick FLAIR slices average several thin sub-samples (partial volume).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mrsisr.synth.head import FLAIR_SIGNAL, T1W_SIGNAL
from mrsisr.synth.fields import SmoothRandomField
from mrsisr.synth.findings import HYPERINTENSITY_SIGNAL
from mrsisr.synth.geometry import Grid

#: Signal of oedematous brain tissue (T1w darker, FLAIR bright).
OEDEMA_SIGNAL = {"t1w": 0.58, "flair": 1.18}
#: Integer scale of the stored images (scanner-like intensities, int16).
STORED_SCALE = 1000.0


@dataclass(frozen=True)
class Acquisition:
    """Contrast-independent imperfections of one MR image: bias field and noise level."""

    bias: SmoothRandomField
    bias_amplitude: float
    gradient_per_100mm: np.ndarray
    noise_sigma: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Acquisition:
        """A smooth ±15–25 % bias with a linear drift, and noise at 1.5–3 % of WM."""
        return cls(
            bias=SmoothRandomField.draw(rng, scale_mm=80.0, half_extent_mm=170.0),
            bias_amplitude=float(rng.uniform(0.12, 0.22)),
            gradient_per_100mm=rng.uniform(-0.12, 0.12, 3),
            noise_sigma=float(rng.uniform(0.015, 0.03)),
        )

    def corrupt(self, clean: np.ndarray, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply bias (evaluated at scanner ``points`` (3, N)) and Rician noise to ``clean``."""
        drift = (self.gradient_per_100mm.astype(np.float32) @ points) / 100.0
        bias = np.exp(self.bias_amplitude * self.bias(points) + drift)
        signal = clean * bias
        real = signal + rng.normal(0.0, self.noise_sigma, signal.shape).astype(np.float32)
        imaginary = rng.normal(0.0, self.noise_sigma, signal.shape).astype(np.float32)
        return np.sqrt(real * real + imaginary * imaginary)


def contrast(tissues: dict[str, np.ndarray], tumour: dict[str, np.ndarray] | None, kind: str,
             hyperintensity: np.ndarray | None = None) -> np.ndarray:
    """Noise-free signal of ``kind`` (``"t1w"`` or ``"flair"``) from fractions at N points.

    ``tissues`` needs ``gm``, ``wm``, ``csf`` and ``<kind>_extra`` (the extra-cerebral layers'
    signal, already fraction-weighted); ``hyperintensity`` is the fraction of brain tissue that
    is an MRI-only lesion or gliosis (FLAIR-bright, T1-dark; :mod:`mrsisr.synth.findings`).
    """
    table = T1W_SIGNAL if kind == "t1w" else FLAIR_SIGNAL
    brain = tissues["gm"] * table["gm"] + tissues["wm"] * table["wm"]
    if hyperintensity is not None:
        brain = brain * (1.0 - hyperintensity) + (tissues["gm"] + tissues["wm"]) * hyperintensity * (
            HYPERINTENSITY_SIGNAL[kind])
    signal = tissues["csf"] * table["csf"] + tissues[f"{kind}_extra"]
    if tumour is None:
        return signal + brain
    oedema = tumour["oedema"]
    brain = brain * (1.0 - oedema) + (tissues["gm"] + tissues["wm"]) * oedema * OEDEMA_SIGNAL[kind]
    core = tumour["necrosis"] + tumour["enhancing"]
    healthy = np.clip(1.0 - core, 0.0, 1.0)
    lesion = tumour["necrosis"] * table["necrosis"] + tumour["enhancing"] * table["enhancing"]
    return healthy * (signal + brain) + lesion


def render(
    grid: Grid,
    signal_at: Callable[[np.ndarray], np.ndarray],
    acquisition: Acquisition,
    rng: np.random.Generator,
    through_plane_samples: int = 1,
) -> np.ndarray:
    """Render an image on ``grid`` as int16: ``signal_at(points)`` + bias + Rician noise.

    With ``through_plane_samples > 1`` the signal is averaged over that many points spread
    evenly across each voxel's thickness along its third axis (slice partial volume).
    """
    image = np.zeros(grid.shape, np.float32)
    step = grid.affine[:3, 2].astype(np.float32)
    offsets = (np.arange(through_plane_samples) + 0.5) / through_plane_samples - 0.5
    for k0, k1 in grid.slabs(max_points=1_500_000 // through_plane_samples):
        points = grid.points(k0, k1)
        clean = sum(signal_at(points + np.float32(o) * step[:, None]) for o in offsets) / len(offsets)
        noisy = acquisition.corrupt(clean, points, rng)
        image[:, :, k0:k1] = noisy.reshape(grid.shape[0], grid.shape[1], k1 - k0)
    return np.clip(np.rint(image * STORED_SCALE), 0, 32767).astype(np.int16)
