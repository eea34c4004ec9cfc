"""``mrsisr-geometry IN OUT``: geometry.json from a NIfTI-MRS or a 3-D/4-D NIfTI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrsisr.io.geometry import CONVENTION, geometry_from_json
from mrsisr.io.geometry_cli import main
from real_inputs import GRID_RECT, MRSIGrid, raw_mrsi

SMALL = MRSIGrid((10, 8), (200.0, 160.0), 3, 12.0)


def test_from_nifti_mrs_round_trips_through_geometry_from_json(tmp_path, capsys):
    source = raw_mrsi(tmp_path, "01", grid=GRID_RECT, points=8)
    out = tmp_path / "geometry.json"
    assert main([str(source), str(out)]) == 0
    geometry = geometry_from_json(out)
    assert geometry.shape == (32, 24, 8)
    np.testing.assert_allclose(geometry.affine, GRID_RECT.affine)
    assert json.loads(out.read_text())["convention"] == CONVENTION
    printed = capsys.readouterr().out
    assert "32x24x8" in printed and "24 rows x 32 cols x 8 slices" in printed and "123.253 MHz" in printed


def test_from_plain_3d_and_4d_nifti(tmp_path):
    affine = np.diag([3.4, 3.4, 3.4, 1.0])
    for ndim, shape in ((3, (16, 16, 4)), (4, (16, 16, 4, 2))):
        source = tmp_path / f"map{ndim}.nii"
        nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), affine), str(source))
        out = tmp_path / f"g{ndim}.json"
        assert main([str(source), str(out)]) == 0
        assert geometry_from_json(out).shape == (16, 16, 4)
    five = tmp_path / "five.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 2, 2, 2), np.float32), affine), str(five))
    assert main([str(five), str(tmp_path / "g5.json")]) == 1
    assert not (tmp_path / "g5.json").exists()


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    source = raw_mrsi(tmp_path, "01", grid=SMALL, points=8)
    out = tmp_path / "geometry.json"
    out.write_text("{}")
    assert main([str(source), str(out)]) == 1
    assert "use --force" in capsys.readouterr().err
    assert out.read_text() == "{}"
    assert main([str(source), str(out), "--force"]) == 0
    assert geometry_from_json(out).shape == (10, 8, 3)


def test_checks_the_grid_against_lcmodel(tmp_path, capsys):
    source = raw_mrsi(tmp_path, "01", grid=SMALL, points=8)
    control = tmp_path / "control.file"
    control.write_text(" $LCMODL\n ndrows=8\n ndcols=10\n ndslic=3\n $END\n")
    assert main([str(source), str(tmp_path / "ok.json"), "--check-lcmodel", str(control)]) == 0
    control.write_text(" $LCMODL\n ndrows=10\n ndcols=8\n ndslic=3\n $END\n")
    assert main([str(source), str(tmp_path / "bad.json"), "--check-lcmodel", str(control)]) == 1
    err = capsys.readouterr().err
    assert "ndrows=10, ndcols=8, ndslic=3" in err and "control.file" in err and "8 rows x 10 cols" in err
    assert not (tmp_path / "bad.json").exists()


def test_bad_inputs(tmp_path, capsys):
    assert main([str(tmp_path / "absent.nii.gz"), str(tmp_path / "g.json")]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "table.txt"), str(tmp_path / "g.json")])
    assert exit_info.value.code == 2


def test_console_script_is_installed(tmp_path):
    script = shutil.which("mrsisr-geometry") or str(Path(sys.executable).parent / "mrsisr-geometry")
    if not Path(script).exists():
        pytest.skip("mrsisr-geometry is not installed in this environment (pip install -e .)")
    source = raw_mrsi(tmp_path, "01", grid=SMALL, points=8)
    done = subprocess.run([script, str(source), str(tmp_path / "g.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert geometry_from_json(tmp_path / "g.json").shape == (10, 8, 3)
