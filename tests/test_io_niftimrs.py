"""The raw MRSI in BIDS ``mrs/``: NIfTI-MRS grid and frequency, and matching it to a fitting output."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from mrsisr.io.errors import MapLoadingError
from mrsisr.io.niftimrs import MRSI_QUERY, find_bids_mrsi, is_nifti_mrs, read_nifti_mrs
from real_inputs import GRID_3T, GRID_RECT, MRSIGrid, raw_mrsi


def test_read_nifti_mrs_gives_the_grid_and_frequency(tmp_path):
    path = raw_mrsi(tmp_path, "01", grid=GRID_RECT, points=16)
    raw = read_nifti_mrs(path)
    assert raw.geometry.shape == (32, 24, 8)
    assert raw.geometry.lcmodel_shape == (24, 32, 8)
    np.testing.assert_allclose(raw.geometry.zooms, (7.5, 7.5, 10.0))
    np.testing.assert_allclose(raw.geometry.affine, GRID_RECT.affine)
    assert raw.spectrometer_frequency == pytest.approx(123.253)
    assert (raw.nucleus, raw.spectral_points) == ("1H", 16)
    assert is_nifti_mrs(path)


def test_a_plain_nifti_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "map.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 2), np.float32), np.eye(4)), str(path))
    assert not is_nifti_mrs(path)
    with pytest.raises(MapLoadingError, match=r"map\.nii\.gz is not NIfTI-MRS.*spec2nii"):
        read_nifti_mrs(path)
    with pytest.raises(MapLoadingError, match="does not exist"):
        read_nifti_mrs(tmp_path / "absent.nii.gz")


def test_an_implausible_frequency_is_refused(tmp_path):
    path = raw_mrsi(tmp_path, "01", grid=MRSIGrid((4, 4), (40.0, 40.0), 1, 10.0, frequency_mhz=3.0), points=8)
    with pytest.raises(MapLoadingError, match=r"spectrometer frequency 3\.0 is not a 1H frequency in MHz"):
        read_nifti_mrs(path)


def _layout_variants(root):
    from bids import BIDSLayout

    return [{"root": root}, {"layout": BIDSLayout(root, validate=False)}]


def test_find_bids_mrsi_matches_subject_session_acquisition(tmp_path):
    (tmp_path / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.10.0"}))
    small = MRSIGrid((8, 8), (240.0, 240.0), 2, 10.0)
    epsi = raw_mrsi(tmp_path, "01", session="1", acquisition="epsi", grid=small, points=8)
    press = raw_mrsi(tmp_path, "01", session="1", acquisition="press", grid=small, points=8)
    other = raw_mrsi(tmp_path, "01", session="2", grid=small, points=8)
    assert MRSI_QUERY["suffix"] == "mrsi"
    for where in _layout_variants(tmp_path):
        assert find_bids_mrsi(**where, subject="01", session="1", acquisition="epsi") == epsi
        assert find_bids_mrsi(**where, subject="sub-01", session="ses-1", acquisition="acq-press") == press
        assert find_bids_mrsi(**where, subject="01", session="2") == other
        assert find_bids_mrsi(**where, subject="01", session="1", filters={"acquisition": "press"}) == press
        assert find_bids_mrsi(**where, subject="02") is None
        assert find_bids_mrsi(**where, subject="01", session="1", acquisition="csi") is None
        with pytest.raises(MapLoadingError) as error:
            find_bids_mrsi(**where, subject="01", session="1")
        message = str(error.value)
        assert "sub-01_ses-1_acq-epsi_mrsi.nii.gz" in message and "sub-01_ses-1_acq-press_mrsi.nii.gz" in message
        assert "--bids-filter-file" in message and '{"mrsi": {"acquisition": "epsi"}}' in message
        with pytest.raises(MapLoadingError, match="--bids-filter-file key 'mrsi'.*acq"):
            find_bids_mrsi(**where, subject="01", filters={"acq": "epsi"})


def test_find_bids_mrsi_without_sessions_and_bad_arguments(tmp_path):
    path = raw_mrsi(tmp_path, "01", grid=MRSIGrid((8, 8), (240.0, 240.0), 2, 10.0), points=8)
    assert find_bids_mrsi(tmp_path, subject="01") == path
    with pytest.raises(ValueError, match="exactly one of root"):
        find_bids_mrsi(subject="01")
    with pytest.raises(MapLoadingError, match="does not exist"):
        find_bids_mrsi(tmp_path / "nowhere", subject="01")


def test_the_3t_grid_covers_the_brain():
    assert GRID_3T.shape == (32, 32, 8)
    np.testing.assert_allclose(np.diag(GRID_3T.affine)[:3], (7.5, 7.5, 10.0))
    centre = GRID_3T.affine @ np.array([15.5, 15.5, 3.5, 1.0])
    np.testing.assert_allclose(centre[:3], GRID_3T.centre_mm)
