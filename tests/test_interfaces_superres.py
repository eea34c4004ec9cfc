"""``SuperResolve`` and the λ label: one file per λ, named like the derivative (issue 13, item 2)."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

from mrsisr.interfaces.bids import lambda_label, lambda_of_label
from mrsisr.interfaces.superres import SuperResolve
from mrsisr.workflows.mrsi import MRSIOptions
from mrsisr.workflows.outputs import init_ds_mrsi_wf


@pytest.fixture
def inputs(tmp_path):
    """A 16×16 acquisition (2 slices, NAA and tCho) with the MRI blocks of ResampleToMRSIGrid."""
    yy, xx = np.mgrid[:16, :16]
    brain = np.exp(-((yy - 8) ** 2 + (xx - 8) ** 2) / 30.0).astype("f4")
    maps = np.stack([np.stack([brain * 8.0, brain * 1.5], -1)] * 2, 2)
    affine = np.diag([13.6, 13.6, 10.0, 1])
    nib.save(nib.Nifti1Image(maps, affine), tmp_path / "maps.nii.gz")
    nib.save(nib.Nifti1Image(np.ones(maps.shape, "u1"), affine), tmp_path / "mask.nii.gz")
    mri = np.repeat(np.kron(brain, np.ones((12, 12), "f4"))[..., None], 6, 2)
    nib.save(nib.Nifti1Image(mri, np.diag([1.133, 1.133, 3.333, 1])), tmp_path / "t1w_3x.nii.gz")
    nib.save(nib.Nifti1Image(1 - mri, np.diag([1.133, 1.133, 3.333, 1])), tmp_path / "flair_3x.nii.gz")
    return {"in_file": str(tmp_path / "maps.nii.gz"), "metabolites": ["NAA", "tCho"],
            "mask_file": str(tmp_path / "mask.nii.gz"), "t1w_file": str(tmp_path / "t1w_3x.nii.gz"),
            "flair_file": str(tmp_path / "flair_3x.nii.gz"), "slices": [0, 1], "device": "cpu"}


def _run(inputs, folder, sharpness):
    folder.mkdir()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        return SuperResolve(**inputs, sharpness=sharpness).run().outputs
    finally:
        os.chdir(cwd)


def test_close_lambdas_get_their_own_files(inputs, tmp_path):
    """λ = 0.0001 and 0.0004 agree to three decimals; each keeps its own file and its own map."""
    both = _run(inputs, tmp_path / "both", [0.0001, 0.0004])
    assert [os.path.basename(f) for f in both.out_files] == ["srLam0p0001.nii.gz", "srLam0p0004.nii.gz"]
    for lam, path in zip((0.0001, 0.0004), both.out_files):
        alone = _run(inputs, tmp_path / lambda_label(lam), [lam]).out_files[0]
        assert np.array_equal(nib.load(path).get_fdata(), nib.load(alone).get_fdata()), lam


def test_repeated_lambda_is_refused(inputs, tmp_path):
    with pytest.raises(ValueError, match="repeats a value"):
        _run(inputs, tmp_path / "twice", [0.0, 0.0])
    with pytest.raises(ValueError, match="each once"):
        MRSIOptions(sharpness=(0.03, 0.03))


@pytest.mark.parametrize("value", [0.0, 0.0001, 0.0004, 0.03, 0.1, 1e-7, 0.012345])
def test_lambda_label_reads_back_exactly(value):
    label = lambda_label(value)
    assert label.isalnum() and lambda_of_label(label) == value


def test_sink_labels_are_the_node_labels():
    """The derivative's desc-<label> and the node's work file carry the same λ name."""
    wf = init_ds_mrsi_wf(output_dir="/tmp/o", sources=[], acquisition="16", sharpness=(0.0001, 0.0004),
                         target_matrix=64, simulate_matrix=None, thresholds={})
    assert wf.get_node("ds_sr").inputs.desc == ["srLam0p0001", "srLam0p0004"]


# --------------------------------------------------------------------------- uncertainty maps (issue 14 item 4)
def test_uncertainty_maps_beside_each_lambda(inputs, tmp_path):
    """One Sd map per λ on the SR grid and mask; the SR maps are those of a run without it."""
    folder = tmp_path / "sd"
    folder.mkdir()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with_sd = SuperResolve(**inputs, sharpness=[0.0, 0.03], uncertainty_samples=4).run().outputs
        plain = SuperResolve(**inputs, sharpness=[0.0, 0.03], uncertainty_samples=0).run().outputs
    finally:
        os.chdir(cwd)
    assert [os.path.basename(f) for f in with_sd.sd_files] == ["srLam0Sd.nii.gz", "srLam0p03Sd.nii.gz"]
    assert plain.sd_files == [] and plain.uncertainty == {}
    assert with_sd.uncertainty["Samples"] == 4 and len(with_sd.uncertainty["Transforms"]) == 4
    assert with_sd.uncertainty["Transforms"][0] == {"QuarterTurns": 0, "Flip": False, "ShiftVoxels": [0.0, 0.0]}
    mask = nib.load(with_sd.mask_file).get_fdata() > 0
    for sr_file, sd_file, plain_file in zip(with_sd.out_files, with_sd.sd_files, plain.out_files):
        sr, sd = nib.load(sr_file), nib.load(sd_file)
        assert sd.shape == sr.shape and np.allclose(sd.affine, sr.affine)
        values = sd.get_fdata()
        assert values.min() >= 0 and values[mask].max() > 0 and not values[~mask].any()
        np.testing.assert_allclose(sr.get_fdata(), nib.load(plain_file).get_fdata(), rtol=1e-4, atol=1e-5)


def test_uncertainty_sink_names_and_sidecars():
    from mrsisr.workflows.outputs import uncertainty_sidecars

    wf = init_ds_mrsi_wf(output_dir="/tmp/o", sources=[], acquisition="16", sharpness=(0.0, 0.03),
                         target_matrix=64, simulate_matrix=None, thresholds={}, uncertainty=True)
    assert wf.get_node("ds_sd").inputs.desc == ["srLam0Sd", "srLam0p03Sd"]
    assert wf.get_node("ds_sd").inputs.res == "64" and wf.get_node("ds_sd").inputs.suffix == "mrsi"
    off = init_ds_mrsi_wf(output_dir="/tmp/o", sources=[], acquisition="16", sharpness=(0.0,), target_matrix=64,
                          simulate_matrix=None, thresholds={})
    assert "ds_sd" not in off.list_node_names()
    transforms = [{"QuarterTurns": 0, "Flip": False, "ShiftVoxels": [0.0, 0.0]}] * 2
    sidecars = uncertainty_sidecars([{"Sharpness": 0.0, "Units": "institutional units"}],
                                    {"Samples": 2, "Transforms": transforms})
    assert sidecars[0]["Sharpness"] == 0.0 and sidecars[0]["Units"] == "institutional units"
    assert sidecars[0]["UncertaintySamples"] == 2 and sidecars[0]["TestTimeTransforms"] == transforms
    assert "standard deviation" in sidecars[0]["Description"]


def test_uncertainty_option_reaches_the_node():
    from mrsisr.workflows.mrsi import init_mrsi_wf

    assert MRSIOptions().uncertainty_samples == 8
    wf = init_mrsi_wf(options=MRSIOptions(metabolites=("NAA",), uncertainty_samples=0))
    assert wf.get_node("superres").inputs.uncertainty_samples == 0
    with pytest.raises(ValueError, match="at least 2"):
        MRSIOptions(uncertainty_samples=1)
