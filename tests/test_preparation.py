"""The one route to prepared slices (mrsisr.preparation): mrsisr-prepare and mrsisr-evaluate on BIDS."""

from __future__ import annotations

import ast
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bids_fixtures import synthetic_dataset
from mrsisr.slices import load_subject

CRLB_MAX, MIN_VALID_FRACTION = 8.0, 0.2


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """``mrsisr-prepare`` on one subject with a %SD bound and a slice threshold of its own."""
    from mrsisr.training.cohort import main

    out = tmp_path_factory.mktemp("prepared")
    code = main([str(synthetic_dataset()), str(out), "--participant-label", "sub-01", "--crlb-max", str(CRLB_MAX),
                 "--min-valid-fraction", str(MIN_VALID_FRACTION)])
    assert code == 0
    return out


def _sd_maps(metabolites) -> np.ndarray:
    folder = synthetic_dataset() / "derivatives" / "lcmodel" / "sub-01"
    return np.stack([np.asanyarray(nib.load(folder / f"sub-01_acq-64_space-orig_met-{name}_desc-crlb_mrsi.nii.gz")
                                   .dataobj) for name in metabolites], -1)


def test_prepare_honours_crlb_max_and_min_valid_fraction_like_the_graph(prepared):
    data = load_subject(prepared / "sub-01_slices.npz")
    sd = _sd_maps(data.metabolites)  # (N, N, Z, M)
    kept_sd = np.moveaxis(sd[:, :, data.slices], (2, 3), (0, 1))[data.masks > 0]
    assert kept_sd.size and kept_sd.max() <= CRLB_MAX  # every kept voxel passes the %SD bound
    fraction = data.masks.any(axis=1).sum(axis=(1, 2)) / data.maps.shape[-1] ** 2
    assert fraction.min() >= MIN_VALID_FRACTION  # every kept slice passes the slice threshold
    assert data.t1.shape == (len(data.slices), 3 * data.maps.shape[-1], 3 * data.maps.shape[-1], 3)


def test_evaluation_reuses_prepared_slices_without_the_app(prepared, tmp_path):
    from mrsisr.evaluation.bids_input import prepare_from_bids
    from mrsisr.slices import training_slices_dir

    slices_dir = training_slices_dir(tmp_path / "derivatives")
    slices_dir.mkdir(parents=True)
    for label in ("01", "02"):  # both participants already there: nothing is recomputed
        (slices_dir / f"sub-{label}_slices.npz").write_bytes((prepared / "sub-01_slices.npz").read_bytes())
    assert prepare_from_bids(synthetic_dataset(), tmp_path) == slices_dir
    source = Path(__import__("mrsisr.evaluation.bids_input", fromlist=["x"]).__file__).read_text()
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert not any(name.startswith(("mrsisr.bids_app", "mrsisr.training")) for name in imported)
