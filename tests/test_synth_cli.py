"""``mrsisr-synth`` command line: refusals before any work, and one small run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mrsisr.synth.cli import main, parse_args


@pytest.mark.parametrize(
    "argv",
    [
        ["out", "--formats", "nifti,dicom"],
        ["out", "--subjects", "0"],
        ["out", "--acquired-matrix", "17"],
        ["out", "--acquired-matrix", "64"],
        ["out", "--slices", "0"],
        ["out", "--share-3t", "1.5"],
        ["out", "--share-without-flair", "-0.1"],
    ],
)
def test_bad_arguments_exit_with_code_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parse_args(argv)
    assert raised.value.code == 2


def test_defaults_follow_the_contract() -> None:
    args = parse_args(["out"])
    assert args.formats == ("nifti", "csv")
    assert args.acquired_matrix == [16, 20, 24, 28, 32]
    assert args.slices is None and not args.tiny
    assert args.share_without_flair == 0.0 and args.share_3t == 0.0  # both off until the app serves them


def test_refuses_a_non_empty_output(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    assert main([str(tmp_path), "--tiny"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["something"]


def test_small_run_writes_a_dataset(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert main([str(out), "--subjects", "1", "--tiny", "--slices", "1", "--acquired-matrix", "20",
                 "--formats", "nifti"]) == 0
    assert (out / "sub-01" / "anat" / "sub-01_T1w.nii.gz").is_file()
    geometry = json.loads((out / "derivatives/lcmodel/sub-01/lcmodel_acq-20/geometry.json").read_text())
    assert geometry["shape"] == [20, 20, 1]
    assert not list((out / "derivatives/lcmodel/sub-01/lcmodel_acq-20").glob("*.csv"))
    assert "--acquired-matrix 20" in (out / "README").read_text()
