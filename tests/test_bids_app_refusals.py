"""Refusals of the BIDS-App (issue 13): each one a message and its exit code, before any work.

"Before any work" is checked literally: neither the output nor the working directory is
created, and the inputs are unchanged.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bids_fixtures import tiny_weights, tree_digest
from mrsisr.bids_app.cli import EXIT, main, parse_args
from mrsisr.bids_app.derivatives import write_dataset_description


def _nifti(path: Path, shape=(8, 8, 2)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.diag([3.4, 3.4, 3.4, 1.0])), path)
    return path


@pytest.fixture
def dataset(tmp_path) -> dict[str, Path]:
    """Two subjects: sub-01 with 8×8 NIfTI maps (acq-8), sub-02 with 32×32 ones (acq-32)."""
    bids = tmp_path / "bids"
    bids.mkdir()
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.9.0"}))
    for sub, n in (("01", 8), ("02", 32)):
        for suffix in ("T1w", "FLAIR"):
            _nifti(bids / f"sub-{sub}" / "anat" / f"sub-{sub}_{suffix}.nii.gz", shape=(10, 10, 10))
        for name in ("desc-snr", "desc-fwhm", "met-NAA_desc-signal"):
            _nifti(bids / "derivatives" / "lcmodel" / f"sub-{sub}" / f"sub-{sub}_acq-{n}_space-orig_{name}_mrsi.nii.gz",
                   shape=(n, n, 2))
    return {"bids": bids, "out": tmp_path / "out", "work": tmp_path / "work", "root": tmp_path,
            "weights": tiny_weights(tmp_path / "tiny.safetensors"), "lcmodel": bids / "derivatives" / "lcmodel"}


def _run(dataset, *extra: str, out: Path | None = None) -> int:
    args = [str(dataset["bids"]), str(out or dataset["out"]), "participant", "-w", str(dataset["work"]),
            "--skip-bids-validation", "--participant-label", "01"]
    if "--weights" not in extra:
        args += ["--weights", str(dataset["weights"])]
    return main(args + list(extra))


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _weights_with_header(path: Path, header: bytes) -> str:
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    return str(path)


CASES = {
    # item 6: tracebacks before; now a message and 66 (an unusable input) or 64 (a bad option)
    "plugin YAML malformed": (lambda d: ["--use-plugin", _write(d["root"] / "p.yml", "plugin: [SLURM\n")],
                              "no_input", "not readable YAML"),
    "plugin YAML a list": (lambda d: ["--use-plugin", _write(d["root"] / "p.yml", "- SLURM\n")],
                           "no_input", "expected a YAML mapping"),
    "plugin unknown": (lambda d: ["--use-plugin", _write(d["root"] / "p.yml", "plugin: NoSuchPlugin\n")],
                       "no_input", "no plugin 'NoSuchPlugin'"),
    "plugin_args a list": (lambda d: ["--use-plugin", _write(d["root"] / "p.yml", "plugin: SLURM\nplugin_args: [1]\n")],
                           "no_input", "'plugin_args' must be a mapping"),
    "filter value a list": (lambda d: ["--bids-filter-file", _write(d["root"] / "f.json", '{"t1w": ["mprage"]}')],
                            "no_input", "'t1w' must be an object"),
    "filter unknown entity": (lambda d: ["--bids-filter-file",
                                         _write(d["root"] / "f.json", '{"t1w": {"acquistion": "mprage"}}')],
                              "no_input", "not pybids entities"),
    "filter sets the subject": (lambda d: ["--bids-filter-file", _write(d["root"] / "f.json", '{"t1w": {"subject": "02"}}')],
                                "no_input", "['subject']"),
    "min-valid-fraction 5": (lambda d: ["--min-valid-fraction", "5"], "usage", "a fraction in [0, 1]"),
    "weights header a JSON list": (lambda d: ["--weights", _weights_with_header(d["root"] / "l.safetensors", b"[1, 2]")],
                                   "no_input", "no 'variant'"),
    "model card malformed": (lambda d: [_write(d["root"] / "tiny.json", "{not json") and "--no-reports"],
                             "no_input", "model card"),
    "model card a list": (lambda d: [_write(d["root"] / "tiny.json", "[1]") and "--no-reports"],
                          "no_input", "must be a JSON object"),
    # item 7: numeric options at parse time (--mem-gb -1 hung MultiProc)
    "mem-gb -1": (lambda d: ["--mem-gb", "-1", "--nprocs", "2"], "usage", "--mem-gb"),
    "mem-gb 0": (lambda d: ["--mem-gb", "0"], "usage", "--mem-gb"),
    "omp-nthreads 0": (lambda d: ["--omp-nthreads", "0"], "usage", "--omp-nthreads"),
    "batch-size -3": (lambda d: ["--batch-size", "-3"], "usage", "--batch-size"),
    "snr-min -1": (lambda d: ["--snr-min", "-1"], "usage", "--snr-min"),
    "fwhm-max 0": (lambda d: ["--fwhm-max", "0"], "usage", "--fwhm-max"),
    "crlb-max nan": (lambda d: ["--crlb-max", "nan"], "usage", "--crlb-max"),
    # item 8: the output matrix, against the network and the acquisition
    "target-matrix 65": (lambda d: ["--target-matrix", "65"], "usage", "multiple of 16"),
    "target-matrix 7": (lambda d: ["--target-matrix", "7"], "usage", "multiple of 16"),
    "target-matrix below n": (lambda d: ["--participant-label", "02", "--target-matrix", "16"],
                              "no_input", "the network's n = 32 exceeds the target matrix 16; choose --target-matrix 32"),
    "simulate on a non-N grid": (lambda d: ["--simulate-matrix", "4"], "no_input",
                                 "--simulate-matrix needs fitting outputs on the 64×64 target grid"),
    # item 4: the output and working directories never overlap an input
    "output is --lcmodel-dir": (lambda d: ["--output-as", str(d["lcmodel"])], "usage", "is --lcmodel-dir"),
    "output inside --lcmodel-dir": (lambda d: ["--output-as", str(d["lcmodel"] / "mrsisr")], "usage",
                                    "is inside --lcmodel-dir"),
    "output contains --lcmodel-dir": (lambda d: ["--lcmodel-dir", str(d["out"] / "lcmodel")], "usage",
                                      "contains --lcmodel-dir"),
    "output contains BIDS_DIR": (lambda d: ["--output-as", str(d["root"])], "usage", "contains the BIDS directory"),
    "work dir is --lcmodel-dir": (lambda d: ["-w", str(d["lcmodel"])], "usage", "working directory"),
    # item 11: a private working directory
    "work dir inside OUTPUT_DIR": (lambda d: ["-w", str(d["out"] / "work")], "usage", "inside the output directory"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_before_any_work(dataset, capsys, case):
    make, code, message = CASES[case]
    extra = make(dataset)
    out = dataset["out"]
    if "--output-as" in extra:
        out = Path(extra.pop(extra.index("--output-as") + 1))
        extra.remove("--output-as")
    before = tree_digest(dataset["bids"])
    assert _run(dataset, *extra, out=out) == EXIT[code], capsys.readouterr()
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not dataset["out"].exists() and not dataset["work"].exists()
    assert tree_digest(dataset["bids"]) == before


def test_output_that_is_a_file(dataset, capsys):
    dataset["out"].write_text("x")
    assert _run(dataset) == EXIT["usage"]
    assert "is a file, not a directory" in capsys.readouterr().err
    assert dataset["out"].read_text() == "x" and not dataset["work"].exists()


def test_read_only_output_directory(dataset, capsys):
    if os.geteuid() == 0:  # root writes through permission bits: a read-only file system it cannot write
        read_only = Path("/proc/self/mrsisr-out")
    else:
        read_only = dataset["root"] / "readonly"
        read_only.mkdir(mode=0o555)
    assert _run(dataset, out=read_only) == EXIT["usage"]
    assert "is not writable" in capsys.readouterr().err
    assert not dataset["work"].exists()


def test_geometry_json_that_is_not_an_object(dataset, capsys):
    folder = dataset["lcmodel"] / "sub-01" / "lcmodel_acq-16"
    folder.mkdir()
    (folder / "sl1.csv").write_text("Row, Col, NAA, NAA %SD\n")
    (folder / "geometry.json").write_text("5")
    assert _run(dataset, "--acquisition", "16") == EXIT["no_input"]
    err = capsys.readouterr().err
    assert "geometry.json lacks ['shape', 'affine']" in err and "Traceback" not in err
    assert not dataset["out"].exists() and not dataset["work"].exists()


def test_never_overwrites_another_pipelines_dataset_description(dataset, capsys):
    """``OUTPUT_DIR`` = another pipeline's derivatives (e.g. LCModel's): refused, the description intact."""
    lcmodel_description = dataset["lcmodel"] / "dataset_description.json"
    text = json.dumps({"Name": "LCModel fits", "DatasetType": "derivative", "GeneratedBy": [{"Name": "LCModel"}]})
    lcmodel_description.write_text(text)
    other = dataset["root"] / "fits"
    other.mkdir()
    (other / "dataset_description.json").write_text(text)
    assert _run(dataset, out=other) == EXIT["usage"]
    assert "written by LCModel, not mrsisr" in capsys.readouterr().err
    assert (other / "dataset_description.json").read_text() == text and sorted(other.iterdir()) == [
        other / "dataset_description.json"]
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_dataset_description(other, dataset["bids"])
    write_dataset_description(dataset["out"], dataset["bids"])  # its own description: rewritten freely
    write_dataset_description(dataset["out"], dataset["bids"])


def test_world_writable_work_dir_is_refused(dataset, capsys):
    dataset["work"].mkdir()
    dataset["work"].chmod(0o777)
    assert _run(dataset) == EXIT["usage"]
    assert "writable by every user" in capsys.readouterr().err
    assert list(dataset["work"].iterdir()) == [] and not dataset["out"].exists()


def test_a_second_run_on_a_locked_work_dir_refuses(dataset, capsys):
    from mrsisr.bids_app.execution import lock_work_dir

    with lock_work_dir(dataset["work"]):
        assert _run(dataset, "--no-reports") == EXIT["busy"]
    err = capsys.readouterr().err
    assert "is in use by mrsisr process" in err and "Traceback" not in err
    assert not dataset["out"].exists()
    assert stat.S_IMODE(dataset["work"].stat().st_mode) == 0o700


def test_repeated_labels_and_sharpness_are_given_once(dataset):
    config = parse_args([str(dataset["bids"]), str(dataset["out"]), "participant", "--participant-label", "01",
                         "sub-01", "--session-label", "a", "ses-a", "--sharpness", "0", "0", "0.03", "0.0"])
    assert config.participant_label == ("01",) and config.session_label == ("a",)
    assert config.sharpness == (0.0, 0.03)


def test_error_prefix_is_printed_once(dataset, capsys):
    assert main([str(dataset["bids"]), str(dataset["out"]), "participant", "--bogus"]) == EXIT["usage"]
    err = capsys.readouterr().err
    assert "mrsisr: error: unrecognized arguments: --bogus" in err and "mrsisr: mrsisr:" not in err


def test_target_matrix_multiples_of_16_are_accepted(dataset):
    assert parse_args([str(dataset["bids"]), str(dataset["out"]), "participant", "--target-matrix", "48"]) \
        .target_matrix == 48
