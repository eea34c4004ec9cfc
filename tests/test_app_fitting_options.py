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
