"""The subject report's acquisition facts, notes, colour-bar units and ratio panel, and the methods
paragraph (:mod:`mrsisr.bids_app.boilerplate`) written into the report and ``logs/CITATION.md``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrsisr.bids_app.boilerplate import MethodsFacts, methods_markdown
from mrsisr.bids_app.report import field_strength, write_run_citation, write_subject_report

STEM = "sub-01_acq-16_space-orig"
GRID = np.diag([13.6, 13.6, 10.0, 1.0])  # 16 × 16 × 3 voxels: a 217.6 × 217.6 × 30 mm slab


def _save(path: Path, data: np.ndarray, affine: np.ndarray, sidecar: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data.astype(np.float32), affine), path)
    if sidecar is not None:
        path.with_name(path.name.replace(".nii.gz", ".json")).write_text(json.dumps(sidecar))


@pytest.fixture
def outputs(tmp_path) -> tuple[Path, Path]:
    """A subject's derivatives as the app writes them: quality masks, SR maps (in mM), one ratio map."""
    out = tmp_path / "out"
    mrs = out / "sub-01" / "mrs"
    t1w = tmp_path / "sub-01_T1w.nii.gz"
    _save(t1w, np.random.default_rng(1).random((24, 24, 12)), np.eye(4))
    t1w.with_name("sub-01_T1w.json").write_text(json.dumps({"MagneticFieldStrength": 3}))
    rng = np.random.default_rng(0)
    meta = {"Model": {"Variant": "mcm", "Sha256": "ab" * 32, "Placeholder": False}, "AcquiredMatrix": 16,
            "TargetMatrix": 64, "SkullStrippingBackend": "fsl", "CoregistrationBackend": "fsl", "Units": "mM",
            "QualityThresholds": {"SNRMin": 2.5, "FWHMMax": 0.15, "CRLBMax": None, "MinValidFraction": 0.3},
            "ProcessingSoftware": {"nipype": "1.8.6", "torch": "2.1.0", "scipy": "1.11.0", "nibabel": "5.1.0"}}
    fine = GRID @ np.diag([0.25, 0.25, 1, 1])
    for met in ("NAA", "tCho"):
        _save(mrs / f"{STEM}_met-{met}_desc-quality_mask.nii.gz", np.ones((16, 16, 3)), GRID)
        _save(mrs / f"{STEM}_res-64_met-{met}_desc-zerofilled_mrsi.nii.gz", rng.random((64, 64, 3)), fine)
        for desc in ("srLam0", "srLam0p03"):
            _save(mrs / f"{STEM}_res-64_met-{met}_desc-{desc}_mrsi.nii.gz", rng.random((64, 64, 3)), fine,
                  dict(meta, Metabolite=met))
    for kind in ("mrsi", "mask"):
        _save(mrs / f"{STEM}_res-64_desc-srLam0ratiotChoNAA_{kind}.nii.gz", rng.random((64, 64, 3)) > 0.2, fine, {})
    return out, t1w


def test_report_states_acquisition_notes_units_and_methods(outputs):
    out, t1w = outputs
    page = write_subject_report(out, "01", None, str(t1w), missing_metabolites=["Gly", "Glx"], flair=False,
                                fitting_tool="LCModel").read_text()
    assert "Not super-resolved: Gly, Glx" in page and "No FLAIR" in page
    assert "Quality criteria applied: S/N ≥ 2.5, FWHM ≤ 0.15 ppm, %SD (CRLB): not applied; voxels outside" in page
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert "3 T (T1w sidecar MagneticFieldStrength)" in cells and "16 × 16 × 3" in cells
    assert "13.6 × 13.6 × 10 mm" in cells and "217.6 × 217.6 × 30 mm" in cells
    assert "NAA: zero-filled, super-resolved at each λ, FLAIR (colour bar in mM)" in page
    assert (out / "sub-01" / "figures" / "sub-01_acq-16_desc-srLam0ratios_mrsi.png").is_file()
    assert "Ratio maps of the super-resolved maps" in page
    assert "Methods (to paste into a paper)" in page and "Provencher SW" in page and "Smith SM" in page
    assert "No FLAIR image was available" in page and "Ratio maps (tCho/NAA)" in page
    for src in re.findall(r"<img src='([^']+)'", page):
        assert (out / src).is_file()


def test_field_strength_sources(tmp_path):
    assert field_strength(None, 7.0) == (7.0, "given")
    assert field_strength(None, None, 297.2)[0] == pytest.approx(6.98)
    assert field_strength(str(tmp_path / "sub-01_T1w.nii.gz"))[0] is None


def test_citation_file_for_the_run(outputs):
    out, t1w = outputs
    path = write_run_citation(out, [("01", None, str(t1w)), ("02", None, str(t1w))], fitting_tool="FSL-MRS")
    text = path.read_text()
    assert path == out / "logs" / "CITATION.md" and text.startswith("# Methods (mrsisr ")
    assert "FSL-MRS (fsl_mrsi) [" in text and "Clarke WT, Stagg CJ, Jbabdi S" in text
    assert "BET (FSL) [" in text and "FLIRT (FSL" in text and "Jenkinson M" in text and "Nipype 1.8.6" in text
    assert "at 3 T on a 16×16 in-plane matrix" in text and "λ = 0 and 0.03" in text
    assert "CC0" in text


def test_references_are_numbered_in_order_of_first_citation():
    facts = MethodsFacts(version="0.1.0", metabolites=("NAA",), sharpness=(0.0,), acquired_matrix=(16, 24),
                         target_matrix=64, skullstrip_backend="python", coreg_backend="python", flair=True)
    text = methods_markdown(facts)
    body, references = text.split("## References")
    cited = [int(n) for group in re.findall(r"\[([0-9, ]+)\]", body) for n in group.split(", ")]
    first_seen = list(dict.fromkeys(cited))
    assert first_seen == list(range(1, len(first_seen) + 1))
    assert references.count("\n1. ") == 1 and "Lowekamp BC" in references and "Dong S" in references
    assert "16×16 and 24×24" in body and "brainextractor" in body and "LCModel" not in body


def test_report_shows_a_row_of_uncertainty_panels(outputs):
    """The Sd maps get their own figure per metabolite and are never taken for super-resolved maps."""
    from mrsisr.bids_app.report import subject_files

    out, t1w = outputs
    mrs = out / "sub-01" / "mrs"
    fine = GRID @ np.diag([0.25, 0.25, 1, 1])
    for met in ("NAA", "tCho"):
        for desc in ("srLam0Sd", "srLam0p03Sd"):
            sd = np.random.default_rng(2).random((64, 64, 3))
            _save(mrs / f"{STEM}_res-64_met-{met}_desc-{desc}_mrsi.nii.gz", sd, fine,
                  {"Units": "mM", "UncertaintySamples": 8})
    files = subject_files(out, "01", None)
    assert sorted(files["sd"]["NAA"]) == sorted(files["sr"]["NAA"]) == ["srLam0", "srLam0p03"]
    page = write_subject_report(out, "01", None, str(t1w)).read_text()
    assert "NAA: uncertainty, the standard deviation of the super-resolved map under 8 test-time" in page
    for met in ("NAA", "tCho"):
        assert (out / "sub-01" / "figures" / f"sub-01_acq-16_met-{met}_desc-uncertainty_mrsi.png").is_file()
