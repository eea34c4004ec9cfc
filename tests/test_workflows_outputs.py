"""The derivative writers (``init_ds_*_wf``) build and run on their own, without the BIDS-App."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path

    import nibabel as nib
    import numpy as np

    from mrsisr.workflows.outputs import init_ds_anat_wf

    tmp = Path(sys.argv[1])
    t1w = tmp / "sub-01_T1w.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)), t1w)
    mask = tmp / "mask.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), np.eye(4)), mask)
    matrix = tmp / "xfm.txt"
    np.savetxt(matrix, np.eye(4))
    wf = init_ds_anat_wf(output_dir=str(tmp / "out"), sources=["bids:raw:T1w", "bids:raw:FLAIR"])
    wf.base_dir = str(tmp / "work")
    for field, value in (("source_file", t1w), ("brain_mask", mask), ("flair_t1w", t1w), ("out_matrix", matrix),
                         ("skullstrip_backend", "python"), ("coreg_backend", "python")):
        setattr(wf.get_node("inputnode").inputs, field, str(value))
    wf.run(plugin="Linear")
    written = sorted(str(p.relative_to(tmp / "out")) for p in (tmp / "out").rglob("*") if p.is_file())
    app = sorted(name for name in sys.modules if name.startswith("mrsisr.bids_app"))
    print(json.dumps({"written": written, "app_modules": app}))
""")


def test_ds_anat_wf_runs_without_the_app(tmp_path):
    """A fresh interpreter builds and runs the anatomical sinks; no ``mrsisr.bids_app`` module is loaded."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          check=True, timeout=300)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["app_modules"] == []
    assert report["written"] == [
        "sub-01/anat/sub-01_desc-brain_mask.json", "sub-01/anat/sub-01_desc-brain_mask.nii.gz",
        "sub-01/anat/sub-01_from-FLAIR_to-T1w_mode-image_xfm.json",
        "sub-01/anat/sub-01_from-FLAIR_to-T1w_mode-image_xfm.txt",
        "sub-01/anat/sub-01_space-T1w_desc-coreg_FLAIR.json", "sub-01/anat/sub-01_space-T1w_desc-coreg_FLAIR.nii.gz",
    ]


def test_ds_mrsi_wf_builds_without_the_app():
    """Building the MRSI sinks imports the interfaces' sink, not the app."""
    code = ("import sys; from mrsisr.workflows.outputs import init_ds_mrsi_wf; "
            "wf = init_ds_mrsi_wf(output_dir='/tmp/o', sources=[], acquisition='16', sharpness=(0.0, 0.03), "
            "target_matrix=64, simulate_matrix=None, thresholds={}); "
            "print(sorted(m for m in sys.modules if m.startswith('mrsisr.bids_app')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_atomic_write_reports_the_first_error_not_the_cleanup(tmp_path, monkeypatch):
    """A failing write is reported as itself, even when removing the temporary file fails too."""
    from pathlib import Path

    from mrsisr.interfaces import bids

    def refuse_unlink(self, missing_ok=False):
        raise PermissionError("cleanup refused")

    def refuse_write(self, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "unlink", refuse_unlink)
    monkeypatch.setattr(Path, "write_text", refuse_write)
    with pytest.raises(OSError, match="No space left"):
        bids.atomic_write_text(tmp_path / "out.json", "{}")
    assert not (tmp_path / "out.json").exists()
