"""The one BIDS label cleaner (mrsisr.io.labels) and its users."""

from __future__ import annotations

import pytest

from mrsisr.bids_app import bids as bidsq
from mrsisr.io.discovery import locate_source
from mrsisr.io.labels import LabelError, clean_label, optional_label


@pytest.mark.parametrize("label", ["01\n", "sub-01\n", "01\r\n", "\n01"])
def test_a_trailing_newline_is_refused(label):
    with pytest.raises(LabelError, match="letters and digits"):
        clean_label(label, "sub")
    with pytest.raises(bidsq.LabelError, match="letters and digits"):
        bidsq.clean_label(label, "sub")  # the app's name for the same cleaner


def test_prefixes_and_optional_labels():
    assert clean_label("ses-pre", "ses") == "pre" and clean_label("acq-16", "acq") == "16"
    assert optional_label(None, "sub") is None and optional_label("", "ses") is None
    assert optional_label("sub-07", "sub") == "07"


def test_discovery_uses_the_cleaner(tmp_path):
    with pytest.raises(LabelError, match=r"invalid sub label '01\\n'"):
        locate_source(tmp_path, subject="01\n")


def test_the_cli_refuses_a_newline_in_labels(tmp_path):
    from mrsisr.bids_app.cli import AppExit, parse_args

    for option in ("--participant-label", "--session-label", "--acquisition"):
        with pytest.raises(AppExit, match="letters and digits"):
            parse_args([str(tmp_path), str(tmp_path / "out"), "participant", option, "01\n"])
