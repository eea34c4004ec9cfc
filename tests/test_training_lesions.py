"""Augmentations against the MRI→map shortcut: MRI-only lesions, metabolic-only lesions, FLAIR drop."""

import json

import numpy as np
import pytest
import torch

from mrsisr.lesions import gaussian_blob, soft_ball
from mrsisr.models.weights import read_metadata
from mrsisr.slices import flair_substitute, load_dataset
from mrsisr.training.cli import parse_args
from mrsisr.training.data import BatchSampler, make_batch
from mrsisr.training.device_data import DeviceDataset
from mrsisr.losses import generator_loss
from mrsisr.training.data import Augmentation, apply_augmentation
from mrsisr.training.lesions import (LesionAugmentation, LesionDraw, apply_lesions, augmentations_record, draw_lesions,
                                     focus_of)
from mrsisr.training.trainer import Trainer
from test_training import N, config, dataset_dir, make_subject  # noqa: F401  (fixture)

KINDS = {"mri": LesionAugmentation(mri_lesion=1.0), "metabolic": LesionAugmentation(metabolic_lesion=1.0),
         "flair_drop": LesionAugmentation(flair_drop=1.0)}


def test_shapes_work_on_numpy_and_torch_alike():
    distance = np.linspace(0.0, 8.0, 17)
    for shape in (lambda d: gaussian_blob(d, 3.0), lambda d: soft_ball(d, 3.0, 1.5)):
        np.testing.assert_allclose(shape(torch.from_numpy(distance)).numpy(), shape(distance), rtol=1e-12)
    assert gaussian_blob(np.array(3.0), 3.0) == 0.5 and soft_ball(np.array(3.0), 3.0) == 0.5


def test_flair_substitute_is_a_copy_of_the_t1w():
    t1 = np.arange(6.0).reshape(2, 3)
    for image in (t1, torch.from_numpy(t1)):
        substitute = flair_substitute(image)
        assert substitute is not image and (np.asarray(substitute) == t1).all()
        substitute[0, 0] = -1
        assert image[0, 0] == 0


def test_lesions_change_only_their_own_modality():
    rng = np.random.default_rng(0)
    hr = rng.random((N, N), dtype=np.float32) + 1
    t1, flair = (rng.random((3 * N, 3 * N, 3), dtype=np.float32) + 1 for _ in range(2))
    mri = LesionDraw(mri_row=8, mri_col=8, mri_radius_mm=4.0, t1_factor=0.7, flair_factor=1.8)
    les_hr, les_t1, les_flair = apply_lesions(mri, hr, t1, flair, 3.4, 3.4)
    assert (les_hr == hr).all()
    assert (les_t1 <= t1).all() and les_t1[25, 25, 1] == pytest.approx(0.7 * t1[25, 25, 1])
    assert (les_flair >= flair).all() and les_flair[25, 25, 1] == pytest.approx(1.8 * flair[25, 25, 1])
    assert (les_t1[:5] == t1[:5]).all()  # 8 mm across: nothing 3 MRSI voxels away
    for factor in (0.6, 1.5):  # cold and hot
        metabolic = LesionDraw(met_row=5, met_col=9, met_radius_mm=5.0, met_factor=factor)
        les_hr, les_t1, les_flair = apply_lesions(metabolic, hr, t1, flair, 3.4, 3.4)
        assert (les_t1 == t1).all() and (les_flair == flair).all()
        assert les_hr[5, 9] == pytest.approx(factor * hr[5, 9])
        ratio = les_hr / hr
        assert np.abs(ratio - 1).max() == pytest.approx(abs(factor - 1), rel=1e-5)
    dropped = apply_lesions(LesionDraw(drop_flair=True), hr, t1, flair, 3.4, 3.4)
    assert (dropped[2] == t1).all()


def test_the_focus_covers_each_lesion_and_its_neighbourhood():
    voxel = 3.4
    mri = focus_of(LesionDraw(mri_row=8, mri_col=8, mri_radius_mm=4.0, t1_factor=0.7, flair_factor=1.8), (N, N), voxel)
    # 4 mm + 2 voxels = 10.8 mm: 3 voxels (10.2 mm) in, 4 (13.6 mm) out, and a disc
    assert mri.dtype == np.float32 and mri[8, 8] == mri[8, 11] == mri[5, 8] == 1 and mri[8, 12] == mri[4, 8] == 0
    assert (mri == mri.T).all() and mri.sum() == 37  # the lattice points within 3.18 voxels
    metabolic = focus_of(LesionDraw(met_row=5, met_col=9, met_radius_mm=5.0, met_factor=1.5), (N, N), voxel)
    assert metabolic[5, 11] == 1 and metabolic[5, 12] == 0 and metabolic[5, 6] == 0 and metabolic[5, 7] == 1
    both = focus_of(LesionDraw(mri_row=8, mri_col=8, mri_radius_mm=4.0, t1_factor=0.7, flair_factor=1.8,
                               met_row=5, met_col=9, met_radius_mm=5.0, met_factor=0.6), (N, N), voxel)
    assert (both == np.maximum(mri, metabolic)).all()
    assert not focus_of(LesionDraw(drop_flair=True), (N, N), voxel).any()


def test_the_focus_moves_with_the_map():
    rng = np.random.default_rng(4)
    hr, mask = rng.random((N, N), dtype=np.float32), np.ones((N, N), dtype=np.float32)
    t1 = flair = rng.random((3 * N, 3 * N, 3), dtype=np.float32)
    for transform in (Augmentation(1, True, 2, -1, False), Augmentation(3, False, -3, 0, True)):
        moved = apply_augmentation(transform, hr, mask, t1, flair, hr.copy())
        assert len(moved) == 5 and (moved[4] == moved[0]).all()
        assert len(apply_augmentation(transform, hr, mask, t1, flair)) == 4


def test_the_focus_term_is_the_weighted_error_near_the_lesions():
    rng = np.random.default_rng(5)
    target, output = (torch.from_numpy(rng.random((2, 1, 24, 24), dtype=np.float32)) for _ in range(2))
    mask = torch.ones_like(target)
    focus = torch.zeros_like(target)
    focus[0, 0, 4:9, 5:10] = 1
    plain, _ = generator_loss(output, target, mask)
    weighted, parts = generator_loss(output, target, mask, focus=focus, focus_weight=2.0)
    near = (output - target)[0, 0, 4:9, 5:10].abs().mean()
    torch.testing.assert_close(parts["focus_l1"], near)
    torch.testing.assert_close(weighted, plain + 2.0 * near)
    none, parts = generator_loss(output, target, mask, focus=torch.zeros_like(target), focus_weight=2.0)
    torch.testing.assert_close(none, plain)
    assert parts["focus_l1"] == 0.0


def test_probability_zero_draws_nothing_and_bad_probabilities_are_refused():
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    assert draw_lesions(rng_a, LesionAugmentation(), np.ones((N, N))) == LesionDraw()
    assert rng_a.random() == rng_b.random()
    with pytest.raises(ValueError, match="flair drop probability must be in"):
        LesionAugmentation(flair_drop=1.5)
    with pytest.raises(ValueError, match="mri lesion probability"):
        config(mri_lesion_probability=-0.1)
    with pytest.raises(ValueError, match="needs lesions to focus on"):
        LesionAugmentation(flair_drop=0.5, focus_weight=1.0)
    with pytest.raises(ValueError, match="lesion-focus weight must be in"):
        config(mri_lesion_probability=0.5, lesion_focus_weight=-1.0)
    assert not LesionAugmentation(focus_weight=0.0).active


def test_lesions_sit_inside_the_quality_mask():
    mask = np.zeros((N, N))
    mask[10:12, 3:5] = 1
    rng = np.random.default_rng(2)
    for _ in range(20):
        draw = draw_lesions(rng, LesionAugmentation(1.0, 1.0, 0.5), mask)
        for row, col in ((draw.mri_row, draw.mri_col), (draw.met_row, draw.met_col)):
            assert 9.5 <= row <= 12.5 and 2.5 <= col <= 5.5
        assert 1.5 <= draw.mri_radius_mm <= 7.5 and 2.0 <= draw.met_radius_mm <= 10.0


@pytest.fixture
def subjects():
    rng = np.random.default_rng(3)
    return [make_subject(f"{i:02d}", rng, slices=3 + i) for i in range(3)]


def _assert_changed_as_stated(kind: str, plain, lesioned) -> None:
    same = lambda key: torch.equal(getattr(plain, key), getattr(lesioned, key))
    if kind == "mri":  # MRI differs, target (and input) identical
        assert not same("t1") and not same("flair") and same("target") and same("lr")
    elif kind == "metabolic":  # target (and input) differ, MRI identical
        assert not same("target") and not same("lr") and same("t1") and same("flair")
    else:  # the FLAIR channel is the substitute of the T1w
        assert torch.equal(lesioned.flair, lesioned.t1) and same("t1") and same("target") and not same("flair")
    focus = lesioned.focus.cpu()[:, 0] > 0
    assert not plain.focus.any()
    if kind == "flair_drop":  # nothing to focus on
        assert not focus.any()
    elif kind == "mri":  # every MRSI voxel whose MRI block the lesion touched is in the focus
        ratio = (lesioned.t1 / plain.t1.clamp_min(1e-6)).cpu()[:, 0]  # the lesion's gain / the scaling's
        touched = ((ratio - ratio.flatten(1).median(1).values[:, None, None, None]).abs() > 1e-4) & (plain.t1[:, 0] > 0)
        touched = touched.any(-1).unflatten(1, (-1, 3)).unflatten(3, (-1, 3)).any(2).any(-1)
        assert touched.any() and not (touched & ~focus).any()
    else:  # the largest change of the map lies in the focus
        ratio = (lesioned.target / plain.target.clamp_min(1e-6)).cpu()[:, 0]
        change = (ratio - ratio.flatten(1).median(1).values[:, None, None]).abs() * plain.mask.cpu()[:, 0]
        for sample_change, sample_focus in zip(change, focus):
            assert sample_focus.flatten()[sample_change.flatten().argmax()]


@pytest.mark.parametrize("kind", KINDS)
def test_each_augmentation_changes_its_inputs_on_both_paths(subjects, kind):
    dataset = DeviceDataset(subjects, "cpu")
    for index, (data, slice_pos) in enumerate([(subjects[0], 0), (subjects[1], 2), (subjects[2], 4)]):
        item = [(data, slice_pos, index % 2)]
        rng = lambda: np.random.default_rng([9, index])
        plain = make_batch(item, 8, 0.0, rng())
        for build in (make_batch, dataset.batch):
            _assert_changed_as_stated(kind, plain, build(item, 8, 0.0, rng(), KINDS[kind]))


def test_device_path_renders_the_same_draws_into_the_same_arrays(subjects):
    dataset = DeviceDataset(subjects, "cpu")
    lesions = LesionAugmentation(0.5, 0.5, 0.3)
    sampler = BatchSampler(subjects, batch_size=4, matrix_sizes=(4, 8, 12), lam_max=0.1)
    focused = 0
    for index, (items, n, lam) in enumerate(sampler.epoch(np.random.default_rng(1))):
        rng = lambda: np.random.default_rng([7, index])
        expected, got = make_batch(items, n, lam, rng(), lesions), dataset.batch(items, n, lam, rng(), lesions)
        assert expected.t1_clean is None and got.t1_clean is None  # only the invariance term asks for them
        for key, want in vars(expected).items():
            value = getattr(got, key)
            if want is None:
                continue
            assert value.shape == want.shape and value.dtype == want.dtype, key
            torch.testing.assert_close(value, want, atol=2e-6, rtol=1e-5, msg=key)
        assert torch.equal(got.focus, expected.focus)
        focused += int(expected.focus.flatten(1).any(1).sum())
    assert focused > 3  # the focus maps compared are not all empty


@pytest.mark.parametrize("device_data", [False, True])
def test_training_with_the_focus_term_logs_and_records_it(dataset_dir, tmp_path, device_data):  # noqa: F811
    subjects = load_dataset(dataset_dir)
    settings = dict(batch_size=2, max_steps=2, adversarial=False, device_data=device_data, mri_lesion_probability=1.0)
    card = Trainer(config(**settings, lesion_focus_weight=1.5), subjects, tmp_path / "focus").run(progress=False)
    assert card["augmentations"]["lesion_focus"]["weight"] == 1.5 and card["training"]["lesion_focus_weight"] == 1.5
    assert card["metrics"]["focus_l1"] > 0
    plain = Trainer(config(**settings), subjects, tmp_path / "plain").run(progress=False)
    assert "focus_l1" not in plain["metrics"]


@pytest.mark.parametrize("device_data", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_training_with_an_augmentation_runs_and_records_it(dataset_dir, tmp_path, kind, device_data):  # noqa: F811
    subjects = load_dataset(dataset_dir)
    probabilities = {"mri": "mri_lesion_probability", "metabolic": "metabolic_lesion_probability",
                     "flair_drop": "flair_drop_probability"}
    settings = dict(batch_size=1, max_steps=2, adversarial=False, device_data=device_data)
    plain = Trainer(config(**settings), subjects, tmp_path / "plain")
    trainer = Trainer(config(**settings, **{probabilities[kind]: 1.0}), subjects, tmp_path / kind)
    _assert_changed_as_stated(kind, next(iter(plain._batches())), next(iter(trainer._batches())))
    card = trainer.run(progress=False)
    assert card["steps"] == 2
    written = json.loads((tmp_path / kind / "model.json").read_text())["augmentations"]
    stated = {"mri": "mri_only_lesions", "metabolic": "metabolic_only_lesions", "flair_drop": "flair_drop"}
    assert {key: value["probability"] for key, value in written.items() if key in stated.values()} == {
        name: (1.0 if name == stated[kind] else 0.0) for name in stated.values()}
    assert written["lesion_focus"]["weight"] == 0.0
    metadata = json.loads(read_metadata(tmp_path / kind / "model.safetensors")["augmentations"])
    assert metadata == written


def test_the_command_line_sets_each_probability(tmp_path):
    args = parse_args([str(tmp_path), str(tmp_path / "out"), "--mri-lesions", "0.3", "--metabolic-lesions", "0.4",
                       "--flair-drop", "0.2"])
    assert args.config.lesions == LesionAugmentation(0.3, 0.4, 0.2)
    assert parse_args([str(tmp_path), str(tmp_path / "out")]).config.lesions == LesionAugmentation()
    focused = parse_args([str(tmp_path), str(tmp_path / "out"), "--mri-lesions", "0.8", "--lesion-focus", "1.5"])
    assert focused.config.lesions == LesionAugmentation(0.8, 0.0, 0.0, 1.5)
    with pytest.raises(SystemExit) as refused:  # nothing to focus on
        parse_args([str(tmp_path), str(tmp_path / "out"), "--lesion-focus", "1.5"])
    assert refused.value.code == 2
    with pytest.raises(SystemExit) as refused:
        parse_args([str(tmp_path), str(tmp_path / "out"), "--metabolic-lesions", "2"])
    assert refused.value.code == 2


def test_without_augmentation_no_lesion_is_recorded_or_drawn(subjects):
    record = augmentations_record(False, LesionAugmentation(1.0, 1.0, 1.0))
    assert record["geometric"] == "none" and record["lesion_focus"]["weight"] == 0.0
    assert record["mri_invariance"]["weight"] == 0.0
    assert all(record[k]["probability"] == 0.0 for k in record
               if k not in ("geometric", "lesion_focus", "mri_invariance"))
    item = [(subjects[0], 1, 0)]
    plain, asked = make_batch(item, 8, 0.0), make_batch(item, 8, 0.0, None, LesionAugmentation(1.0, 1.0, 1.0))
    assert all(torch.equal(getattr(plain, key), getattr(asked, key)) for key in vars(plain)
               if getattr(plain, key) is not None)
    assert asked.t1_clean is None


@pytest.mark.parametrize("flair_drop", [0.0, 1.0])
def test_the_clean_mri_is_the_same_sample_without_its_mri_lesion(subjects, flair_drop):
    dataset = DeviceDataset(subjects, "cpu")
    lesions = LesionAugmentation(1.0, 1.0, flair_drop, invariance_weight=2.0)
    for index, (data, slice_pos) in enumerate([(subjects[0], 0), (subjects[1], 2), (subjects[2], 4)]):
        item = [(data, slice_pos, index % 2)]
        rng = lambda: np.random.default_rng([4, index])
        plain = make_batch(item, 8, 0.0, rng())  # the same transform, no lesion
        host, device = make_batch(item, 8, 0.0, rng(), lesions), dataset.batch(item, 8, 0.0, rng(), lesions)
        for batch in (host, device):
            assert not torch.equal(batch.t1, batch.t1_clean)  # the lesion is in the MRI the network sees
            torch.testing.assert_close(batch.t1_clean, plain.t1, atol=2e-6, rtol=1e-5)
            if flair_drop:
                assert torch.equal(batch.flair_clean, batch.t1_clean)
            else:
                torch.testing.assert_close(batch.flair_clean, plain.flair, atol=2e-6, rtol=1e-5)
        for key in ("t1", "flair", "t1_clean", "flair_clean", "target", "focus"):
            torch.testing.assert_close(getattr(device, key), getattr(host, key), atol=2e-6, rtol=1e-5, msg=key)


def test_the_invariance_term_is_the_weighted_change_near_the_lesions():
    rng = np.random.default_rng(6)
    target, reference = (torch.from_numpy(rng.random((2, 1, 24, 24), dtype=np.float32)) for _ in range(2))
    output = torch.from_numpy(rng.random((2, 1, 24, 24), dtype=np.float32)).requires_grad_()
    mask, focus = torch.ones_like(target), torch.zeros_like(target)
    focus[1, 0, 3:7, 10:16] = 1
    plain, _ = generator_loss(output, target, mask, focus=focus)
    same, parts = generator_loss(output, target, mask, focus=focus, without_mri_lesion=output.detach(),
                                 invariance_weight=3.0)
    assert parts["mri_lesion_change"] == 0.0
    torch.testing.assert_close(same, plain)
    loss, parts = generator_loss(output, target, mask, focus=focus, without_mri_lesion=reference,
                                 invariance_weight=3.0)
    change = (output - reference)[1, 0, 3:7, 10:16].abs().mean()
    torch.testing.assert_close(parts["mri_lesion_change"], change.detach())
    torch.testing.assert_close(loss, plain + 3.0 * change)
    (loss - plain).backward()  # the term's gradient reaches the output inside the focus only
    assert output.grad[1, 0, 3:7, 10:16].abs().min() > 0 and output.grad[0].abs().max() == 0


def test_the_invariance_weight_is_checked_and_set_from_the_command_line(tmp_path):
    with pytest.raises(ValueError, match="needs MRI-only lesions"):
        LesionAugmentation(metabolic_lesion=1.0, invariance_weight=1.0)
    with pytest.raises(ValueError, match="invariance weight must be in"):
        config(mri_lesion_probability=1.0, mri_invariance_weight=11.0)
    args = parse_args([str(tmp_path), str(tmp_path / "out"), "--mri-lesions", "1", "--mri-invariance", "4"])
    assert args.config.lesions == LesionAugmentation(1.0, 0.0, 0.0, 0.0, 4.0)
    with pytest.raises(SystemExit) as refused:
        parse_args([str(tmp_path), str(tmp_path / "out"), "--mri-invariance", "4"])
    assert refused.value.code == 2


@pytest.mark.parametrize("device_data", [False, True])
def test_training_with_the_invariance_term_logs_and_records_it(dataset_dir, tmp_path, device_data):  # noqa: F811
    subjects = load_dataset(dataset_dir)
    settings = dict(batch_size=2, max_steps=2, device_data=device_data, mri_lesion_probability=1.0)
    trainer = Trainer(config(**settings, mri_invariance_weight=2.5), subjects, tmp_path / "invariant")
    batch = next(iter(trainer._batches()))
    assert batch.t1_clean.shape == batch.t1.shape and not torch.equal(batch.t1_clean, batch.t1)
    card = trainer.run(progress=False)
    assert card["augmentations"]["mri_invariance"]["weight"] == 2.5
    assert card["training"]["mri_invariance_weight"] == 2.5 and card["metrics"]["mri_lesion_change"] > 0
    plain = Trainer(config(**settings), subjects, tmp_path / "plain")
    assert next(iter(plain._batches())).t1_clean is None
    assert "mri_lesion_change" not in plain.run(progress=False)["metrics"]
