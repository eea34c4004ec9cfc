"""The command-line options of the fitting-output readers reach the loader node (issue 12 items 2-4)."""

from __future__ import annotations

import json

import pytest

import real_inputs as ri
from mrsisr.bids_app.cli import EXIT, AppExit, parse_args
from mrsisr.workflows.base import mrsi_options
from mrsisr.workflows.mrsi import MRSIOptions, init_mrsi_wf


@pytest.fixture(scope="module")
def bids(tmp_path_factory):
    return ri.bids_root(tmp_path_factory.mktemp("bids"))


def test_fsl_scaling_frequency_and_mrsi_filter_reach_the_load_node(bids, tmp_path):
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps({"mrsi": {"acquisition": "epsi"}}))
    config = parse_args([str(bids), str(tmp_path / "out"), "participant", "--fsl-mrs-scaling", "internal",
                         "--spectrometer-frequency", "123.2", "--bids-filter-file", str(filters)])
    assert (config.fsl_mrs_scaling, config.spectrometer_frequency) == ("internal", 123.2)
    assert config.mrsi_filters == {"acquisition": "epsi"}
    options = mrsi_options(config)
    load = init_mrsi_wf(options=options).get_node("load")
    assert load.inputs.fsl_scaling == "internal" and load.inputs.spectrometer_frequency == 123.2
    assert load.inputs.mrsi_filters == {"acquisition": "epsi"} and load.inputs.require_quality is False
    default = parse_args([str(bids), str(tmp_path / "out"), "participant"])
    assert default.fsl_mrs_scaling == "auto" and default.spectrometer_frequency is None and default.mrsi_filters is None


def test_quality_filter_is_told_whether_the_fit_has_snr_and_fwhm():
    workflow = init_mrsi_wf(options=MRSIOptions())
    edge = workflow._graph.get_edge_data(workflow.get_node("load"), workflow.get_node("quality"))
    assert ("quality_available", "apply_snr_fwhm") in edge["connect"]
    assert ("bids_dir", "bids_dir") in workflow._graph.get_edge_data(workflow.get_node("inputnode"),
                                                                     workflow.get_node("load"))["connect"]


def test_a_frequency_in_tesla_or_hz_is_refused(bids, tmp_path):
    for value in ("7", "297200000"):
        with pytest.raises(AppExit, match="not a 1H frequency in MHz") as stop:
            parse_args([str(bids), str(tmp_path / "out"), "participant", "--spectrometer-frequency", value])
        assert stop.value.code == EXIT["usage"]


def test_a_spreadsheet_only_lcmodel_run_runs_on_what_it_has(tmp_path):
    """Stock LCModel without filtab (spreadsheet_sl<z>.csv per slice), grid from mrs/: the app filters on %SD."""
    from mrsisr.bids_app.cli import main

    root = ri.bids_root(tmp_path / "bids", flair=True)
    ri.raw_mrsi(root, "01")
    run = ri.lcmodel_csi_run(root, "01", slices=(3, 4, 5))
    for path in run["tables"] + run["coords"]:
        path.unlink()
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="S/N and FWHM are unavailable"):
        code = main([str(root), str(out), "participant", "-w", str(tmp_path / "work"), "--skip-bids-validation",
                     "--backend", "python", "--metabolites", "NAA", "tCr", "--output-spaces", "orig", "--no-reports",
                     "--crlb-max", "40"])
    assert code == 0
    assert (out / "sub-01" / "mrs" / "sub-01_space-orig_res-64_met-NAA_desc-srLam0_mrsi.nii.gz").is_file()
    counts = next((tmp_path / "work").rglob("quality_counts.json"))
    parameters = json.loads(counts.read_text())["Parameters"]
    assert parameters["CriteriaApplied"] == ["%SD", "skull"]
