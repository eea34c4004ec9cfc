"""Fast tests of the BIDS-App pieces: labels, refusals, naming, atomic writes, config, exit codes."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrsisr.bids_app import bids as bidsq
from mrsisr.bids_app.cli import EXIT, _build_parser, main, parse_args
from mrsisr.bids_app.config import RunConfig, to_toml
from mrsisr.bids_app.derivatives import write_dataset_description
from mrsisr.interfaces.bids import DerivativesDataSink, atomic_write_text, build_derivative_path, lambda_label
from mrsisr.bids_app.execution import Progress, collect_crashes, plugin_settings, subject_key_of, SubjectStatus
from mrsisr.bids_app.validation import find_validator, validate_dataset
from bids_fixtures import tiny_weights


def _nifti(path: Path, shape=(8, 8, 8), value=1.0, affine=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full(shape, value, np.float32), np.eye(4) if affine is None else affine), path)
    return path


@pytest.fixture
def small_bids(tmp_path) -> Path:
    """Two subjects with T1w/FLAIR and (empty-ish) LCModel folders: enough for queries and refusals."""
    root = tmp_path / "bids"
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.9.0"}))
    for sub in ("01", "02"):
        for suffix in ("T1w", "FLAIR"):
            _nifti(root / f"sub-{sub}" / "anat" / f"sub-{sub}_{suffix}.nii.gz")
        lcm = root / "derivatives" / "lcmodel" / f"sub-{sub}"
        for acq in ("64", "16", "24"):
            _nifti(lcm / f"sub-{sub}_acq-{acq}_space-orig_desc-snr_mrsi.nii.gz")
            _nifti(lcm / f"sub-{sub}_acq-{acq}_space-orig_met-NAA_desc-signal_mrsi.nii.gz", shape=(8, 8, 2))
    return root


@pytest.mark.parametrize("label, prefix, expected", [
    ("01", "sub", "01"), ("sub-01", "sub", "01"), ("ses-pre", "ses", "pre"), ("A1b2", "sub", "A1b2"),
])
def test_clean_label_accepts(label, prefix, expected):
    assert bidsq.clean_label(label, prefix) == expected


@pytest.mark.parametrize("label", ["../01", "0*", "sub-0?", "01/..", "a b", "", "sub-", "[01]", "01;rm"])
def test_clean_label_refuses_traversal_and_globs(label):
    with pytest.raises(bidsq.LabelError, match="letters and digits"):
        bidsq.clean_label(label, "sub")


@pytest.mark.parametrize("relative, refused", [
    (".", True), ("sub-01/out", True), ("code", True), ("derivatives/mrsisr", False), ("derivatives", True),
    ("../elsewhere", False),
])
def test_output_dir_refusal(tmp_path, relative, refused):
    bids_dir = tmp_path / "bids"
    bids_dir.mkdir()
    if refused:
        with pytest.raises(bidsq.InputError):
            bidsq.check_output_dir(bids_dir, bids_dir / relative)
    else:
        bidsq.check_output_dir(bids_dir, bids_dir / relative)


@pytest.mark.parametrize("value, label", [(0, "srLam0"), (0.03, "srLam0p03"), (0.1, "srLam0p1"), (0.005, "srLam0p005")])
def test_lambda_label(value, label):
    assert lambda_label(value) == label


@pytest.mark.parametrize("entities, expected", [
    ({"subject": "01", "datatype": "anat", "desc": "brain", "suffix": "mask", "extension": ".nii.gz"},
     "sub-01/anat/sub-01_desc-brain_mask.nii.gz"),
    ({"subject": "01", "session": "pre", "datatype": "anat", "from": "FLAIR", "to": "T1w", "mode": "image",
      "suffix": "xfm", "extension": ".txt"},
     "sub-01/ses-pre/anat/sub-01_ses-pre_from-FLAIR_to-T1w_mode-image_xfm.txt"),
    ({"subject": "01", "datatype": "mrs", "acquisition": "16", "space": "orig", "res": "64", "metabolite": "NAA",
      "desc": "srLam0p03", "suffix": "mrsi", "extension": ".nii.gz"},
     "sub-01/mrs/sub-01_acq-16_space-orig_res-64_met-NAA_desc-srLam0p03_mrsi.nii.gz"),
])
def test_derivative_names(entities, expected):
    assert build_derivative_path(entities) == expected


def test_derivative_names_refuse_non_alphanumeric():
    with pytest.raises(ValueError, match="alphanumeric"):
        build_derivative_path({"subject": "01", "datatype": "mrs", "desc": "sr_0.03", "suffix": "mrsi",
                               "extension": ".nii.gz"})


def test_atomic_write_leaves_no_temporary(tmp_path):
    target = atomic_write_text(tmp_path / "a" / "x.json", "{}")
    assert target.read_text() == "{}"
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_sink_splits_metabolites_with_sidecars(tmp_path):
    data = np.stack([np.full((4, 4, 2), i, np.float32) for i in range(3)], axis=-1)
    affine = np.diag([3.4, 3.4, 3.4, 1.0])
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "maps.nii.gz")
    sink = DerivativesDataSink(base_directory=str(tmp_path / "out"), source_file="/x/sub-07_ses-a_T1w.nii.gz",
                               in_file=str(tmp_path / "maps.nii.gz"), datatype="mrs", suffix="mrsi", space="orig",
                               desc="zerofilled", metabolites=["tCho", "NAA", "Ins"], metadata={"A": 1})
    result = sink.run(cwd=str(tmp_path))
    names = [Path(p).name for p in result.outputs.out_file]
    assert names == [f"sub-07_ses-a_space-orig_met-{m}_desc-zerofilled_mrsi.nii.gz" for m in ("tCho", "NAA", "Ins")]
    second = nib.load(result.outputs.out_file[1])
    assert np.allclose(second.affine, affine) and np.all(np.asarray(second.dataobj) == 1)
    assert json.loads(Path(result.outputs.out_meta[2]).read_text()) == {"A": 1, "Metabolite": "Ins"}


def test_output_spaces_option(small_bids, tmp_path):
    common = [str(small_bids), str(tmp_path / "out"), "participant"]
    assert parse_args(common).output_spaces == ("orig", "T1w")
    assert parse_args(common + ["--output-spaces", "orig"]).output_spaces == ("orig",)
    from mrsisr.bids_app.cli import AppExit

    with pytest.raises(AppExit) as stop:
        parse_args(common + ["--output-spaces", "MNI152NLin2009cAsym"])
    assert stop.value.code == EXIT["usage"]


def test_uncertainty_samples_option(small_bids, tmp_path):
    common = [str(small_bids), str(tmp_path / "out"), "participant"]
    assert parse_args(common).uncertainty_samples == 8
    config = parse_args(common + ["--uncertainty-samples", "0"])
    from mrsisr.workflows.base import mrsi_options

    assert config.uncertainty_samples == 0 and mrsi_options(config).uncertainty_samples == 0


@pytest.mark.parametrize("entities, expected", [
    ({"subject": "01", "datatype": "mrs", "acquisition": "16", "space": "orig", "res": "64", "metabolite": "NAA",
      "desc": "srLam0p03Sd", "suffix": "mrsi", "extension": ".nii.gz"},
     "sub-01/mrs/sub-01_acq-16_space-orig_res-64_met-NAA_desc-srLam0p03Sd_mrsi.nii.gz"),
])
def test_uncertainty_derivative_name(entities, expected):
    assert build_derivative_path(entities) == expected


def test_config_toml_round_trip(tmp_path):
    config = RunConfig(bids_dir=tmp_path, output_dir=tmp_path / "o", analysis_level="participant",
                       work_dir=tmp_path / "w", lcmodel_dir=tmp_path / "l", sharpness=(0.0, 0.03),
                       bids_filters={"t1w": {"acquisition": "mprage", "reconstruction": None}})
    parsed = tomllib.loads(to_toml(config))["execution"]
    assert parsed["sharpness"] == [0.0, 0.03] and parsed["analysis_level"] == "participant"
    assert parsed["bids_filters"]["t1w"]["acquisition"] == "mprage"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.nprocs = 3


def test_parser_has_the_bids_app_options():
    text = _build_parser().format_help()
    for option in ("--participant-label", "--session-label", "--bids-filter-file", "--skip-bids-validation",
                   "--work-dir", "--nprocs", "--omp-nthreads", "--mem-gb", "--use-plugin", "--stop-on-first-crash",
                   "--version", "--lcmodel-dir", "--metabolites", "--target-matrix", "--sharpness", "--weights",
                   "--backend", "--device", "--snr-min", "--fwhm-max", "--crlb-max", "--min-valid-fraction",
                   "--simulate-matrix", "--acquisition", "--validate-only"):
        assert option in text


def test_labels_with_and_without_prefix(small_bids, tmp_path):
    config = parse_args([str(small_bids), str(tmp_path / "out"), "participant", "--participant-label", "sub-01", "02"])
    assert config.participant_label == ("01", "02")


@pytest.mark.parametrize("args, code", [
    (["{bids}", "{out}", "participant", "--participant-label", "../01"], "usage"),
    (["{bids}", "{out}", "participant", "--participant-label", "0*"], "usage"),
    (["{bids}", "{out}", "participant", "--participant-label", "99"], "no_selection"),
    (["{bids}", "{out}", "participants"], "bad_level"),
    (["{bids}", "{bids}", "participant"], "usage"),
    (["{bids}", "{bids}/sub-01/out", "participant"], "usage"),
    (["{bids}", "{out}", "participant", "-w", "{bids}/work"], "usage"),
    (["{bids}/missing", "{out}", "participant"], "no_input"),
    (["{bids}", "{out}", "participant", "--weights", "{bids}/none.safetensors"], "no_input"),
    (["{bids}", "{out}", "participant", "--nprocs", "0"], "usage"),
    (["{bids}", "{out}", "participant", "--bogus"], "usage"),
    (["{bids}", "{out}", "participant", "--sharpness", "2"], "usage"),
    (["{bids}", "{out}", "participant", "--simulate-matrix", "15"], "usage"),
    (["{bids}", "{out}", "participant", "--export-slices"], "usage"),
    (["{bids}", "{out}", "participant", "--train"], "usage"),
    (["{bids}", "{out}", "participant", "--uncertainty-samples", "1"], "usage"),
    (["{bids}", "{out}", "participant", "--lcmodel-dir", "{bids}/nowhere", "--skip-bids-validation"], "no_input"),
])
def test_exit_codes_and_nothing_written(small_bids, tmp_path, capsys, args, code):
    args = [a.format(bids=small_bids, out=tmp_path / "out") for a in args]
    if "--weights" not in args:
        args += ["--weights", str(tiny_weights(tmp_path / "w.safetensors"))]
    if "--skip-bids-validation" not in args:
        args.append("--skip-bids-validation")
    before = sorted(p for p in small_bids.rglob("*"))
    assert main(args) == EXIT[code]
    assert sorted(p for p in small_bids.rglob("*")) == before
    assert not (tmp_path / "out").exists()
    if code == "no_selection":
        assert "available: 01, 02" in capsys.readouterr().err


def test_not_bids_gives_16(tmp_path):
    (tmp_path / "raw").mkdir()
    assert main([str(tmp_path / "raw"), str(tmp_path / "out"), "participant", "--skip-bids-validation"]) == 16


@pytest.mark.skipif(find_validator() is None, reason="bids-validator-deno is not installed")
def test_invalid_bids_gives_16(small_bids, tmp_path, capsys):
    (small_bids / "sub-01" / "anat" / "sub-01_notbids.txt").write_text("x")
    (tmp_path / "w.safetensors").write_bytes(b"x")
    assert main([str(small_bids), str(tmp_path / "out"), "participant", "--validate-only",
                 "--weights", str(tmp_path / "w.safetensors")]) == 16
    assert "NOT_INCLUDED" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and "mrsisr" in capsys.readouterr().out


def test_weights_that_are_not_safetensors_are_refused_before_any_work(small_bids, tmp_path, capsys):
    garbage = tmp_path / "w.safetensors"
    garbage.write_bytes(b"\x80\x04 not a weights file")
    code = main([str(small_bids), str(tmp_path / "out"), "participant", "--skip-bids-validation",
                 "--weights", str(garbage)])
    assert code == EXIT["no_input"] and "not a safetensors file" in capsys.readouterr().err
    assert not (tmp_path / "out" / "sub-01").exists()


def test_validate_only_table_and_default_acquisition(small_bids, tmp_path, capsys):
    weights = tiny_weights(tmp_path / "w.safetensors")
    code = main([str(small_bids), str(tmp_path / "out"), "participant", "--validate-only", "--skip-bids-validation",
                 "--weights", str(weights)])
    out = capsys.readouterr().out
    assert code == 0 and "sub-01" in out and "sub-02" in out and "16,24,64" in out
    layout = bidsq.make_layout(small_bids)
    lcmodel = small_bids / "derivatives" / "lcmodel"
    assert [s.acquisition for s in bidsq.collect_subjects(layout, lcmodel_dir=lcmodel)] == ["16", "16"]
    assert bidsq.collect_subjects(layout, lcmodel_dir=lcmodel, simulate_matrix=16)[0].acquisition == "64"
    assert "acq-32 not found" in bidsq.collect_subjects(layout, lcmodel_dir=lcmodel, acquisition="32")[0].problems[0]


def test_bids_filter_file(small_bids, tmp_path):
    _nifti(small_bids / "sub-01" / "anat" / "sub-01_acq-fast_T1w.nii.gz")
    layout = bidsq.make_layout(small_bids)
    lcmodel = small_bids / "derivatives" / "lcmodel"
    ambiguous = bidsq.collect_subjects(layout, lcmodel_dir=lcmodel, participant_label=("01",))[0]
    assert "2 T1w image(s)" in ambiguous.problems[0]
    filters = {"t1w": {"acquisition": "fast"}}
    chosen = bidsq.collect_subjects(layout, lcmodel_dir=lcmodel, participant_label=("01",), filters=filters)[0]
    assert chosen.t1w.endswith("sub-01_acq-fast_T1w.nii.gz") and not chosen.problems


def test_dataset_description_and_validator(tmp_path):
    out = tmp_path / "out"
    write_dataset_description(out, tmp_path / "bids")
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["GeneratedBy"][0]["Name"] == "mrsisr"
    assert "*_met-*" in (out / ".bidsignore").read_text()
    if find_validator():
        assert validate_dataset(out).errors == ()


def test_progress_and_crash_parsing(tmp_path, capsys):
    class Node:
        fullname = "mrsisr_wf.sub_01_ses_pre_wf.anat_wf.skullstrip"

    progress = Progress()
    progress(Node(), "start")
    progress(Node(), "end")
    assert "[sub-01_ses-pre] anat_wf.skullstrip" in capsys.readouterr().out
    assert subject_key_of("mrsisr_wf.sub_02_wf.mrsi_wf.load") == "sub-02"
    (tmp_path / "crash-1-root-load-x.txt").write_text(
        "Node: mrsisr_wf.sub_02_wf.mrsi_wf.load\nTraceback:\n  File x\nMapLoadingError: sub-02: no maps\n")
    statuses = {"sub-01": SubjectStatus("sub-01"), "sub-02": SubjectStatus("sub-02")}
    collect_crashes(tmp_path, statuses)
    assert statuses["sub-01"].status == "ok" and statuses["sub-02"].status == "FAILED"
    assert "mrsi_wf.load: MapLoadingError: sub-02: no maps" in statuses["sub-02"].errors[0]


def test_plugin_yaml(tmp_path):
    plugin_file = tmp_path / "plugin.yml"
    plugin_file.write_text("plugin: SLURM\nplugin_args:\n  sbatch_args: '-p debug'\n")
    plugin, args = plugin_settings(plugin_file, 1, None)
    assert plugin == "SLURM" and args["sbatch_args"] == "-p debug" and callable(args["status_callback"])
    assert plugin_settings(None, 2, 4.0)[1]["n_procs"] == 2
    assert plugin_settings(None, 1, None)[0] == "Linear"


def test_sessions_are_selected_and_named(tmp_path):
    root = tmp_path / "bids"
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.9.0"}))
    for ses in ("pre", "post"):
        for suffix in ("T1w", "FLAIR"):
            _nifti(root / "sub-01" / f"ses-{ses}" / "anat" / f"sub-01_ses-{ses}_{suffix}.nii.gz")
        for name in ("desc-snr", "met-NAA_desc-signal"):
            _nifti(root / "derivatives" / "lcmodel" / "sub-01" / f"ses-{ses}"
                   / f"sub-01_ses-{ses}_acq-20_space-orig_{name}_mrsi.nii.gz")
    layout = bidsq.make_layout(root)
    lcmodel = root / "derivatives" / "lcmodel"
    both = bidsq.collect_subjects(layout, lcmodel_dir=lcmodel)
    assert [s.key for s in both] == ["sub-01_ses-post", "sub-01_ses-pre"]
    assert all(s.acquisition == "20" and not s.problems for s in both)
    one = bidsq.collect_subjects(layout, lcmodel_dir=lcmodel, session_label=("pre",))
    assert [s.key for s in one] == ["sub-01_ses-pre"] and one[0].t1w.endswith("sub-01_ses-pre_T1w.nii.gz")
    with pytest.raises(bidsq.LabelError, match="available: post, pre"):
        bidsq.collect_subjects(layout, lcmodel_dir=lcmodel, session_label=("mid",))


def test_report_flags_a_placeholder_model_and_errors(tmp_path):
    from mrsisr.bids_app.report import cohort_rows, write_group_report, write_subject_report

    out = tmp_path / "out"
    mrs = out / "sub-01" / "mrs"
    rng = np.random.default_rng(0)
    t1w = _nifti(tmp_path / "sub-01_T1w.nii.gz", shape=(20, 20, 12))
    stem = "sub-01_acq-16_space-orig"
    for met in ("NAA", "tCho"):
        _nifti(mrs / f"{stem}_met-{met}_desc-quality_mask.nii.gz", shape=(4, 4, 3), value=1)
        for desc in ("zerofilled", "srLam0", "srLam0p03"):
            path = mrs / f"{stem}_res-64_met-{met}_desc-{desc}_mrsi.nii.gz"
            nib.save(nib.Nifti1Image(rng.random((16, 16, 3)).astype(np.float32), np.diag([5.0, 5, 4, 1])), path)
            path.with_name(path.name.replace(".nii.gz", ".json")).write_text(json.dumps(
                {"Model": {"Placeholder": True, "Sha256": "abc"}, "AcquiredMatrix": 16}))
    (mrs / f"{stem}_desc-quality_counts.tsv").write_text(
        "metabolite\ttotal\toutside_brain\tlow_snr\twide_fwhm\thigh_crlb\tfailed_fit\trejected\tkept\n"
        "NAA\t48\t10\t2\t1\tn/a\t0\t12\t36\ntCho\t48\t10\t3\t1\tn/a\t0\t13\t35\n")
    (mrs / f"{stem}_desc-selected_slices.tsv").write_text(
        "slice\tn_valid\tvalid_fraction\tselected\n0\t1\t0.1\tfalse\n1\t9\t0.5\ttrue\n2\t9\t0.5\ttrue\n")
    page = write_subject_report(out, "01", None, str(t1w), errors=["mrsi_wf.load: boom"]).read_text()
    assert "Placeholder model" in page and "mrsi_wf.load: boom" in page
    assert (out / "sub-01" / "figures" / f"{stem.replace('_space-orig', '')}_met-NAA_desc-panel_mrsi.png").is_file()
    rows = cohort_rows(out)
    assert [r["metabolite"] for r in rows] == ["NAA", "tCho"] and rows[0]["selected_slices"] == 2
    assert rows[0]["kept_fraction"] == "0.7500" and rows[0]["placeholder_model"] == "true"
    tsv, html_page = write_group_report(out)
    assert tsv.read_text().count("\n") == 3 and "sub-01.html" in html_page.read_text()


def test_missing_validator_warns_and_continues(small_bids, tmp_path, monkeypatch, capsys):
    import mrsisr.bids_app.validation as validation

    monkeypatch.setattr(validation, "find_validator", lambda: None)
    code = main([str(small_bids), str(tmp_path / "out"), "participant", "--validate-only",
                 "--weights", str(tiny_weights(tmp_path / "w.safetensors"))])
    assert code == 0 and "BIDS validation was skipped" in capsys.readouterr().err


def test_subject_status_from_its_own_nodes(tmp_path):
    """Issue 13, item 3: ok when every step of the subject ended, FAILED / INCOMPLETE otherwise;
    without any reported outcome (graph plugins) the nodes' result files decide."""
    from mrsisr.bids_app.execution import settle_statuses

    nodes = {key: [f"mrsisr_wf.{key.replace('-', '_')}_wf.anat_wf.skullstrip",
                   f"mrsisr_wf.{key.replace('-', '_')}_wf.mrsi_wf.superres"] for key in ("sub-01", "sub-02", "sub-03")}
    outcomes = {nodes["sub-01"][0]: "end", nodes["sub-01"][1]: "end",
                nodes["sub-02"][0]: "exception", nodes["sub-03"][0]: "end"}
    statuses = {key: SubjectStatus(key) for key in nodes}
    settle_statuses(statuses, nodes, outcomes, tmp_path, "--stop-on-first-crash stopped the run")
    assert [statuses[k].status for k in nodes] == ["ok", "FAILED", "INCOMPLETE"]
    assert statuses["sub-01"].errors == [] and "mrsi_wf.superres" in statuses["sub-03"].errors[0]
    result = tmp_path / "mrsisr_wf" / "sub_01_wf" / "anat_wf" / "skullstrip" / "result_skullstrip.pklz"
    result.parent.mkdir(parents=True)
    result.write_bytes(b"")
    graph_plugin = {"sub-01": SubjectStatus("sub-01")}
    settle_statuses(graph_plugin, {"sub-01": nodes["sub-01"][:1]}, {}, tmp_path, "stopped")
    assert graph_plugin["sub-01"].status == "ok"


def test_work_dir_lock_is_released_after_the_run(tmp_path):
    from mrsisr.bids_app.execution import WorkDirBusy, lock_work_dir

    with lock_work_dir(tmp_path / "work"):
        with pytest.raises(WorkDirBusy, match="in use by mrsisr process"):
            with lock_work_dir(tmp_path / "work"):
                pass
    with lock_work_dir(tmp_path / "work"):  # free again
        pass
