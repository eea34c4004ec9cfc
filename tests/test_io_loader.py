"""End-to-end loading (mrsisr.io.loader) on derivatives trees written by the tests.

Every value written is a known function of (row, col, slice, metabolite), so the
tests check the orientation convention LCModel (r, c, s) -> voxel (c-1, r-1, s-1)
voxel by voxel, independently of the library's own transposition.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from test_io_fslmrs import make_fsl_mrsi
from test_io_lcmodel import write_spreadsheet, write_table

from mrsisr.io.errors import GeometryError, MapLoadingError, MetaboliteNotFoundError
from mrsisr.io.loader import OUTPUT_NAMES, load_metabolite_maps, save_loaded_maps

AFFINE = np.array([[-3.0, 0, 0, 45.0], [0, 3.0, 0, -40.0], [0, 0, 4.0, 10.0], [0, 0, 0, 1]])
#: Names as LCModel writes them, with the canonical name each resolves to.
WRITTEN = {"tCho": "GPC+PCh", "tCr": "Cr+PCr", "NAA": "NAA+NAAG", "Gly": "Glyc", "Gln": "Gln", "Glu": "Glu", "Ins": "mI"}
N, NZ = 4, 2
MISSING = (1, 1, 1)  # (slice, row, col) with no output at all
NOT_FOUND = (2, 3, 2)  # Gln written 0.000 with 999 %SD


def value(row: int, col: int, sl: int, m: int) -> float:
    return 100.0 * (m + 1) + 10.0 * row + col + 0.5 * sl


def quality(row: int, col: int, sl: int) -> tuple[float, int]:
    return 0.05 + 0.001 * (row + 10 * col), 10 * sl + row


def voxel_rows(row, col, sl):
    rows = []
    for m, name in enumerate(WRITTEN.values()):
        conc, sd = value(row, col, sl, m), 5
        if (sl, row, col) == NOT_FOUND and name == "Gln":
            conc, sd = 0.0, 999
        rows.append((name, conc, sd, conc / 200.0))
    return rows + [("sIns", 0.25, 40, 0.001)]


def make_lcmodel_tree(bids: Path, *, tables=True, csv=True, acq="4", session=None, shape=(N, N, NZ)) -> Path:
    """``bids/derivatives/lcmodel/sub-01[/ses-X]/lcmodel_acq-<acq>/`` with tables, spreadsheets, geometry."""
    folder = bids / "derivatives" / "lcmodel" / "sub-01" / (f"ses-{session}" if session else "") / f"lcmodel_acq-{acq}"
    folder.mkdir(parents=True)
    nx, ny, nz = shape
    (folder / "geometry.json").write_text(json.dumps({"shape": [nx, ny, nz], "affine": AFFINE.tolist(),
                                                      "convention": "row r, col c, slice s -> (c-1, r-1, s-1)"}))
    for sl in range(1, nz + 1):
        voxels = {}
        for row in range(1, ny + 1):
            for col in range(1, nx + 1):
                if (sl, row, col) == MISSING:
                    continue
                rows = voxel_rows(row, col, sl)
                voxels[(row, col)] = {name: (conc, sd, ratio) for name, conc, sd, ratio in rows}
                if tables:
                    fwhm, snr = quality(row, col, sl)
                    write_table(folder / f"sl{sl}_{row}-{col}.table", rows, fwhm=fwhm, snr=snr, location=(sl, row, col))
        if csv:
            write_spreadsheet(folder / f"sl{sl}.csv", voxels, list(WRITTEN.values()) + ["sIns"])
    return bids / "derivatives" / "lcmodel"


def expected_conc(m: int) -> np.ndarray:
    """Concentrations on the voxel grid, placed by the convention written out by hand."""
    out = np.full((N, N, NZ), np.nan)
    for sl in range(1, NZ + 1):
        for row in range(1, N + 1):
            for col in range(1, N + 1):
                out[col - 1, row - 1, sl - 1] = value(row, col, sl, m)
    out[MISSING[2] - 1, MISSING[1] - 1, MISSING[0] - 1] = np.nan
    if list(WRITTEN)[m] == "Gln":
        out[NOT_FOUND[2] - 1, NOT_FOUND[1] - 1, NOT_FOUND[0] - 1] = np.nan
    return out


def test_tables_are_placed_by_the_convention(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path)
    maps = load_metabolite_maps(derivatives, subject="01")
    assert maps.source_format == "table" and maps.acquired_matrix == N and maps.quality_available
    assert maps.metabolites == list(WRITTEN) and maps.source_names == list(WRITTEN.values())
    assert maps.conc.shape == (N, N, NZ, 7) and np.array_equal(maps.geometry.affine, AFFINE)
    for m in range(7):
        np.testing.assert_array_equal(maps.conc[..., m], expected_conc(m))
    assert maps.valid.sum() == 7 * (N * N * NZ - 1) - 1
    i, j, k = NOT_FOUND[2] - 1, NOT_FOUND[1] - 1, NOT_FOUND[0] - 1
    assert not maps.valid[i, j, k, 4] and np.isnan(maps.conc[i, j, k, 4]) and maps.sd[i, j, k, 4] == 999
    assert maps.valid[i, j, k, 5]
    fwhm, snr = quality(row=2, col=3, sl=2)
    assert maps.fwhm[2, 1, 1] == pytest.approx(fwhm, abs=1e-12) and maps.snr[2, 1, 1] == snr
    assert np.isnan(maps.snr[0, 0, 0]) and not maps.valid[0, 0, 0].any()


def test_spreadsheets_give_the_same_maps_and_take_quality_from_tables(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path)
    from_tables = load_metabolite_maps(derivatives, subject="sub-01")
    from_csv = load_metabolite_maps(derivatives, subject="01", source_format="csv")
    assert from_csv.source_format == "csv" and "LCModel tables" in from_csv.quality_source
    np.testing.assert_array_equal(from_csv.conc, from_tables.conc)
    np.testing.assert_array_equal(from_csv.valid, from_tables.valid)
    np.testing.assert_array_equal(from_csv.snr, from_tables.snr)


def test_spreadsheets_without_quality(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path, tables=False)
    with pytest.raises(MapLoadingError, match=r"S/N and FWHM are unavailable \(csv output carries none\)"):
        load_metabolite_maps(derivatives, subject="01")
    with pytest.warns(UserWarning, match="written as NaN"):
        maps = load_metabolite_maps(derivatives, subject="01", require_quality=False)
    assert not maps.quality_available and np.isnan(maps.snr).all() and np.isnan(maps.fwhm).all()
    subject = derivatives / "sub-01"  # quality maps in MRSIPrep naming beside the LCModel folder
    for desc, fill in (("snr", 12.0), ("fwhm", 0.07)):
        img = nib.Nifti1Image(np.full((N, N, NZ), fill, np.float32), AFFINE)
        nib.save(img, str(subject / f"sub-01_acq-4_space-orig_desc-{desc}_mrsi.nii.gz"))
    maps = load_metabolite_maps(derivatives, subject="01")
    assert maps.quality_available and np.all(maps.snr == 12.0) and "desc-snr" in maps.quality_source


def write_nifti_set(folder: Path, derived_from: Path) -> None:
    """MRSIPrep-named maps (no acq) holding the table-derived values, 0 where invalid."""
    maps = load_metabolite_maps(derived_from, subject="01")
    folder.mkdir(parents=True)
    labels = {"tCho": "GPCPCh", "tCr": "CrPCr", "NAA": "NAANAAG", "Gly": "Gly", "Gln": "Gln", "Glu": "Glu", "Ins": "Ins"}
    for m, canonical in enumerate(maps.metabolites):
        for desc, data in (("signal", np.nan_to_num(maps.conc[..., m])), ("crlb", np.nan_to_num(maps.sd[..., m]))):
            name = f"sub-01_ses-A_space-orig_met-{labels[canonical]}_desc-{desc}_mrsi.nii.gz"
            nib.save(nib.Nifti1Image(data.astype(np.float32), AFFINE), str(folder / name))
    for desc, data in (("snr", maps.snr), ("fwhm", maps.fwhm)):
        nib.save(nib.Nifti1Image(np.nan_to_num(data).astype(np.float32), AFFINE),
                 str(folder / f"sub-01_ses-A_space-orig_desc-{desc}_mrsi.nii.gz"))


def test_nifti_map_set_round_trip(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path / "a")
    mrsi_orig = tmp_path / "bids" / "derivatives" / "mrsi-orig"
    write_nifti_set(mrsi_orig / "sub-01" / "ses-A", derivatives)
    tables = load_metabolite_maps(derivatives, subject="01")
    maps = load_metabolite_maps(mrsi_orig, subject="01", session="A")
    assert maps.source_format == "nifti" and maps.source_names[0] == "GPCPCh"
    np.testing.assert_allclose(maps.conc, tables.conc, rtol=1e-6)  # float32 storage
    np.testing.assert_array_equal(maps.valid, tables.valid)
    single = load_metabolite_maps(next((mrsi_orig / "sub-01" / "ses-A").glob("*CrPCr_desc-signal*")), metabolites=["tCr"])
    assert single.source_names == ["CrPCr"]
    reference = tmp_path / "reference.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((N, N, NZ)), AFFINE + np.diag([0, 0, 0.5, 0])), str(reference))
    with pytest.raises(GeometryError, match=r"concentration map .*desc-signal.* affine .* disagrees.*reference.nii.gz"):
        load_metabolite_maps(mrsi_orig, subject="01", session="A", reference=reference)


def test_nan_in_nifti_maps(tmp_path):
    folder = tmp_path / "sub-01"
    folder.mkdir()
    data = np.ones((N, N, 1), np.float32)
    data[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(data, AFFINE), str(folder / "sub-01_space-orig_met-NAA_desc-signal_mrsi.nii.gz"))
    with pytest.raises(MapLoadingError, match="contains 1 NaN and 0 infinite"):
        load_metabolite_maps(folder, metabolites=["NAA"], require_quality=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        maps = load_metabolite_maps(folder, metabolites=["NAA"], require_quality=False, allow_nan=True)
    assert not maps.valid[0, 0, 0, 0] and maps.valid.sum() == N * N - 1


def test_failed_voxel_is_invalid_not_zero(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path, csv=False)
    failed = derivatives / "sub-01" / "lcmodel_acq-4" / "sl2_4-3.table"
    failed.write_text(" LCModel (Version 6.3-1N)\n Slice#2 Row#4 Col#3\n\n$$DIAG  1 lines in following diagnostic table:\n"
                      "   1 FATAL     FTDATA  1\n")
    with pytest.warns(UserWarning, match="failed fit"):
        maps = load_metabolite_maps(derivatives, subject="01")
    assert not maps.valid[2, 3, 1].any() and np.isnan(maps.conc[2, 3, 1]).all() and np.isnan(maps.snr[2, 3, 1])


def test_selection_and_geometry_errors(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path)
    make_lcmodel_tree(tmp_path, acq="8", csv=False)
    with pytest.raises(MapLoadingError, match=r"several LCModel runs \(lcmodel_acq-4, lcmodel_acq-8\)"):
        load_metabolite_maps(derivatives, subject="01")
    assert load_metabolite_maps(derivatives, subject="01", acquisition="acq-8").source_format == "table"
    with pytest.raises(MapLoadingError, match="has no folder sub-02"):
        load_metabolite_maps(derivatives, subject="02")
    with pytest.raises(MetaboliteNotFoundError, match=r"no 'Lac' .*present: GPC\+PCh, Cr\+PCr, NAA\+NAAG, Glyc"):
        load_metabolite_maps(derivatives, subject="01", acquisition="4", metabolites=["NAA", "Lac"])
    with pytest.raises(GeometryError, match="in-plane matrix 4x6 of .* neither square voxels .* nor one field of view"):
        load_metabolite_maps(derivatives, subject="01", acquisition="4", grid_shape=(4, 6, 2),
                             grid_affine=AFFINE @ np.diag([1.0, 1.5, 1.0, 1.0]))
    with pytest.raises(GeometryError, match=r"sl1_1-3.table: voxel row 1, col 3 lies outside the stated grid of 2 rows x 2 cols"):
        load_metabolite_maps(derivatives, subject="01", acquisition="4", grid_shape=(2, 2, 2), grid_affine=AFFINE)
    (derivatives / "sub-01" / "lcmodel_acq-4" / "geometry.json").unlink()
    with pytest.raises(GeometryError, match="no MRSI geometry for .*lcmodel_acq-4: give a reference"):
        load_metabolite_maps(derivatives, subject="01", acquisition="4")
    raw = tmp_path / "sub-01" / "mrs" / "sub-01_acq-4_mrsi.nii.gz"  # BIDS raw MRSI gives the grid
    raw.parent.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros((N, N, NZ, 16), np.float32), AFFINE), str(raw))
    maps = load_metabolite_maps(derivatives, subject="01", acquisition="4")
    assert maps.geometry.origin == str(raw)


def test_fsl_mrs_output(tmp_path):
    folder = make_fsl_mrsi(tmp_path / "fsl", metabolites=("NAA", "NAAG", "Cr", "PCr", "PCh+GPC", "Ins"))
    with pytest.raises(MapLoadingError, match="fsl_mrsi writes FWHM in Hz; give spectrometer_frequency"):
        load_metabolite_maps(folder, metabolites=["tCho", "NAA", "Ins"])
    maps = load_metabolite_maps(folder, metabolites=["tCho", "NAA", "Ins"], spectrometer_frequency=297.2)
    assert maps.source_format == "fsl-mrs" and maps.source_names == ["PCh+GPC", "NAA", "Ins"]
    assert np.allclose(maps.fwhm, 0.1) and np.all(maps.snr == 20) and maps.valid.all()
    assert "qc/NAA_snr" in maps.quality_source and maps.geometry.shape == (2, 2, 1)
    with pytest.raises(MetaboliteNotFoundError, match="no 'tCr'.*present: Cr, Ins, NAA, NAAG, PCh\\+GPC, PCr"):
        load_metabolite_maps(folder, metabolites=["tCr"], spectrometer_frequency=297.2)
    raw = nib.Nifti1Image(np.zeros((2, 2, 1, 8), np.float32), np.diag([3.0, 3.0, 3.0, 1.0]))
    raw.header.extensions.append(nib.nifti1.Nifti1Extension(44, json.dumps({"SpectrometerFrequency": [123.2]}).encode()))
    nib.save(raw, str(tmp_path / "raw_mrsi.nii.gz"))
    maps = load_metabolite_maps(folder, metabolites=["NAA"], reference=tmp_path / "raw_mrsi.nii.gz")
    assert np.allclose(maps.fwhm, 29.72 / 123.2)
    with pytest.raises(MapLoadingError, match=r"\['NAA'\] are requested more than once"):
        load_metabolite_maps(folder, metabolites=["NAA", "tNAA"], spectrometer_frequency=297.2)


def test_saved_outputs(tmp_path):
    maps = load_metabolite_maps(make_lcmodel_tree(tmp_path / "in"), subject="01", metabolites=["Ins", "tCho"])
    out = tmp_path / "out"
    out.mkdir()
    paths = save_loaded_maps(maps, out)
    assert {p.name for p in paths.values()} == set(OUTPUT_NAMES.values())
    conc = nib.load(str(paths["conc_file"]))
    assert conc.shape == (N, N, NZ, 2) and np.allclose(conc.affine, AFFINE)
    np.testing.assert_array_equal(np.asarray(conc.dataobj)[..., 0], expected_conc(6).astype(np.float32))
    valid = nib.load(str(paths["valid_file"]))
    assert valid.get_data_dtype() == np.uint8 and np.asarray(valid.dataobj).sum() == maps.valid.sum()
    assert nib.load(str(paths["snr_file"])).shape == (N, N, NZ)
    meta = json.loads(paths["metadata_file"].read_text())
    assert meta["Metabolites"] == ["Ins", "tCho"] and meta["SourceNames"] == ["mI", "GPC+PCh"]
    assert meta["FWHMUnits"] == "ppm" and meta["AcquiredMatrix"] == N


def test_missing_subject_or_session_choice_is_explained(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path, session="A")
    with pytest.raises(MapLoadingError, match=r"lcmodel: found no metabolite maps.*holds sub-01: choose one with subject"):
        load_metabolite_maps(derivatives)
    with pytest.raises(MapLoadingError, match=r"sub-01: found no metabolite maps.*holds ses-A: choose one with session"):
        load_metabolite_maps(derivatives, subject="01")
    assert load_metabolite_maps(derivatives, subject="01", session="ses-A").acquired_matrix == N
    assert load_metabolite_maps(derivatives / "sub-01" / "ses-A").source_format == "table"
    with pytest.raises(MapLoadingError, match="source .*nowhere does not exist"):
        load_metabolite_maps(tmp_path / "nowhere")


def test_explicit_quality_maps(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path, tables=False)
    snr, fwhm, small = tmp_path / "snr.nii.gz", tmp_path / "fwhm.nii.gz", tmp_path / "small.nii.gz"
    nib.save(nib.Nifti1Image(np.full((N, N, NZ), 7.0, np.float32), AFFINE), str(snr))
    nib.save(nib.Nifti1Image(np.full((N, N, NZ), 0.09, np.float32), AFFINE), str(fwhm))
    nib.save(nib.Nifti1Image(np.full((N, N, 1), 0.09, np.float32), AFFINE), str(small))
    maps = load_metabolite_maps(derivatives, subject="01", snr_map=snr, fwhm_map=fwhm)
    assert maps.quality_available and np.all(maps.snr == 7.0) and maps.quality_source.startswith(str(snr))
    with pytest.raises(GeometryError, match=r"FWHM map .*small.nii.gz: grid \(4, 4, 1\) disagrees"):
        load_metabolite_maps(derivatives, subject="01", snr_map=snr, fwhm_map=small)
    with pytest.raises(MapLoadingError, match="snr_map and fwhm_map go together"):
        load_metabolite_maps(derivatives, subject="01", snr_map=snr)
