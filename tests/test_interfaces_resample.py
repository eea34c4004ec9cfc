"""Tests of MRI resampling onto the MRSI grid (mrsisr.interfaces.resample, mrsisr.grid)."""

from __future__ import annotations

import doctest
import os

import nibabel as nib
import numpy as np
import pytest

from mrsisr.grid import antialias_sigma, resample_to_grid, upsampled_grid
from mrsisr.spaces import mrsi_fine_grid, resample_files_to_mrsi, resample_mri
from mrsisr.interfaces.resample import ResampleToMRSIGrid


def _oblique_affine(voxel_mm=3.4, angle_deg=12.0, origin=(-100.0, -90.0, -40.0)):
    """An MRSI-like affine with an in-plane rotation and a translation."""
    a = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation * voxel_mm
    affine[:3, 3] = origin
    return affine


def _world(affine, shape):
    """World coordinates (x, y, z) of every voxel centre, shape (*shape, 3)."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def _save(path, data, affine):
    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return str(path)


def test_docstring_examples_run():
    from mrsisr.interfaces import resample

    assert doctest.testmod(resample).failed == 0


# ---------------------------------------------------------------- the 3× grid
def test_fine_grid_shape_and_subvoxel_centres_average_to_mrsi_centres():
    coarse = _oblique_affine()
    shape, fine = upsampled_grid((64, 64, 39), coarse, 3)
    assert shape == (192, 192, 117)
    sub = _world(fine, (6, 6, 6)).reshape(2, 3, 2, 3, 2, 3, 3)       # MRSI voxels 0…1 per axis
    np.testing.assert_allclose(sub.mean(axis=(1, 3, 5)), _world(coarse, (2, 2, 2)), atol=1e-9)
    # sub-voxel centres sit at −1/3, 0, +1/3 of an MRSI voxel around its centre
    offsets = np.linalg.solve(coarse[:3, :3], (sub[0, :, 0, 0, 0, 0] - coarse[:3, 3]).T).T
    np.testing.assert_allclose(offsets[:, 0], [-1 / 3, 0, 1 / 3], atol=1e-12)
    np.testing.assert_allclose(np.sqrt((fine[:3, :3] ** 2).sum(0)), 3.4 / 3)


def test_cropping_to_selected_slices_keeps_the_geometry():
    coarse = _oblique_affine()
    full_shape, full, _ = mrsi_fine_grid((64, 64, 39), coarse)
    shape, cropped, first = mrsi_fine_grid((64, 64, 39), coarse, slices=[20, 14, 16])
    assert (shape, first) == ((192, 192, 21), 14)
    np.testing.assert_allclose(cropped[:3, 3], full[:3, :3] @ [0, 0, 3 * 14] + full[:3, 3])
    with pytest.raises(ValueError, match="outside"):
        mrsi_fine_grid((64, 64, 39), coarse, slices=[38, 39])


# ---------------------------------------------------------------- resampling
def test_resampling_preserves_a_smooth_function():
    source_affine = np.eye(4)
    source_affine[:3, 3] = -40.0
    x, y, z = np.moveaxis(_world(source_affine, (80, 80, 80)), -1, 0)

    def smooth(x, y, z):
        return np.sin(2 * np.pi * x / 60) * np.cos(2 * np.pi * y / 70) + z / 40

    target = _oblique_affine(voxel_mm=3.4, angle_deg=20, origin=(-20.0, -20.0, -15.0))
    shape, fine = upsampled_grid((10, 10, 8), target, 3)
    out = resample_mri(smooth(x, y, z).astype(np.float32), source_affine, shape, fine)
    expected = smooth(*np.moveaxis(_world(fine, shape), -1, 0))
    assert out.dtype == np.float32 and out.shape == shape
    # the 1.13 mm grid barely needs anti-aliasing (σ ≈ 0.23 voxel): only a tiny blur
    assert np.abs(out - expected).max() < 0.01


def test_shifted_cube_lands_where_the_affine_says():
    source = np.zeros((60, 60, 60), np.float32)
    source_affine = np.eye(4)
    source_affine[:3, 3] = (-30.0, -25.0, -20.0)
    source[40:50, 20:30, 30:42] = 1.0               # world x ∈ [9.5, 19.5), y ∈ [-5.5, 4.5), z ∈ [9.5, 21.5)
    cube_centre = np.array([14.5, -0.5, 15.5])
    reference = np.diag([3.0, 3.0, 3.0, 1.0])
    reference[:3, 3] = (-7.0, -13.0, 2.0)           # unrelated offset: voxel indices ≠ world mm
    shape, fine = upsampled_grid((10, 10, 8), reference, 3)
    out = resample_mri(source, source_affine, shape, fine)
    centroid = (out[..., None] * _world(fine, shape)).sum(axis=(0, 1, 2)) / out.sum()
    np.testing.assert_allclose(centroid, cube_centre, atol=0.1)
    np.testing.assert_allclose(out.sum() * 1.0**3, 10 * 10 * 12, rtol=0.02)   # 1 mm³ fine voxels
    inside = np.linalg.solve(fine, np.append(cube_centre, 1.0))[:3].round().astype(int)
    assert out[tuple(inside)] == pytest.approx(1.0, abs=1e-3)


def test_antialiasing_averages_out_a_pattern_the_grid_cannot_represent():
    source = np.zeros((48, 12, 12), np.float32)
    source[::2] = 1.0                                 # 2 mm period along x: finer than a 3 mm grid
    target = np.diag([3.0, 1.0, 1.0, 1.0])            # downsampled along x only
    aliased = resample_to_grid(source, np.eye(4), (14, 12, 12), target, antialias=False)
    filtered = resample_to_grid(source, np.eye(4), (14, 12, 12), target, antialias=True)
    core = (slice(2, -2), slice(2, -2), slice(2, -2))
    assert aliased[core].std() > 0.45                 # samples hit 1, 0, 1, 0: a false 6 mm pattern
    assert filtered[core].std() < 0.01
    assert filtered[core].mean() == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(antialias_sigma(np.eye(4), target), [np.sqrt(8) / 2.3548, 0, 0], atol=1e-4)


def test_no_blurring_when_not_downsampling():
    data = np.random.default_rng(1).random((8, 9, 10)).astype(np.float32)
    out = resample_to_grid(data, np.eye(4), data.shape, np.eye(4))
    np.testing.assert_array_equal(out, data)
    assert not antialias_sigma(np.eye(4), np.diag([0.5, 1.0, 0.9, 1.0])).any()


# ---------------------------------------------------------------- files and node
@pytest.fixture
def mri_files(tmp_path):
    """A 1 mm T1w/FLAIR/mask pair with a brain ellipsoid, and a 8×8×5 MRSI reference at 3.4 mm."""
    affine = np.eye(4)
    affine[:3, 3] = -24.0
    x, y, z = np.moveaxis(_world(affine, (48, 48, 48)), -1, 0)
    brain = (x / 18) ** 2 + (y / 20) ** 2 + (z / 14) ** 2 <= 1
    reference = np.diag([3.4, 3.4, 3.4, 1.0])
    reference[:3, 3] = (-11.9, -11.9, -6.8)
    return {
        "t1w_file": _save(tmp_path / "t1w.nii.gz", (brain * (500 + x)).astype(np.int16), affine),
        "flair_file": _save(tmp_path / "flair.nii.gz", (brain * (300.0 - y)).astype(np.float32), affine),
        "mask_file": _save(tmp_path / "mask.nii.gz", brain.astype(np.uint8), affine),
        "reference": _save(tmp_path / "ref.nii.gz", np.ones((8, 8, 5, 7), np.float32), reference),
    }


def test_resample_files_shapes_dtypes_and_affine(mri_files, tmp_path):
    out = resample_files_to_mrsi(out_dir=tmp_path, **mri_files)
    reference = nib.load(mri_files["reference"]).affine
    expected_shape, expected_affine = upsampled_grid((8, 8, 5), reference, 3)
    for key, dtype in (("t1w_mrsi_file", np.float32), ("flair_mrsi_file", np.float32), ("mask_file", np.uint8)):
        img = nib.load(out[key])
        assert img.shape == expected_shape and img.get_data_dtype() == dtype
        np.testing.assert_allclose(img.affine, expected_affine, atol=1e-5)
    t1 = np.asarray(nib.load(out["t1w_mrsi_file"]).dataobj)
    mask = np.asarray(nib.load(out["mask_file"]).dataobj)
    assert 400 < t1[12, 12, 7] < 600 and set(np.unique(mask)) == {0, 1} and out["slice_offset"] == 0
    cropped = resample_files_to_mrsi(out_dir=tmp_path, slices=[1, 2], t1w_file=mri_files["t1w_file"],
                                     reference=mri_files["reference"])
    assert nib.load(cropped["t1w_mrsi_file"]).shape == (24, 24, 6) and cropped["slice_offset"] == 1
    np.testing.assert_allclose(np.asarray(nib.load(cropped["t1w_mrsi_file"]).dataobj), t1[..., 3:9], atol=1e-4)


def test_resample_bad_inputs(mri_files, tmp_path):
    four_d = _save(tmp_path / "t1w_4d.nii.gz", np.ones((8, 8, 8, 2), np.float32), np.eye(4))
    with pytest.raises(ValueError, match=r"T1w .*t1w_4d.*\(8, 8, 8, 2\).*expected 3-D"):
        resample_files_to_mrsi(out_dir=tmp_path, t1w_file=four_d, reference=mri_files["reference"])
    far = np.eye(4)
    far[:3, 3] = 500.0
    away = _save(tmp_path / "t1w_far.nii.gz", np.ones((8, 8, 8), np.float32), far)
    with pytest.raises(ValueError, match="does not overlap"):
        resample_files_to_mrsi(out_dir=tmp_path, t1w_file=away, reference=mri_files["reference"])
    nan = np.ones((8, 8, 8), np.float32)
    nan[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        resample_files_to_mrsi(out_dir=tmp_path, reference=mri_files["reference"],
                               t1w_file=_save(tmp_path / "t1w_nan.nii.gz", nan, np.eye(4)))
    with pytest.raises(ValueError, match="empty"):
        resample_files_to_mrsi(out_dir=tmp_path, slices=[], **mri_files)


def test_resample_node_standalone(mri_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = ResampleToMRSIGrid(t1w_file=mri_files["t1w_file"], reference=mri_files["reference"],
                                interpolation="cubic").run()
    assert os.path.isfile(result.outputs.t1w_mrsi_file)
    assert nib.load(result.outputs.t1w_mrsi_file).shape == (24, 24, 15)
    with pytest.raises(Exception, match="t1w_file"):
        ResampleToMRSIGrid(t1w_file=str(tmp_path / "missing.nii.gz"))


def test_select_then_resample_in_a_workflow(mri_files, tmp_path):
    from nipype.pipeline import engine as pe

    from mrsisr.interfaces.selection import SelectSlices

    quality = np.zeros((8, 8, 5), np.uint8)
    quality[:, :, 2:4] = 1
    quality_file = _save(tmp_path / "quality.nii.gz", quality, nib.load(mri_files["reference"]).affine)
    wf = pe.Workflow(name="resample_wf", base_dir=str(tmp_path / "work"))
    select = pe.Node(SelectSlices(mask_file=quality_file), name="select")
    resample = pe.Node(ResampleToMRSIGrid(**mri_files), name="resample")
    wf.connect([(select, resample, [("slices", "slices")])])
    graph = wf.run()
    node = next(n for n in graph.nodes() if n.name == "resample")
    assert node.result.outputs.slice_offset == 2
    assert nib.load(node.result.outputs.flair_mrsi_file).shape == (24, 24, 6)
