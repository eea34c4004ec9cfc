"""The app with default options on what labs have (issue 12 items 1, 5, 7, 8, 9).

Inputs are laid out by ``tests/real_inputs.py`` as the real tools write them (MRSIPrep maps with
sessions and aliases and no FLAIR, a stock LCModel CSI run with its raw MRSI in BIDS ``mrs/``, an
``fsl_mrsi`` tree). The end-to-end runs use the command line's defaults, plus at most
``--lcmodel-dir`` for the derivative folder and ``--nprocs 2``.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

import real_inputs as ri
from mrsisr import defaults
from mrsisr.bids_app import bids as bidsq
from mrsisr.bids_app.cli import main
from mrsisr.quality import select_slices

DEFAULT = ["--skip-bids-validation", "--nprocs", "2"]


def _app(bids, out, work, *extra):
    return main([str(bids), str(out), "participant", "-w", str(work), *DEFAULT, *extra])


def _only_glx(bids, subject: str) -> None:
    """MRSIPrep maps of ``subject`` reduced to the combined Glu+Gln: nothing the network can take."""
    ri.mrsiprep_maps(bids, subject, sessions=(None,))
    for path in (bids / "derivatives" / "mrsi-orig" / f"sub-{subject}").glob("*_met-*"):
        if "_met-GluGln_" not in path.name:
            path.unlink()


# ---------------------------------------------------------------- before any work (fast)
@pytest.fixture()
def good_and_broken(tmp_path):
    bids = ri.bids_root(tmp_path / "bids", {"01": (None,), "02": (None,)})
    ri.mrsiprep_maps(bids, "01", sessions=(None,))
    _only_glx(bids, "02")
    return bids, bids / "derivatives" / "mrsi-orig"


def test_validate_only_one_broken_one_good_subject_exits_66_with_both_rows(good_and_broken, tmp_path, capsys):
    bids, maps = good_and_broken
    code = _app(bids, tmp_path / "out", tmp_path / "work", "--lcmodel-dir", str(maps), "--validate-only")
    text = capsys.readouterr().out
    assert code == 66
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("sub-0")}
    assert set(rows) == {"sub-01", "sub-02"}
    assert rows["sub-01"].rstrip().endswith("ok") and "tCho,tCr,NAA,Ins" in rows["sub-01"]
    assert "Gly (not in the fitting output)" in rows["sub-01"]
    assert "none (optional; substitute: T1w)" in rows["sub-01"]  # FLAIR listed as optional
    assert "S/N>=2.5, FWHM<=0.15 ppm" in rows["sub-01"]  # the quality criteria its maps allow
    assert "none of the network's metabolites" in rows["sub-02"] and "combined Glu+Gln" in rows["sub-02"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_a_run_with_a_broken_subject_is_refused_before_any_skull_strip(good_and_broken, tmp_path, capsys):
    bids, maps = good_and_broken
    code = _app(bids, tmp_path / "out", tmp_path / "work", "--lcmodel-dir", str(maps))
    captured = capsys.readouterr()
    assert code == 66
    assert "nothing was run" in captured.err and "sub-01" in captured.err and "sub-02" in captured.err
    assert "skullstrip" not in captured.out
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_a_named_metabolite_that_is_missing_is_refused(tmp_path, capsys):
    bids = ri.bids_root(tmp_path / "bids")
    ri.mrsiprep_maps(bids, "01", sessions=(None,))
    code = _app(bids, tmp_path / "out", tmp_path / "work", "--lcmodel-dir", str(bids / "derivatives" / "mrsi-orig"),
                "--metabolites", "NAA", "Glu", "--validate-only")
    out = capsys.readouterr().out
    assert code == 66 and "--metabolites names what the fitting output does not have" in out
    assert "present only as a combined Glu+Gln" in out  # GluGln is not silently taken for Glu


def test_default_acquisition_is_the_smallest_matrix_read_from_the_files(tmp_path):
    bids = ri.bids_root(tmp_path / "bids")
    press = ri.MRSIGrid((10, 10), (240.0, 240.0), 8, 10.0)
    ri.mrsiprep_maps(bids, "01", sessions=(None,), grid=press, acquisition="press")
    ri.mrsiprep_maps(bids, "01", sessions=(None,), grid=ri.GRID_3T, acquisition="epsi")
    maps = bids / "derivatives" / "mrsi-orig"
    layout = bidsq.make_layout(bids)
    (item,) = bidsq.collect_subjects(layout, lcmodel_dir=maps)
    assert item.acquisitions == ("epsi", "press")  # alphabetical would pick epsi
    assert item.acquisition == "press" and item.acquired_matrix == 10
    (simulated,) = bidsq.collect_subjects(layout, lcmodel_dir=maps, simulate_matrix=16)
    assert simulated.acquisition == "epsi" and simulated.acquired_matrix == 32


def test_default_slice_rule_keeps_the_brain_slices_of_a_240mm_3t_grid():
    grid = ri.MRSIGrid((32, 32), (240.0, 240.0), 16, 10.0)
    _, brain = ri.brain_on_grid(grid)
    n_valid = brain.sum(axis=(0, 1))
    kept, _ = select_slices(brain, min_valid_fraction=None, min_slice_fraction=defaults.MIN_SLICE_FRACTION)
    assert kept == [k for k in range(16) if n_valid[k] >= 0.5 * n_valid.max()]
    assert len(kept) >= 10 and kept == list(range(kept[0], kept[-1] + 1))
    # the paper's rule on the whole matrix, calibrated on a 217.6 mm slab, drops most of them here
    assert len(select_slices(brain, min_valid_fraction=defaults.MIN_VALID_FRACTION)[0]) <= 7


def test_t1w_only_subject_builds_without_co_registration():
    from mrsisr.workflows.base import init_single_subject_wf
    from mrsisr.workflows.mrsi import MRSIOptions

    workflow = init_single_subject_wf(subject="01", t1w="/d/sub-01_T1w.nii.gz", lcmodel_dir="/d/lcmodel",
                                      output_dir="/out", options=MRSIOptions(metabolites=("NAA",), flair=False))
    names = set(workflow.list_node_names())
    assert "anat_wf.skullstrip" in names and not any("coregister" in n or "ds_flair" in n for n in names)
    assert MRSIOptions(flair=False).sidecar_notes() == {"FLAIR": f"none, substitute: {defaults.FLAIR_SUBSTITUTE}"}


# ---------------------------------------------------------------- end to end with default options (slow)
def _sidecar(folder, pattern):
    (path,) = folder.glob(pattern)
    return json.loads(path.read_text())


@pytest.mark.slow
def test_mrsiprep_sessions_without_flair_default_options(tmp_path):
    bids = ri.bids_root(tmp_path / "bids", {"01": ("1", "2")})
    ri.mrsiprep_maps(bids, "01")
    code = _app(bids, tmp_path / "out", tmp_path / "work", "--lcmodel-dir", str(bids / "derivatives" / "mrsi-orig"))
    assert code == 0
    for session in ("1", "2"):
        mrs = tmp_path / "out" / "sub-01" / f"ses-{session}" / "mrs"
        for met in ("tCho", "tCr", "NAA", "Ins"):
            sr = nib.load(next(mrs.glob(f"*space-orig_res-64_met-{met}_desc-srLam0_mrsi.nii.gz")))
            assert sr.shape[:2] == (64, 64) and np.isfinite(np.asanyarray(sr.dataobj)).all()
        assert not list(mrs.glob("*met-Glu_*")) and not list(mrs.glob("*met-Gly_*"))
        sidecar = _sidecar(mrs, "*space-orig_res-64_met-NAA_desc-srLam0_mrsi.json")
        assert sidecar["MissingMetabolites"] == ["Gly", "Gln", "Glu"]
        assert "combined Glu+Gln" in sidecar["MissingMetaboliteReasons"]["Glu"]
        assert sidecar["FLAIR"] == "none, substitute: T1w"
        assert len(sidecar["SelectedSlices"]) == ri.GRID_3T.slices  # the relative rule keeps the brain slab
        assert not list((tmp_path / "out" / "sub-01" / f"ses-{session}" / "anat").glob("*FLAIR*"))
        report = (tmp_path / "out" / f"sub-01_ses-{session}.html").read_text()
        assert "No FLAIR" in report and "Not super-resolved: Gly, Gln, Glu" in report


@pytest.mark.slow
def test_stock_lcmodel_csi_run_with_raw_mrsi_default_options(tmp_path, capsys):
    bids = ri.bids_root(tmp_path / "bids")
    ri.raw_mrsi(bids, "01")
    ri.lcmodel_csi_run(bids, "01")
    code = _app(bids, tmp_path / "out", tmp_path / "work")
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "[sub-01] not super-resolved: Gly (not in the fitting output)" in out
    mrs = tmp_path / "out" / "sub-01" / "mrs"
    sr = nib.load(next(mrs.glob("*space-orig_res-64_met-NAA_desc-srLam0_mrsi.nii.gz")))
    assert sr.shape[:2] == (64, 64)
    assert _sidecar(mrs, "*space-orig_res-64_met-NAA_desc-srLam0_mrsi.json")["MissingMetabolites"] == ["Gly"]


@pytest.mark.slow
def test_fsl_mrsi_tree_default_options(tmp_path, capsys):
    """``fsl_mrsi --output sub-01/mrsi_fit`` as FSL-MRS lays it out: found under the subject, FSL-MRS names,
    FWHM converted from Hz with the frequency of fit/fit.nii.gz; the app runs with default options."""
    bids = ri.bids_root(tmp_path / "bids")
    ri.raw_mrsi(bids, "01")
    ri.fsl_mrsi_output(bids, "01")
    fsl = str(bids / "derivatives" / "fsl-mrs")
    code = _app(bids, tmp_path / "out", tmp_path / "check", "--lcmodel-dir", fsl, "--validate-only")
    out = capsys.readouterr().out
    assert code == 0 and "tCho,tCr,NAA,Gln,Glu,Ins" in out, out[-3000:]
    code = _app(bids, tmp_path / "out", tmp_path / "work", "--lcmodel-dir", fsl)
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    mrs = tmp_path / "out" / "sub-01" / "mrs"
    for met in ("tCho", "NAA", "Glu"):
        sr = nib.load(next(mrs.glob(f"*space-orig_res-64_met-{met}_desc-srLam0_mrsi.nii.gz")))
        assert sr.shape[:2] == (64, 64) and np.asanyarray(sr.dataobj).max() > 0

