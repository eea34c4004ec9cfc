"""The app on a rectangular-FOV acquisition (issue 12 item 6): ``tests/real_inputs.py``'s ``GRID_RECT``.

MRSIPrep-named NIfTI maps on a 32×24 grid of 7.5 mm voxels (240×180 mm), a T1w only (as MRSIPrep
studies have), the packaged model, the app's default options. The super-resolved maps come out on 64×48 voxels of 3.75 mm covering the acquired
field of view.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

import real_inputs as ri
from mrsisr.bids_app.cli import main
from mrsisr.kspace import fine_grid_affine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("rect")
    bids = ri.bids_root(root / "bids")
    ri.mrsiprep_maps(bids, "01", sessions=(None,), grid=ri.GRID_RECT)
    code = main([str(bids), str(root / "out"), "participant", "-w", str(root / "work"), "--skip-bids-validation",
                 "--lcmodel-dir", str(bids / "derivatives" / "mrsi-orig")])
    return {"code": code, "out": root / "out" / "sub-01" / "mrs", "bids": bids}


def test_rectangular_fov_run_exits_0_and_writes_maps_on_the_acquired_fov(run):
    assert run["code"] == 0
    sr = nib.load(run["out"] / "sub-01_space-orig_res-64_met-NAA_desc-srLam0_mrsi.nii.gz")
    assert sr.shape == (64, 48, 8) and np.allclose(sr.header.get_zooms()[:3], (3.75, 3.75, 10.0))
    np.testing.assert_allclose(sr.affine, fine_grid_affine(ri.GRID_RECT.affine, (32, 24), (64, 48)), atol=1e-4)
    mask = nib.load(run["out"] / "sub-01_space-orig_res-64_met-NAA_desc-sr_mask.nii.gz")
    assert mask.shape == sr.shape and np.allclose(mask.affine, sr.affine)
    data, valid = np.asanyarray(sr.dataobj), np.asanyarray(mask.dataobj) > 0
    assert valid.any() and not data[~valid].any()
    assert 3 < np.median(data[valid]) < 20  # NAA near MRSIPrep's 10.2 mM, not 0 and not blown up
    quality = nib.load(run["out"] / "sub-01_space-orig_met-NAA_desc-quality_mask.nii.gz")
    assert quality.shape == (32, 24, 8) and np.allclose(quality.affine, ri.GRID_RECT.affine)
    sidecar = json.loads((run["out"] / "sub-01_space-orig_res-64_met-NAA_desc-srLam0_mrsi.json").read_text())
    assert sidecar["AcquiredMatrix"] == 32
    assert (run["out"] / "sub-01_space-T1w_met-NAA_desc-srLam0_mrsi.nii.gz").is_file()
