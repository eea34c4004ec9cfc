"""Test-time-transformation uncertainty (issue 14 item 4): the transforms, their inverses, and the
spread of methods whose behaviour under them is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mrsisr import kspace
from mrsisr.uncertainty import (Transform, outputs_under_transforms, spread, transform_blocks, transform_maps,
                                uncertainty_transforms, undo_maps)

N = 32


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hr = ndimage.gaussian_filter(rng.random((2, 2, N, N)), (0, 0, 2, 2)) + 1.0
    lr = kspace.truncate(hr, 16).astype(np.float32)
    rows, cols = np.indices((3 * N, 3 * N))
    blob = np.exp(-((rows - 40.0) ** 2 + (cols - 55.0) ** 2) / (2 * 12.0 ** 2))
    t1 = np.repeat(blob[None, :, :, None], 2, 0).repeat(3, -1).astype(np.float32)
    return lr, t1, 1 - 0.5 * t1


def test_transforms_start_with_the_identity_and_cover_the_rotations_and_flips() -> None:
    transforms = uncertainty_transforms(8)
    assert transforms[0] == Transform() and len(transforms) == 8
    assert {(t.quarter_turns, t.flip) for t in transforms} == {(k, f) for k in range(4) for f in (False, True)}
    assert all(0 < max(abs(v) for v in t.shift) <= 0.5 for t in transforms[1:])  # sub-voxel, never zero
    assert uncertainty_transforms(8) == transforms  # deterministic
    assert {t.quarter_turns for t in uncertainty_transforms(6, square=False)} == {0, 2}
    assert transforms[3].to_dict() == {"QuarterTurns": 1, "Flip": True,
                                       "ShiftVoxels": [round(v, 4) for v in transforms[3].shift]}
    with pytest.raises(ValueError, match="at least 2"):
        uncertainty_transforms(1)


def test_every_transform_is_undone_exactly() -> None:
    lr, _, _ = _inputs()
    for transform in uncertainty_transforms(8):
        moved = transform_maps(lr, transform)
        assert moved.shape == lr.shape and moved.min() > -1e-3 * lr.max()
        if transform != Transform():
            assert np.abs(moved - lr).max() > 0.01  # it did move
        np.testing.assert_allclose(undo_maps(moved, transform), lr, atol=1e-5)


def test_a_shift_is_a_phase_ramp_of_the_measured_kspace() -> None:
    lr, _, _ = _inputs()
    shifted = transform_maps(lr, Transform(shift=(0.25, -0.5)))
    ky, kx = np.meshgrid(np.fft.fftfreq(N), np.fft.fftfreq(N), indexing="ij")
    ramp = np.exp(-2j * np.pi * (0.25 * ky - 0.5 * kx))  # the Nyquist row and column are outside the block
    expected = np.fft.fft2(lr) * ramp
    measured = np.fft.ifftshift(kspace.central_mask(N, 16))  # the acquired block, in fft2 order
    np.testing.assert_allclose(np.fft.fft2(shifted)[..., measured], expected[..., measured], atol=1e-3)


def test_an_exact_method_has_no_spread_and_a_constant_one_none_at_all() -> None:
    lr, t1, flair = _inputs()
    transforms = uncertainty_transforms(8)
    identity = outputs_under_transforms(lambda a, b, c: a, lr, t1, flair, transforms)
    assert identity.shape == (8,) + lr.shape
    np.testing.assert_array_equal(identity[0], lr)
    assert spread(identity).max() < 1e-5 * lr.max()
    constant = outputs_under_transforms(lambda a, b, c: np.full((3,) + a.shape, 2.5, np.float32), lr, t1, flair,
                                        transforms)
    assert constant.shape == (8, 3) + lr.shape and spread(constant).max() == 0.0


def test_the_mri_moves_with_the_map() -> None:
    """A method that returns its MRI input at map resolution gives (nearly) the same map back under every
    transform: the MRI was turned and shifted exactly as the map was."""
    lr, t1, flair = _inputs()

    def mri_as_map(a, b, c):
        coarse = b.mean(axis=-1).reshape(len(b), N, 3, N, 3).mean(axis=(2, 4))
        return np.repeat(coarse[:, None], a.shape[1], 1)

    outputs = outputs_under_transforms(mri_as_map, lr, t1, flair, uncertainty_transforms(8))
    assert spread(outputs).max() < 0.02 * outputs[0].max()
    wrong = transform_blocks(t1, Transform(shift=(0.5, 0.0)), 1)  # a third of the shift: not the map's
    assert np.abs(wrong - transform_blocks(t1, Transform(shift=(0.5, 0.0)), 3)).max() > 0.01


def test_a_method_that_depends_on_the_grid_is_uncertain_where_it_does() -> None:
    lr, t1, flair = _inputs()
    rows, cols = np.indices((N, N)) - (N - 1) / 2
    window = np.exp(-(rows**2 + cols**2) / (2 * 3.0**2))  # about the array centre: the same after any turn

    def grid_bound(a, b, c):  # adds a slope along the array's first axis, only near its centre
        return a + 0.3 * rows / 3.0 * window

    sd = spread(outputs_under_transforms(grid_bound, lr, t1, flair, uncertainty_transforms(8)))
    near, far = window > 0.5, window < 1e-3
    assert sd[..., near].mean() > 0.05
    assert sd[..., far].max() < 0.05 * sd[..., near].mean()


def test_quarter_turns_need_a_square_grid() -> None:
    lr = np.ones((1, 1, 16, 24), np.float32)
    blocks = np.ones((1, 48, 72, 3), np.float32)
    with pytest.raises(ValueError, match="square"):
        outputs_under_transforms(lambda a, b, c: a, lr, blocks, blocks, uncertainty_transforms(4))
    outputs = outputs_under_transforms(lambda a, b, c: a, lr, blocks, blocks, uncertainty_transforms(4, square=False))
    assert outputs.shape == (4, 1, 1, 16, 24) and spread(outputs).max() < 1e-5


def test_mri_blocks_shift_in_plane_only_as_one_4d_spline_would():
    """The per-plane spline equals a 4-D cubic spline shifted by 0 along the slice and depth axes."""
    blocks = np.random.default_rng(3).random((2, 24, 24, 3)).astype(np.float32)
    transform = Transform(quarter_turns=1, flip=True, shift=(0.3, -0.45))
    moved = transform_blocks(blocks, transform, 3)
    oriented = np.flip(np.rot90(blocks, 1, axes=(1, 2)), axis=2)
    reference = np.clip(ndimage.shift(oriented, (0.0, 0.9, -1.35, 0.0), order=3, mode="grid-wrap"), 0, None)
    np.testing.assert_allclose(moved, reference, atol=1e-6)
    assert np.abs(moved - oriented).max() > 0.05  # it moved
