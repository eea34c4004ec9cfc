"""The cohort separates metabolism from anatomy (issue 14): each injected feature changes only
what it should, fields have the stated amplitude and scale, protocols vary, seeds reproduce."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from mrsisr.synth import generate_subject
from mrsisr.synth.findings import Ball, Findings
from mrsisr.synth.landscape import AMPLITUDE_RANGE, SCALE_RANGE_MM, MetabolicLandscape
from mrsisr.metabolites import TOTALS

SEED, SLICES = 0, 3  # seed 0: sub-01 has a glioma, MRI-only lesions and metabolic spots in the slab
SMALL = {"seed": SEED, "slices": SLICES, "acquired_matrix": (16,), "formats": ("nifti",), "tiny": True}


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    roots = {}
    for name, without in (("full", ()), ("no_mri_lesions", ("mri_lesions",)),
                          ("no_metabolic", ("infiltration", "spots"))):
        roots[name] = tmp_path_factory.mktemp(name)
        generate_subject(roots[name], 1, without=without, **SMALL)
    return roots


def _data(root: Path, relative: str) -> np.ndarray:
    return np.asarray(nib.load(root / relative).dataobj)


def _phantom(name: str) -> str:
    return f"sourcedata/phantom/sub-01/sub-01_{name}"


def _truth(root: Path, met: str) -> np.ndarray:
    return _data(root, _phantom(f"acq-64_space-orig_met-{met}_desc-truth_mrsi.nii.gz"))


T1W, FLAIR = "sub-01/anat/sub-01_T1w.nii.gz", "sub-01/anat/sub-01_FLAIR.nii.gz"


def test_mri_only_lesions_change_the_mri_and_not_the_maps(cohorts: dict[str, Path]) -> None:
    full, plain = cohorts["full"], cohorts["no_mri_lesions"]
    labels = _data(full, _phantom("space-T1w_desc-findings_dseg.nii.gz"))
    lesion = labels == 1
    assert lesion.sum() >= 10
    t1w_ratio = _data(full, T1W)[lesion].astype(float).mean() / _data(plain, T1W)[lesion].astype(float).mean()
    assert t1w_ratio < 0.85  # T1-dark
    flair_full, flair_plain = _data(full, FLAIR).astype(float), _data(plain, FLAIR).astype(float)
    changed = flair_full != flair_plain
    assert changed.sum() >= 5 and (flair_full[changed] / np.maximum(flair_plain[changed], 1)).max() > 1.5
    far = ~ndimage.binary_dilation(labels > 0, iterations=4)
    assert np.array_equal(_data(full, T1W)[far], _data(plain, T1W)[far])
    lcmodel = "derivatives/lcmodel/sub-01/sub-01_acq-{n}_space-orig_met-{met}_desc-signal_mrsi.nii.gz"
    for met in TOTALS:  # the metabolism does not see them at all
        assert np.array_equal(_truth(full, met), _truth(plain, met)), met
        for n in (64, 16):
            relative = lcmodel.format(n=n, met=met)
            assert np.array_equal(_data(full, relative), _data(plain, relative)), relative
    assert _data(full, _phantom("acq-64_space-orig_desc-mrilesion_mrsi.nii.gz")).max() > 0.3


def test_infiltration_raises_tcho_beyond_the_flair_abnormality(cohorts: dict[str, Path]) -> None:
    full, plain = cohorts["full"], cohorts["no_metabolic"]
    for image in (T1W, FLAIR):  # infiltration and spots are invisible on the MRI
        assert np.array_equal(_data(full, image), _data(plain, image)), image
    labels = _data(full, _phantom("acq-64_space-orig_desc-tumour_dseg.nii.gz"))
    brain = _data(full, _phantom("acq-64_space-orig_desc-brainfraction_mrsi.nii.gz"))
    infiltration = _data(full, _phantom("acq-64_space-orig_desc-infiltration_mrsi.nii.gz"))
    # At least one voxel (3.4 mm) outside the MRSI-grid abnormality, in brain, with infiltration.
    flair_normal = ~ndimage.binary_dilation(labels > 0, structure=np.ones((3, 3, 1), bool))
    beyond = flair_normal & (brain > 0.9) & (infiltration > 0.2)
    assert beyond.sum() >= 5
    ratio = {met: _truth(full, met)[beyond] / _truth(plain, met)[beyond] for met in ("tCho", "NAA")}
    assert np.median(ratio["tCho"]) > 1.1 and np.median(ratio["NAA"]) < 0.97
    record = json.loads((full / _phantom("phantom.json")).read_text())["tumour"]
    assert 5.0 <= record["infiltration_beyond_flair_mm"] <= 20.0
    far = (infiltration == 0) & (brain > 0.9)
    spots = {met: _data(full, _phantom(f"acq-64_space-orig_met-{met}_desc-spots_mrsi.nii.gz")) for met in TOTALS}
    for met, factor in spots.items():  # outside the tumour only the spots differ, as their maps say
        hot = far & (np.abs(np.log(factor)) > 0.15)
        if hot.any():
            observed = np.log(_truth(full, met)[hot] / _truth(plain, met)[hot])
            assert np.corrcoef(observed, np.log(factor[hot]))[0, 1] > 0.8 if hot.sum() > 2 else True
            assert np.all(np.sign(observed) == np.sign(np.log(factor[hot])))
    quiet = far & np.all([np.abs(np.log(f)) < 1e-6 for f in spots.values()], axis=0)
    quiet &= ~ndimage.binary_dilation(~quiet, structure=np.ones((5, 5, 1), bool))
    change = np.abs(_truth(full, "tCho")[quiet] / _truth(plain, "tCho")[quiet] - 1.0)
    assert quiet.sum() > 100 and np.median(change) < 0.005  # elsewhere only k-space ringing differs


def test_smooth_fields_have_the_stated_amplitude_and_scale() -> None:
    landscape = MetabolicLandscape.draw(np.random.default_rng(3), tuple(TOTALS))
    points = np.random.default_rng(1).uniform(-80, 80, (3, 8000)).astype(np.float32)
    for met in TOTALS:
        amplitude, scale = landscape.amplitude[met], landscape.scale_mm[met]
        assert AMPLITUDE_RANGE[0] <= amplitude <= AMPLITUDE_RANGE[1] and SCALE_RANGE_MM[0] <= scale <= SCALE_RANGE_MM[1]
        assert 0.6 < landscape.field_log(met, points).std() / amplitude < 1.5
        own, step = landscape.own[met], np.array([[scale], [0.0], [0.0]], np.float32)
        near = np.corrcoef(own(points), own(points + step))[0, 1]
        far = np.corrcoef(own(points), own(points + 4 * step))[0, 1]
        assert 0.5 < near < 0.92 and abs(far) < 0.35, (met, near, far)
    # Species vary independently of each other (the MRI cannot explain one from another).
    logs = np.array([landscape.field_log(met, points) for met in TOTALS])
    off_diagonal = np.corrcoef(logs)[~np.eye(len(TOTALS), dtype=bool)]
    assert off_diagonal.max() < 0.6


def test_written_variation_maps_span_twenty_to_thirty_percent(cohorts: dict[str, Path]) -> None:
    brain = _data(cohorts["full"], _phantom("acq-64_space-orig_desc-brainfraction_mrsi.nii.gz")) > 0.9
    spreads = [np.log(_data(cohorts["full"], _phantom(f"acq-64_space-orig_met-{met}_desc-variation_mrsi.nii.gz"))
                      [brain]).std() for met in TOTALS]
    assert 0.1 < np.median(spreads) < 0.45


def test_cavity_replaces_brain_by_fluid_and_avoids_the_tumour() -> None:
    findings = Findings((), (), Ball(np.zeros(3), 8.0), 3.0)
    points = np.array([[0.0, 0.0, 0.0], [9.5, 0.0, 0.0], [30.0, 0.0, 0.0]], np.float32).T
    fractions = findings.fractions(points)
    assert fractions["cavity"].tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert fractions["gliosis"][1] > 0.9 and fractions["gliosis"][2] == 0
    tissues = {"gm": np.full(3, 0.4, np.float32), "wm": np.full(3, 0.6, np.float32), "csf": np.zeros(3, np.float32)}
    fluid = findings.apply_to_tissues(tissues, fractions)
    assert fluid["gm"][0] == 0 and fluid["wm"][0] == 0 and fluid["csf"][0] == pytest.approx(1.0)
    assert fluid["wm"][2] == pytest.approx(0.6)
    candidates = np.random.default_rng(0).uniform(-40, 40, (3, 500))
    tumour = Ball(np.zeros(3), 25.0)
    drawn = Findings.draw(np.random.default_rng(1), candidates, candidates, avoid=tumour)
    for ball in [s.ball for s in drawn.spots] + list(drawn.mri_lesions):
        assert np.linalg.norm(ball.centre_mni) > 25.0 + ball.radius_mm


def test_protocol_shares_without_flair_and_3t(cohorts: dict[str, Path], tmp_path: Path) -> None:
    generate_subject(tmp_path, 1, share_without_flair=1.0, share_3t=1.0, **SMALL)
    assert (tmp_path / T1W).is_file() and not (tmp_path / FLAIR).exists()
    assert not list((tmp_path / "sourcedata/phantom/sub-01").glob("*FLAIR*"))
    record = json.loads((tmp_path / _phantom("phantom.json")).read_text())["protocol"]
    assert record["field_strength"] == "3T" and record["flair"] is False and record["snr_factor"] < 1.0
    for n, in_plane in ((64, 4.0), (16, 16.0)):
        geometry = json.loads((tmp_path / f"derivatives/lcmodel/sub-01/lcmodel_acq-{n}/geometry.json").read_text())
        zooms = np.linalg.norm(np.array(geometry["affine"])[:3, :3], axis=0)
        assert zooms == pytest.approx([in_plane, in_plane, 5.0])
    snr = "derivatives/lcmodel/sub-01/sub-01_acq-64_space-orig_desc-snr_mrsi.nii.gz"
    fraction = _phantom("acq-64_space-orig_desc-brainfraction_mrsi.nii.gz")
    median = {name: np.median(_data(root, snr)[_data(root, fraction) > 0.9])
              for name, root in (("3t", tmp_path), ("7t", cohorts["full"]))}
    assert median["3t"] < median["7t"]
    default = json.loads((cohorts["full"] / _phantom("phantom.json")).read_text())["protocol"]
    assert default == {"field_strength": "7T", "flair": True, "mrsi_voxel_mm": [3.4, 3.4, 3.4], "snr_factor": 1.0}


def test_unknown_feature_and_share_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown features"):
        generate_subject(tmp_path, 1, without=("tumor",), **SMALL)
    with pytest.raises(ValueError, match="share_3t"):
        generate_subject(tmp_path, 1, share_3t=1.5, **SMALL)


def test_same_seed_gives_byte_identical_files(cohorts: dict[str, Path], tmp_path: Path) -> None:
    generate_subject(tmp_path, 1, **SMALL)
    first = sorted(p.relative_to(cohorts["full"]) for p in cohorts["full"].rglob("*") if p.is_file())
    again = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert first == again and len(first) > 40
    for relative in first:
        assert (tmp_path / relative).read_bytes() == (cohorts["full"] / relative).read_bytes(), relative
