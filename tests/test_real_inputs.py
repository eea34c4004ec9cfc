"""The real-layout builders of ``tests/real_inputs.py`` write what today's readers (and nifti-mrs) accept."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import real_inputs as ri
from mrsisr.io.fslmrs import find_fslmrs_maps, read_spectrometer_frequency
from mrsisr.io.geometry import lcmodel_to_ijk
from mrsisr.io.lcmodel import read_csi, read_spreadsheet, read_table
from mrsisr.io.lcmodel_grid import check_grid, check_voxels, find_lcmodel_grid, find_spreadsheets
from mrsisr.grid import load_image
from mrsisr.io.nifti import find_nifti_maps
from mrsisr.io.niftimrs import find_bids_mrsi, read_nifti_mrs


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return ri.bids_root(tmp_path_factory.mktemp("bids"), {"01": (None,), "02": ("1", "2")})


def test_bids_root_has_a_t1w_and_no_flair(root):
    import nibabel as nib

    t1w = nib.load(str(root / "sub-01" / "anat" / "sub-01_T1w.nii.gz"))
    assert t1w.shape == (66, 78, 63) and np.allclose(t1w.header.get_zooms(), 3.0)
    assert (root / "sub-02" / "ses-2" / "anat" / "sub-02_ses-2_T1w.nii.gz").is_file()
    assert not list(root.rglob("*FLAIR*"))


def test_raw_mrsi_is_valid_nifti_mrs_found_by_pybids(root):
    from bids import BIDSLayout
    from nifti_mrs import validator
    from nifti_mrs.nifti_mrs import NIFTI_MRS

    path = ri.raw_mrsi(root, "01", acquisition="epsi")
    validator.validate_nifti_mrs(NIFTI_MRS(str(path)))
    raw = read_nifti_mrs(path)
    assert raw.geometry.shape == (32, 32, 8) and raw.spectrometer_frequency == pytest.approx(123.253)
    layout = BIDSLayout(root, validate=False)
    assert find_bids_mrsi(layout=layout, subject="01", acquisition="epsi") == path
    assert path.stat().st_size < 500_000


def test_lcmodel_run_reads_back_like_stock_output(root):
    run = ri.lcmodel_csi_run(root, "01")
    folder = run["folder"]
    assert (folder / "control.file").is_file() and (folder / "spreadsheet.csv").is_file()
    assert all(p.name.startswith("run_sl4_") for p in run["tables"]) and len(run["coords"]) == 2
    grid = find_lcmodel_grid(folder)
    assert grid.shape == (32, 32, 8) and grid.slice == 4
    check_grid(grid, read_nifti_mrs(ri.raw_mrsi(root, "01", acquisition="epsi")).geometry)
    table = read_table(run["tables"][1])
    assert "Gly" not in table.names and {"GPC+PCh", "NAA+NAAG", "Cr+PCr", "Glu+Gln", "Ins"} <= set(table.names)
    assert table.ratio_reference == "Cr+PCr" and table.location[0] == 4 and 0.03 <= table.fwhm <= 0.2
    coord = read_table(run["coords"][0])
    assert coord.names == table.names
    sheet = read_spreadsheet(folder / "spreadsheet.csv")
    assert find_spreadsheets(folder) == {4: folder / "spreadsheet.csv"}
    assert "MM14+Lip13a+L" in sheet.names and len(sheet.rows) == len(run["tables"]) - 1  # no row for FATAL
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        maps = read_csi(folder, (32, 32), slice=4)
    assert any("FATAL" in str(w.message) for w in caught)
    assert maps.failed.sum() == 1 and maps.present.sum() == len(run["tables"])
    check_voxels(grid, [(4, r + 1, c + 1) for r, c in zip(*np.nonzero(maps.present))], folder)
    expected = run["conc"]["NAA"][..., 3]
    valid = maps.present & ~maps.failed
    np.testing.assert_allclose(maps.conc["NAA"][valid], expected[valid], rtol=2e-3)
    brain_ijk = lcmodel_to_ijk(run["brain"][..., 3])
    assert brain_ijk.shape == (32, 32) and brain_ijk.sum() == maps.present.sum()


def test_lcmodel_acquisition_folder_and_geometry_json(root):
    from mrsisr.io.geometry import geometry_from_json

    run = ri.lcmodel_csi_run(root, "02", session="2", grid=ri.GRID_RECT, acquisition="epsi", geometry_json=True)
    assert run["folder"].relative_to(root).as_posix() == "derivatives/lcmodel/sub-02/ses-2/lcmodel_acq-epsi"
    geometry = geometry_from_json(run["geometry_json"])
    assert geometry.shape == (32, 24, 8)
    check_grid(find_lcmodel_grid(run["folder"]), geometry)  # 24 rows x 32 cols
    assert max(int(p.stem.split("_")[-1].split("-")[0]) for p in run["tables"]) <= 24


def test_lcmodel_several_slices_share_the_folder(root, tmp_path):
    run = ri.lcmodel_csi_run(root, "02", session="1", slices=(4, 5), folder=tmp_path / "lcm")
    assert sorted(p.name for p in run["controls"]) == ["control_sl4.file", "control_sl5.file"]
    assert find_spreadsheets(run["folder"]) == {4: run["folder"] / "spreadsheet_sl4.csv",
                                                5: run["folder"] / "spreadsheet_sl5.csv"}
    assert find_lcmodel_grid(run["folder"]).shape == (32, 32, 8)


def test_fsl_mrsi_tree(root):
    out = ri.fsl_mrsi_output(root, "01")
    folder = out["folder"]
    assert folder.relative_to(root).as_posix() == "derivatives/fsl-mrs/sub-01/mrsi_fit"
    for sub in ("concs/raw", "concs/internal", "concs/molarity", "uncertainties", "qc", "fit", "nuisance", "misc"):
        assert (folder / sub).is_dir(), sub
    assert (folder / "options.txt").is_file()
    maps = find_fslmrs_maps(folder, scaling="molarity")
    assert {"PCho+GPC", "Cr+PCr", "NAA+NAAG", "Glu+Gln", "Ins"} <= set(maps.conc)
    assert "PCho+GPC" in maps.sd and "PCho+GPC" not in maps.fwhm and "PCho" in maps.fwhm
    assert read_spectrometer_frequency(folder / "fit" / "fit.nii.gz") == pytest.approx(123.253)
    fit = read_nifti_mrs(folder / "fit" / "fit.nii.gz")
    assert fit.geometry.shape == (32, 32, 8)
    fwhm = load_image(maps.fwhm["NAA"], "NAA FWHM", grid=fit.geometry, dtype=float)[0]
    inside = fwhm[out["mask"]]
    assert 5 < np.median(inside) < 12  # Hz at 3 T, i.e. 0.04-0.1 ppm


def test_mrsiprep_sessions_and_rectangular_grid(root):
    written = ri.mrsiprep_maps(root, "02", sessions=("1", "2"), grid=ri.GRID_RECT)
    assert set(written) == {"1", "2"}
    folder = root / "derivatives" / "mrsi-orig" / "sub-02" / "ses-2"
    maps = find_nifti_maps(folder, subject="02", session="2")
    assert sorted(maps.signal) == ["CrPCr", "GPCPCh", "GluGln", "Ins", "NAANAAG"]
    assert maps.snr is not None and maps.fwhm is not None
    from mrsisr.io.geometry import geometry_from_nifti

    geometry = geometry_from_nifti(maps.signal["NAANAAG"])
    assert geometry.shape == (32, 24, 8) and np.allclose(geometry.zooms, (7.5, 7.5, 10.0))
    fwhm = load_image(maps.fwhm, "FWHM", grid=geometry, dtype=float)[0]
    assert 0.04 < fwhm[fwhm > 0].mean() < 0.09  # ppm
