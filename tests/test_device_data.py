"""The device-resident data path gives the NumPy loader's batches: same transforms, same arrays."""

import itertools

import numpy as np
import pytest
import torch

from mrsisr.training.data import Augmentation, BatchSampler, apply_augmentation, make_batch
from mrsisr.training.device_data import DeviceBatches, DeviceDataset, augment_on_device
from test_training import N, make_subject

TRANSFORMS = [Augmentation(k, flip, dy, dx, reverse)
              for (k, flip), (dy, dx), reverse in itertools.product(
                  itertools.product(range(4), (False, True)), ((0, 0), (-3, 2), (3, -1), (1, 3)), (False, True))]


def test_each_transform_moves_every_pixel_as_the_numpy_path():
    rng = np.random.default_rng(0)
    hr, mask = rng.random((N, N), dtype=np.float32), (rng.random((N, N)) > 0.3).astype(np.uint8)
    t1, flair = rng.random((3 * N, 3 * N, 3), dtype=np.float32), rng.random((3 * N, 3 * N, 3), dtype=np.float32)
    params = torch.tensor([[p.quarter_turns, p.flip, p.dy, p.dx, p.reverse] for p in TRANSFORMS])
    batch = len(TRANSFORMS)
    moved = augment_on_device(params, *(torch.from_numpy(a).expand(batch, *a.shape) for a in (hr, mask, t1, flair)))
    for index, transform in enumerate(TRANSFORMS):
        expected = apply_augmentation(transform, hr, mask, t1, flair)
        for got, want in zip(moved, expected):
            np.testing.assert_array_equal(got[index].numpy(), want, err_msg=str(transform))


@pytest.fixture
def subjects():
    rng = np.random.default_rng(3)
    return [make_subject(f"{i:02d}", rng, slices=3 + i) for i in range(3)]


@pytest.mark.parametrize("augment", [True, False])
def test_device_batches_equal_make_batch_for_the_same_generator(subjects, augment):
    dataset = DeviceDataset(subjects, "cpu")
    sampler = BatchSampler(subjects, batch_size=4, matrix_sizes=(4, 8, 12), lam_max=0.1)
    for index, (items, n, lam) in enumerate(sampler.epoch(np.random.default_rng(1))):
        rng = (lambda: np.random.default_rng([7, index])) if augment else (lambda: None)
        expected, got = make_batch(items, n, lam, rng()), dataset.batch(items, n, lam, rng())
        for key, want in vars(expected).items():
            value = getattr(got, key)
            if want is None:  # the clean MRI, which only the invariance term asks for
                assert value is None, key
                continue
            assert value.shape == want.shape and value.dtype == want.dtype, key
            if key in ("t1", "flair", "mask", "n", "metabolite", "lam"):
                torch.testing.assert_close(value, want, atol=0, rtol=0, msg=key)
            else:  # float64 FFTs of two libraries
                torch.testing.assert_close(value, want, atol=1e-6, rtol=0, msg=key)


def test_device_batches_follow_the_plan_and_its_generators(subjects):
    dataset = DeviceDataset(subjects, "cpu")
    plan = BatchSampler(subjects, batch_size=4, matrix_sizes=(8,)).epoch(np.random.default_rng(2))
    batches = DeviceBatches(dataset, plan, [1, 3], seed=5, epoch=2)
    assert len(batches) == 2
    for index, batch in zip([1, 3], batches):
        items, n, lam = plan[index]
        expected = make_batch(items, n, lam, np.random.default_rng([5, 2, index]))
        torch.testing.assert_close(batch.t1, expected.t1, atol=0, rtol=0)
        torch.testing.assert_close(batch.target, expected.target, atol=1e-6, rtol=0)
    assert dataset.nbytes() == sum(s.maps.size * 5 + s.t1.size * 4 for s in subjects)


def test_a_subject_not_on_the_device_is_refused(subjects):
    dataset = DeviceDataset(subjects[:2], "cpu")
    with pytest.raises(ValueError, match="02"):
        dataset.batch([(subjects[2], 0, 0)], 8, 0.0)
