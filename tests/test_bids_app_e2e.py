"""End to end: ``mrsisr`` on a tiny synthetic dataset (``mrsisr.synth``, ``tiny=True``).

Runs (module fixtures, shared by the checks):

* ``real``: the Python backends for real; sub-01 processes, sub-02 has an empty T1w and fails.
  Then a resume of sub-01 from the Nipype cache.
* ``pair``: FSL stand-ins (fast), two good subjects, evaluation mode (``--simulate-matrix 16``
  on the 64×64 maps) with ``--export-slices``, once with ``--nprocs 1`` and once with
  ``--nprocs 2`` (output under ``BIDS_DIR/derivatives/mrsisr``, the one place inside the BIDS
  tree that is accepted); both must give the same files.
* group level on the ``pair`` outputs, with ``--train`` on the exported slices.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bids_fixtures import copy_dataset, install_fsl_standins, tiny_weights, tree_digest
from mrsisr.bids_app.cli import main
from mrsisr.interfaces.bids import PYBIDS_CONFIG
from mrsisr.bids_app.validation import find_validator, validate_dataset
from mrsisr.kspace import fine_grid_affine

pytestmark = pytest.mark.slow
COMMON = ["--metabolites", "NAA", "tCho", "--sharpness", "0", "0.03", "--min-valid-fraction", "0.2",
          "--device", "cpu", "--omp-nthreads", "1"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


@pytest.fixture(scope="module")
def real(tmp_path_factory, weights):
    """Python backends; sub-02 made to fail (an all-zero T1w); then a resume of sub-01."""
    root = tmp_path_factory.mktemp("real")
    bids_dir = copy_dataset(root / "bids")
    broken = bids_dir / "sub-02" / "anat" / "sub-02_T1w.nii.gz"
    img = nib.load(broken)
    nib.save(nib.Nifti1Image(np.zeros(img.shape, np.float32), img.affine), broken)
    before = tree_digest(bids_dir)
    args = [str(bids_dir), str(root / "out"), "participant", "-w", str(root / "work"), "--weights", str(weights),
            "--backend", "python", "--nprocs", "2", *COMMON]
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.delenv("FSLDIR", raising=False)
        started = time.time()
        code = main(args)
        first = time.time() - started
        started = time.time()
        resume_code = main(args + ["--participant-label", "01"])
        resumed = time.time() - started
    return {"bids": bids_dir, "out": root / "out", "work": root / "work", "code": code, "first": first,
            "resume_code": resume_code, "resumed": resumed, "before": before, "printed": printed.getvalue()}


def _run_pair(root: Path, weights: Path, nprocs: int, output: Path) -> int:
    env = install_fsl_standins(root / "fsl")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        return main([str(root / "bids"), str(output), "participant", "-w", str(root / f"work{nprocs}"),
                     "--weights", str(weights), "--backend", "fsl", "--nprocs", str(nprocs), *COMMON,
                     "--simulate-matrix", "16", "--export-slices"])


@pytest.fixture(scope="module")
def pair(tmp_path_factory, weights):
    root = tmp_path_factory.mktemp("pair")
    copy_dataset(root / "bids")
    sequential, parallel = root / "sequential", root / "bids" / "derivatives" / "mrsisr"
    codes = (_run_pair(root, weights, 1, sequential), _run_pair(root, weights, 2, parallel))
    return {"root": root, "bids": root / "bids", "sequential": sequential, "parallel": parallel, "codes": codes}


# --------------------------------------------------------------------------- the real run
def test_failing_subject_does_not_stop_the_others(real, capsys):
    assert real["code"] == 1
    crashes = list((real["work"] / "crash").rglob("crash-*.txt"))
    assert crashes and all("sub_02_wf" in c.read_text() for c in crashes)
    assert (real["out"] / "sub-01" / "mrs").is_dir() and (real["out"] / "sub-01.html").is_file()
    assert not (real["out"] / "sub-02" / "mrs").exists()


def _first_summary(printed: str) -> str:
    return printed.split("mrsisr summary", 1)[1].split("mrsisr: running", 1)[0]


def test_multiproc_finished_subject_is_ok_when_another_fails(real):
    """Issue 13, item 3: a subject's status comes from its own nodes (MultiProc, ``--nprocs 2``)."""
    summary = _first_summary(real["printed"])
    assert re.search(r"sub-01\s+ok\s", summary) and re.search(r"sub-02\s+FAILED\s", summary), summary
    assert "<b>Error:</b>" not in (real["out"] / "sub-01.html").read_text()
    assert "<b>Error:</b>" in (real["out"] / "sub-02.html").read_text()


def test_linear_finished_subject_is_ok_when_another_fails(real, weights, tmp_path, monkeypatch, capsys):
    """Issue 13, item 3, with the Linear plugin (FSL stand-ins: fast); sub-02's T1w is empty."""
    for key, value in install_fsl_standins(tmp_path / "fsl").items():
        monkeypatch.setenv(key, value)
    code = main([str(real["bids"]), str(tmp_path / "out"), "participant", "-w", str(tmp_path / "work"),
                 "--weights", str(weights), "--backend", "fsl", "--skip-bids-validation", "--nprocs", "1",
                 *COMMON])
    printed = capsys.readouterr().out
    assert code == 1 and "with Linear" in printed
    summary = printed.split("mrsisr summary", 1)[1]
    assert re.search(r"sub-01\s+ok\s", summary) and re.search(r"sub-02\s+FAILED\s", summary), summary
    assert "<b>Error:</b>" not in (tmp_path / "out" / "sub-01.html").read_text()
    assert list((tmp_path / "out" / "sub-01" / "mrs").glob("*_desc-srLam0p03_mrsi.nii.gz"))


def test_resume_is_fast_and_succeeds(real):
    assert real["resume_code"] == 0
    assert real["resumed"] < max(20.0, 0.5 * real["first"]), (real["resumed"], real["first"])


def test_bids_dir_untouched_and_no_partial_files(real):
    assert tree_digest(real["bids"]) == real["before"]
    assert not [p for p in real["out"].rglob(".*") if p.name != ".bidsignore"]


def test_derivative_files_affines_and_sidecars(real, weights):
    out = real["out"] / "sub-01"
    anat = {p.name for p in (out / "anat").iterdir()}
    assert {"sub-01_desc-brain_mask.nii.gz", "sub-01_from-FLAIR_to-T1w_mode-image_xfm.txt",
            "sub-01_space-T1w_desc-coreg_FLAIR.nii.gz"} <= anat
    matrix = np.loadtxt(out / "anat" / "sub-01_from-FLAIR_to-T1w_mode-image_xfm.txt")
    assert matrix.shape == (4, 4) and np.allclose(matrix[3], [0, 0, 0, 1])
    lcmodel = real["bids"] / "derivatives" / "lcmodel" / "sub-01"
    acquired = nib.load(lcmodel / "sub-01_acq-16_space-orig_met-NAA_desc-signal_mrsi.nii.gz")
    expected_affine = fine_grid_affine(acquired.affine, 16, 64)
    for met in ("NAA", "tCho"):
        stem = out / "mrs" / "sub-01_acq-16_space-orig"
        quality = nib.load(f"{stem}_met-{met}_desc-quality_mask.nii.gz")
        assert quality.shape == acquired.shape and np.allclose(quality.affine, acquired.affine)
        for desc in ("zerofilled", "srLam0", "srLam0p03"):
            img = nib.load(f"{stem}_res-64_met-{met}_desc-{desc}_mrsi.nii.gz")
            assert img.shape == (64, 64, acquired.shape[2]) and np.allclose(img.affine, expected_affine)
            assert np.isfinite(img.get_fdata()).all() and img.get_fdata().max() > 0
        sidecar = json.loads(Path(f"{stem}_res-64_met-{met}_desc-srLam0p03_mrsi.json").read_text())
        assert sidecar["Metabolite"] == met and sidecar["AcquiredMatrix"] == 16 and sidecar["TargetMatrix"] == 64
        assert sidecar["Sharpness"] == 0.03 and sidecar["SkullStrippingBackend"] == "python"
        assert sidecar["QualityThresholds"]["SNRMin"] == 2.5 and sidecar["ProcessingSoftware"]["mrsisr"]
        from mrsisr.models.weights import sha256

        assert sidecar["Model"]["Sha256"] == sha256(weights)
        assert "bids:raw:sub-01/anat/sub-01_T1w.nii.gz" in sidecar["Sources"]
    counts = (out / "mrs" / "sub-01_acq-16_space-orig_desc-quality_counts.tsv").read_text().splitlines()
    assert counts[0].startswith("metabolite\ttotal") and len(counts) == 3
    assert (out / "mrs" / "sub-01_acq-16_space-orig_desc-selected_slices.tsv").is_file()
    assert list((out / "log").glob("*/mrsisr.toml"))


def test_t1w_space_and_ratio_outputs(real):
    mrs = real["out"] / "sub-01" / "mrs"
    t1w = nib.load(real["bids"] / "sub-01" / "anat" / "sub-01_T1w.nii.gz")
    for met in ("NAA", "tCho"):
        orig = nib.load(mrs / f"sub-01_acq-16_space-orig_res-64_met-{met}_desc-srLam0_mrsi.nii.gz").get_fdata()
        orig_mask = nib.load(mrs / f"sub-01_acq-16_space-orig_res-64_met-{met}_desc-sr_mask.nii.gz").get_fdata() > 0
        img = nib.load(mrs / f"sub-01_acq-16_space-T1w_met-{met}_desc-srLam0_mrsi.nii.gz")
        mask = nib.load(mrs / f"sub-01_acq-16_space-T1w_met-{met}_desc-sr_mask.nii.gz").get_fdata() > 0
        assert img.shape == t1w.shape and np.allclose(img.affine, t1w.affine) and mask.sum() > 100
        values = img.get_fdata()
        assert values[mask].min() >= orig[orig_mask].min() - 1e-4 and np.all(values[~mask] == 0)
        sidecar = json.loads((mrs / f"sub-01_acq-16_space-T1w_met-{met}_desc-srLam0p03_mrsi.json").read_text())
        assert sidecar["Space"] == "T1w" and sidecar["Sharpness"] == 0.03
    stem = mrs / "sub-01_acq-16_space-orig_res-64"
    naa, tcho = (nib.load(f"{stem}_met-{m}_desc-srLam0p03_mrsi.nii.gz").get_fdata() for m in ("NAA", "tCho"))
    ratio = nib.load(f"{stem}_desc-srLam0p03ratiotChoNAA_mrsi.nii.gz").get_fdata()
    ratio_mask = nib.load(f"{stem}_desc-srLam0p03ratiotChoNAA_mask.nii.gz").get_fdata() > 0
    assert ratio_mask.sum() > 50
    np.testing.assert_allclose(ratio[ratio_mask], tcho[ratio_mask] / naa[ratio_mask], rtol=1e-5)
    meta = json.loads(Path(f"{stem}_desc-srLam0p03ratiotChoNAA_mrsi.json").read_text())
    assert meta["Numerator"] == "tCho" and meta["Denominator"] == "NAA" and meta["DenominatorFloor"] > 0
    assert (mrs / "sub-01_acq-16_space-T1w_desc-srLam0ratiotChoNAA_mrsi.nii.gz").is_file()
    assert not list(mrs.glob("*ratiotChotCr*"))  # tCr was not super-resolved


def test_report(real):
    page = (real["out"] / "sub-01.html").read_text()
    assert "Skull-strip" in page and "Co-registration" in page and "Quality masks" in page
    assert "NAA: zero-filled, super-resolved" in page and "Quality counts" in page
    assert "Field strength" in page and "Ratio maps of the super-resolved maps" in page and "Methods" in page
    citation = (real["out"] / "logs" / "CITATION.md").read_text()
    assert "brainextractor" in citation and "SimpleITK" in citation and "Dong S" in citation
    for src in page.split("src='")[1:]:
        assert (real["out"] / src.split("'")[0]).is_file()
    assert "sub-02" in (real["out"] / "sub-02.html").read_text()


def test_pybids_indexes_the_outputs(real):
    from bids import BIDSLayout

    layout = BIDSLayout(str(real["bids"]), validate=False)
    layout.add_derivatives(str(real["out"]), config=["bids", "derivatives", str(PYBIDS_CONFIG)])
    derivatives = layout.derivatives.get_pipeline("mrsisr")
    found = derivatives.get(subject="01", metabolite="NAA", desc="srLam0p03", space="orig", extension=".nii.gz")
    assert len(found) == 1 and found[0].entities["res"] == "64"
    in_t1w = derivatives.get(subject="01", metabolite="NAA", desc="srLam0p03", space="T1w", extension=".nii.gz")
    assert len(in_t1w) == 1 and "res" not in in_t1w[0].entities
    assert len(derivatives.get(subject="01", suffix="mask", desc="brain", extension=".nii.gz")) == 1


@pytest.mark.skipif(find_validator() is None, reason="bids-validator-deno is not installed")
def test_output_passes_the_validator(real):
    result = validate_dataset(real["out"])
    assert result.errors == ()


# --------------------------------------------------------------------------- sequential = parallel
def _comparable(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*")
            if p.is_file() and "log" not in p.relative_to(root).parts and p.suffix != ".png"}


def test_parallel_equals_sequential(pair):
    assert pair["codes"] == (0, 0)
    sequential, parallel = _comparable(pair["sequential"]), _comparable(pair["parallel"])
    assert sorted(sequential) == sorted(parallel) and len(sequential) > 40
    for name, path in sequential.items():
        if name.endswith(".npz"):  # zip members carry their write time
            with np.load(path) as a, np.load(parallel[name]) as b:
                assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)
        elif name.endswith(".nii.gz"):
            a, b = nib.load(path), nib.load(parallel[name])
            assert np.array_equal(a.get_fdata(), b.get_fdata()) and np.allclose(a.affine, b.affine), name
        elif name != "dataset_description.json":
            assert path.read_bytes() == parallel[name].read_bytes(), name


def test_pybids_derivatives_true(pair):
    from bids import BIDSLayout

    layout = BIDSLayout(str(pair["bids"]), validate=False, derivatives=True)
    files = layout.derivatives.get_pipeline("mrsisr").get(subject="02", extension=".nii.gz", desc="zerofilled")
    assert len(files) == 2


def test_group_level(pair, capsys):
    assert main([str(pair["bids"]), str(pair["sequential"]), "group", "--skip-bids-validation"]) == 0
    rows = (pair["sequential"] / "group" / "cohort.tsv").read_text().splitlines()
    assert rows[0].startswith("participant_id") and len(rows) == 1 + 2 * 2
    assert "sub-01.html" in (pair["sequential"] / "group.html").read_text()
    if find_validator():
        assert validate_dataset(pair["sequential"]).errors == ()


def test_simulated_acquisition_grid(pair):
    zero_filled = nib.load(pair["sequential"] / "sub-01" / "mrs"
                           / "sub-01_acq-sim16_space-orig_res-64_met-NAA_desc-zerofilled_mrsi.nii.gz")
    hr = nib.load(pair["bids"] / "derivatives" / "lcmodel" / "sub-01"
                  / "sub-01_acq-64_space-orig_met-NAA_desc-signal_mrsi.nii.gz")
    assert np.allclose(zero_filled.affine, hr.affine) and zero_filled.shape == hr.shape
    sidecar = json.loads(Path(str(zero_filled.get_filename()).replace(".nii.gz", ".json")).read_text())
    assert sidecar["SimulatedAcquisition"] and sidecar["AcquiredMatrix"] == 16
    assert sidecar["QualityThresholds"]["SourceAcquisition"] == "64"


def test_group_train_on_exported_slices(pair):
    output = pair["sequential"]
    exported = sorted(p.name for p in (output / "training" / "slices").iterdir())
    assert exported == ["sub-01_slices.npz", "sub-02_slices.npz"]
    train_args = "--max-steps 1 --epochs 1 --folds 1 --batch-size 2 --base-features 2 --latent-width 4 " \
                 "--sharpness-width 4 --quiet --device cpu"
    assert main([str(pair["bids"]), str(output), "group", "--skip-bids-validation", "--train",
                 "--train-args", train_args]) == 0
    assert list((output / "training" / "model").glob("*.safetensors"))


def test_stop_on_first_crash(real, weights, tmp_path, monkeypatch, capsys):
    for key, value in install_fsl_standins(tmp_path / "fsl").items():
        monkeypatch.setenv(key, value)
    code = main([str(real["bids"]), str(tmp_path / "out"), "participant", "-w", str(tmp_path / "work"),
                 "--weights", str(weights), "--backend", "fsl", "--stop-on-first-crash", "--skip-bids-validation",
                 "--no-reports", *COMMON])
    summary = capsys.readouterr().out.split("mrsisr summary", 1)[1]
    assert code == 1
    assert re.search(r"sub-02\s+FAILED\s+anat_wf.skullstrip: .*empty", summary)
    assert re.search(r"sub-01\s+(INCOMPLETE|ok)", summary)
