"""Properties of the centred orthonormal k-space tools."""

import numpy as np
import pytest
import torch

from mrsisr import kspace


@pytest.fixture
def hr_map() -> np.ndarray:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:64, :64]
    blob = np.exp(-((yy - 30) ** 2 + (xx - 36) ** 2) / 150.0)
    return (blob + 0.2 * rng.random((64, 64))).astype(np.float64)


def test_fft_is_orthonormal_and_centred(hr_map):
    k = kspace.fft2c(hr_map)
    assert np.isclose(np.sum(np.abs(k) ** 2), np.sum(hr_map ** 2))
    assert np.isclose(k[32, 32], hr_map.sum() / 64)  # DC at N/2, scaled 1/N
    np.testing.assert_allclose(kspace.ifft2c(k).real, hr_map, atol=1e-12)


@pytest.mark.parametrize("n", [16, 22, 32])
def test_data_consistency_keeps_measured_centre(hr_map, n):
    lr = kspace.truncate(hr_map, n)
    output = np.random.default_rng(n).random((64, 64))
    corrected = kspace.data_consistency(lr, output, n, magnitude=False)
    mask = kspace.central_mask(64, n)
    measured = kspace.fft2c(lr)[mask]
    error = np.linalg.norm(kspace.fft2c(corrected)[mask] - measured) / np.linalg.norm(measured)
    assert error < 1e-5
    # outside the centre the output's own k-space is kept
    np.testing.assert_allclose(kspace.fft2c(corrected)[~mask], kspace.fft2c(output)[~mask], atol=1e-10)


@pytest.mark.parametrize("n", [16, 24, 32])
def test_measurement_is_a_fixed_point(hr_map, n):
    lr = kspace.truncate(hr_map, n)
    np.testing.assert_allclose(kspace.data_consistency(lr, lr, n), lr, atol=1e-10)
    lr_t = torch.from_numpy(lr)[None, None]
    out = kspace.data_consistency(lr_t, lr_t, torch.tensor([n]))
    np.testing.assert_allclose(out[0, 0].numpy(), lr, atol=1e-10)


@pytest.mark.parametrize("n", [16, 20, 32])
def test_zero_fill_of_acquisition_equals_truncation(hr_map, n):
    acquired = kspace.crop_acquisition(hr_map, n)  # complex n×n image, physical units
    assert acquired.shape == (n, n)
    np.testing.assert_allclose(kspace.zero_fill(acquired, 64), kspace.truncate(hr_map, n), atol=1e-10)
    # The orthonormal factor N/n: an n×n image built straight from the centre crop needs it.
    lo, hi = 32 - n // 2, 32 + n // 2
    raw = kspace.ifft2c(kspace.fft2c(hr_map)[lo:hi, lo:hi])
    np.testing.assert_allclose(kspace.zero_fill(raw * n / 64, 64), kspace.truncate(hr_map, n), atol=1e-10)


def test_zero_fill_keeps_physical_units():
    constant = np.full((16, 16), 7.5)
    np.testing.assert_allclose(kspace.zero_fill(constant, 64), 7.5, atol=1e-9)


def test_per_sample_matrix_sizes_match_scalar_calls(hr_map):
    batch = torch.from_numpy(np.stack([hr_map, hr_map[::-1].copy()]))[:, None]
    n = torch.tensor([16, 28])
    together = kspace.truncate(batch, n)
    for index, size in enumerate((16, 28)):
        np.testing.assert_allclose(together[index, 0].numpy(), kspace.truncate(batch[index, 0].numpy(), size),
                                   atol=1e-10)


@pytest.mark.parametrize("bad", [15, 0, 66])
def test_bad_matrix_sizes_are_refused(hr_map, bad):
    with pytest.raises(ValueError, match="even"):
        kspace.truncate(hr_map, bad)


def test_coarse_grid_affine_aligns_centre_voxels():
    fine = np.diag([3.4, 3.4, 3.4, 1.0])
    fine[:3, 3] = [-108.8, -120.0, -60.0]
    coarse = kspace.coarse_grid_affine(fine, 64, 16)
    np.testing.assert_allclose(coarse @ [8, 8, 5, 1], fine @ [32, 32, 5, 1])
    np.testing.assert_allclose(np.diag(coarse)[:3], [13.6, 13.6, 3.4])


@pytest.mark.parametrize("n", [16, 22])
def test_data_consistency_takes_torch_tensors_with_an_integer_n(hr_map, n):
    lr = kspace.truncate(hr_map, n)
    output = np.random.default_rng(n).random((64, 64))
    expected = kspace.data_consistency(lr, output, n)
    for shape in ((64, 64), (1, 1, 64, 64)):
        got = kspace.data_consistency(torch.from_numpy(lr).reshape(shape), torch.from_numpy(output).reshape(shape), n)
        assert isinstance(got, torch.Tensor) and got.shape == shape
        np.testing.assert_allclose(got.reshape(64, 64).numpy(), expected, atol=1e-12)


def test_synthetic_acquisition_is_the_kspace_crop(hr_map):
    from mrsisr.synth.geometry import kspace_truncate

    np.testing.assert_array_equal(kspace_truncate(hr_map, 16), kspace.crop_acquisition(hr_map, 16))
    assert np.isclose(kspace_truncate(np.full((64, 64), 3.0), 16).real.mean(), 3.0)  # physical units
