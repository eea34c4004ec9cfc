"""Uncertainty evaluation (issue 14 item 4) on tiny prepared slices: methods whose spread is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mrsisr.evaluation.runner import Method, zero_fill_method
from mrsisr.evaluation.uncertainty import UncertaintySettings, uncertainty_markdown, uncertainty_study
from mrsisr.slices import SubjectSlices, save_subject
from test_fidelity import N, SLICES, _slices  # the same tiny prepared slices

CENTRE = (N - 1) / 2


def constant_method() -> Method:
    return Method("constant", lambda data, lr, n, lam: np.full(lr.shape, 3.0, np.float32))


def wrong_near_the_centre() -> Method:
    """The truth plus a slope fixed to the array near its centre: wrong there, and by how much depends
    on which way the input faces (so its spread is there too)."""
    rows, cols = np.indices((N, N)) - CENTRE
    bump = 0.4 * rows / 4.0 * np.exp(-(rows**2 + cols**2) / (2 * 4.0**2))

    def predict(data: SubjectSlices, lr: np.ndarray, n: int, lam: float) -> np.ndarray:
        return data.maps + bump * lr.mean(axis=(-2, -1), keepdims=True)
    return Method("wrong-centre", predict)


def doubts_the_signal() -> Method:
    """The truth plus a grid-bound ripple proportional to the concentration: its spread follows the map,
    so a lesion that doubles the concentration doubles it."""
    rows, cols = np.indices((N, N))
    ripple = 0.1 * np.sin(2 * np.pi * rows / 8.0) * np.cos(2 * np.pi * cols / 16.0)
    return Method("doubter", lambda data, lr, n, lam: data.maps * (1 + ripple))


@pytest.fixture(scope="module")
def result() -> dict:
    methods = [constant_method(), wrong_near_the_centre(), doubts_the_signal(), zero_fill_method()]
    return uncertainty_study([_slices()], methods, [16], settings=UncertaintySettings(samples=8, far_voxels=6.0))


def _rows(result: dict, table: str, method: str) -> list[dict]:
    rows = [r for r in result[table] if r["method"] == method]
    assert rows, (table, method)
    return rows


def test_a_constant_method_has_no_spread(result: dict) -> None:
    for row in _rows(result, "ranking", "constant"):
        assert row["mean_sd"] == 0.0 and np.isnan(row["spearman_rho"])
    assert all(r["sd_near"] == 0.0 for r in _rows(result, "features", "constant"))


def test_the_uncertainty_ranks_errors_concentrated_where_it_is_high(result: dict) -> None:
    rows = _rows(result, "ranking", "wrong-centre")
    assert {r["metabolite"] for r in rows} == {"NAA", "tCho"}
    assert all(r["spearman_rho"] > 0.3 and r["p_value"] < 1e-3 for r in rows), rows
    assert all(r["voxels"] == SLICES * int(_slices().masks[0, 0].sum()) for r in rows)


def test_the_uncertainty_rises_at_a_lesion_for_a_method_that_doubts_the_signal(result: dict) -> None:
    for row in _rows(result, "features", "doubter"):
        assert row["increase"] > 1.15 and row["ratio"] > 1.0 and row["lesions"] >= 1, row
    for row in _rows(result, "features", "wrong-centre"):  # its doubt ignores the maps: no rise at lesions
        assert row["increase"] == pytest.approx(1.0, abs=0.05), row
    # Zero-filling undoes every transform exactly: (almost) no spread, lesion or not.
    for row in _rows(result, "ranking", "zero-fill"):
        assert row["mean_sd"] < 1e-4 * row["mean_abs_error"]


def test_markdown_lists_every_method_and_metabolite(result: dict) -> None:
    text = uncertainty_markdown(result)
    for method in ("constant", "wrong-centre", "doubter", "zero-fill"):
        for met in ("NAA", "tCho"):
            assert f"| {method} | 16 | 0 | {met} |" in text
    assert "8 transformations" in text


def test_evaluate_cli_writes_uncertainty_outputs(tmp_path: Path) -> None:
    from bids_fixtures import tiny_weights

    from mrsisr.evaluation.cli import main

    (tmp_path / "data").mkdir()
    save_subject(_slices(), tmp_path / "data" / "01_slices.npz")
    weights = tiny_weights(tmp_path / "tiny.safetensors")
    out = tmp_path / "out"
    code = main([str(tmp_path / "data"), "--weights", str(weights), "--simulate-matrix", "16", "--baselines",
                 "zero-fill", "--uncertainty", "--uncertainty-samples", "4", "--out-dir", str(out), "--device", "cpu",
                 "--quiet"])
    assert code == 0
    study = json.loads((out / "uncertainty.json").read_text())
    assert {r["method"] for r in study["ranking"]} == {"model"}  # the networks only
    assert len(study["settings"]["transforms"]) == 4
    assert all(np.isfinite(r["spearman_rho"]) for r in study["ranking"])
    assert "uncertainty" in json.loads((out / "summary.json").read_text())
    assert "| model | 16 | 0 | NAA |" in (out / "uncertainty.md").read_text()
