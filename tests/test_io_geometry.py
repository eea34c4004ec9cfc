"""MRSI grid geometry and checked NIfTI map reading (mrsisr.io.geometry, mrsisr.io.nifti)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrsisr.io.errors import GeometryError, MapLoadingError
from mrsisr.io.geometry import (
    MRSIGeometry,
    check_in_plane_matrix,
    geometry_from_json,
    geometry_from_nifti,
    ijk_to_lcmodel,
    lcmodel_to_ijk,
    write_geometry_json,
)
from mrsisr.grid import load_image
from mrsisr.io.nifti import find_nifti_maps, parse_bids_name, save_map

AFFINE = np.array([[-3.4, 0, 0, 100.0], [0, 3.4, 0, -90.0], [0, 0, 3.4, -20.0], [0, 0, 0, 1]])


def save(path: Path, data, affine=AFFINE) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), str(path))
    return path


def test_geometry_json_round_trip_and_convention(tmp_path):
    geometry = MRSIGeometry((4, 4, 3), AFFINE, origin="test")
    read = geometry_from_json(write_geometry_json(geometry, tmp_path / "geometry.json"))
    assert read.shape == (4, 4, 3) and np.array_equal(read.affine, AFFINE)
    assert read.lcmodel_shape == (4, 4, 3) and np.allclose(read.zooms, 3.4)
    assert "(c-1, r-1, s-1)" in json.loads((tmp_path / "geometry.json").read_text())["convention"]
    assert MRSIGeometry((6, 4, 2), AFFINE).lcmodel_shape == (4, 6, 2)
    spec = json.loads((tmp_path / "geometry.json").read_text())
    spec["convention"] = "row r -> i"
    (tmp_path / "other.json").write_text(json.dumps(spec))
    with pytest.warns(UserWarning, match="states the convention 'row r -> i'"):
        geometry_from_json(tmp_path / "other.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not readable JSON"),
        ('{"shape": [4, 4, 3]}', r"lacks \['affine'\]"),
        ('{"shape": [4, 4], "affine": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}', "not 3 positive integers"),
        ('{"shape": [4, 4, 3], "affine": [[1,0,0],[0,1,0],[0,0,1]]}', "finite 4x4 matrix"),
        ('{"shape": [4, 4, 3], "affine": [[0,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}', "not an invertible"),
    ],
)
def test_bad_geometry_files(tmp_path, content, message):
    path = tmp_path / "geometry.json"
    path.write_text(content)
    with pytest.raises(MapLoadingError, match=message) as caught:
        geometry_from_json(path)
    assert "geometry.json" in str(caught.value)


def test_geometry_from_nifti_mrs_ignores_spectral_dims(tmp_path):
    geometry = geometry_from_nifti(save(tmp_path / "raw_mrsi.nii.gz", np.zeros((4, 4, 3, 8))))
    assert geometry.shape == (4, 4, 3) and np.allclose(geometry.affine, AFFINE)
    with pytest.raises(MapLoadingError, match="does not exist"):
        geometry_from_nifti(tmp_path / "missing.nii.gz")


def test_matrix_checks():
    assert check_in_plane_matrix(MRSIGeometry((16, 16, 3), AFFINE)) == 16
    assert check_in_plane_matrix(MRSIGeometry((16, 12, 3), AFFINE)) == 16  # rectangular FOV, square voxels
    with pytest.raises(GeometryError, match="in-plane matrix 16x12 of 3.4x5 mm voxels .* neither square voxels"):
        check_in_plane_matrix(MRSIGeometry((16, 12, 3), AFFINE @ np.diag([1, 5 / 3.4, 1, 1])))
    with pytest.raises(GeometryError, match="17x17: the network's n = 17 must be even"):
        check_in_plane_matrix(MRSIGeometry((17, 17, 3), AFFINE))


def test_lcmodel_row_col_to_voxel_ij():
    rows_cols = np.arange(6).reshape(2, 3)  # 2 rows, 3 cols
    ijk = lcmodel_to_ijk(rows_cols)
    assert ijk.shape == (3, 2) and ijk[2, 1] == rows_cols[1, 2]  # row 2, col 3 -> (i, j) = (2, 1)
    assert np.array_equal(ijk_to_lcmodel(ijk), rows_cols)


def test_load_map_checks(tmp_path):
    geometry = MRSIGeometry((4, 4, 3), AFFINE, origin="geometry.json")
    good = save(tmp_path / "good.nii.gz", np.ones((4, 4, 3, 1)))
    assert load_image(good, "map", grid=geometry)[0].shape == (4, 4, 3)
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"not a nifti at all")
    cases = [
        (tmp_path / "missing.nii.gz", MapLoadingError, "does not exist"),
        (garbage, MapLoadingError, "could not be read as NIfTI"),
        (save(tmp_path / "flat.nii.gz", np.ones((4, 4))), GeometryError, r"shape \(4, 4\) \(2-D\); expected 3-D"),
        (save(tmp_path / "series.nii.gz", np.ones((4, 4, 3, 2))), GeometryError, "expected 3-D"),
        (save(tmp_path / "empty.nii.gz", np.ones((4, 0, 3))), GeometryError, "is empty"),
        (save(tmp_path / "grid.nii.gz", np.ones((4, 4, 2))), GeometryError,
         r"grid \(4, 4, 2\) disagrees with the MRSI geometry \(4, 4, 3\) \(from geometry.json\)"),
        (save(tmp_path / "moved.nii.gz", np.ones((4, 4, 3)), AFFINE + np.eye(4) * [0, 0, 0, 0]
              + np.pad(np.ones((3, 1)), ((0, 1), (3, 0)))), GeometryError, "affine .* disagrees"),
    ]
    for path, error, message in cases:
        with pytest.raises(error, match=message) as caught:
            load_image(path, "NAA concentration map", grid=geometry)
        assert path.name in str(caught.value) and "NAA concentration map" in str(caught.value)


def test_load_map_non_finite(tmp_path):
    data = np.ones((4, 4, 3))
    data[0, 0, 0], data[1, 1, 1] = np.nan, np.inf
    with pytest.raises(MapLoadingError, match="contains 1 NaN and 1 infinite values"):
        load_image(save(tmp_path / "bad.nii.gz", data), "map")
    with pytest.raises(MapLoadingError, match="1 NaN and 1 infinite values"):
        load_image(tmp_path / "bad.nii.gz", "map", allow_nan=True)  # Inf is never accepted
    data[1, 1, 1] = 1
    with pytest.raises(MapLoadingError, match="1 NaN and 0 infinite values"):
        load_image(save(tmp_path / "nan.nii.gz", data), "map")
    assert np.isnan(load_image(tmp_path / "nan.nii.gz", "map", allow_nan=True)[0][0, 0, 0])


def test_save_map_is_in_scanner_space(tmp_path):
    path = save_map(np.zeros((4, 4, 3, 2)), MRSIGeometry((4, 4, 3), AFFINE), tmp_path / "out.nii.gz")
    img = nib.load(str(path))
    assert img.shape == (4, 4, 3, 2) and np.allclose(img.affine, AFFINE)
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1


def test_bids_names_and_map_sets(tmp_path):
    assert parse_bids_name("sub-01_ses-A_acq-16_space-orig_met-GPCPCh_desc-signal_mrsi.nii.gz") == (
        {"sub": "01", "ses": "A", "acq": "16", "space": "orig", "met": "GPCPCh", "desc": "signal"}, "mrsi")
    assert parse_bids_name("sub-01_desc-signal_filt_mrsi.nii.gz") is None
    for acq in ("16", "32"):
        for met in ("NAANAAG", "CrPCr"):
            save(tmp_path / f"sub-01_acq-{acq}_space-orig_met-{met}_desc-signal_mrsi.nii.gz", np.ones((2, 2, 1)))
        save(tmp_path / f"sub-01_acq-{acq}_space-orig_met-CrPCr_desc-crlb_mrsi.nii.gz", np.ones((2, 2, 1)))
        save(tmp_path / f"sub-01_acq-{acq}_space-orig_desc-snr_mrsi.nii.gz", np.ones((2, 2, 1)))
    save(tmp_path / "sub-01_acq-16_space-mni_met-Ins_desc-signal_mrsi.nii.gz", np.ones((2, 2, 1)))
    with pytest.raises(MapLoadingError, match=r"several 'acq' labels \(16, 32\); choose one with acquisition"):
        find_nifti_maps(tmp_path, subject="01")
    maps = find_nifti_maps(tmp_path, subject="01", acquisition="16")
    assert sorted(maps.signal) == ["CrPCr", "NAANAAG"] and list(maps.crlb) == ["CrPCr"]
    assert maps.snr.name.startswith("sub-01_acq-16") and maps.fwhm is None
    with pytest.raises(MapLoadingError, match="holds no metabolite maps"):
        find_nifti_maps(tmp_path, subject="02")
