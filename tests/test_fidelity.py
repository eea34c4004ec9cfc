"""Fidelity evaluation (issue 14 item 2) on tiny prepared slices: known methods give known scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from mrsisr.evaluation.fidelity import (FidelitySettings, choose_sites, fidelity_markdown, fidelity_study,
                                        inject_mri_lesions)
from mrsisr.evaluation.runner import Method, bicubic_method, zero_fill_method
from mrsisr.slices import SubjectSlices, save_subject

N, SLICES = 32, 2


def _slices(seed: int = 0) -> SubjectSlices:
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.standard_normal((SLICES, 2, N, N)), (0, 0, 3, 3))
    maps = (np.array([8.0, 1.5])[None, :, None, None] * np.exp(smooth / smooth.std() * 0.15)).astype(np.float32)
    rows, cols = np.indices((N, N))
    disk = (np.hypot(rows - N / 2, cols - N / 2) < 14).astype(np.uint8)
    masks = np.broadcast_to(disk, maps.shape).copy()
    mri = ndimage.gaussian_filter(rng.uniform(0.5, 1.0, (SLICES, 3 * N, 3 * N, 3)), (0, 2, 2, 0))
    return SubjectSlices("01", maps * masks, masks, mri.astype(np.float16), (mri * 0.8).astype(np.float16),
                         ("NAA", "tCho"), np.arange(SLICES, dtype=np.int32), np.diag([3.4, 3.4, 3.4, 1.0]))


def truth_method() -> Method:
    """An oracle: returns the (lesioned) high-resolution truth itself."""
    return Method("truth", lambda data, lr, n, lam: data.maps * data.masks)


def flair_painter() -> Method:
    """The shortcut of issue 14: adds the FLAIR (at MRSI resolution) to the zero-filled map."""
    def predict(data: SubjectSlices, lr: np.ndarray, n: int, lam: float) -> np.ndarray:
        flair = data.flair.astype(np.float64).mean(axis=-1)
        s, size = flair.shape[0], lr.shape[-1]
        coarse = flair.reshape(s, size, 3, size, 3).mean(axis=(2, 4))
        return lr + (coarse / coarse.mean())[:, None] * lr.mean(axis=(-2, -1), keepdims=True)
    return Method("flair-painter", predict)


@pytest.fixture(scope="module")
def result() -> dict:
    methods = [truth_method(), zero_fill_method(), bicubic_method(), flair_painter()]
    return fidelity_study([_slices()], methods, [16], settings=FidelitySettings(diameters_mm=(6.0, 16.0)))


def _score(result: dict, table: str, method: str, value: str, size: float | None = None) -> float:
    picked = [r[value] for r in result[table] if r["method"] == method and (size is None or r["size_mm"] == size)]
    assert picked, (method, value)
    return float(np.mean(picked))


def test_the_truth_recovers_the_whole_lesion(result: dict) -> None:
    for size in (6.0, 16.0):
        assert _score(result, "lesions", "truth", "peak", size) == pytest.approx(1.0, abs=1e-6)
        assert _score(result, "lesions", "truth", "shape_error", size) == pytest.approx(0.0, abs=1e-6)
    assert _score(result, "leaks", "truth", "leak") == pytest.approx(0.0, abs=1e-9)


def test_zero_filling_blurs_small_lesions_and_never_leaks(result: dict) -> None:
    small, large = (_score(result, "lesions", "zero-fill", "peak", d) for d in (6.0, 16.0))
    assert 0.1 < small < 0.9 and small < large and large > 0.8
    assert _score(result, "lesions", "zero-fill", "shape_error", 6.0) > 0.2
    for method in ("zero-fill", "bicubic"):  # neither looks at the MRI
        assert _score(result, "leaks", method, "leak") == 0.0
        assert _score(result, "leaks", method, "leak_far") == 0.0


def test_a_method_that_paints_the_flair_leaks(result: dict) -> None:
    assert _score(result, "leaks", "flair-painter", "leak") > 0.2
    assert _score(result, "leaks", "flair-painter", "leak_far") < 0.02
    # Its lesion scores are zero-filling's (up to its scaling by the map's mean): lesions are not on the MRI.
    assert _score(result, "lesions", "flair-painter", "peak", 6.0) == pytest.approx(
        _score(result, "lesions", "zero-fill", "peak", 6.0), rel=0.05)


def test_sites_sit_inside_the_mask_and_far_apart() -> None:
    data = _slices()
    settings = FidelitySettings()
    sites = choose_sites(data, 2.4, settings, np.random.default_rng(0))
    assert len(sites.lesions) == SLICES * settings.sites_per_slice
    for s, row, col in sites.lesions:
        assert np.hypot(row - N / 2, col - N / 2) < 14 - 2.4 - 2
        control = sites.controls[s]
        assert np.hypot(row - control[0], col - control[1]) >= settings.far_voxels
    lesioned = inject_mri_lesions(data, sites, 6.0)
    s, row, col = sites.lesions[0]
    centre = (3 * row + 1, 3 * col + 1, 1)
    assert lesioned.flair[(s, *centre)] / float(data.flair[(s, *centre)]) == pytest.approx(1.8, rel=1e-2)
    assert lesioned.t1[(s, *centre)] / float(data.t1[(s, *centre)]) == pytest.approx(0.7, rel=1e-2)
    untouched = (s, 3 * sites.controls[s][0] + 1, 3 * sites.controls[s][1] + 1, 1)
    assert lesioned.flair[untouched] == pytest.approx(float(data.flair[untouched]), rel=1e-3)
    assert np.array_equal(lesioned.maps, data.maps)


def test_markdown_lists_every_method(result: dict) -> None:
    text = fidelity_markdown(result)
    for method in ("truth", "zero-fill", "bicubic", "flair-painter"):
        assert f"| {method} | 16 | 0 |" in text
    assert "peak 6 mm" in text and "leak far" in text


def test_masks_too_small_are_an_error() -> None:
    data = _slices()
    data.masks[:] = 0
    with pytest.raises(ValueError, match="no lesion site"):
        fidelity_study([data], [zero_fill_method()], [16])


def test_evaluate_cli_writes_fidelity_outputs(tmp_path: Path) -> None:
    from bids_fixtures import tiny_weights

    from mrsisr.evaluation.cli import main

    (tmp_path / "data").mkdir()
    save_subject(_slices(), tmp_path / "data" / "01_slices.npz")
    weights = tiny_weights(tmp_path / "tiny.safetensors")
    out = tmp_path / "out"
    code = main([str(tmp_path / "data"), "--weights", str(weights), "--simulate-matrix", "16", "--baselines",
                 "zero-fill", "--fidelity", "--out-dir", str(out), "--device", "cpu", "--quiet"])
    assert code == 0
    study = json.loads((out / "fidelity.json").read_text())
    assert {r["method"] for r in study["leaks"]} == {"model", "zero-fill"}
    assert "fidelity" in json.loads((out / "summary.json").read_text())
    assert "| model | 16 | 0 |" in (out / "fidelity.md").read_text()


def test_evaluate_without_flair_scores_the_t1w_only_input(tmp_path: Path) -> None:
    """--without-flair scores exactly what a subject whose FLAIR is the T1w scores, not the prepared FLAIR."""
    from dataclasses import replace

    from bids_fixtures import tiny_weights

    from mrsisr.evaluation.cli import main

    weights = tiny_weights(tmp_path / "tiny.safetensors")
    data = _slices()
    for name, subject in (("prepared", data), ("t1w-only", replace(data, flair=data.t1.copy()))):
        (tmp_path / name).mkdir()
        save_subject(subject, tmp_path / name / "01_slices.npz")

    def psnr(name: str, *extra: str) -> float:
        json_path = tmp_path / f"{name}{len(extra)}.json"
        assert main([str(tmp_path / name), "--weights", str(weights), "--simulate-matrix", "16", "--baselines",
                     "--json", str(json_path), "--device", "cpu", "--quiet", *extra]) == 0
        summary = json.loads(json_path.read_text())
        assert summary["settings"]["flair"] == ("substituted by the T1w" if extra else "as prepared")
        return [row["psnr"] for row in summary["per_n"] if row["method"] == "model"][0]

    assert psnr("prepared", "--without-flair") == pytest.approx(psnr("t1w-only"))
    assert psnr("prepared") != pytest.approx(psnr("t1w-only"), abs=1e-6)
