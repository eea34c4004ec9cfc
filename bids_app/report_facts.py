"""The facts a subject report states in words: field strength, the acquisition table and the notes
a reader must see (moved out of :mod:`mrsisr.bids_app.report`, which re-exports them)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

__all__ = ["PROTON_MHZ_PER_T", "field_strength", "acquired_grid", "acquisition_rows", "report_notes", "read_sidecar"]


def read_sidecar(path: str | Path) -> dict:
    """The JSON sidecar of a derivative NIfTI (empty when absent)."""
    side = Path(str(path).removesuffix(".gz").removesuffix(".nii") + ".json")
    return json.loads(side.read_text()) if side.is_file() else {}


#: MHz per tesla of the ¹H resonance (the spectrometer frequency gives the field strength).
PROTON_MHZ_PER_T = 42.577


def field_strength(t1w: str | None, given: float | None = None,
                   spectrometer_frequency_mhz: float | None = None) -> tuple[float | None, str]:
    """Field strength in T and where it comes from: given, the T1w sidecar's ``MagneticFieldStrength``,
    or the MRSI spectrometer frequency (¹H MHz / 42.577)."""
    if given:
        return float(given), "given"
    if t1w:
        meta = read_sidecar(t1w)
        if meta.get("MagneticFieldStrength"):
            return float(meta["MagneticFieldStrength"]), "T1w sidecar MagneticFieldStrength"
    if spectrometer_frequency_mhz:
        return round(float(spectrometer_frequency_mhz) / PROTON_MHZ_PER_T, 2), "MRSI spectrometer frequency"
    return None, "not recorded (no MagneticFieldStrength in the T1w sidecar, no spectrometer frequency)"


def acquired_grid(files: dict) -> tuple[tuple[int, ...], np.ndarray] | None:
    """Shape and voxel sizes (mm) of the acquired MRSI grid (that of the quality masks)."""
    from mrsisr.grid import voxel_sizes

    reference = next(iter(files["quality"].values()), None)
    if reference is None:
        return None
    img = nib.load(str(reference))
    return tuple(int(n) for n in img.shape[:3]), voxel_sizes(img.affine)


def acquisition_rows(files: dict, meta: dict, field: tuple[float | None, str]) -> list[dict]:
    """The acquisition table: field strength, matrix, voxel size and field of view, network n and N."""
    rows = [{"item": "Field strength", "value": f"{field[0]:g} T ({field[1]})" if field[0] else field[1]}]
    grid = acquired_grid(files)
    if grid:
        shape, sizes = grid
        rows += [{"item": "MRSI matrix (acquired grid)", "value": " × ".join(str(n) for n in shape)},
                 {"item": "Voxel size", "value": " × ".join(f"{v:.3g}" for v in sizes) + " mm"},
                 {"item": "Field of view", "value": " × ".join(f"{n * v:.4g}" for n, v in zip(shape, sizes)) + " mm"}]
    if meta:
        rows += [{"item": "Network input matrix n" + (" (simulated)" if meta.get("SimulatedAcquisition") else ""),
                  "value": str(meta.get("AcquiredMatrix"))},
                 {"item": "Output matrix N", "value": str(meta.get("TargetMatrix"))}]
    return rows


def report_notes(meta: dict, *, missing_metabolites, flair: bool, flair_substitute: str | None = None) -> list[str]:
    """Notes a reader must see: metabolites not super-resolved, no FLAIR, the quality criteria applied."""
    notes = []
    if missing_metabolites:
        notes.append(f"Not super-resolved: {', '.join(missing_metabolites)} (absent from the fitting output, or a "
                     "combined Glu+Gln that the packaged model does not super-resolve).")
    if not flair:
        notes.append("No FLAIR: the network's FLAIR input was "
                     f"{flair_substitute or 'the substitute that the model was trained with'}; the maps rely on the "
                     "T1w as their only anatomical prior.")
    limits = meta.get("QualityThresholds", {})
    if limits:
        applied = [f"S/N ≥ {limits['SNRMin']:g}" if limits.get("SNRMin") is not None else "S/N: not applied",
                   f"FWHM ≤ {limits['FWHMMax']:g} ppm" if limits.get("FWHMMax") is not None else "FWHM: not applied",
                   f"%SD ≤ {limits['CRLBMax']:g}" if limits.get("CRLBMax") is not None else "%SD (CRLB): not applied"]
        notes.append("Quality criteria applied: " + ", ".join(applied) + "; voxels outside the eroded brain mask "
                     "rejected.")
    return notes
