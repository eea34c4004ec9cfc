"""Loader checks of issue 13: negative concentrations (item 5), a metabolite missing from one slice (item 10)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from test_io_lcmodel import write_spreadsheet
from test_io_loader import AFFINE, NZ, WRITTEN, N, make_lcmodel_tree, voxel_rows

from mrsisr.io.loader import load_metabolite_maps, save_loaded_maps


def _rewrite_csv(folder, sl, *, negate=(), drop=()):
    """Rewrite ``sl<sl>.csv`` with the voxels in ``negate`` negative and the names in ``drop`` left out."""
    names = [n for n in [*WRITTEN.values(), "sIns"] if n not in drop]
    voxels = {}
    for row in range(1, N + 1):
        for col in range(1, N + 1):
            if (sl, row, col) == (1, 1, 1):
                continue  # the voxel LCModel wrote nothing for
            values = {name: (conc, sd, ratio) for name, conc, sd, ratio in voxel_rows(row, col, sl)}
            if (row, col) in negate:
                conc, sd, ratio = values["Cr+PCr"]
                values["Cr+PCr"] = (-conc, sd, -ratio)
            voxels[(row, col)] = values
    write_spreadsheet(folder / f"sl{sl}.csv", voxels, names)


def test_negative_concentrations_in_a_spreadsheet_are_clipped_and_counted(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path, tables=False)
    folder = derivatives / "sub-01" / "lcmodel_acq-4"
    _rewrite_csv(folder, 2, negate=[(1, 2), (3, 3), (4, 1)])
    with pytest.warns(UserWarning, match=r"lcmodel_acq-4: tCr \('Cr\+PCr'\) has 3 voxel\(s\) with a negative "
                                         r"concentration \(slices 2\); they are clipped to 0"):
        maps = load_metabolite_maps(derivatives, subject="01", metabolites=["tCr", "NAA"], require_quality=False)
    # row 3, col 3, slice 2 -> voxel (2, 2, 1): invalid, NaN, never a positive value
    assert not maps.valid[2, 2, 1, 0] and np.isnan(maps.conc[2, 2, 1, 0]) and maps.valid[2, 2, 1, 1]
    assert maps.valid[..., 0].sum() == N * N * NZ - 1 - 3 and np.nanmin(maps.conc) > 0
    paths = save_loaded_maps(maps, tmp_path)
    assert json.loads(paths["metadata_file"].read_text())["NegativeVoxels"] == {"tCr": 3}


def test_negative_concentrations_in_nifti_maps_are_clipped_and_counted(tmp_path):
    folder = tmp_path / "sub-01"
    folder.mkdir()
    data = np.full((N, N, 1), 5.0, np.float32)
    data[0, 0, 0], data[1, 2, 0] = -2.0, -0.5
    path = folder / "sub-01_space-orig_met-NAANAAG_desc-signal_mrsi.nii.gz"
    nib.save(nib.Nifti1Image(data, AFFINE), str(path))
    with pytest.warns(UserWarning, match=rf"{path.name}: NAA \('NAANAAG'\) has 2 voxel\(s\) with a negative"):
        maps = load_metabolite_maps(folder, metabolites=["NAA"], require_quality=False)
    assert maps.valid.sum() == N * N - 2 and not maps.valid[1, 2, 0, 0] and np.nanmin(maps.conc) == 5.0
    paths = save_loaded_maps(maps, tmp_path)
    assert json.loads(paths["metadata_file"].read_text())["NegativeVoxels"] == {"NAA": 2}


def test_a_metabolite_missing_from_one_slice_is_warned_about_and_counted(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path, tables=False)
    folder = derivatives / "sub-01" / "lcmodel_acq-4"
    _rewrite_csv(folder, 2, drop=("Gln",))
    with pytest.warns(UserWarning, match=r"sl2\.csv: slice 2 has no Gln \('Gln'\) although other slices do; "
                                         r"its 16 voxel\(s\) with output are invalid"):
        maps = load_metabolite_maps(derivatives, subject="01", metabolites=["Gln", "NAA"], require_quality=False)
    assert maps.valid[..., 1, 0].sum() == 0 and maps.valid[..., 0, 0].sum() == N * N - 1
    assert maps.missing_by_slice == {"Gln": {2: 16}}
    metadata = json.loads(save_loaded_maps(maps, tmp_path)["metadata_file"].read_text())
    assert metadata["MissingFromSlices"] == {"Gln": {"2": 16}} and metadata["NegativeVoxels"] == {}


def test_the_quality_table_counts_negative_and_absent_voxels(tmp_path):
    """The loader's counts reach the quality table: ``negative`` and ``absent_from_output`` columns."""
    from mrsisr.quality import filter_quality_files

    derivatives = make_lcmodel_tree(tmp_path, tables=False)
    folder = derivatives / "sub-01" / "lcmodel_acq-4"
    _rewrite_csv(folder, 1, negate=((2, 2), (3, 3)))
    _rewrite_csv(folder, 2, drop=("Gln",))
    with pytest.warns(UserWarning):
        maps = load_metabolite_maps(derivatives, subject="01", metabolites=["Gln", "tCr"], require_quality=False)
    (tmp_path / "maps").mkdir()
    files = save_loaded_maps(maps, tmp_path / "maps")
    brain = tmp_path / "brain.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((3 * N, 3 * N, 3 * NZ), np.uint8), AFFINE @ np.diag([1 / 3, 1 / 3, 1 / 3, 1])),
             brain)
    out = filter_quality_files(metabolites=maps.metabolites, snr_file=str(files["snr_file"]),
                               fwhm_file=str(files["fwhm_file"]), brain_mask=str(brain), out_dir=tmp_path,
                               valid_file=str(files["valid_file"]), apply_snr_fwhm=False, erode_voxels=0,
                               metadata_file=str(files["metadata_file"]))
    lines = [line.split("\t") for line in open(out["counts_file"]).read().splitlines()]
    rows = {row[0]: dict(zip(lines[0], row)) for row in lines[1:]}
    assert rows["Gln"]["absent_from_output"] == "16" and rows["Gln"]["negative"] == "0"
    assert rows["tCr"]["negative"] == "2" and rows["tCr"]["absent_from_output"] == "0"
    assert int(rows["Gln"]["failed_fit"]) >= 16 and int(rows["tCr"]["failed_fit"]) >= 2
