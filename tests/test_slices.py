"""The prepared-slice contract (mrsisr.slices): the scaling shared by training and inference, the cut."""

import numpy as np
import pytest

from mrsisr.slices import cut_slices, load_subject, map_scale, save_subject, scale_mri


def test_map_scale_is_each_maps_peak_and_one_for_empty_maps():
    maps = np.zeros((2, 3, 4, 4))
    maps[0, 1, 2, 2] = 5.0
    scale = map_scale(maps)
    assert scale.shape == (2, 3, 1, 1)
    assert scale[0, 1, 0, 0] == 5.0 and scale[1, 2, 0, 0] == 1.0


def test_scale_mri_divides_each_block_by_its_own_peak_in_float32():
    blocks = np.stack([np.full((6, 6, 3), 4.0), np.zeros((6, 6, 3))]).astype(np.float16)
    blocks[0, 0, 0, 0] = 8.0
    scaled = scale_mri(blocks)
    assert scaled.dtype == np.float32
    assert scaled[0].max() == 1.0 and scaled[0, 1, 1, 1] == 0.5
    assert not scaled[1].any()


def test_training_batches_and_inference_share_the_scaling():
    from mrsisr.slices import SubjectSlices
    from mrsisr.training.data import make_batch

    rng = np.random.default_rng(0)
    t1 = rng.uniform(0, 7, (1, 24, 24, 3))
    data = SubjectSlices("01", rng.uniform(1, 2, (1, 1, 8, 8)).astype(np.float32), np.ones((1, 1, 8, 8), np.uint8),
                         t1.astype(np.float16), (2 * t1).astype(np.float16), ("NAA",), np.arange(1), np.eye(4))
    batch = make_batch([(data, 0, 0)], 4, 0.0)
    np.testing.assert_array_equal(batch.t1[:, 0].numpy(), scale_mri(data.t1.astype(np.float32)))
    np.testing.assert_array_equal(batch.flair[:, 0].numpy(), scale_mri(data.flair.astype(np.float32)))


def test_cut_slices_keeps_the_selected_slices_and_round_trips(tmp_path):
    maps = np.arange(4 * 4 * 3 * 2, dtype=np.float32).reshape(4, 4, 3, 2)
    mask = np.ones_like(maps)
    mask[0, 0, 2, 1] = 0
    mri = np.random.default_rng(1).uniform(size=(12, 12, 6)).astype(np.float32)
    data = cut_slices("01", maps, mask, mri, mri, [1, 2], ["NAA", "tCr"], np.eye(4), slice_offset=1)
    assert data.maps.shape == (2, 2, 4, 4) and data.t1.shape == (2, 12, 12, 3)
    assert data.maps[1, 1, 0, 0] == 0 and data.masks[1, 1, 0, 0] == 0
    np.testing.assert_array_equal(data.maps[0, 0], maps[:, :, 1, 0])
    back = load_subject(save_subject(data, tmp_path / "sub-01_slices.npz"))
    np.testing.assert_array_equal(back.maps, data.maps)
    assert back.metabolites == ("NAA", "tCr") and back.slices.tolist() == [1, 2]
    with pytest.raises(ValueError, match="not all inside the MRI crop"):
        cut_slices("01", maps, mask, mri, mri, [0], ["NAA", "tCr"], np.eye(4), slice_offset=1)


def _imports(path) -> set[str]:
    """Every module a source file imports, lazy imports inside functions included."""
    import ast

    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_training_evaluation_and_the_export_node_import_one_way():
    """Training and evaluation use the library, not each other or the app; the export node not training."""
    from pathlib import Path

    import mrsisr

    root = Path(mrsisr.__file__).parent
    forbidden = {"training": ("mrsisr.evaluation", "mrsisr.bids_app", "mrsisr.interfaces", "mrsisr.workflows"),
                 "evaluation": ("mrsisr.training", "mrsisr.bids_app", "mrsisr.interfaces", "mrsisr.workflows")}
    for package, banned in forbidden.items():
        for path in (root / package).glob("*.py"):
            bad = sorted(name for name in _imports(path) if name.startswith(banned))
            assert not bad, f"{path.relative_to(root)} imports {bad}"
    for path in [root / "interfaces" / "export.py", root / "inference.py", root / "slices.py", root / "metrics.py",
                 root / "quality.py", *(root / "models").glob("*.py")]:
        bad = sorted(name for name in _imports(path)
                     if name.startswith(("mrsisr.training", "mrsisr.evaluation", "mrsisr.bids_app")))
        assert not bad, f"{path.relative_to(root)} imports {bad}"
