"""Write an MRSI acquisition as LCModel derivatives, and the MRSI ground truth as phantom files.

The NIfTI maps, the per-voxel tables and the CSV spreadsheets all come from the same rounded
numbers and the same voxel layout: NIfTI ``data[i, j, k]`` is LCModel row ``j + 1``, column
``i + 1``, slice ``k + 1`` (see :mod:`mrsisr.synth.geometry`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import mrsisr
from mrsisr.synth import bids
from mrsisr.synth.fit import ROW_NAMES
from mrsisr.synth.geometry import geometry_record
from mrsisr.synth.lcmodel_writer import write_slice
from mrsisr.metabolites import TOTALS
from mrsisr.synth.mrsi import AcquisitionResult, HighResolutionTruth

FORMATS = ("nifti", "csv", "table")


def _voxel_maps(result: AcquisitionResult, values: np.ndarray, outside: float) -> np.ndarray:
    """Scatter per-voxel ``values`` (fitted voxels, C order) into a grid filled with ``outside``."""
    grid = np.full(result.grid.shape, outside, np.float32)
    grid[result.has_data] = values
    return grid


def write_acquisition(root: Path, label: str, result: AcquisitionResult, *, formats: tuple[str, ...]) -> None:
    """Write one acquisition's maps/tables/spreadsheets and its ``geometry.json``."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"formats: unknown {sorted(unknown)}; choose from {FORMATS}")
    matrix = result.grid.shape[0]
    folder = bids.lcmodel_dir(root, label) / f"lcmodel_acq-{matrix}"
    folder.mkdir(parents=True, exist_ok=True)
    bids.write_json(folder / "geometry.json", geometry_record(result.grid))
    affine = result.grid.affine
    if "nifti" in formats:
        for metabolite, row in TOTALS.items():
            conc, sd = result.report.row(row)
            bids.save_nifti(bids.map_path(root, label, matrix, "signal", metabolite),
                            _voxel_maps(result, conc, 0.0), affine)
            bids.save_nifti(bids.map_path(root, label, matrix, "crlb", metabolite),
                            _voxel_maps(result, sd, 999.0), affine)
        bids.save_nifti(bids.map_path(root, label, matrix, "snr"), result.snr, affine)
        bids.save_nifti(bids.map_path(root, label, matrix, "fwhm"), result.fwhm, affine)
    if "csv" in formats or "table" in formats:
        _write_lcmodel_text(folder, label, result, formats)


def _write_lcmodel_text(folder: Path, label: str, result: AcquisitionResult, formats: tuple[str, ...]) -> None:
    """Per-slice CSV and per-voxel tables."""
    i, j, k = np.nonzero(result.has_data)  # C order, as the report's voxels
    report = result.report
    for slice_index in range(result.grid.shape[2]):
        in_slice = np.flatnonzero(k == slice_index)
        write_slice(
            folder,
            slice_number=slice_index + 1,
            shape=result.grid.shape,
            rows=j[in_slice] + 1,
            cols=i[in_slice] + 1,
            names=ROW_NAMES,
            concentrations=report.concentrations[:, in_slice],
            sds=report.sds[:, in_slice],
            ratios=report.ratios[:, in_slice],
            misc={name: values[in_slice] for name, values in result.misc.items()},
            title=f"sub-{label} acq-{result.grid.shape[0]} mrsisr-synth {mrsisr.__version__}",
            write_tables="table" in formats,
            write_csv="csv" in formats,
        )


def write_phantom_truth(root: Path, label: str, truth: HighResolutionTruth) -> None:
    """Noise-free 64-grid maps, brain mask/fraction, tumour labels and injected features on the MRSI grid.

    Injected features: ``desc-<feature>_mrsi`` fractions (infiltration, nonenhancing, mrilesion,
    cavity, gliosis) and ``met-<M>_desc-variation|spots_mrsi`` multiplicative factors.
    """
    folder = bids.phantom_dir(root, label)
    affine = truth.grid.affine
    stem = f"sub-{label}_acq-{truth.grid.shape[0]}_space-orig"
    for metabolite in TOTALS:
        bids.save_nifti(folder / f"{stem}_met-{metabolite}_desc-truth_mrsi.nii.gz",
                        np.abs(truth.maps[metabolite]).astype(np.float32), affine)
    mask_fraction = truth.features["brain_mask"]
    bids.save_nifti(folder / f"{stem}_desc-brain_mask.nii.gz", (mask_fraction >= 0.5).astype(np.uint8), affine)
    bids.save_nifti(folder / f"{stem}_desc-brainfraction_mrsi.nii.gz", mask_fraction.astype(np.float32), affine)
    bids.save_nifti(folder / f"{stem}_desc-tumour_dseg.nii.gz", truth.tumour_labels, affine)
    for name, values in truth.injected.items():
        per_metabolite = name.startswith(("variation_", "spots_"))
        feature, _, metabolite = name.partition("_") if per_metabolite else (name, "", "")
        met = f"_met-{metabolite}" if metabolite else ""
        desc = feature.replace("_", "")
        bids.save_nifti(folder / f"{stem}{met}_desc-{desc}_mrsi.nii.gz", values.astype(np.float32), affine)
