"""Losses, prepared-slice data, the trainer (steps, resume) and weights files."""

import json

import numpy as np
import pytest
import torch

from mrsisr.losses import critic_loss, generator_loss, masked_l1, masked_ms_ssim
from mrsisr.models import build
from mrsisr.models.conditioning import sharpness_parameters
from mrsisr.models.weights import WeightsError, load_model, save_weights
from mrsisr.slices import SubjectSlices, kfold_split, load_dataset, save_subject
from mrsisr.training.data import BatchSampler, augment, make_batch
from mrsisr.training.trainer import TrainConfig, Trainer

TINY = {"base_features": 2, "latent_width": 4, "sharpness_width": 4}
N = 16


def make_subject(label: str, rng: np.random.Generator, slices: int = 3) -> SubjectSlices:
    yy, xx = np.mgrid[:N, :N]
    maps = np.stack([
        np.stack([np.exp(-((yy - 8 - rng.normal()) ** 2 + (xx - 7 - m) ** 2) / (12 + 4 * m)) + 0.1 for m in range(2)])
        for _ in range(slices)]).astype(np.float32)
    masks = np.ones_like(maps, dtype=np.uint8)
    masks[..., :2, :] = 0
    anatomy = np.repeat(np.kron(maps[:, 0], np.ones((3, 3)))[..., None], 3, axis=-1).astype(np.float16)
    return SubjectSlices(label, maps * masks, masks, anatomy, 1 - anatomy, ("tCho", "NAA"), np.arange(slices),
                         np.diag([3.4, 3.4, 3.4, 1.0]))


@pytest.fixture
def dataset_dir(tmp_path):
    rng = np.random.default_rng(0)
    for index in range(5):
        save_subject(make_subject(f"{index:02d}", rng), tmp_path / f"sub-{index:02d}_slices.npz")
    return tmp_path


def test_masked_losses_ignore_rejected_voxels():
    target = torch.rand(2, 1, 16, 16)
    mask = torch.ones_like(target)
    mask[..., :4, :] = 0
    output = target.clone()
    output[..., :4, :] = 5.0  # garbage where the ground truth is invalid
    assert masked_l1(output * mask, target * mask, mask).item() == 0.0
    assert masked_ms_ssim(output * mask, target * mask, mask).item() == pytest.approx(1.0, abs=1e-5)
    loss, parts = generator_loss(output * mask, target * mask, mask)
    assert loss.item() == pytest.approx(0.0, abs=1e-5) and float(parts["l1"]) == 0.0


def test_adversarial_term_is_weighted_by_lambda():
    target, output, mask = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16), torch.ones(2, 1, 16, 16)
    scores = torch.tensor([2.0, 4.0])
    plain, _ = generator_loss(output, target, mask)
    weighted, parts = generator_loss(output, target, mask, critic_scores=scores, lam=torch.tensor([0.1, 0.0]))
    assert (weighted - plain).item() == pytest.approx(-0.1, abs=1e-6)
    assert float(parts["adversarial"]) == pytest.approx(-3.0)


def test_critic_loss_has_gradient_penalty():
    critic = build("discriminator", map_size=16)
    real, fake = torch.rand(2, 4, 48, 48, 3), torch.rand(2, 4, 48, 48, 3)
    with_gp, _ = critic_loss(critic, real, fake, gp_weight=10.0)
    without, distance = critic_loss(critic, real, fake, gp_weight=0.0)
    assert with_gp.item() > without.item() and without.item() == pytest.approx(-float(distance), abs=1e-5)


def test_kfold_is_subject_wise_and_matches_the_paper():
    subjects = [f"{i:02d}" for i in range(15)]
    seen_test = []
    for fold in range(5):
        split = kfold_split(subjects, 5, fold)
        assert [len(split[k]) for k in ("train", "validation", "test")] == [9, 3, 3]
        assert not set(split["train"]) & (set(split["test"]) | set(split["validation"]))
        seen_test += split["test"]
    assert sorted(seen_test) == subjects


def test_augmentation_moves_map_and_mri_together():
    rng = np.random.default_rng(5)
    hr = np.zeros((N, N), np.float32)
    hr[4, 10] = 1.0
    mri = np.repeat(np.kron(hr, np.ones((3, 3)))[..., None], 3, axis=-1)
    for _ in range(10):
        a_hr, a_mask, a_t1, _ = augment(rng, hr, np.ones_like(hr), mri, mri)
        if a_hr.sum() == 0:  # shifted out of the field of view
            continue
        y, x = np.argwhere(a_hr == 1.0)[0]
        assert a_t1[3 * y + 1, 3 * x + 1, 1] == 1.0 and a_t1.sum() == 27


def test_batches_share_metabolite_n_and_lambda(dataset_dir):
    subjects = load_dataset(dataset_dir)
    sampler = BatchSampler(subjects, batch_size=4, matrix_sizes=(4, 8), lam_max=0.1)
    batches = sampler.epoch(np.random.default_rng(0))
    assert len(batches) == len(sampler) == 2 * 4  # 2 metabolites × ceil(15 slices / 4)
    for items, n, lam in batches:
        assert len({data.metabolites[m] for data, _, m in items}) == 1
        assert n in (4, 8) and 0 <= lam <= 0.1
    items = max((b[0] for b in batches), key=len)
    batch = make_batch(items, 8, 0.05)
    assert batch.lr.shape == (4, 1, N, N) and batch.t1.shape == (4, 1, 3 * N, 3 * N, 3)
    assert torch.allclose(batch.lr.amax(dim=(2, 3)), torch.ones(4))  # scaled by the LR maximum


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(dataset_dir):
    torch.manual_seed(0)
    subjects = load_dataset(dataset_dir)
    batch = make_batch([(subjects[0], s, 0) for s in range(3)], 8, 0.0)
    model = build("filter-scaling-met", **TINY)
    optimiser = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(25):
        output = model(batch.t1, batch.flair, batch.lr, batch.n, batch.metabolite, batch.lam) * batch.mask
        loss, _ = generator_loss(output, batch.target, batch.mask)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def config(**overrides) -> TrainConfig:
    values = dict(variant="mcm", model=TINY, epochs=2, batch_size=4, matrix_sizes=(4, 8), critic_steps=2,
                  validation_matrix_sizes=(8,), device="cpu")
    values.update(overrides)
    return TrainConfig(**values)


def test_training_writes_weights_card_logs_and_resumes(dataset_dir, tmp_path):
    subjects = load_dataset(dataset_dir)
    out = tmp_path / "run"
    card = Trainer(config(epochs=1), subjects, out).run(progress=False)
    assert card["epochs"] == 1 and card["steps"] > 0
    assert {"model.safetensors", "model.json", "checkpoint.pt", "log.csv", "log.json"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "model.json").read_text())["data"]["split"]["test"] == ["00"]
    first_steps = card["steps"]
    resumed = Trainer(config(epochs=2), subjects, out)
    assert resumed.load_checkpoint() and resumed.step == first_steps and resumed.epoch == 1
    card2 = resumed.run(progress=False)
    assert card2["epochs"] == 2 and card2["steps"] > first_steps
    assert len(json.loads((out / "log.json").read_text())) == 2
    last = json.loads((out / "log.json").read_text())[-1]
    assert {"val_psnr", "val_ssim", "val_sharpness", "val_psnr_lam_max", "val_sharpness_lam_max"} <= set(last)
    plain = Trainer(config(epochs=1, adversarial=False), subjects, tmp_path / "plain").run(progress=False)
    assert "val_sharpness" in plain["metrics"] and "val_psnr_lam_max" not in plain["metrics"]


def test_epoch_log_averages_each_loss_over_its_own_steps(dataset_dir, tmp_path):
    """Losses are summed on the device and read once per epoch: the log must still hold the means
    of the generator parts over generator steps and of the critic distance over critic steps."""
    trainer = Trainer(config(epochs=1), load_dataset(dataset_dir), tmp_path)
    seen: dict[str, list[float]] = {"critic_distance": [], "loss": [], "l1": []}
    critic_step, generator_step = trainer.critic_step, trainer.generator_step

    def record_critic(batch):
        distance = critic_step(batch)
        seen["critic_distance"].append(float(distance))
        return distance

    def record_generator(batch):
        parts = generator_step(batch)
        seen["loss"].append(float(parts["loss"]))
        seen["l1"].append(float(parts["l1"]))
        return parts

    trainer.critic_step, trainer.generator_step = record_critic, record_generator
    trainer.run(progress=False)
    record = trainer.history[-1]
    assert len(seen["critic_distance"]) == 2 * len(seen["loss"])  # critic_steps=2
    for key, values in seen.items():
        assert record[key] == pytest.approx(np.mean(values), rel=1e-5)


def test_batch_keeps_its_conditions_on_the_host(dataset_dir):
    batch = make_batch([(load_dataset(dataset_dir)[0], 0, 0)], 8, 0.05).to("meta")
    assert batch.t1.device.type == batch.target.device.type == "meta"
    assert batch.n.device.type == batch.metabolite.device.type == batch.lam.device.type == "cpu"


def test_resume_with_a_new_learning_rate_uses_it_for_generator_and_critic(dataset_dir, tmp_path):
    """A run continued at a decayed step (e.g. the λ-path fine-tune from a chosen epoch) must train at
    the new rate, not the one the optimiser state was saved with, and keep the decays already made."""
    subjects = load_dataset(dataset_dir)
    Trainer(config(epochs=2, decay_every=1), subjects, tmp_path).run(progress=False)
    resumed = Trainer(config(epochs=3, decay_every=1, learning_rate=2.5e-5), subjects, tmp_path)
    assert resumed.load_checkpoint()
    for optimiser in (resumed.g_opt, resumed.d_opt):
        assert optimiser.param_groups[0]["lr"] == pytest.approx(2.5e-5 * 0.25)  # two decays of ×0.5 so far
    resumed.run(progress=False)
    log = json.loads((tmp_path / "log.json").read_text())
    assert log[-1]["learning_rate"] == pytest.approx(2.5e-5 * 0.125)
    assert resumed.d_opt.param_groups[0]["lr"] == pytest.approx(2.5e-5 * 0.125)
    same = Trainer(config(epochs=3, decay_every=1), subjects, tmp_path / "unchanged")
    assert not same.load_checkpoint() and same.g_opt.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_resume_refuses_a_checkpoint_of_another_run(dataset_dir, tmp_path):
    subjects = load_dataset(dataset_dir)
    Trainer(config(epochs=1, adversarial=False, max_steps=1), subjects, tmp_path).run(progress=False)
    with pytest.raises(ValueError, match="different run"):
        Trainer(config(variant="filter-scaling", epochs=1), subjects, tmp_path).run(progress=False)


def test_fine_tuning_starts_from_the_given_weights_and_records_them(dataset_dir, tmp_path):
    subjects = load_dataset(dataset_dir)
    torch.manual_seed(1)
    start = save_weights(build("mcm", **TINY), tmp_path / "start.safetensors")
    tuned = Trainer(config(epochs=1, init_weights=str(start)), subjects, tmp_path / "tuned")
    fresh = Trainer(config(epochs=1), subjects, tmp_path / "fresh")
    expected = load_model(start).state_dict()
    for key, value in tuned.generator.state_dict().items():
        torch.testing.assert_close(value, expected[key])
    assert any(not torch.equal(value, expected[key]) for key, value in fresh.generator.state_dict().items())
    card = tuned.run(progress=False)
    assert card["initialised_from"]["weights"] == str(start) and len(card["initialised_from"]["sha256"]) == 64
    assert card["training"]["init_weights"] == str(start)
    with pytest.raises(ValueError, match="same variant and size"):
        Trainer(config(epochs=1, init_weights=str(start), model={**TINY, "base_features": 4}), subjects, tmp_path / "x")


def test_sharpness_fine_tune_trains_the_lambda_path_only(dataset_dir, tmp_path):
    subjects = load_dataset(dataset_dir)
    torch.manual_seed(2)
    start = save_weights(build("mcm", **TINY), tmp_path / "start.safetensors")
    trainer = Trainer(config(epochs=1, init_weights=str(start), trainable="sharpness"), subjects, tmp_path / "run")
    lam_path = {id(p) for p in sharpness_parameters(trainer.generator)}
    names = {name for name, p in trainer.generator.named_parameters() if id(p) in lam_path}
    assert names and all(".mlp." in name or ".to_affine." in name for name in names)
    card = trainer.run(progress=False)
    before, after = load_model(start).state_dict(), load_model(tmp_path / "run" / "model.safetensors").state_dict()
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    assert changed and changed <= names  # the λ path moved, nothing else did
    assert card["trained_parameters"] == sum(p.numel() for p in sharpness_parameters(trainer.generator))
    assert card["trained_parameters"] < card["parameters"] and card["training"]["trainable"] == "sharpness"
    assert sharpness_parameters(build("unconditioned", base_features=2)) == []


def _maps_at(model, lam: float) -> torch.Tensor:
    gen = torch.Generator().manual_seed(5)
    t1, flair = torch.rand(2, 1, 3 * N, 3 * N, 3, generator=gen), torch.rand(2, 1, 3 * N, 3 * N, 3, generator=gen)
    lr = torch.rand(2, 1, N, N, generator=gen)
    with torch.no_grad():
        return model.eval()(t1, flair, lr, torch.tensor([8, 8]), torch.tensor([0, 1]), torch.tensor([lam, lam]))


def test_pinning_lambda_zero_keeps_the_initial_network_at_lambda_zero_only(dataset_dir, tmp_path):
    subjects = load_dataset(dataset_dir)
    torch.manual_seed(3)
    network = build("mcm", **TINY)
    with torch.no_grad():  # a "trained" start: the fresh network's output head is zero, which hides the λ path
        for parameter in network.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    start = save_weights(network, tmp_path / "start.safetensors")
    runs = {}
    for pinned in (True, False):
        trainer = Trainer(config(epochs=2, init_weights=str(start), trainable="sharpness", lam_zero_fraction=0.0,
                                 learning_rate=5e-2, pin_lambda_zero=pinned), subjects, tmp_path / f"pinned{pinned}")
        card = trainer.run(progress=False)
        assert card["training"]["pin_lambda_zero"] is pinned
        assert (trainer.lambda_zero.drift() < 1e-6) if pinned else trainer.lambda_zero is None
        runs[pinned] = load_model(tmp_path / f"pinned{pinned}" / "model.safetensors")
    initial = load_model(start)
    scale = _maps_at(initial, 0.0).abs().max()
    # pinned: the λ = 0 maps are the initial network's (float rounding), while λ = 0.1 has moved
    torch.testing.assert_close(_maps_at(runs[True], 0.0), _maps_at(initial, 0.0), rtol=0, atol=1e-5 * scale)
    assert (_maps_at(runs[True], 0.1) - _maps_at(initial, 0.1)).abs().max() > 5e-4 * scale
    # without the pin the same fine-tune moves the λ = 0 network too
    assert (_maps_at(runs[False], 0.0) - _maps_at(initial, 0.0)).abs().max() > 5e-4 * scale
    with pytest.raises(ValueError, match="--trainable sharpness"):
        TrainConfig(init_weights=str(start), pin_lambda_zero=True)


def test_a_critic_without_the_mri_scores_the_maps_alone(dataset_dir, tmp_path, monkeypatch):
    subjects = load_dataset(dataset_dir)
    blind = Trainer(config(epochs=1, critic_inputs="maps"), subjects, tmp_path / "blind")
    assert blind.critic.first.in_channels == 2
    assert Trainer(config(epochs=1), subjects, tmp_path / "paper").critic.first.in_channels == 4
    shown = []
    score = blind.critic.forward
    monkeypatch.setattr(blind.critic, "forward", lambda x: shown.append(x.detach().clone()) or score(x))
    batch = make_batch([(subjects[0], 0, 0)], 8, 0.05)
    blind.generator_step(batch)
    batch.t1.mul_(0.5), batch.flair.add_(0.25)  # another MRI: the critic must not notice
    blind.generator_step(batch)
    assert shown[0].shape[1] == shown[1].shape[1] == 2
    torch.testing.assert_close(shown[0][:, 0], shown[1][:, 0])  # the upsampled LR map, not the T1w
    monkeypatch.undo()
    card = blind.run(progress=False)
    assert card["training"]["critic_inputs"] == "maps"


@pytest.mark.parametrize("overrides, message", [
    ({"trainable": "sharpness"}, "give its weights with --init-weights"),
    ({"trainable": "sharpness", "init_weights": "w.safetensors", "adversarial": False}, "needs --adversarial"),
    ({"trainable": "sharpness", "init_weights": "w.safetensors", "variant": "filter-scaling"}, "takes λ"),
    ({"trainable": "decoder"}, "trainable must be one of all, sharpness"),
    ({"lam_zero_fraction": 1.5}, "share of batches at λ = 0 must be in"),
    ({"critic_inputs": "t1w"}, "critic's inputs must be one of mri\\+maps, maps"),
])
def test_sharpness_fine_tune_refuses_what_it_cannot_train(overrides, message):
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_fine_tuning_weights_are_checked_before_the_data_is_read(tmp_path, capsys):
    from mrsisr.training.cli import main
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "no-data"), str(tmp_path / "run"), "--init-weights", str(tmp_path / "missing.safetensors")])
    assert exit_info.value.code == 2 and "missing.safetensors does not exist" in capsys.readouterr().err
    from mrsisr.training.cli import parse_args
    assert parse_args(["d", "o", "--init-weights", "default"]).config.init_weights.endswith("mcm_default.safetensors")
    tune = parse_args(["d", "o", "--init-weights", "default", "--adversarial", "--trainable", "sharpness"]).config
    assert tune.trainable == "sharpness" and tune.uses_adversarial and tune.lam_zero_fraction == 0.1
    assert parse_args(["d", "o", "--lam-zero-fraction", "0.5"]).config.lam_zero_fraction == 0.5
    assert parse_args(["d", "o", "--critic-inputs", "maps"]).config.critic_inputs == "maps"
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["d", "o", "--trainable", "sharpness"])
    assert exit_info.value.code == 2 and "--init-weights" in capsys.readouterr().err


def test_weights_round_trip_through_safetensors(tmp_path):
    torch.manual_seed(0)
    model = build("mcm", **TINY).eval()
    path = save_weights(model, tmp_path / "w.safetensors")
    loaded = load_model(path)
    t1, lr = torch.rand(1, 1, 48, 48, 3), torch.rand(1, 1, 16, 16)
    args = (t1, t1, lr, torch.tensor([8]), torch.tensor([2]), torch.tensor([0.03]))
    with torch.no_grad():
        torch.testing.assert_close(model(*args), loaded(*args))
    half = load_model(save_weights(model, tmp_path / "h.safetensors", half=True))
    with torch.no_grad():
        assert (model(*args) - half(*args)).abs().max() < 1e-3


def test_corrupt_and_mismatched_weights_give_clear_errors(tmp_path):
    missing = tmp_path / "nothing.safetensors"
    with pytest.raises(WeightsError, match="does not exist"):
        load_model(missing)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x80\x04pickled-looking bytes")
    with pytest.raises(WeightsError, match="not a safetensors file"):
        load_model(garbage)
    good = save_weights(build("mcm", **TINY), tmp_path / "good.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        load_model(truncated)
    from safetensors.torch import load_file, save_file
    tensors = load_file(str(good))
    tensors.pop(next(iter(tensors)))
    save_file(tensors, str(tmp_path / "mismatch.safetensors"), metadata={"variant": "mcm", "config": json.dumps(TINY)})
    with pytest.raises(WeightsError, match="missing"):
        load_model(tmp_path / "mismatch.safetensors")


def test_weights_record_the_metabolite_order_and_the_loader_checks_it(tmp_path, monkeypatch):
    import mrsisr
    from safetensors.torch import load_file, save_file

    from mrsisr.inference import DEFAULT_WEIGHTS
    from mrsisr.models.weights import LEGACY_METABOLITES, read_metadata

    good = save_weights(build("mcm", **TINY), tmp_path / "good.safetensors")
    assert json.loads(read_metadata(good)["metabolites"]) == list(mrsisr.METABOLITES)
    assert json.loads(read_metadata(DEFAULT_WEIGHTS)["metabolites"]) == list(mrsisr.METABOLITES)
    legacy = {key: value for key, value in read_metadata(good).items() if key != "metabolites"}
    save_file(load_file(str(good)), str(tmp_path / "legacy.safetensors"), metadata=legacy)  # before the order was kept
    assert load_model(tmp_path / "legacy.safetensors").variant == "mcm" and LEGACY_METABOLITES == mrsisr.METABOLITES
    metadata = {**read_metadata(good), "metabolites": json.dumps(list(reversed(mrsisr.METABOLITES)))}
    save_file(load_file(str(good)), str(tmp_path / "reordered.safetensors"), metadata=metadata)
    with pytest.raises(WeightsError, match="embeds the metabolites in the order"):
        load_model(tmp_path / "reordered.safetensors")
    monkeypatch.setattr(mrsisr, "METABOLITES", mrsisr.METABOLITES + ("GABA",))  # an 8th metabolite
    with pytest.raises(WeightsError, match=r"this mrsisr indexes \[.*'GABA'\]"):
        load_model(DEFAULT_WEIGHTS)
    assert load_model(save_weights(build("filter-scaling", **TINY), tmp_path / "fs.safetensors"))  # no embedding


def test_the_shipped_card_describes_the_shipped_weights():
    """mcm_default.json names the packaged file's digest and its sharpness origin, as the app reports them."""
    from mrsisr.inference import DEFAULT_WEIGHTS, load_for_inference
    from mrsisr.models.weights import read_metadata, sha256

    card = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert card["weights_sha256"] == sha256(DEFAULT_WEIGHTS) and card["placeholder"] is False
    origin = float(read_metadata(DEFAULT_WEIGHTS).get("lambda_origin", 0.0))
    assert origin == card.get("lambda_origin", {}).get("value", 0.0)
    _, info = load_for_inference(DEFAULT_WEIGHTS, "cpu")
    assert info.lambda_origin == origin and info.sha256 == card["weights_sha256"]


def test_torchrun_data_parallel_training_on_cpu(dataset_dir, tmp_path):
    """Two processes (gloo) train one model through DistributedDataParallel."""
    import os
    import shutil
    import subprocess

    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not on PATH")
    out = tmp_path / "ddp"
    command = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "mrsisr.training.cli", str(dataset_dir),
               str(out), "--variant", "mcm", "--epochs", "1", "--batch-size", "2", "--matrix-sizes", "4", "8",
               "--base-features", "2", "--latent-width", "4", "--sharpness-width", "4", "--critic-steps", "2",
               "--device", "cpu", "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    card = json.loads((out / "model.json").read_text())
    assert card["processes"] == 2 and card["steps"] > 0
    assert load_model(out / "model.safetensors").variant == "mcm"


@pytest.mark.parametrize("module, prog", [("mrsisr.training.cli", "mrsisr-train"),
                                          ("mrsisr.evaluation.cli", "mrsisr-evaluate"),
                                          ("mrsisr.synth.cli", "mrsisr-synth"),
                                          ("mrsisr.training.cohort", "mrsisr-prepare")])
def test_library_command_lines_are_built_one_way(module, prog, capsys):
    """Like the app's: ``_build_parser()``, ``parse_args(argv)`` and ``main(argv) -> int``."""
    import argparse
    import importlib

    cli = importlib.import_module(module)
    assert isinstance(cli._build_parser(), argparse.ArgumentParser) and cli._build_parser().prog == prog
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(["--help"])
    assert exit_info.value.code == 0 and f"usage: {prog}" in capsys.readouterr().out
    assert callable(cli.main)
