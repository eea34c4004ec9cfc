"""Outputs a lab uses: maps in T1w space (:mod:`mrsisr.spaces`) and ratio maps (:mod:`mrsisr.ratios`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrsisr.grid import resample_to_grid
from mrsisr.ratios import available_ratios, ratio_map, ratio_maps
from mrsisr.spaces import resample_masked


def _mrsi_grid() -> tuple[tuple[int, int, int], np.ndarray]:
    """A 16×16×2 grid of 3.4 mm voxels (10 mm slices), rotated 10° about z and shifted."""
    angle = math.radians(10.0)
    rotation = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([3.4, 3.4, 10.0])
    affine[:3, 3] = [-25.0, -30.0, 5.0]
    return (16, 16, 2), affine


def _t1w_grid() -> tuple[tuple[int, int, int], np.ndarray]:
    """A 1 mm LAS grid (x flipped, as many scanners write) covering the MRSI slab."""
    affine = np.diag([-1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = [40.0, -45.0, -2.0]
    return (90, 90, 30), affine


def _world(shape, affine) -> np.ndarray:
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    return (ijk @ affine[:3, :3].T + affine[:3, 3]).reshape(shape + (3,))


def _pattern(xyz: np.ndarray) -> np.ndarray:
    """A map that is linear in scanner space: trilinear interpolation reproduces it exactly."""
    return 10.0 + 0.1 * xyz[..., 0] + 0.2 * xyz[..., 1] - 0.05 * xyz[..., 2]


def test_masked_map_lands_at_its_world_coordinates_in_t1w_space():
    shape, affine = _mrsi_grid()
    t1_shape, t1_affine = _t1w_grid()
    ii, jj = np.mgrid[:16, :16]
    disc = ((ii - 7.5) ** 2 + (jj - 7.5) ** 2 < 36)[..., None].repeat(2, axis=2)
    data = np.where(disc, _pattern(_world(shape, affine)), 0.0).astype(np.float32)
    values, inside = resample_masked(data, disc, affine, t1_shape, t1_affine)
    assert values.shape == t1_shape and inside.dtype == np.uint8 and inside.sum() > 1000
    # every T1w voxel whose 8 interpolation neighbours are all valid holds the pattern at its own position
    coords = np.linalg.solve(affine, np.c_[_world(t1_shape, t1_affine).reshape(-1, 3), np.ones(np.prod(t1_shape))].T)
    base = np.floor(coords[:3]).astype(int)
    corners_valid = np.ones(base.shape[1], bool)
    for offset in np.ndindex(2, 2, 2):
        idx = base + np.array(offset)[:, None]
        ok = np.all((idx >= 0) & (idx < np.array(shape)[:, None]), axis=0)
        corners_valid &= ok & disc[tuple(np.clip(idx, 0, np.array(shape)[:, None] - 1))]
    interior = corners_valid.reshape(t1_shape)
    assert interior.sum() > 500 and np.all(inside[interior] == 1)
    expected = _pattern(_world(t1_shape, t1_affine))
    np.testing.assert_allclose(values[interior], expected[interior], atol=1e-3)
    # at the mask edge the values stay within the tissue's range: no zeros leak in (plain trilinear does leak)
    edge = (inside == 1) & ~interior
    low, high = data[disc].min(), data[disc].max()
    assert edge.sum() > 100 and values[edge].min() >= low - 1e-4 and values[edge].max() <= high + 1e-4
    plain = resample_to_grid(data, affine, t1_shape, t1_affine, order=1)
    assert plain[edge].min() < low - 1.0  # zeros averaged into the tissue values
    assert np.all(values[inside == 0] == 0)


def test_a_hot_voxel_lands_at_its_scanner_position():
    _, affine = _mrsi_grid()
    shape, (t1_shape, t1_affine) = (16, 16, 3), _t1w_grid()
    data = np.ones(shape, np.float32)
    data[5, 9, 1] = 50.0
    values, inside = resample_masked(data, np.ones(shape, bool), affine, t1_shape, t1_affine)
    peak = np.array(np.unravel_index(np.argmax(values), t1_shape))
    hot_world = affine @ [5, 9, 1, 1]
    assert np.linalg.norm(t1_affine[:3, :3] @ peak + t1_affine[:3, 3] - hot_world[:3]) <= 0.9  # within a T1w voxel
    assert values.max() > 40.0 and inside[tuple(peak)] == 1


def test_resample_to_t1w_node_writes_maps_and_one_mask(tmp_path, monkeypatch):
    from mrsisr.interfaces.spaces import ResampleToT1w

    shape, affine = _mrsi_grid()
    t1_shape, t1_affine = _t1w_grid()
    maps = np.zeros(shape + (2,), np.float32)
    maps[4:12, 4:12, :, 0], maps[4:12, 4:12, :, 1] = 8.0, 2.0
    mask = (maps > 0).astype(np.uint8)
    files = []
    for lam, scale in (("0", 1.0), ("0p03", 1.5)):
        nib.save(nib.Nifti1Image(maps * scale, affine), tmp_path / f"sr_{lam}.nii.gz")
        files.append(str(tmp_path / f"sr_{lam}.nii.gz"))
    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "mask.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros(t1_shape, np.float32), t1_affine), tmp_path / "t1w.nii.gz")
    node = ResampleToT1w(in_files=files, mask_files=[str(tmp_path / "mask.nii.gz")],
                         reference_file=str(tmp_path / "t1w.nii.gz"))
    monkeypatch.chdir(tmp_path)
    result = node.run()
    assert len(result.outputs.out_files) == 2 and len(result.outputs.out_masks) == 1
    first, second = (nib.load(f) for f in result.outputs.out_files)
    out_mask = np.asanyarray(nib.load(result.outputs.out_masks[0]).dataobj)
    assert first.shape == t1_shape + (2,) and np.allclose(first.affine, t1_affine)
    inside = out_mask[..., 0] == 1
    np.testing.assert_allclose(first.get_fdata()[..., 0][inside], 8.0, atol=1e-4)
    np.testing.assert_allclose(second.get_fdata()[..., 1][inside], 3.0, atol=1e-4)


def test_ratio_maps_with_their_own_masks():
    shape = (4, 1, 1)
    naa = np.array([8.0, 8.0, 8.0, 8.0]).reshape(shape)
    tcho = np.array([2.0, 2.0, 3.0, 2.0]).reshape(shape)
    tcr = np.array([4.0, 0.1, 6.0, 4.0]).reshape(shape)
    maps = np.stack([tcho, tcr, naa], -1)
    masks = np.ones(maps.shape, np.uint8)
    masks[3, 0, 0, 0] = 0  # tCho invalid at voxel 3
    found = {r.label: r for r in ratio_maps(maps, masks, ["tCho", "tCr", "NAA"], floor_fraction=0.1)}
    assert list(found) == ["tChoNAA", "tChotCr", "NAAtCr"]
    assert found["tChoNAA"].values.ravel().tolist() == [0.25, 0.25, 0.375, 0.0]
    assert found["tChoNAA"].mask.ravel().tolist() == [1, 1, 1, 0]
    # tCr at voxel 1 (0.1) is below 10 % of its 99th percentile (≈ 0.594): excluded from both tCr ratios
    assert found["tChotCr"].floor == pytest.approx(0.1 * np.percentile([4.0, 0.1, 6.0, 4.0], 99))
    assert found["tChotCr"].values.ravel().tolist() == [0.5, 0.0, 0.5, 0.0]
    assert found["tChotCr"].mask.ravel().tolist() == [1, 0, 1, 0]
    assert found["NAAtCr"].values.ravel().tolist() == pytest.approx([2.0, 0.0, 8 / 6, 2.0])
    assert found["NAAtCr"].mask.ravel().tolist() == [1, 0, 1, 1]


def test_ratios_only_when_both_metabolites_were_super_resolved():
    assert available_ratios(["NAA", "Ins", "tCho"]) == [("tCho", "NAA")]
    assert available_ratios(["Glu", "Gln"]) == []
    maps = np.ones((2, 2, 1, 2), np.float32)
    assert ratio_maps(maps, np.ones_like(maps), ["Glu", "Gln"]) == []
    with pytest.raises(ValueError, match="floor_fraction"):
        ratio_map(maps[..., 0], maps[..., 1], maps[..., 0], maps[..., 1], floor_fraction=1.5)


def test_ratio_node_one_map_per_lambda_and_ratio(tmp_path, monkeypatch):
    from mrsisr.interfaces.ratios import RatioMaps

    monkeypatch.chdir(tmp_path)
    maps = np.zeros((4, 4, 1, 2), np.float32)
    maps[1:3, 1:3, 0, 0], maps[1:3, 1:3, 0, 1] = 2.0, 8.0  # tCho, NAA
    files = []
    for index, scale in enumerate((1.0, 2.0)):
        nib.save(nib.Nifti1Image(maps * [scale, 1.0], np.eye(4)), tmp_path / f"sr{index}.nii.gz")
        files.append(str(tmp_path / f"sr{index}.nii.gz"))
    nib.save(nib.Nifti1Image((maps > 0).astype(np.uint8), np.eye(4)), tmp_path / "mask.nii.gz")
    result = RatioMaps(in_files=files, mask_file=str(tmp_path / "mask.nii.gz"), metabolites=["tCho", "NAA"],
                       sharpness=[0.0, 0.03]).run()
    outputs = result.outputs
    assert outputs.labels == ["tChoNAA", "tChoNAA"] and outputs.sharpness == [0.0, 0.03]
    assert outputs.numerators == ["tCho", "tCho"] and outputs.denominators == ["NAA", "NAA"]
    ratio = [np.asanyarray(nib.load(f).dataobj) for f in outputs.out_files]
    mask = np.asanyarray(nib.load(outputs.mask_files[0]).dataobj)
    assert mask.sum() == 4 and np.all(ratio[0][mask == 1] == 0.25) and np.all(ratio[1][mask == 1] == 0.5)


def test_ratio_writer_names_files_and_accepts_no_ratio(tmp_path):
    from mrsisr.workflows.outputs_derived import ratio_sidecars, sink_each

    ratio = tmp_path / "ratio.nii.gz"
    nib.save(nib.Nifti1Image(np.full((4, 4, 2), 0.25, np.float32), np.eye(4)), ratio)
    descs, maps, masks = ratio_sidecars(["tChoNAA"], ["tCho"], ["NAA"], [0.03], [0.4], 0.05, "orig",
                                        ["bids:raw:sub-01/anat/sub-01_T1w.nii.gz"], {"variant": "mcm"})
    assert descs == ["srLam0p03ratiotChoNAA"] and maps[0]["Numerator"] == "tCho" and masks[0]["Denominator"] == "NAA"
    entities = {"datatype": "mrs", "space": "orig", "acquisition": "16", "res": "64", "suffix": "mrsi"}
    written = sink_each(str(tmp_path / "out"), "/data/sub-01/anat/sub-01_T1w.nii.gz", [str(ratio)], descs, maps,
                        entities)
    assert [Path(p).name for p in written] == ["sub-01_acq-16_space-orig_res-64_desc-srLam0p03ratiotChoNAA_mrsi.nii.gz"]
    assert json.loads(Path(written[0].replace(".nii.gz", ".json")).read_text())["DenominatorFloor"] == 0.4
    assert sink_each(str(tmp_path / "out"), "/data/sub-01/anat/sub-01_T1w.nii.gz", [], [], [], entities) == []
