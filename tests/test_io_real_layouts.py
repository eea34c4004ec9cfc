"""Issue 12 items 2-4 on the real layouts of ``tests/real_inputs.py``: the grid from BIDS ``mrs/``,
``fsl_mrsi`` output as written, LCModel spreadsheets found by content, and the cheap inspection."""

from __future__ import annotations

import json
import shutil
import warnings

import nibabel as nib
import numpy as np
import pytest

import real_inputs as ri
from mrsisr.io.errors import GeometryError, MapLoadingError, MetaboliteNotFoundError
from mrsisr.io.inspect import inspect_fitting_output
from mrsisr.io.loader import load_metabolite_maps, save_loaded_maps
from mrsisr.quality import quality_mask

FOUND_LCMODEL = ["tCho", "tCr", "NAA", "Gln", "Glu", "Ins"]  # stock 3T basis: no Gly


@pytest.fixture()
def root(tmp_path):
    return ri.bids_root(tmp_path / "bids")


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def test_lcmodel_grid_from_bids_mrs_and_what_inspection_tells(root, tmp_path):
    raw = ri.raw_mrsi(root, "01", acquisition="epsi")
    run = ri.lcmodel_csi_run(root, "01")
    summary = inspect_fitting_output(root / "derivatives" / "lcmodel", subject="01")
    assert summary.format == "table" and summary.geometry_source == "BIDS mrs/" and summary.geometry_file == raw
    assert summary.metabolites == FOUND_LCMODEL and summary.missing == ("Gly",)
    assert [c[:2] for c in summary.combined] == [("Glx", "Glu+Gln")] and "cannot super-resolve" in summary.combined[0][2]
    assert summary.quality.names == ["S/N", "FWHM", "%SD", "skull"] and summary.frequency == pytest.approx(123.253)
    assert summary.lcmodel_grid.shape == (32, 32, 8) and len(summary.files) == len(run["tables"])
    assert summary.row()["grid"] == "32x32x8" and summary.row()["missing"] == "Gly"
    maps = _quiet(load_metabolite_maps, root / "derivatives" / "lcmodel", subject="01", metabolites=summary.metabolites)
    assert maps.geometry.shape == (32, 32, 8) and np.allclose(maps.geometry.affine, ri.GRID_3T.affine)
    assert maps.geometry_source.endswith(f"BIDS mrs/ ({raw})") and maps.spectrometer_frequency == pytest.approx(123.253)
    naa = run["conc"]["NAA"] + run["conc"]["NAAG"]  # LCModel's NAA+NAAG row
    expected = np.swapaxes(naa[..., 3], 0, 1)  # [row, col] -> [i, j]
    valid = maps.valid[..., 3, 2]
    np.testing.assert_allclose(maps.conc[..., 3, 2][valid], expected[valid], rtol=2e-3)
    out = tmp_path / "out"
    out.mkdir()
    meta = json.loads(save_loaded_maps(maps, out)["metadata_file"].read_text())
    assert meta["QualityCriteria"]["SNR"] and meta["QualityCriteria"]["CRLB"] and "BIDS mrs/" in meta["Geometry"]


def test_ambiguous_raw_mrsi_names_the_files_and_the_filter_key(root):
    ri.raw_mrsi(root, "01", acquisition="epsi")
    ri.raw_mrsi(root, "01", acquisition="press", grid=ri.MRSIGrid((16, 16), (240.0, 240.0), 8, 10.0))
    ri.lcmodel_csi_run(root, "01")
    lcmodel = root / "derivatives" / "lcmodel"
    with pytest.raises(MapLoadingError, match=r"2 raw MRSI files .*acq-epsi_mrsi.*acq-press_mrsi.*"
                                              r"--bids-filter-file, key 'mrsi'"):
        inspect_fitting_output(lcmodel, subject="01")
    summary = inspect_fitting_output(lcmodel, subject="01", mrsi_filters={"acquisition": "epsi"})
    assert summary.geometry_file.name == "sub-01_acq-epsi_mrsi.nii.gz"
    with pytest.raises(GeometryError, match=r"acq-press_mrsi.nii.gz is 16x16x8 .*control.file says ndrows=32, "
                                            r"ndcols=32, ndslic=8"):
        inspect_fitting_output(lcmodel, subject="01", mrsi_filters={"acquisition": "press"})


def test_geometry_json_is_the_fallback_and_must_agree_with_mrs(root):
    grid = ri.MRSIGrid((24, 24), (240.0, 240.0), 8, 10.0)
    run = ri.lcmodel_csi_run(root, "01", grid=grid, geometry_json=True)
    lcmodel = root / "derivatives" / "lcmodel"
    summary = inspect_fitting_output(lcmodel, subject="01", metabolites=["NAA"])
    assert summary.geometry_source == "geometry.json" and summary.shape == (24, 24, 8)
    assert summary.lcmodel_grid.shape == (24, 24, 8) and np.allclose(summary.zooms, (10.0, 10.0, 10.0))
    ri.raw_mrsi(root, "01", grid=ri.GRID_3T)  # a raw MRSI on another grid
    with pytest.raises(GeometryError, match=r"raw MRSI .*sub-01_mrsi.nii.gz .*geometry.json .*disagree"):
        inspect_fitting_output(lcmodel, subject="01", metabolites=["NAA"])
    (root / "sub-01" / "mrs" / "sub-01_mrsi.nii.gz").unlink()
    run["geometry_json"].write_text(json.dumps({"shape": [32, 32, 8], "affine": ri.GRID_3T.affine.tolist()}))
    with pytest.raises(GeometryError, match=r"geometry.json is 32x32x8 .*control.file says ndrows=24, ndcols=24"):
        load_metabolite_maps(lcmodel, subject="01", metabolites=["NAA"])
    run["geometry_json"].unlink()
    with pytest.raises(GeometryError, match=r"no MRSI geometry .*BIDS mrs/ .*--bids-filter-file key 'mrsi'.*"
                                            r"mrsisr-geometry IN.nii.gz geometry.json"):
        load_metabolite_maps(lcmodel, subject="01", metabolites=["NAA"])


def test_spreadsheet_only_run_is_found_by_content_and_filtered_on_what_it_has(root):
    ri.raw_mrsi(root, "01")
    run = ri.lcmodel_csi_run(root, "01")
    for path in run["tables"] + run["coords"]:
        path.unlink()
    lcmodel = root / "derivatives" / "lcmodel"
    summary = inspect_fitting_output(lcmodel, subject="01")
    assert summary.format == "csv" and summary.files == (run["folder"] / "spreadsheet.csv",)
    assert summary.quality.names == ["%SD", "skull"] and "no S/N or FWHM" in summary.notes[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        maps = load_metabolite_maps(lcmodel, subject="01", metabolites=["NAA", "tCr"], require_quality=False)
    said = [w for w in caught if "S/N and FWHM are unavailable" in str(w.message)]
    assert len(said) == 1 and "--crlb-max" in str(said[0].message)
    assert maps.quality_criteria.as_json()["SNR"] is False and maps.quality_criteria.crlb
    assert maps.valid[..., 3, :].sum() > 100 and not maps.valid[..., [0, 1, 2, 4, 5, 6, 7], :].any()  # slice 4
    result = quality_mask(metabolites=maps.metabolites, snr=maps.snr, fwhm=maps.fwhm, brain=np.ones((32, 32, 8), bool),
                          crlb=maps.sd, valid=maps.valid, conc=maps.conc, crlb_max=50.0, apply_snr_fwhm=False)
    assert result.counts[0]["low_snr"] == "n/a" and result.counts[0]["wide_fwhm"] == "n/a"
    with np.errstate(invalid="ignore"):
        kept = maps.valid[..., 0] & (maps.sd[..., 0] <= 50)
    assert result.counts[0]["kept"] == int(kept.sum()) > 100
    lone = inspect_fitting_output(run["folder"] / "spreadsheet.csv", subject="01", metabolites=["NAA"])
    assert lone.format == "csv" and lone.geometry_source == "BIDS mrs/"


def test_fsl_mrsi_folder_under_the_subject_scaling_and_frequency(root):
    out = ri.fsl_mrsi_output(root, "01")
    fsl = root / "derivatives" / "fsl-mrs"
    summary = inspect_fitting_output(fsl, subject="01")
    assert summary.format == "fsl-mrs" and summary.path == out["folder"] and summary.fsl_scaling == "molarity"
    assert summary.metabolites == FOUND_LCMODEL and summary.frequency_source.endswith("fit/fit.nii.gz")
    maps = load_metabolite_maps(fsl, subject="01", metabolites=["NAA", "tCho"])
    assert maps.source_names == ["NAA+NAAG", "PCho+GPC"] and maps.geometry.shape == (32, 32, 8)
    inside = out["mask"]
    np.testing.assert_allclose(maps.fwhm[inside], out["fwhm_hz"][inside] / 123.253, rtol=1e-5)
    raw_scaled = load_metabolite_maps(fsl, subject="01", metabolites=["NAA"], fsl_scaling="raw")
    np.testing.assert_allclose(raw_scaled.conc[..., 0][inside], maps.conc[..., 0][inside] * 1e3, rtol=1e-5)
    shutil.rmtree(out["folder"] / "fit")
    with pytest.raises(MapLoadingError, match=r"FWHM in Hz.*--spectrometer-frequency.*neither fit/fit.nii.gz"):
        inspect_fitting_output(fsl, subject="01")
    assert load_metabolite_maps(fsl, subject="01", metabolites=["NAA"],
                                spectrometer_frequency=123.2).spectrometer_frequency == 123.2
    ri.raw_mrsi(root, "01")  # the raw NIfTI-MRS in BIDS mrs/ gives the frequency
    summary = inspect_fitting_output(fsl, subject="01", metabolites=["NAA"])
    assert summary.frequency == pytest.approx(123.253) and summary.frequency_source.endswith("sub-01_mrsi.nii.gz")
    with pytest.raises(MapLoadingError, match=r"--spectrometer-frequency 297.2 MHz disagrees with .*123.253"):
        load_metabolite_maps(fsl, subject="01", metabolites=["NAA"], spectrometer_frequency=297.2)
    shutil.copytree(out["folder"], out["folder"].parent / "mrsi_fit_v2")
    with pytest.raises(MapLoadingError, match=r"several fsl_mrsi outputs \(mrsi_fit, mrsi_fit_v2\)"):
        inspect_fitting_output(fsl, subject="01")


def test_inspection_of_mrsiprep_maps_and_named_metabolites(root):
    ri.mrsiprep_maps(root, "01", sessions=("1",))
    derivatives = root / "derivatives" / "mrsi-orig"
    summary = inspect_fitting_output(derivatives, subject="01", session="1")
    assert summary.format == "nifti" and summary.geometry_source == "maps" and summary.frequency is None
    assert summary.metabolites == ["tCho", "tCr", "NAA", "Ins"] and summary.missing == ("Gly", "Gln", "Glu")
    assert summary.combined[0][:2] == ("Glx", "GluGln") and summary.quality.snr
    with pytest.raises(MetaboliteNotFoundError, match=r"(?s)named with --metabolites.*no 'Glu'.*combined Glu\+Gln"):
        inspect_fitting_output(derivatives, subject="01", session="1", metabolites=["NAA", "Glu"],
                               required=["NAA", "Glu"])
    with pytest.raises(MetaboliteNotFoundError, match="none of the requested metabolites is present"):
        inspect_fitting_output(derivatives, subject="01", session="1", metabolites=["Gly"])


def test_inspection_reads_no_map(root, monkeypatch):
    ri.raw_mrsi(root, "01")
    ri.lcmodel_csi_run(root, "01")
    ri.fsl_mrsi_output(root, "02")
    calls = []
    original = nib.Nifti1Image.get_fdata
    monkeypatch.setattr(nib.Nifti1Image, "get_fdata", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    inspect_fitting_output(root / "derivatives" / "lcmodel", subject="01")
    inspect_fitting_output(root / "derivatives" / "fsl-mrs", subject="02")
    assert calls == []


def test_a_voxel_outside_lcmodels_grid_is_refused_before_reading(root):
    ri.raw_mrsi(root, "01")
    run = ri.lcmodel_csi_run(root, "01")
    shutil.copy(run["tables"][1], run["folder"] / "run_sl4_33-2.table")  # row 33 of a 32-row grid
    with pytest.raises(GeometryError, match=r"reach slice 4, row 33, col \d+, outside LCModel's grid in .*control.file"):
        inspect_fitting_output(root / "derivatives" / "lcmodel", subject="01")
