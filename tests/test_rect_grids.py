"""Non-square MRSI grids (issue 12 item 6): rectangular FOV, anisotropic voxels, refusals.

The rectangular 32×24 map (7.5 mm square voxels, 240×180 mm) is the 32×32 map of a 240×240 mm FOV
with its field of view cropped in y, where the 32×32 map is empty: its output must be the square
path's output on the overlapping field of view, voxel for voxel and at the same world positions.
"""

from __future__ import annotations


import nibabel as nib
import numpy as np
import pytest

from mrsisr import kspace
from mrsisr.inference import load_for_inference, super_resolve_volume
from mrsisr.interfaces.superres import SuperResolve
from mrsisr.io.errors import GeometryError
from mrsisr.io.geometry import MRSIGeometry, check_in_plane_matrix, in_plane_embedding
from mrsisr.workflows.mrsi import target_grid
from test_inference import weights  # noqa: F401 (the tiny test network, a fixture)

N, Z, METS = 64, 2, ["NAA", "tCho"]
#: A 240×240 mm square acquisition: 32×32 voxels of 7.5 mm, oblique-free but off-centre, x flipped.
SQUARE_AFFINE = np.array([[-7.5, 0, 0, 118.0], [0, 7.5, 0, -122.0], [0, 0, 10.0, -15.0], [0, 0, 0, 1]])
#: The same acquisition over 240×180 mm: y voxels 4…27 of the square grid.
RECT_AFFINE = SQUARE_AFFINE @ np.array([[1, 0, 0, 0], [0, 1, 0, 4], [0, 0, 1, 0], [0, 0, 0, 1.0]])


def _centres(affine: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """World coordinates (mm) of the in-plane voxel centres of slice 0, shape (X, Y, 3)."""
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    voxels = np.stack([ii, jj, np.zeros_like(ii), np.ones_like(ii)], -1).astype(float)
    return (voxels @ affine.T)[..., :3]


@pytest.fixture(scope="module")
def square_maps():
    """32×32×Z×2 head-like maps, empty outside y voxels 6…25 (inside the rectangular FOV), and MRI."""
    xx, yy = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    head = np.exp(-((xx - 15.5) ** 2 / 80 + (yy - 15.5) ** 2 / 40)) * ((yy >= 6) & (yy <= 25))
    maps = np.stack([np.stack([head * (8.0 + z), head * (1.5 + 0.2 * z)], -1) for z in range(Z)], 2)
    mask = np.repeat((head > 0.05)[:, :, None, None], Z, 2).repeat(2, 3).astype(np.uint8)
    rng = np.random.default_rng(3)
    mri = np.kron(kspace.zero_fill(head, N), np.ones((3, 3)))[..., None] * np.ones(3 * Z) + 0.01 * rng.random(
        (3 * N, 3 * N, 3 * Z))
    return maps.astype(np.float32), mask, mri.astype(np.float32)


def test_embedding_decided_from_voxel_sizes():
    rect = in_plane_embedding(MRSIGeometry((32, 24, 8), RECT_AFFINE))
    assert (rect.kind, rect.n, rect.padding, rect.output_shape) == ("rectangular_fov", 32, ((0, 0), (4, 4)), (64, 48))
    tall = in_plane_embedding(MRSIGeometry((24, 32, 8), np.diag([7.5, 7.5, 10, 1])), 96)
    assert (tall.kind, tall.n, tall.output_shape, tall.crop[0]) == ("rectangular_fov", 32, (72, 96), slice(12, 84))
    aniso = in_plane_embedding(MRSIGeometry((32, 24, 8), np.diag([7.5, 10.0, 10, 1])))
    assert (aniso.kind, aniso.n, aniso.output_shape) == ("anisotropic", 32, (64, 64))
    square = in_plane_embedding(MRSIGeometry((32, 32, 8), SQUARE_AFFINE))
    assert (square.kind, square.n, square.output_shape) == ("square", 32, (64, 64))
    assert check_in_plane_matrix(MRSIGeometry((32, 24, 8), RECT_AFFINE), 64) == 32
    # without the output grid only what does not depend on it is checked (the app checks --target-matrix)
    thirty = MRSIGeometry((30, 20, 8), np.diag([8.0, 8.0, 10, 1]))
    assert check_in_plane_matrix(thirty) == 30 and check_in_plane_matrix(thirty, 60) == 30
    with pytest.raises(GeometryError, match="multiple of 6"):
        check_in_plane_matrix(thirty, 64)


@pytest.mark.parametrize("shape, zooms, target, message", [
    ((32, 24, 8), (7.5, 9.0), 64, r"32x24 of 7.5x9 mm voxels \(240x216 mm field of view\) has neither square voxels"),
    ((30, 20, 8), (8.0, 8.0), 64, r"would span 42.6667 voxels .* not whole voxels; choose a --target-matrix that is "
                                  r"a multiple of 6"),
    ((33, 24, 8), (7.5, 7.5), 66, r"33x24: the network's n = 33 must be even"),
    ((32, 23, 8), (7.5, 10.4348), 64, "zero-filling each axis needs even sides"),
    ((32, 24, 8), (7.5, 7.5), 16, r"n = 32 exceeds the target matrix 16; choose --target-matrix 32 or more"),
])
def test_impossible_grids_are_refused_with_the_reason(shape, zooms, target, message):
    geometry = MRSIGeometry(shape, np.diag([*zooms, 10.0, 1.0]), origin="sub-01_mrsi.nii.gz")
    with pytest.raises(GeometryError, match="sub-01_mrsi.nii.gz: .*" + message):
        in_plane_embedding(geometry, target)


def test_impossible_grid_is_refused_by_the_target_grid_node(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nib.save(nib.Nifti1Image(np.ones((32, 24, 3), np.float32), np.diag([7.5, 9.0, 10, 1])), "acq.nii.gz")
    with pytest.raises(GeometryError, match="acq.nii.gz: in-plane matrix 32x24 .* neither square voxels"):
        target_grid("acq.nii.gz", 64, False)


def test_rectangular_network_grid_is_the_square_one(tmp_path, monkeypatch):
    """The MRI is resampled on the 240×240 mm N-grid of the longer side, whichever FOV was acquired."""
    monkeypatch.chdir(tmp_path)
    for name, shape, affine in (("square", (32, 32, Z), SQUARE_AFFINE), ("rect", (32, 24, Z), RECT_AFFINE)):
        nib.save(nib.Nifti1Image(np.ones(shape, np.float32), affine), f"{name}.nii.gz")
    square = nib.load(target_grid("square.nii.gz", N, False))
    rect = nib.load(target_grid("rect.nii.gz", N, False))
    assert rect.shape == square.shape == (N, N, Z) and np.allclose(rect.affine, square.affine)


def test_rectangular_fov_equals_the_square_path_on_the_overlap(weights, square_maps):
    maps, mask, mri = square_maps
    model, _ = load_for_inference(weights, "cpu")
    square = super_resolve_volume(model, maps, mask, mri, 1 - mri, [0, 1], METS, [0.0], N)
    embedding = in_plane_embedding(MRSIGeometry((32, 24, Z), RECT_AFFINE), N)
    rect = super_resolve_volume(model, maps[:, 4:28], mask[:, 4:28], mri, 1 - mri, [0, 1], METS, [0.0], N,
                                embedding=embedding)
    assert rect["n"] == square["n"] == 32
    assert rect["sr"].shape == (1, N, 48, Z, 2) and rect["mask"].shape == rect["zero_filled"].shape == (N, 48, Z, 2)
    np.testing.assert_allclose(rect["sr"], square["sr"][:, :, 8:56], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rect["zero_filled"], square["zero_filled"][:, 8:56], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rect["mask"], square["mask"][:, 8:56])
    assert rect["mask"].sum() == square["mask"].sum() > 0  # nothing valid lies outside the acquired FOV
    assert rect["sr"][0, :, :, 0, 0].max() > 0.5 * maps[..., 0, 0].max()


def test_rectangular_fov_output_grid_in_world_coordinates(weights, square_maps, tmp_path):
    maps, mask, mri = square_maps
    files = {}
    for name, data, affine in (("rect", maps[:, 4:28], RECT_AFFINE), ("rectmask", mask[:, 4:28], RECT_AFFINE),
                               ("square", maps, SQUARE_AFFINE), ("squaremask", mask, SQUARE_AFFINE),
                               ("t1", mri, np.diag([1.25, 1.25, 10 / 3, 1])),
                               ("flair", 1 - mri, np.diag([1.25, 1.25, 10 / 3, 1]))):
        files[name] = str(tmp_path / f"{name}.nii.gz")
        nib.save(nib.Nifti1Image(data, affine), files[name])
    outputs = {}
    for name in ("rect", "square"):
        (tmp_path / name).mkdir()
        outputs[name] = SuperResolve(in_file=files[name], mask_file=files[name + "mask"], metabolites=METS,
                                     t1w_file=files["t1"], flair_file=files["flair"], slices=[0], target_matrix=N,
                                     weights=str(weights), device="cpu").run(cwd=str(tmp_path / name)).outputs
    rect, square = (nib.load(outputs[k].out_files[0]) for k in ("rect", "square"))
    assert rect.shape == (N, 48, Z, 2) and np.allclose(rect.header.get_zooms()[:3], (3.75, 3.75, 10.0))
    # output voxel (i, j) of the rectangular FOV sits where voxel (i, j + 8) of the square FOV does
    np.testing.assert_allclose(_centres(rect.affine, (N, 48)), _centres(square.affine, (N, N))[:, 8:56])
    np.testing.assert_allclose(rect.affine, kspace.fine_grid_affine(RECT_AFFINE, (32, 24), (N, 48)))
    np.testing.assert_allclose(np.asanyarray(rect.dataobj), np.asanyarray(square.dataobj)[:, 8:56], atol=1e-5)
    # the field of view is the acquired one: 64 × 3.75 mm by 48 × 3.75 mm = 240 × 180 mm
    corners = _centres(rect.affine, (N, 48))[[0, -1]][:, [0, -1]]
    assert np.allclose(np.abs(corners[-1, -1] - corners[0, 0])[:2] + 3.75, (240.0, 180.0))
    assert nib.load(outputs["rect"].mask_file).shape == (N, 48, Z, 2)
    assert outputs["rect"].in_plane_embedding == {"Kind": "rectangular_fov", "AcquiredMatrix": [32, 24],
                                                  "NetworkMatrix": 32, "OutputMatrix": [N, 48]}


def test_anisotropic_voxels_zero_fill_each_axis(weights, square_maps):
    """32×24 over 240×240 mm: the central 32×24 block of the 64×64 k-space, each axis zero-filled."""
    maps, mask, mri = square_maps
    hr = kspace.zero_fill(maps[:, :, 0, 0], N)  # a 64×64 map
    block = kspace.fft2c(hr)[16:48, 20:44] * (np.sqrt(32 * 24) / N)
    acquired = np.abs(kspace.ifft2c(block)).astype(np.float32)
    affine = np.diag([7.5, 10.0, 10.0, 1.0])
    embedding = in_plane_embedding(MRSIGeometry((32, 24, 1), affine), N)
    expected = np.abs(kspace.ifft2c(np.pad(kspace.fft2c(acquired), ((16, 16), (20, 20))) * (N / np.sqrt(32 * 24))))
    np.testing.assert_allclose(embedding.network_input(acquired), expected, atol=1e-5)
    truncated = np.abs(kspace.ifft2c(kspace.fft2c(hr) * np.pad(np.ones((32, 24)), ((16, 16), (20, 20)))))
    np.testing.assert_allclose(kspace.zero_fill(kspace.ifft2c(block), N), truncated, atol=1e-5)
    # the output grid spans the one field of view with 3.75 mm voxels; coarse (16, 12) and fine (32, 32) coincide
    out_affine = embedding.output_affine(affine)
    assert np.allclose(np.abs(np.diag(out_affine))[:3], (3.75, 3.75, 10.0))
    assert np.allclose(out_affine @ [32, 32, 0, 1], affine @ [16, 12, 0, 1])
    model, _ = load_for_inference(weights, "cpu")
    volume = acquired[:, :, None, None].repeat(2, 3)
    result = super_resolve_volume(model, volume, np.ones(volume.shape, np.uint8), mri[..., :3], mri[..., :3], [0],
                                  METS, [0.0], N, embedding=embedding)
    assert result["n"] == 32 and result["sr"].shape == (1, N, N, 1, 2)
    np.testing.assert_allclose(result["zero_filled"][:, :, 0, 0], expected, atol=1e-4)


def test_non_square_maps_without_an_embedding_are_refused(weights, square_maps):
    maps, mask, mri = square_maps
    model, _ = load_for_inference(weights, "cpu")
    with pytest.raises(ValueError, match="32x24 is not square: state whether it has a rectangular field of view"):
        super_resolve_volume(model, maps[:, 4:28], mask[:, 4:28], mri, mri, [0], METS, [0.0], N)
