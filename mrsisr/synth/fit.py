"""What LCModel would report for each voxel: noisy, non-negative fits of every basis row.

From the noise-free concentrations of an acquisition, the fit draws each total with Gaussian
noise of the voxel's SD (see :mod:`mrsisr.synth.quality`) and clips it at zero, like LCModel's
non-negativity constraint ("not found": ``0.000`` with ``999%``). Correlated pairs that LCModel
separates poorly (GPC/PCh, Cr/PCr, NAA/NAAG) are split with a random share, sometimes all in one
of them; their sum rows are the sums of the components, with the smaller %SD such sums have.
Lipid and macromolecule rows split the lipid and MM signals across LCModel's simulated
components. Everything is rounded to the printed precision before use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrsisr.synth.lcmodel_writer import REFERENCE_NAME, round_concentration, round_ratio
from mrsisr.synth.quality import concentration_sd

#: Rows of the LCModel table in the order LCModel writes them (basis order, then sums, then
#: lipid/MM components and their sums).
ROW_NAMES = [
    "Asp", "Cr", "GABA", "Gln", "Glu", "Gly", "GPC", "GSH", "Ins", "Lac", "NAA", "NAAG", "PCh",
    "PCr", "Tau", "GPC+PCh", "NAA+NAAG", "Cr+PCr", "Glu+Gln", "Lip13a", "Lip13b", "Lip09", "MM09",
    "Lip20", "MM20", "MM12", "MM14", "MM17", "Lip13a+Lip13b", "MM14+Lip13a+Lip13b+MM12",
    "MM09+Lip09", "MM20+Lip20",
]
#: Species fitted as one row each (NIfTI/internal name → LCModel row).
SINGLE_ROWS = {"Asp": "Asp", "GABA": "GABA", "Gln": "Gln", "Glu": "Glu", "Gly": "Gly", "GSH": "GSH",
               "Ins": "Ins", "Lac": "Lac", "Tau": "Tau"}
#: Totals split into two poorly separated components: (first, second, mean share, spread).
PAIRS = {"tCho": ("GPC", "PCh", 0.3, 0.15), "tCr": ("Cr", "PCr", 0.5, 0.12), "NAA": ("NAA", "NAAG", 0.13, 0.05)}
LIPID_SHARES = {"Lip13a": 0.3, "Lip13b": 0.35, "Lip09": 0.2, "Lip20": 0.15}
MM_SHARES = {"MM09": 0.15, "MM20": 0.3, "MM12": 0.1, "MM14": 0.25, "MM17": 0.2}
SUM_ROWS = {
    "GPC+PCh": ("GPC", "PCh"), "NAA+NAAG": ("NAA", "NAAG"), "Cr+PCr": ("Cr", "PCr"),
    "Glu+Gln": ("Glu", "Gln"), "Lip13a+Lip13b": ("Lip13a", "Lip13b"),
    "MM14+Lip13a+Lip13b+MM12": ("MM14", "Lip13a", "Lip13b", "MM12"),
    "MM09+Lip09": ("MM09", "Lip09"), "MM20+Lip20": ("MM20", "Lip20"),
}
#: Anti-correlation of fitted components lowers the SD of their sum below the root-sum-square.
SUM_SD_FACTOR = 0.7


@dataclass(frozen=True)
class FitReport:
    """LCModel's concentration table for V voxels: arrays of shape ``(len(ROW_NAMES), V)``."""

    concentrations: np.ndarray
    sds: np.ndarray
    ratios: np.ndarray

    def row(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Concentration and %SD of one LCModel row."""
        index = ROW_NAMES.index(name)
        return self.concentrations[index], self.sds[index]


def _noisy(truth: np.ndarray, sd: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.maximum(truth + sd * rng.standard_normal(truth.shape), 0.0)


def simulate_fit(
    truth: dict[str, np.ndarray], noise_snr: np.ndarray, snr_reference: float, rng: np.random.Generator
) -> FitReport:
    """Fit results for voxels whose noise-free concentrations are ``truth`` (species → (V,))."""
    values: dict[str, np.ndarray] = {}
    sds: dict[str, np.ndarray] = {}
    for species, row in SINGLE_ROWS.items():
        sds[row] = concentration_sd(species, noise_snr, snr_reference)
        values[row] = _noisy(truth[species], sds[row], rng)
    for species, (first, second, share, spread) in PAIRS.items():
        sd = concentration_sd(species, noise_snr, snr_reference)
        total = _noisy(truth[species], sd, rng)
        fraction = np.clip(share + spread * rng.standard_normal(total.shape), 0.0, 1.0)
        fraction = np.where(fraction < 0.04, 0.0, np.where(fraction > 0.96, 1.0, fraction))
        values[second] = total * fraction
        values[first] = total - values[second]
        sds[first] = sds[second] = sd / (SUM_SD_FACTOR * np.sqrt(2.0))
    for group, shares in (("Lip", LIPID_SHARES), ("MM", MM_SHARES)):
        for row, share in shares.items():
            sds[row] = concentration_sd(group, noise_snr, snr_reference) * np.sqrt(share)
            values[row] = _noisy(truth[group] * share, sds[row], rng)
    for row, parts in SUM_ROWS.items():
        values[row] = sum(values[p] for p in parts)
        sds[row] = SUM_SD_FACTOR * np.sqrt(sum(sds[p] ** 2 for p in parts))
    concentrations = round_concentration(np.stack([values[name] for name in ROW_NAMES]))
    absolute_sd = np.stack([sds[name] for name in ROW_NAMES])
    with np.errstate(divide="ignore", invalid="ignore"):
        percent = np.where(concentrations > 0, np.rint(100.0 * absolute_sd / concentrations), 999.0)
        reference = concentrations[ROW_NAMES.index(REFERENCE_NAME)]
        ratios = np.where(reference > 0, concentrations / reference, 0.0)
    return FitReport(concentrations, np.minimum(percent, 999.0), round_ratio(ratios))


def misc_values(n_voxels: int, fwhm: np.ndarray, snr: np.ndarray, rng: np.random.Generator) -> dict:
    """Per-voxel ``$$MISC`` values: FWHM, S/N and plausible shift/phase/regularisation."""
    return {
        "fwhm": np.round(fwhm, 3),
        "snr": snr,
        "shift": np.round(rng.normal(0.0, 0.012, n_voxels), 3),
        "phase0": np.rint(rng.normal(0.0, 25.0, n_voxels)).astype(int),
        "phase1": np.round(rng.normal(0.0, 4.0, n_voxels), 1),
        "alpha_b": 10.0 ** rng.uniform(-2.0, 0.0, n_voxels),
        "alpha_s": 10.0 ** rng.uniform(-1.0, 3.0, n_voxels),
        "knots": rng.integers(8, 30, n_voxels),
    }
